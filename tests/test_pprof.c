/* test_pprof.c - `heapsnap export --format pprof` read back by `go tool
 * pprof` (Debian's golang-go): on samples/phases.c, whose figures are known
 * to the byte, each function's and line's bytes equal `heapsnap stats`'s, the
 * allocation counts are the calls made, a -diff_base equals `heapsnap diff`;
 * inline chains are one location; the leaked view, a snapshot file, a
 * stripped copy's mapping (build ID, file, range) and bad options; and the
 * files `heapsnap run --pprof-every` writes while the program runs add up
 * to the whole run. */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static char *trace; /* phases, traced once per test */

static void setup(void)
{
    dir = temp_dir();
    trace = trace_program(dir, "phases.trace", (const char *const[]){sample("phases"), NULL});
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *at(const char *source, const char *point)
{
    char *s;
    cr_assert(asprintf(&s, "%s@%s", source, point) > 0);
    return s;
}

/* `heapsnap export SOURCE --format pprof [--value V] -o dir/NAME`; returns the path. */
static char *export_pprof(const char *source, const char *value, const char *name)
{
    char *out = path_join(dir, name);
    if (value)
        free(heapsnap_out(dir, ARGS("export", source, "--format", "pprof", "--value", value, "-o", out)));
    else
        free(heapsnap_out(dir, ARGS("export", source, "--format", "pprof", "-o", out)));
    return out;
}

/* `go tool pprof ARGS`, its caches and home inside the test's directory and
 * no network (a toolchain or module download would fail, not hang). */
static char *pprof(const char *const *args) { return go_pprof(dir, args); }

/* A row of `pprof -top`: the node's name and its flat value. */
struct top_row {
    char name[512];
    long long flat;
};

/* The rows under the "flat  flat%" heading; values as printed with
 * -unit=B ("90000B", "-13B") or as counts ("50"). */
static size_t top_rows(const char *out, struct top_row *rows, size_t max)
{
    const char *p = strstr(out, "flat  flat%");
    cr_assert(p, "no table in:\n%s", out);
    p = strchr(p, '\n');
    size_t n = 0;
    while (p && *++p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char line[1024];
        cr_assert_lt(len, sizeof line);
        memcpy(line, p, len);
        line[len] = 0;
        char flat[64], f1[64], f2[64], cum[64], c1[64];
        int name_at = 0;
        cr_assert_eq(sscanf(line, "%63s %63s %63s %63s %63s %n", flat, f1, f2, cum, c1, &name_at), 5, "row: %s", line);
        cr_assert_lt(n, max);
        snprintf(rows[n].name, sizeof rows[n].name, "%s", line + name_at);
        rows[n].flat = strtoll(flat, NULL, 10);
        n++;
        p = end;
    }
    return n;
}

static long long flat_of(const struct top_row *rows, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0) return rows[i].flat;
    cr_assert_fail("no row '%s' in pprof's table", name);
    return 0;
}

/* Every group of a stats/diff JSON (field "size" or "size_diff") is a row of
 * pprof's table with that flat value, and every row with a flat value is
 * such a group: the same figures, nothing more, nothing less. */
static void expect_same_as_stats(const struct json *j, const char *field, const struct top_row *rows, size_t n)
{
    size_t groups = json_len(j, "stats");
    cr_assert_gt(groups, 0);
    for (size_t g = 0; g < groups; g++) {
        char p[64];
        snprintf(p, sizeof p, "stats.%zu.key", g);
        const char *key = json_str(j, p);
        snprintf(p, sizeof p, "stats.%zu.%s", g, field);
        long long want = json_int(j, p);
        if (want == 0) continue; /* pprof leaves out a node whose bytes cancel */
        cr_expect_eq(flat_of(rows, n, key), want, "%s: pprof %lld, heapsnap %lld", key, flat_of(rows, n, key), want);
    }
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].flat) continue;
        bool found = false;
        for (size_t g = 0; g < groups && !found; g++) {
            char p[64];
            snprintf(p, sizeof p, "stats.%zu.key", g);
            found = strcmp(json_str(j, p), rows[i].name) == 0;
        }
        cr_expect(found, "pprof gives %s %lld, heapsnap has no such group", rows[i].name, rows[i].flat);
    }
}

TestSuite(pprof, .init = setup, .timeout = 120);

Test(pprof, inuse_space_by_function_is_stats_at_the_peak)
{
    char *peak = at(trace, "peak");
    char *file = export_pprof(peak, NULL, "peak.pb.gz");
    char *out = pprof(ARGS("-top", "-sample_index=inuse_space", "-unit=B", "-nodefraction=0", "-nodecount=1000", file));
    struct top_row rows[200];
    size_t n = top_rows(out, rows, 200);
    cr_expect_eq(flat_of(rows, n, "build_cache"), 100000);
    cr_expect_eq(flat_of(rows, n, "load_config"), 10000);
    struct json *j = heapsnap_json(dir, ARGS("stats", peak, "--by", "function", "--limit", "0", "--format", "json"));
    cr_expect_eq(json_len(j, "stats"), 2);
    expect_same_as_stats(j, "size", rows, n);
    json_free(j);
    /* --value inuse is the default type: pprof shows it without -sample_index */
    free(out);
    out = pprof(ARGS("-top", file));
    cr_expect(strstr(out, "\nType: inuse_space\n"), "%s", out);
    free(out);
}

Test(pprof, alloc_objects_are_the_calls_made)
{
    char *file = export_pprof(trace, "calls", "calls.pb.gz");
    char *out = pprof(ARGS("-top", "-nodefraction=0", "-nodecount=1000", file));
    cr_expect(strstr(out, "\nType: alloc_objects\n"), "%s", out);
    struct top_row rows[200];
    size_t n = top_rows(out, rows, 200);
    cr_expect_eq(flat_of(rows, n, "build_cache"), 50);
    cr_expect_eq(flat_of(rows, n, "grow_sessions"), 30);
    cr_expect_eq(flat_of(rows, n, "load_config"), 10);
    cr_expect_eq(flat_of(rows, n, "recurse"), 4);
    cr_expect_eq(flat_of(rows, n, "make_label"), 1); /* strdup allocated on its behalf */
    cr_expect_eq(flat_of(rows, n, "my_alloc"), 1);
    long long total = 0;
    for (size_t i = 0; i < n; i++)
        total += rows[i].flat;
    struct json *report = report_json_of(trace);
    cr_expect_eq(total, json_int(report, "totals.allocations"));
    json_free(report);
    free(out);
    /* the bytes those calls asked for, freed or not: the cache's too */
    out = pprof(ARGS("-top", "-sample_index=alloc_space", "-unit=B", "-nodefraction=0", "-nodecount=1000", file));
    n = top_rows(out, rows, 200);
    cr_expect_eq(flat_of(rows, n, "build_cache"), 100000);
    cr_expect_eq(flat_of(rows, n, "grow_sessions"), 90000);
    cr_expect_eq(flat_of(rows, n, "make_label"), 13);
    free(out);
    free(file);
    file = export_pprof(trace, "allocated", "allocated.pb.gz");
    out = pprof(ARGS("-top", file));
    cr_expect(strstr(out, "\nType: alloc_space\n"), "%s", out);
    free(out);
}

/* pprof -lines names a row "function file:line" (" (inline)" after an
 * inlined one) and cleans "./x" to "x"; stats --by lineno keys a frame with
 * a file "file:line", one without "function [module]". */
static void line_key(const char *text, bool from_pprof, char *key, size_t size)
{
    snprintf(key, size, "%s", text);
    size_t len = strlen(key);
    if (from_pprof && len > 9 && strcmp(key + len - 9, " (inline)") == 0) key[len -= 9] = 0;
    char *space = strrchr(key, ' ');
    if (from_pprof && space && strchr(space, ':')) memmove(key, space + 1, strlen(space));
    if (!from_pprof && len && key[len - 1] == ']' && space) *space = 0;
    if (strncmp(key, "./", 2) == 0) memmove(key, key + 2, strlen(key) - 1);
}

Test(pprof, lines_are_stats_by_lineno)
{
    char *done = at(trace, "done");
    char *file = export_pprof(done, NULL, "done.pb.gz");
    char *out = pprof(
        ARGS("-top", "-lines", "-sample_index=inuse_space", "-unit=B", "-nodefraction=0", "-nodecount=1000", file));
    struct top_row rows[200], by_line[200];
    size_t n = top_rows(out, rows, 200), nlines = 0;
    for (size_t i = 0; i < n; i++) { /* pprof's rows are per function and line: sum them per line */
        char key[512];
        line_key(rows[i].name, true, key, sizeof key);
        size_t k = 0;
        while (k < nlines && strcmp(by_line[k].name, key) != 0)
            k++;
        if (k == nlines) {
            snprintf(by_line[nlines].name, sizeof by_line[nlines].name, "%s", key);
            by_line[nlines++].flat = 0;
        }
        by_line[k].flat += rows[i].flat;
    }
    struct json *j = heapsnap_json(dir, ARGS("stats", done, "--by", "lineno", "--limit", "0", "--format", "json"));
    size_t groups = json_len(j, "stats");
    cr_assert_geq(groups, 6);
    size_t nonzero = 0;
    for (size_t i = 0; i < nlines; i++)
        nonzero += by_line[i].flat != 0;
    cr_expect_eq(nonzero, groups, "pprof has %zu lines with bytes, stats %zu:\n%s", nonzero, groups, out);
    for (size_t g = 0; g < groups; g++) {
        char p[64], key[512];
        snprintf(p, sizeof p, "stats.%zu.key", g);
        line_key(json_str(j, p), false, key, sizeof key);
        snprintf(p, sizeof p, "stats.%zu.size", g);
        cr_expect_eq(flat_of(by_line, nlines, key), json_int(j, p), "%s", key);
    }
    char phases_line[600];
    snprintf(phases_line, sizeof phases_line, "%s/phases.c:58", SAMPLES_SOURCE_DIR); /* grow_sessions' malloc */
    cr_expect_eq(flat_of(by_line, nlines, phases_line), 90000, "%s", out);
    json_free(j);
    free(out);
}

Test(pprof, diff_base_is_heapsnap_diff)
{
    char *warm = at(trace, "warm"), *done = at(trace, "done");
    char *base = export_pprof(warm, NULL, "warm.pb.gz"), *file = export_pprof(done, NULL, "done.pb.gz");
    char *diff_base;
    cr_assert(asprintf(&diff_base, "-diff_base=%s", base) > 0);
    char *out = pprof(
        ARGS("-top", "-sample_index=inuse_space", "-unit=B", "-nodefraction=0", "-nodecount=1000", diff_base, file));
    struct top_row rows[200];
    size_t n = top_rows(out, rows, 200);
    cr_expect_eq(flat_of(rows, n, "grow_sessions"), 90000);
    cr_expect_eq(flat_of(rows, n, "make_label"), 13);
    struct json *j =
        heapsnap_json(dir, ARGS("diff", warm, done, "--by", "function", "--limit", "0", "--format", "json"));
    expect_same_as_stats(j, "size_diff", rows, n);
    json_free(j);
    free(out);
}

/* Squeezes runs of blanks into one space, lines joined: "64B make (inline) outer main ...". */
static void squeeze(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        bool blank = *r == ' ' || *r == '\n' || *r == '\t';
        if (blank && (w == s || w[-1] == ' ')) continue;
        *w++ = blank ? ' ' : *r;
    }
    *w = 0;
}

Test(pprof, an_inline_chain_is_one_location)
{
    char *t = trace_program(dir, "inline.trace", ARGS(sample("inline_chain")));
    char *file = export_pprof(t, NULL, "inline.pb.gz");
    char *out = pprof(ARGS("-traces", "-unit=B", file));
    squeeze(out);
    /* (inline): a line of a location that is not its last, so make and
     * outer share one address (samples/inline_chain.c's comment) */
    cr_expect(strstr(out, " 64B make (inline) outer main "), "%s", out);
    cr_expect(strstr(out, " 96B make (inline) fill (inline) nested main "), "%s", out);
    free(out);
}

Test(pprof, leaked_blocks_as_inuse)
{
    char *t = trace_program(dir, "leak.trace", ARGS(sample("leak")));
    char *file = export_pprof(t, "leaked", "leaked.pb.gz");
    char *out = pprof(ARGS("-top", "-unit=B", "-nodefraction=0", file));
    cr_expect(strstr(out, "\nType: inuse_space\n"), "%s", out);
    struct top_row rows[100];
    size_t n = top_rows(out, rows, 100);
    struct json *leaks = leaks_json_in(dir, t, NULL);
    cr_expect_eq(leak_bytes(leaks, "definitely_lost"), 100);
    cr_expect_eq(flat_of(rows, n, "plain_leak"), leak_bytes(leaks, "definitely_lost"));
    free(out);
    out = pprof(ARGS("-top", "-sample_index=inuse_objects", file));
    n = top_rows(out, rows, 100);
    cr_expect_eq(flat_of(rows, n, "plain_leak"), leak_blocks(leaks, "definitely_lost"));
    free(out);
    /* the 10 temporaries are no leak: alloc_* stay 0 */
    out = pprof(ARGS("-top", "-sample_index=alloc_objects", file));
    n = top_rows(out, rows, 100);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(rows[i].flat, 0, "%s", rows[i].name);
    free(out);
    json_free(leaks);
}

Test(pprof, snapshot_file_without_addresses)
{
    char *snapshot = path_join(dir, "done.json"), *done = at(trace, "done");
    free(heapsnap_out(dir, ARGS("snapshot", done, "-o", snapshot)));
    char *file = export_pprof(snapshot, NULL, "snapshot.pb.gz");
    char *out = pprof(ARGS("-top", "-unit=B", "-nodefraction=0", "-nodecount=1000", file));
    struct top_row rows[200];
    size_t n = top_rows(out, rows, 200);
    struct json *j =
        heapsnap_json(dir, ARGS("stats", snapshot, "--by", "function", "--limit", "0", "--format", "json"));
    expect_same_as_stats(j, "size", rows, n);
    json_free(j);
    free(out);
    out = pprof(ARGS("-raw", file));
    const char *locations = strstr(out, "\nLocations\n");
    cr_assert(locations, "%s", out);
    size_t nlocations = 0;
    for (const char *p = locations; (p = strstr(p, "\n ")) != NULL; p++) {
        unsigned id;
        char address[64];
        if (sscanf(p, " %u: %63s", &id, address) != 2) continue;
        cr_expect_str_eq(address, "0x0");
        nlocations++;
    }
    cr_expect_gt(nlocations, 5);
    free(out);
    /* nothing but the live heap: no allocation calls */
    out = pprof(ARGS("-top", "-sample_index=alloc_objects", file));
    n = top_rows(out, rows, 200);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(rows[i].flat, 0, "%s", rows[i].name);
    free(out);
}

/* The hex build ID `readelf -n` gives for a file. */
static void build_id_of(const char *path, char *id, size_t size)
{
    struct run_result r = run_in(dir, NULL, ARGS("/usr/bin/env", "readelf", "-n", path));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    const char *p = strstr(r.out, "Build ID: ");
    cr_assert(p, "%s", r.out);
    cr_assert_eq(sscanf(p + 10, "%127s", id), 1);
    cr_assert_lt(strlen(id), size);
    run_free(&r);
}

Test(pprof, stripped_copy_keeps_build_id_file_and_range)
{
    char *copy = sample_copy(dir, "phases", "phases_stripped", 0, 0, 0755);
    struct run_result r = run_in(dir, NULL, ARGS("/usr/bin/env", "strip", copy));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    char id[128];
    build_id_of(sample("phases"), id, sizeof id);
    char *t = trace_program(dir, "stripped.trace", ARGS(copy));
    char *file = export_pprof(at(t, "peak"), NULL, "stripped.pb.gz");
    char *out = pprof(ARGS("-raw", file));
    /* Mapping 1 (the main binary): START/LIMIT/OFFSET FILE BUILD_ID, and no
     * [FN] flag: pprof may name its addresses from an unstripped build. */
    const char *m = strstr(out, "\nMappings\n1: ");
    cr_assert(m, "%s", out);
    unsigned long long start, limit, offset;
    char path[4096], mapped_id[128], rest[64] = "";
    cr_assert_geq(sscanf(m, "\nMappings\n1: 0x%llx/0x%llx/0x%llx %4095s %127s %63s", &start, &limit, &offset, path,
                         mapped_id, rest),
                  5, "%s", m);
    cr_expect_str_eq(path, copy);
    cr_expect_str_eq(mapped_id, id);
    cr_expect(strncmp(rest, "[FN]", 4) != 0, "%s", m);
    /* The sample of build_cache's 100000 B: its innermost location's address,
     * through the mapping back to the file, is build_cache's in the
     * unstripped build (pprof's rule: file offset = address - start +
     * offset; in this PIE's code segment a file offset is its address). */
    const char *s = strstr(out, " 100000: ");
    cr_assert(s, "%s", out);
    unsigned loc;
    cr_assert_eq(sscanf(s, " 100000: %u", &loc), 1);
    char needle[32];
    snprintf(needle, sizeof needle, "\n%6u: 0x", loc);
    const char *l = strstr(out, needle);
    cr_assert(l, "location %u in %s", loc, out);
    unsigned long long address;
    cr_assert_eq(sscanf(l + strlen(needle), "%llx", &address), 1);
    cr_assert(address > start && address < limit, "%llx not in %llx-%llx", address, start, limit);
    char at_file[32];
    snprintf(at_file, sizeof at_file, "0x%llx", address - start + offset - 1); /* inside the call */
    r = run_in(dir, NULL, ARGS("/usr/bin/env", "addr2line", "-f", "-e", sample("phases"), at_file));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strncmp(r.out, "build_cache\n", 12) == 0, "addr2line %s: %s", at_file, r.out);
    run_free(&r);
    free(out);
    /* go tool pprof symbolizes Go binaries only: the name heapsnap gave */
    out = pprof(ARGS("-top", "-unit=B", file));
    struct top_row rows[100];
    size_t n = top_rows(out, rows, 100);
    char name[64];
    snprintf(name, sizeof name, "phases_stripped+0x%llx", address - start + offset);
    cr_expect_eq(flat_of(rows, n, name), 100000, "%s", out);
    free(out);
}

Test(pprof, bad_option_and_unwritable_output)
{
    char *out = path_join(dir, "x.pb.gz");
    expect_one_line_error(dir, ARGS("export", trace, "--format", "pprof", "--value", "bytes", "-o", out), 2,
                 "--value takes inuse, allocated, calls or leaked, not 'bytes'");
    cr_expect_neq(access(out, F_OK), 0);
    /* root writes anywhere: a directory is what cannot be written */
    expect_one_line_error(dir, ARGS("export", trace, "--format", "pprof", "-o", dir), 1, "Is a directory");
    char *missing = path_join(dir, "no/such/dir/x.pb.gz");
    expect_one_line_error(dir, ARGS("export", trace, "--format", "pprof", "-o", missing), 1, "No such file or directory");
}

/* ---- heapsnap run --pprof-every: the stream ------------------------------------------ */

struct stream_file {
    char name[256];
    unsigned long long pid, seq, from, until;
};

static int by_seq(const void *a, const void *b)
{
    unsigned long long x = ((const struct stream_file *)a)->seq, y = ((const struct stream_file *)b)->seq;
    return x < y ? -1 : x > y;
}

/* The files of a stream directory, in the order written; nothing else may be there. */
static size_t stream_files(const char *sdir, struct stream_file *files, size_t max)
{
    DIR *d = opendir(sdir);
    cr_assert(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        cr_assert_lt(n, max);
        struct stream_file *f = &files[n++];
        snprintf(f->name, sizeof f->name, "%s", e->d_name);
        int used = 0;
        cr_assert_eq(sscanf(e->d_name, "heap-%llu-%llu-%llu-%llu.pb.gz%n", &f->pid, &f->seq, &f->from, &f->until, &used),
                     4, "a file not of the stream: %s", e->d_name);
        cr_assert_eq((size_t)used, strlen(e->d_name), "a file not of the stream: %s", e->d_name);
    }
    closedir(d);
    qsort(files, n, sizeof *files, by_seq);
    return n;
}

/* `heapsnap run --pprof-every 0.2` on phases, slowed down to last about
 * 0.7 s: files every 0.2 s, numbered from 0, each interval after the one
 * before; together their alloc_* are every call of the run, and the last
 * one's inuse_* is the heap at the end, as `heapsnap stats` gives it. */
static void expect_stream_adds_up(const char *mode)
{
    char *sdir = path_join(dir, "stream");
    char *t = path_join(dir, "slow.trace");
    const char *argv[16] = {heapsnap_bin(), "run", "-q", "--pprof-every", "0.2", "--pprof-dir", sdir, "-o", t};
    size_t k = 9;
    if (mode) argv[k++] = mode;
    argv[k++] = "--";
    argv[k++] = sample("phases");
    argv[k++] = "slow";
    struct run_result r = run_in_limited(dir, NULL, argv, 60);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "current=10000 peak=110400\n"); /* the program's own output, untouched */
    cr_expect_str_eq(r.err, "");
    run_free(&r);

    struct stream_file files[64];
    size_t n = stream_files(sdir, files, 64);
    cr_assert_geq(n, 3, "%zu files", n);
    struct json *report = report_json_of(t);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(files[i].pid, (unsigned long long)json_int(report, "process.pid"));
        cr_expect_eq(files[i].seq, i);
        cr_expect_leq(files[i].from, files[i].until);
        if (i) cr_expect_geq(files[i].from, files[i - 1].from);
    }

    const char *args[80] = {"-top", "-sample_index=alloc_objects", "-nodefraction=0", "-nodecount=1000"};
    size_t a = 4;
    for (size_t i = 0; i < n; i++)
        args[a++] = path_join(sdir, files[i].name);
    char *out = pprof(args);
    struct top_row rows[200];
    size_t nrows = top_rows(out, rows, 200);
    long long total = 0;
    for (size_t i = 0; i < nrows; i++)
        total += rows[i].flat;
    cr_expect_eq(total, json_int(report, "totals.allocations"), "%s", out);
    cr_expect_eq(flat_of(rows, nrows, "pause_a_little"), 3600); /* 6 pauses of 600 */
    cr_expect_eq(flat_of(rows, nrows, "build_cache"), 50);
    free(out);

    char *last = path_join(sdir, files[n - 1].name);
    out = pprof(ARGS("-top", "-sample_index=inuse_space", "-unit=B", "-nodefraction=0", "-nodecount=1000", last));
    nrows = top_rows(out, rows, 200);
    cr_expect_eq(flat_of(rows, nrows, "grow_sessions"), 90000);
    struct json *j = heapsnap_json(dir, ARGS("stats", t, "--by", "function", "--limit", "0", "--format", "json"));
    expect_same_as_stats(j, "size", rows, nrows);
    json_free(j);
    free(out);
    /* the first interval starts with the process */
    out = pprof(ARGS("-top", path_join(sdir, files[0].name)));
    cr_expect(strstr(out, "allocations from 0.000 s to "), "%s", out);
    free(out);
    json_free(report);
}

Test(pprof, stream_adds_up_to_the_run) { expect_stream_adds_up(NULL); }

Test(pprof, stream_without_leak_checks) { expect_stream_adds_up("--no-leak-check"); }

Test(pprof, stream_bad_options)
{
    char *file = path_join(dir, "a-file");
    FILE *f = fopen(file, "w");
    cr_assert(f);
    fclose(f);
    expect_one_line_error(dir, ARGS("run", "--pprof-dir", file, "--", sample("phases")), 1, "not a directory");
    expect_one_line_error(dir, ARGS("run", "--pprof-every", "1", "--", sample("phases")), 2, "--pprof-every needs --pprof-dir");
    expect_one_line_error(dir, ARGS("run", "--pprof-every", "0.01", "--pprof-dir", dir, "--", sample("phases")), 2,
                 "--pprof-every takes seconds, 0.1 or more, not '0.01'");
}

/* A fork child's files hold the blocks it inherited, named as in its trace:
 * fork_after's child keeps its parent's 64 B from parent_block(). */
Test(pprof, stream_of_a_fork_child_names_what_it_inherited)
{
    char *sdir = path_join(dir, "stream");
    struct run_result r = run_in_limited(dir, NULL,
                                         ARGS(heapsnap_bin(), "run", "-q", "--pprof-every", "0.1", "--pprof-dir", sdir,
                                              "--", sample("fork_after"), "free_after"),
                                         60);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    struct stream_file files[64];
    size_t n = stream_files(sdir, files, 64);
    cr_assert_geq(n, 2);
    cr_expect_neq(files[0].pid, files[n - 1].pid, "the parent's files, then the child's (it runs 300 ms longer)");
    char *out = pprof(ARGS("-top", "-sample_index=inuse_space", "-unit=B", "-nodefraction=0", "-nodecount=1000",
                           path_join(sdir, files[n - 1].name)));
    struct top_row rows[200];
    size_t nrows = top_rows(out, rows, 200);
    cr_expect_eq(flat_of(rows, nrows, "parent_block"), 64, "%s", out);
    free(out);
}

/* Files that cannot be written (the directory gone for a while, as a full
 * disk would refuse them) leave their intervals to the next file written:
 * the files still add up to the run, and heapsnap says so once. */
Test(pprof, stream_survives_files_it_cannot_write)
{
    char *sdir = path_join(dir, "stream"), *t = path_join(dir, "gap.trace");
    char script[8192];
    /* The directory is given back only once heapsnap has said it could not
     * write (not after a fixed time, which a slow machine can outlast): the
     * worker allocates for about half a second, so files follow the gap. */
    char *errf = path_join(dir, "gap.err");
    snprintf(script, sizeof script,
             "'%s' run -q --no-leak-check --pprof-every 0.1 --pprof-dir '%s' -o '%s' -- '%s' >/dev/null 2>'%s' & "
             "while ! ls '%s' 2>/dev/null | grep -q pb.gz; do sleep 0.01; done; "
             "mv '%s' '%s.away' && touch '%s'; "
             "i=0; while ! grep -q 'said once' '%s' && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; "
             "rm '%s' && mv '%s.away' '%s'; wait $!; rc=$?; cat '%s' >&2; exit $rc",
             heapsnap_bin(), sdir, t, sample("worker"), errf, sdir, sdir, sdir, sdir, errf, sdir, sdir, sdir, errf);
    struct run_result r = run_in_limited(dir, NULL, ARGS("/bin/sh", "-c", script), 60);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
    cr_expect(strstr(r.err, "heapsnap: pprof stream: ") && strstr(r.err, "said once"), "%s", r.err);
    run_free(&r);
    struct stream_file files[64];
    size_t n = stream_files(sdir, files, 64);
    cr_assert_geq(n, 2);
    const char *args[80] = {"-top", "-sample_index=alloc_objects", "-nodefraction=0", "-nodecount=1000"};
    size_t a = 4;
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(files[i].seq, i, "numbered without gaps");
        args[a++] = path_join(sdir, files[i].name);
    }
    char *out = pprof(args);
    struct top_row rows[200];
    size_t nrows = top_rows(out, rows, 200);
    long long total = 0;
    for (size_t i = 0; i < nrows; i++)
        total += rows[i].flat;
    struct json *report = report_json_of(t);
    cr_expect_eq(total, json_int(report, "totals.allocations"), "%s", out);
    json_free(report);
    free(out);
}
