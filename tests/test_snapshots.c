/* test_snapshots.c - snapshot points, tracemalloc's statistics,
 * filters, diffs, snapshot files, markers and the timeline, on
 * samples/phases.c, whose figures are known to the byte. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static char *trace; /* phases, traced once per test */

static void trace_phases(const char *const *extra_run_opts, const char *const *args)
{
    dir = temp_dir();
    trace = path_join(dir, "phases.trace");
    const char *argv[32] = {heapsnap_bin(), "run", "-q", "-o", trace};
    size_t k = 5;
    for (size_t i = 0; extra_run_opts && extra_run_opts[i]; i++) argv[k++] = extra_run_opts[i];
    argv[k++] = "--";
    argv[k++] = sample("phases");
    for (size_t i = 0; args && args[i]; i++) argv[k++] = args[i];
    argv[k] = NULL;
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
}

static void setup(void) { trace_phases(NULL, NULL); }

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *at(const char *point)
{
    char *s;
    cr_assert(asprintf(&s, "%s@%s", trace, point) > 0);
    return s;
}

/* The entry of a stats JSON whose key is (or ends with) key; -1 if absent. */
static int entry(const struct json *j, const char *key)
{
    size_t n = json_len(j, "stats");
    for (size_t i = 0; i < n; i++) {
        char p[64];
        snprintf(p, sizeof p, "stats.%zu.key", i);
        const char *k = json_str(j, p);
        size_t kl = strlen(k), l = strlen(key);
        if (strcmp(k, key) == 0 || (kl > l && strcmp(k + kl - l, key) == 0 && k[kl - l - 1] == '/')) return (int)i;
    }
    return -1;
}

static long long field(const struct json *j, const char *key, const char *name)
{
    int i = entry(j, key);
    cr_assert(i >= 0, "no stats entry '%s'", key);
    char p[64];
    snprintf(p, sizeof p, "stats.%d.%s", i, name);
    return json_int(j, p);
}

/* The line of samples/phases.c holding needle, so tests follow edits. */
static int line_of(const char *needle)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/phases.c", SAMPLES_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    char buf[1024];
    for (int n = 1; fgets(buf, sizeof buf, f); n++)
        if (strstr(buf, needle)) {
            fclose(f);
            return n;
        }
    cr_assert_fail("'%s' not in phases.c", needle);
    return 0;
}

static char *lineno_key(const char *needle)
{
    char *k;
    cr_assert(asprintf(&k, "phases.c:%d", line_of(needle)) > 0);
    return k;
}

TestSuite(snapshots, .init = setup, .timeout = 60);

Test(snapshots, by_lineno_at_exit)
{
    struct json *j = heapsnap_json(dir, ARGS("stats", trace, "--format", "json"));
    cr_expect_eq(field(j, lineno_key("malloc(3000)"), "size"), 90000);
    cr_expect_eq(field(j, lineno_key("malloc(3000)"), "count"), 30);
    cr_expect_eq(field(j, lineno_key("malloc(1000)"), "size"), 10000);
    /* strdup allocates on make_label's behalf: the call site is make_label's line. */
    cr_expect_eq(field(j, lineno_key("strdup(\"label-012345\")"), "size"), 13);
    cr_expect_eq(field(j, lineno_key("kept[nkept++] = malloc(100)"), "count"), 4);
    cr_expect_eq(entry(j, "5000"), -1);
    /* The first entry is the largest (tracemalloc's order). */
    cr_expect_eq(json_int(j, "stats.0.size"), 90000);
    json_free(j);
}

Test(snapshots, text_format_is_tracemalloc_s)
{
    char *out = heapsnap_out(dir, ARGS("stats", trace, "--limit", "2"));
    char want[512];
    snprintf(want, sizeof want, "%s/phases.c:%d: size=87.9 KiB, count=30, average=3000 B\n", SAMPLES_SOURCE_DIR,
             line_of("malloc(3000)"));
    cr_expect(strncmp(out, want, strlen(want)) == 0, "got:\n%s\nwant first:\n%s", out, want);
    cr_expect_eq(count_lines(out), 2);
    free(out);
}

Test(snapshots, by_function_file_module)
{
    struct json *j = heapsnap_json(dir, ARGS("stats", trace, "--by", "function", "--format", "json"));
    cr_expect_eq(field(j, "grow_sessions", "size"), 90000);
    cr_expect_eq(field(j, "load_config", "size"), 10000);
    cr_expect_eq(field(j, "make_label", "size"), 13);
    cr_expect_eq(field(j, "my_alloc", "size"), 64);
    cr_expect_eq(field(j, "recurse", "count"), 4);
    cr_expect_eq(entry(j, "strdup"), -1);
    cr_expect_eq(entry(j, "__strdup"), -1);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", trace, "--by", "file", "--format", "json"));
    cr_expect_eq(field(j, "samples/phases.c", "size"), 100477);
    cr_expect_eq(field(j, "samples/phases.c", "count"), 46);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", trace, "--by", "module", "--format", "json"));
    cr_expect_eq(field(j, "phases", "size"), 100477);
    cr_expect_eq(field(j, "phases", "count"), 46);
    json_free(j);
}

Test(snapshots, traceback_oldest_first_with_source)
{
    char *out = heapsnap_out(dir, ARGS("stats", trace, "--by", "traceback", "--limit", "1"));
    char frame[512];
    snprintf(frame, sizeof frame, "  File \"%s/phases.c\", line %d, in grow_sessions [phases]\n", SAMPLES_SOURCE_DIR,
             line_of("malloc(3000)"));
    const char *inner = strstr(out, frame);
    cr_assert(inner, "no grow_sessions frame in:\n%s", out);
    cr_expect(strstr(inner, "    for (int i = 0; i < n; i++) kept[nkept++] = malloc(3000);\n") == inner + strlen(frame));
    const char *outer = strstr(out, "in main [phases]");
    cr_expect(outer && outer < inner, "the caller must come first:\n%s", out);
    free(out);
}

Test(snapshots, cumulative_counts_recursion_once)
{
    struct json *j =
        heapsnap_json(dir, ARGS("stats", trace, "--by", "function", "--cumulative", "--format", "json", "--limit", "0"));
    /* 4 blocks from recurse at depths 1..4: tracemalloc would say 10 and 1000 B. */
    cr_expect_eq(field(j, "recurse", "count"), 4);
    cr_expect_eq(field(j, "recurse", "size"), 400);
    /* Everything: printf's stdio buffer is gone, freed by glibc's cleanup at exit. */
    cr_expect_eq(field(j, "main", "size"), 100477);
    cr_expect_eq(field(j, "grow_sessions", "size"), 90000);
    json_free(j);
}

Test(snapshots, filters)
{
    /* Inclusive: any may match; the libio buffer has no phases.c frame at its call site. */
    struct json *j = heapsnap_json(dir, ARGS("stats", trace, "--include", "*phases.c", "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 100477);
    json_free(j);
    /* Exclusive: every one must pass. */
    j = heapsnap_json(dir, ARGS("stats", trace, "--include", "*phases.c", "--exclude", "recurse", "--exclude", "phases",
                     "--by", "function", "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 0, "module 'phases' excludes everything of phases");
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", trace, "--exclude", "recurse", "--by", "function", "--format", "json"));
    cr_expect_eq(entry(j, "recurse"), -1);
    cr_expect_eq(json_int(j, "total.size"), 100477 - 400);
    json_free(j);
    /* Without --all-frames only the call site is tested: main is never one. */
    j = heapsnap_json(dir, ARGS("stats", trace, "--include", "main", "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 0);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", trace, "--include", "main", "--all-frames", "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 100477);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", trace, "--exclude", "recurse", "--all-frames", "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 100477 - 400);
    json_free(j);
}

Test(snapshots, skip_function)
{
    struct json *j = heapsnap_json(dir, ARGS("stats", trace, "--by", "function", "--skip-function", "my_*", "--format", "json"));
    cr_expect_eq(field(j, "via_wrapper", "size"), 64);
    cr_expect_eq(entry(j, "my_alloc"), -1);
    json_free(j);
}

Test(snapshots, exact_peak_not_each_sites_maximum)
{
    struct json *j = heapsnap_json(dir, ARGS("stats", at("peak"), "--by", "function", "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 110000);
    cr_expect_eq(json_int(j, "total.count"), 60);
    cr_expect_eq(field(j, "build_cache", "size"), 100000);
    cr_expect_eq(field(j, "load_config", "size"), 10000);
    /* grow_sessions ends larger than it ever was, but after the peak. */
    cr_expect_eq(entry(j, "grow_sessions"), -1);
    json_free(j);
}

Test(snapshots, marker_points)
{
    struct json *j = heapsnap_json(dir, ARGS("stats", at("warm"), "--by", "function", "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 10000);
    cr_expect_eq(json_len(j, "stats"), 1);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", at("done"), "--by", "function", "--format", "json"));
    cr_expect_eq(field(j, "grow_sessions", "size"), 90000);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", at("0s"), "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 0);
    json_free(j);
}

Test(snapshots, diff_between_markers)
{
    struct json *j = heapsnap_json(dir, ARGS("diff", at("warm"), at("done"), "--by", "function", "--format", "json"));
    cr_expect_eq(field(j, "grow_sessions", "size_diff"), 90000);
    cr_expect_eq(field(j, "grow_sessions", "count_diff"), 30);
    cr_expect_eq(field(j, "load_config", "size_diff"), 0);
    cr_expect_eq(field(j, "load_config", "size"), 10000);
    cr_expect_str_eq(json_str(j, "stats.0.key"), "grow_sessions");
    json_free(j);
}

/* A snapshot file kept as a baseline, against tomorrow's build: code moved
 * (-falign-functions=256), lines did not, and groups still match. */
Test(snapshots, snapshot_file_round_trip_and_diff_across_builds)
{
    char *base = path_join(dir, "baseline.json");
    free(heapsnap_out(dir, ARGS("snapshot", trace, "-o", base)));
    char *a = heapsnap_out(dir, ARGS("stats", trace, "--by", "traceback", "--limit", "0"));
    char *b = heapsnap_out(dir, ARGS("stats", base, "--by", "traceback", "--limit", "0"));
    cr_expect_str_eq(a, b, "the snapshot file must give the same statistics");
    char *shifted = path_join(dir, "shifted.trace");
    const char *run[] = {heapsnap_bin(), "run", "-q", "-o", shifted, "--", sample("phases_shifted"), NULL};
    struct run_result r = run_in(dir, NULL, run);
    cr_assert_eq(r.exit_code, 0);
    char *d = heapsnap_out(dir, ARGS("diff", base, shifted, "--limit", "0"));
    cr_expect_eq(count_lines(d), 5, "same groups in both builds:\n%s", d);
    for (char *line = strtok(d, "\n"); line; line = strtok(NULL, "\n"))
        cr_expect(strstr(line, "(+0 B)") && strstr(line, "(+0)"), "changed: %s", line);
}

Test(snapshots, diff_shows_growth_and_vanished_groups)
{
    char *base = path_join(dir, "baseline.json");
    free(heapsnap_out(dir, ARGS("snapshot", trace, "-o", base)));
    char *other = path_join(dir, "other.trace");
    const char *run[] = {heapsnap_bin(), "run", "-q", "-o", other, "--", sample("phases_shifted"), "more", "nolabel", NULL};
    struct run_result r = run_in(dir, NULL, run);
    cr_assert_eq(r.exit_code, 0);
    char *d = heapsnap_out(dir, ARGS("diff", base, other));
    char want[512];
    snprintf(want, sizeof want, "%s/phases.c:%d: size=117 KiB (+29.3 KiB), count=40 (+10), average=3000 B\n",
             SAMPLES_SOURCE_DIR, line_of("malloc(3000)"));
    cr_expect(strncmp(d, want, strlen(want)) == 0, "got:\n%s", d);
    snprintf(want, sizeof want, "%s/phases.c:%d: size=0 B (-13 B), count=0 (-1)\n", SAMPLES_SOURCE_DIR,
             line_of("strdup(\"label-012345\")"));
    cr_expect(strstr(d, want) != NULL, "no vanished group in:\n%s", d);
}

Test(snapshots, in_program_api)
{
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--", sample("phases"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0);
    unsigned long current = 0, peak = 0;
    cr_assert_eq(sscanf(r.out, "current=%lu peak=%lu", &current, &peak), 2, "%s", r.out);
    /* Usable sizes: at least the requested bytes, at most 16 more per block. */
    cr_expect(current >= 10000 && current <= 10000 + 10 * 16, "current=%lu", current);
    cr_expect(peak >= 110000 && peak <= 110000 + 60 * 16, "peak=%lu", peak);
    /* Without heapsnap the same binary reads 0 and 0. */
    const char *bare[] = {sample("phases"), NULL};
    r = run_in(dir, NULL, bare);
    cr_expect_str_eq(r.out, "current=0 peak=0\n");
}

Test(snapshots, signal_interval_and_growth_markers, .timeout = 60)
{
    trace_phases(ARGS("--snapshot-signal", "USR2", "--snapshot-interval", "0.1", "--snapshot-growth", "50K"),
                 ARGS("slow", "signal"));
    struct json *rep = report_json_of(trace);
    size_t n = json_len(rep, "markers");
    int signals = 0, intervals = 0, growth = 0;
    const char *signal_label = NULL;
    for (size_t i = 0; i < n; i++) {
        char p[64];
        snprintf(p, sizeof p, "markers.%zu.label", i);
        const char *l = json_str(rep, p);
        if (strncmp(l, "signal:", 7) == 0) signals++, signal_label = l;
        intervals += strncmp(l, "interval:", 9) == 0;
        if (strncmp(l, "growth:", 7) == 0) {
            growth++;
            cr_expect_geq(atoll(l + 7), 51200);
        }
    }
    cr_expect_eq(signals, 1);
    cr_expect_geq(intervals, 3, "0.72 s of run at 0.1 s");
    /* Counters flush every 64 KiB: the heap is seen at ~66 KiB (> 50 KiB, a
     * marker), and never again 50 KiB above that (its peak is ~108 KiB). */
    cr_expect_eq(growth, 1);
    struct json *j = heapsnap_json(dir, ARGS("stats", at(signal_label), "--by", "function", "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 10000, "the signal came right after the warm phase");
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", at("interval:1"), "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 10000);
    json_free(j);
    json_free(rep);
}

Test(snapshots, timeline)
{
    char *csv = heapsnap_out(dir, ARGS("timeline", trace, "--format", "csv", "--resolution", "10"));
    const char *head = "time_s,current_bytes,peak_bytes,blocks,mapped_bytes,rss_bytes,markers\n";
    cr_expect(strncmp(csv, head, strlen(head)) == 0, "%s", csv);
    /* One 10 s row with everything; no mappings of its own; its RSS as sampled, whatever it was. */
    const char *row = strstr(csv, ",100477,110000,46,0,");
    cr_expect(row && strstr(row, ",warm;done;leak-check:1:end\n"), "one 10 s row with everything:\n%s", csv);
    struct json *j = heapsnap_json(dir, ARGS("timeline", trace, "--format", "json"));
    cr_expect_geq(json_len(j, "samples"), 50);
    json_free(j);
}

Test(snapshots, bad_input)
{
    expect_one_line_error(dir, ARGS("stats", trace, "--by", "color"), 2, "--by takes lineno, function, file, module or traceback");
    expect_one_line_error(dir, ARGS("stats", trace, "--by", "traceback", "--cumulative"), 2, "--cumulative does not go with");
    expect_one_line_error(dir, ARGS("stats", at("nosuchlabel")), 1,
                 "no marker labelled 'nosuchlabel' (markers: warm, done, leak-check#1)");
    expect_one_line_error(dir, ARGS("diff", trace), 2, "usage: heapsnap diff OLD NEW");
    char *base = path_join(dir, "b.json");
    free(heapsnap_out(dir, ARGS("snapshot", trace, "-o", base)));
    char *snap_at;
    cr_assert(asprintf(&snap_at, "%s@peak", base) > 0);
    expect_one_line_error(dir, ARGS("stats", snap_at), 1, "a snapshot file is one moment already");
    char *newer = path_join(dir, "newer.json");
    FILE *f = fopen(newer, "w");
    fputs("{\"heapsnap_snapshot\": 2, \"traces\": []}", f);
    fclose(f);
    expect_one_line_error(dir, ARGS("stats", newer), 1, "snapshot file schema 2, this heapsnap reads schema 1");
    char *junk = path_join(dir, "junk.json");
    f = fopen(junk, "w");
    fputs("{\"heapsnap_snapshot\": 1, \"traces\": [{\"size\": \"x\"}]}", f);
    fclose(f);
    expect_one_line_error(dir, ARGS("stats", junk), 1, "corrupt snapshot file");
    char *deep = path_join(dir, "deep.json");
    f = fopen(deep, "w");
    fputs("{\"heapsnap_snapshot\": ", f);
    for (int i = 0; i < 100000; i++) fputc('[', f);
    fclose(f);
    expect_one_line_error(dir, ARGS("stats", deep), 1, "not a heapsnap snapshot file");
    expect_one_line_error(dir, ARGS("run", "--snapshot-signal", "KILL", "--", sample("leak")), 2, "--snapshot-signal takes");
    expect_one_line_error(dir, ARGS("run", "--snapshot-interval", "0", "--", sample("leak")), 2, "--snapshot-interval takes");
}

/* A thread that is not the one that started the process checks the interval
 * too (its counter starts at zero). */
Test(snapshots, interval_markers_from_any_thread)
{
    char *t = path_join(dir, "worker.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", t, "--snapshot-interval", "0.1", "--", sample("worker"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    struct json *j = report_json_of(t);
    cr_expect_eq(json_int(j, "totals.allocations"), 20001, "20,000 by work(), one DTV by pthread_create");
    cr_expect_eq(json_int(j, "totals.frees"), 20001, "and the DTV, with glibc's cache of dead threads at exit");
    size_t n = json_len(j, "markers"), intervals = 0;
    for (size_t i = 0; i < n; i++) {
        char p[64];
        snprintf(p, sizeof p, "markers.%zu.label", i);
        intervals += strncmp(json_str(j, p), "interval:", 9) == 0;
    }
    cr_expect_geq(intervals, 3, "about half a second at 0.1 s");
    json_free(j);
}

static char *write_text(const char *name, const char *text)
{
    char *p = path_join(dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Sizes, counts and lines are whole numbers: NaN (Python's json writes it),
 * infinities, negative, fractional and out-of-range values are refused by
 * name, never read as 0. */
Test(snapshots, snapshot_file_numbers)
{
    static const struct {
        const char *size, *count, *line, *want;
    } cases[] = {
        {"NaN", "1", "3", "(trace 0: \"size\" must be a whole number from 0 to 9223372036854775807, not NaN)"},
        {"Infinity", "1", "3", "\"size\" must be a whole number from 0 to 9223372036854775807, not Infinity"},
        {"-Infinity", "1", "3", "\"size\" must be a whole number from 0 to 9223372036854775807, not -Infinity"},
        {"-1", "1", "3", "\"size\" must be a whole number from 0 to 9223372036854775807, not -1"},
        {"1.5", "1", "3", "\"size\" must be a whole number from 0 to 9223372036854775807, not 1.5"},
        {"18446744073709551616", "1", "3", "not 1.8446744073709552e+19"},
        {"10", "NaN", "3", "(trace 0: \"count\" must be a whole number from 0 to 9223372036854775807, not NaN)"},
        {"10", "1", "NaN", "(trace 0, frame 0: \"line\" must be a whole number from 0 to 2147483647, not NaN)"},
        {"10", "1", "-3", "\"line\" must be a whole number from 0 to 2147483647, not -3"},
        {"10", "1", "2147483648", "\"line\" must be a whole number from 0 to 2147483647, not 2147483648"},
        {"10", "1", "\"7\"", "\"line\" must be a whole number from 0 to 2147483647, not a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"heapsnap_snapshot\": 1, \"traces\": [{\"size\": %s, \"count\": %s, \"frames\": "
                 "[{\"function\": \"f\", \"file\": \"/x.c\", \"line\": %s, \"module\": \"x\"}]}]}",
                 cases[i].size, cases[i].count, cases[i].line);
        char *f = write_text("numbers.json", text);
        expect_one_line_error(dir, ARGS("stats", f), 1, cases[i].want);
        free(f);
    }
    char *nan_time = write_text("time.json", "{\"heapsnap_snapshot\": 1, \"time_s\": NaN, \"traces\": []}");
    expect_one_line_error(dir, ARGS("stats", nan_time), 1, "\"time_s\" must be a number of seconds, not NaN");
    /* What JSON allows is read exactly: an exponent, no line at all, a null line. */
    char *good = write_text("good.json", "{\"heapsnap_snapshot\": 1, \"traces\": ["
                                         "{\"size\": 1e3, \"count\": 2, \"frames\": [{\"function\": \"f\"}]},"
                                         "{\"size\": 24, \"count\": 1, \"frames\": [{\"function\": \"g\", "
                                         "\"line\": null}]}]}");
    struct json *j = heapsnap_json(dir, ARGS("stats", good, "--by", "function", "--format", "json"));
    cr_expect_eq(field(j, "f", "size"), 1000);
    cr_expect_eq(field(j, "f", "count"), 2);
    cr_expect_eq(field(j, "g", "size"), 24);
    cr_expect_eq(json_int(j, "total.size"), 1024);
    json_free(j);
}

/* A time outside the trace is an error that says how long the trace is, and
 * the length it gives is a point that works. */
Test(snapshots, time_outside_the_trace)
{
    const char *argv[] = {heapsnap_bin(), "stats", at("99s"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 1);
    cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
    const char *said = strstr(r.err, "phases.trace: 99s is past the end of the trace: it is ");
    cr_assert(said, "%s", r.err);
    double length = 0;
    char tail[64] = "";
    cr_assert_eq(sscanf(said + strlen("phases.trace: 99s is past the end of the trace: it is "), "%lfs long %63[^\n]",
                        &length, tail),
                 2, "%s", r.err);
    cr_expect_str_eq(tail, "(@exit is its end)");
    cr_expect(length > 0 && length < 60, "%s", r.err);
    char point[64];
    snprintf(point, sizeof point, "%.6fs", length);
    struct json *j = heapsnap_json(dir, ARGS("stats", at(point), "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 100477, "the end of the trace is the heap at exit");
    json_free(j);
    snprintf(point, sizeof point, "%.6fs", length + 0.001);
    char want[128];
    snprintf(want, sizeof want, "is past the end of the trace: it is %.6fs long", length);
    expect_one_line_error(dir, ARGS("stats", at(point)), 1, want);
    snprintf(want, sizeof want, "-1s is before the start of the trace: times count from 0s, and it is %.6fs long",
             length);
    expect_one_line_error(dir, ARGS("stats", at("-1s")), 1, want);
    run_free(&r);
}

/* Two snapshot signals within a millisecond get the same label; their order
 * names them (samples/signals.c: 1000 B live at the first, 3000 B at the
 * second, 7000 B at the end). */
Test(snapshots, generated_markers_by_order)
{
    char *t = path_join(dir, "signals.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--snapshot-signal", "USR2", "-o", t, "--", sample("signals"),
                          NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    trace = t;
    static const struct {
        const char *point;
        long long size;
    } points[] = {{"signal#1", 1000}, {"signal#2", 3000}, {"leak-check#1", 7000}, {"leak-check", 7000}};
    for (size_t i = 0; i < sizeof points / sizeof *points; i++) {
        struct json *j = heapsnap_json(dir, ARGS("stats", at(points[i].point), "--format", "json"));
        cr_expect_eq(json_int(j, "total.size"), points[i].size, "%s", points[i].point);
        json_free(j);
    }
    expect_one_line_error(dir, ARGS("stats", at("signal")), 1, "there are 2 signal markers: say which, signal#1 to signal#2");
    expect_one_line_error(dir, ARGS("stats", at("signal#3")), 1, "there are 2 signal markers, not 3");
    expect_one_line_error(dir, ARGS("stats", at("interval#1")), 1,
                 "no marker labelled 'interval' (markers: signal#1, signal#2, leak-check#1)");
}

/* Interval and growth markers answer to their order too. */
Test(snapshots, interval_and_growth_markers_by_order, .timeout = 60)
{
    trace_phases(ARGS("--snapshot-interval", "0.1", "--snapshot-growth", "50K"), ARGS("slow"));
    struct json *j = heapsnap_json(dir, ARGS("stats", at("interval#1"), "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), 10000);
    json_free(j);
    struct json *by_label = heapsnap_json(dir, ARGS("stats", at("interval:2"), "--format", "json"));
    j = heapsnap_json(dir, ARGS("stats", at("interval#2"), "--format", "json"));
    cr_expect_eq(json_int(j, "total.size"), json_int(by_label, "total.size"));
    json_free(j);
    json_free(by_label);
    j = heapsnap_json(dir, ARGS("stats", at("growth"), "--format", "json"));
    cr_expect_geq(json_int(j, "total.size"), 51200, "the one growth marker, past 50 KiB");
    json_free(j);
}
