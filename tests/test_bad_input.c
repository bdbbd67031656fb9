/* test_bad_input.c - what heapsnap cannot do gets one clear line on stderr and
 * a non-zero exit, never a crash or a hang: programs it cannot trace, bad
 * options, and traces that are garbage, cut short, or from a newer heapsnap. */
#include "harness.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../trace/trace_format.h"

static void expect_one_line(const char *const *argv, int code, const char *needle)
{
    char *dir = temp_dir();
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, code, "exit %d, stderr: %s", r.exit_code, r.err);
    cr_expect_eq(count_lines(r.err), 1, "stderr: %s", r.err);
    cr_expect(strstr(r.err, needle) != NULL, "'%s' not in: %s", needle, r.err);
    cr_expect(!r.signaled);
    run_free(&r);
}

Test(bad_input, missing_program)
{
    expect_one_line((const char *[]){heapsnap_bin(), "run", "--", "no-such-program-here", NULL}, 127,
                    "no-such-program-here: no such program");
}

Test(bad_input, static_binary)
{
    expect_one_line((const char *[]){heapsnap_bin(), "run", "--", sample("static_prog"), NULL}, 1,
                    "statically linked");
}

/* Set-user-ID (set-group-ID) to someone else: the loader would ignore
 * LD_PRELOAD, so `run` refuses in one line, before running anything. */
static void expect_refused(uid_t owner, gid_t group, mode_t mode, const char *needle)
{
    char *dir = temp_dir();
    char *copy = sample_copy(dir, "leak", "privileged", owner, group, mode);
    struct run_result r = run_in(dir, NULL, (const char *[]){heapsnap_bin(), "run", "--", copy, NULL});
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
    cr_expect(strstr(r.err, needle) != NULL, "'%s' not in: %s", needle, r.err);
    cr_expect(strstr(r.err, "so it cannot be traced\n") != NULL, "%s", r.err);
    char **names;
    cr_expect_eq(list_traces(dir, &names), 0, "the program was run");
    run_free(&r);
}

Test(bad_input, setuid_program_of_another_user)
{
    char needle[128];
    snprintf(needle, sizeof needle, "privileged is set-user-ID and owned by uid 65534, not by you (uid %u)",
             (unsigned)getuid());
    expect_refused(65534, getgid(), 04755, needle);
}

Test(bad_input, setgid_program_of_another_group)
{
    char needle[128];
    snprintf(needle, sizeof needle, "privileged is set-group-ID and its group is gid 65534, not yours (gid %u)",
             (unsigned)getgid());
    expect_refused(getuid(), 65534, 02755, needle);
}

Test(bad_input, frames_out_of_range)
{
    const char *bad[] = {"0", "65536", "abc", "-3", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_one_line((const char *[]){heapsnap_bin(), "run", "--frames", bad[i], "--", sample("leak"), NULL}, 2,
                        "--frames takes a number from 1 to 65535");
}

Test(bad_input, unwritable_output)
{
    expect_one_line(
        (const char *[]){heapsnap_bin(), "run", "-o", "/nonexistent-dir/x.trace", "--", sample("leak"), NULL}, 1,
        "cannot write traces to /nonexistent-dir");
}

Test(bad_input, missing_trace)
{
    expect_one_line((const char *[]){heapsnap_bin(), "report", "/nonexistent.trace", NULL}, 1,
                    "/nonexistent.trace: No such file or directory");
}

static char *write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *p = path_join(dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

static char *valid_trace(const char *dir, const char *prog)
{
    char *trace = path_join(dir, "valid.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample(prog), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert(r.exit_code == 0 || r.exit_code == 137, "%s", r.err);
    run_free(&r);
    return trace;
}

Test(bad_input, garbage_trace)
{
    char *dir = temp_dir();
    char junk[5000];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 7 + 3);
    char *p = write_file(dir, "junk.trace", junk, sizeof junk);
    expect_one_line((const char *[]){heapsnap_bin(), "report", p, NULL}, 1, "not a heapsnap trace");
    char *empty = write_file(dir, "empty.trace", "", 0);
    expect_one_line((const char *[]){heapsnap_bin(), "report", empty, NULL}, 1, "too short");
}

Test(bad_input, truncated_trace)
{
    char *dir = temp_dir();
    char *trace = valid_trace(dir, "leak");
    size_t len;
    char *data = file_contents(trace, &len);
    cr_assert_gt(len, TRACE_HEADER_SIZE + 40);
    char *cut = write_file(dir, "cut.trace", data, len - 20);
    expect_one_line((const char *[]){heapsnap_bin(), "report", cut, NULL}, 1, "truncated trace");
}

Test(bad_input, newer_version)
{
    char *dir = temp_dir();
    char *trace = valid_trace(dir, "leak");
    size_t len;
    char *data = file_contents(trace, &len);
    struct trace_header *h = (struct trace_header *)data;
    h->version = TRACE_VERSION + 1;
    char *newer = write_file(dir, "newer.trace", data, len);
    expect_one_line((const char *[]){heapsnap_bin(), "report", newer, NULL}, 1,
                    "is newer than this heapsnap reads");
}

/* A sampling rate past what any heapsnap writes (the fuzzer's find: its
 * weights overflowed the figures) is a corrupt header. */
Test(bad_input, sample_rate_out_of_range)
{
    char *dir = temp_dir();
    char *trace = valid_trace(dir, "leak");
    size_t len;
    char *data = file_contents(trace, &len);
    struct trace_header *h = (struct trace_header *)data;
    h->sample_rate = TRACE_MAX_SAMPLE_RATE + 1;
    char *bad = write_file(dir, "rate.trace", data, len);
    expect_one_line((const char *[]){heapsnap_bin(), "report", bad, NULL}, 1, "corrupt trace header");
    h->sample_rate = TRACE_MAX_SAMPLE_RATE;
    char *edge = write_file(dir, "edge.trace", data, len);
    struct run_result r = run_in(dir, NULL, (const char *const[]){heapsnap_bin(), "report", edge, NULL});
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
}

/* A cheap, deterministic fuzz pass in the suite (the real fuzzer is
 * tests/fuzz_trace.c): corrupt bytes of valid traces, packed and open, and the
 * reader must answer with a report or one line, never a crash. */
static void mutate_and_report(const char *dir, const char *trace, unsigned seed, int rounds)
{
    size_t len;
    char *data = file_contents(trace, &len);
    srand(seed);
    for (int i = 0; i < rounds; i++) {
        char *copy = malloc(len);
        memcpy(copy, data, len);
        int flips = 1 + rand() % 8;
        for (int k = 0; k < flips; k++) {
            /* Mostly past the header, where the records are. */
            size_t at = rand() % 4 ? TRACE_HEADER_SIZE + (size_t)rand() % (len - TRACE_HEADER_SIZE) : (size_t)rand() % len;
            copy[at] = (char)rand();
        }
        char *p = write_file(dir, "fuzz.trace", copy, len);
        const char *argv[] = {heapsnap_bin(), "report", "--format", "json", p, NULL};
        struct run_result r = run_in(dir, NULL, argv);
        cr_assert(!r.signaled, "round %d crashed with signal %d", i, r.exit_code - 128);
        cr_assert(r.exit_code == 0 || (r.exit_code == 1 && count_lines(r.err) == 1), "round %d: exit %d: %s", i,
                  r.exit_code, r.err);
        run_free(&r);
        free(copy);
        free(p);
    }
    free(data);
}

Test(bad_input, corrupted_packed_traces, .timeout = 120)
{
    char *dir = temp_dir();
    mutate_and_report(dir, valid_trace(dir, "realloc_chain"), 1, 150);
}

Test(bad_input, corrupted_open_traces, .timeout = 120)
{
    char *dir = temp_dir();
    mutate_and_report(dir, valid_trace(dir, "sigkill"), 2, 40); /* packed by run: ok too */
}

/* The OPEN trace samples/sigkill leaves under a bare preload: one chunk, 500
 * allocations of 24 B, the last record the 500th allocation. */
static char *open_trace(const char *dir, uint32_t *raw_len)
{
    struct run_result r = run_in(dir, bare_preload_env(dir), (const char *[]){sample("sigkill"), NULL});
    cr_assert_eq(r.exit_code, 137);
    run_free(&r);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    size_t len;
    char *data = file_contents(names[0], &len);
    const struct trace_header *h = (const struct trace_header *)data;
    const struct chunk_header *c = (const struct chunk_header *)(data + TRACE_HEADER_SIZE);
    cr_assert_eq(h->state, TRACE_OPEN);
    cr_assert_eq(c->magic, TRACE_CHUNK_MAGIC);
    *raw_len = c->raw_len;
    free(data);
    return names[0];
}

static bool json_flag(const struct json *j, const char *path)
{
    const struct json *v = json_get(j, path);
    cr_assert(v && v->type == JSON_BOOL, "no boolean %s", path);
    return v->boolean;
}

static char *cut_copy(const char *dir, const char *trace, size_t keep)
{
    size_t len;
    char *data = file_contents(trace, &len);
    cr_assert_leq(keep, len);
    char *p = write_file(dir, "cut.trace", data, keep);
    free(data);
    return p;
}

/* A full disk or an interrupted copy cuts the file anywhere: the report
 * covers every whole record before the cut and says the trace was cut. */
Test(bad_input, open_trace_cut_mid_chunk)
{
    char *dir = temp_dir();
    uint32_t raw;
    char *trace = open_trace(dir, &raw);
    struct json *j;
    const size_t records = TRACE_HEADER_SIZE + sizeof(struct chunk_header);
    struct {
        size_t keep;
        long long allocations;
    } cuts[] = {
        {records + raw - 1, 499},                            /* inside the last allocation record */
        {records + raw, 500},                                /* right after it */
        {TRACE_HEADER_SIZE + TRACE_SLOT_SIZE + 100, 500},    /* in a slot no thread took */
    };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char *cut = cut_copy(dir, trace, cuts[i].keep);
        j = report_json_of(cut);
        cr_expect_eq(json_int(j, "totals.allocations"), cuts[i].allocations, "cut at %zu", cuts[i].keep);
        cr_expect_eq(json_int(j, "totals.leaked_bytes"), 24 * cuts[i].allocations);
        cr_expect_eq(json_flag(j, "totals.cut"), true, "cut at %zu", cuts[i].keep);
        json_free(j);
        struct run_result r = run_in(dir, NULL, (const char *[]){heapsnap_bin(), "report", cut, NULL});
        cr_expect_eq(r.exit_code, 0, "%s", r.err);
        cr_expect(strstr(r.out, "\n  the trace file is cut short (it ends inside a slot): figures cover the records "
                                "before the cut\n"),
                  "%s", r.out);
        run_free(&r);
    }
    j = report_json_of(trace);
    cr_expect_eq(json_flag(j, "totals.cut"), false, "the whole file");
    json_free(j);
}

static void expect_pack_refused(const char *dir, const char *trace, const char *needle)
{
    size_t before_len, after_len;
    char *before = file_contents(trace, &before_len);
    expect_one_line((const char *[]){heapsnap_bin(), "pack", trace, NULL}, 1, needle);
    char *after = file_contents(trace, &after_len);
    cr_expect(before_len == after_len && memcmp(before, after, before_len) == 0, "pack changed %s", trace);
    free(before);
    free(after);
    (void)dir;
}

Test(bad_input, pack_refuses_a_corrupt_trace)
{
    char *dir = temp_dir();
    uint32_t raw;
    char *trace = open_trace(dir, &raw);
    size_t len;
    char *data = file_contents(trace, &len);
    /* 0xff bytes: no record type, and no varint ends in ten of them. */
    memset(data + TRACE_HEADER_SIZE + sizeof(struct chunk_header) + raw / 2, 0xff, 64);
    char *bad = write_file(dir, "corrupt.trace", data, len);
    expect_pack_refused(dir, bad, "corrupt trace (bad record");
    free(data);
}

Test(bad_input, pack_refuses_a_cut_trace)
{
    char *dir = temp_dir();
    uint32_t raw;
    char *trace = open_trace(dir, &raw);
    char *cut = cut_copy(dir, trace, TRACE_HEADER_SIZE + sizeof(struct chunk_header) + raw / 2);
    expect_pack_refused(dir, cut, "cut.trace: the file is cut short (it ends inside a slot): not packed");
}

/* A trace whose process still runs is still being written: packing it would
 * keep only what was written so far. */
Test(bad_input, pack_leaves_a_trace_being_written, .timeout = 30)
{
    char *dir = temp_dir();
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        const char *const *env = bare_preload_env(dir);
        for (size_t i = 0; env[i]; i++) putenv((char *)env[i]);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execl("/bin/sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    char **names = NULL;
    for (int i = 0; i < 500 && list_traces(dir, &names) == 0; i++) usleep(10000);
    cr_assert(names && names[0], "sleep wrote no trace");
    /* The file exists a moment before the shim maps it. */
    char maps[64];
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
    bool mapped = false;
    for (int i = 0; i < 500 && !mapped; i++) {
        FILE *f = fopen(maps, "r");
        cr_assert(f);
        char line[8192];
        while (!mapped && fgets(line, sizeof line, f)) mapped = strstr(line, strrchr(names[0], '/')) != NULL;
        fclose(f);
        if (!mapped) usleep(10000);
    }
    cr_assert(mapped, "sleep never mapped %s", names[0]);
    /* Until sleep is asleep, its start-up still writes records. */
    for (int i = 0; i < 100; i++) {
        size_t a_len, b_len;
        char *a = file_contents(names[0], &a_len);
        usleep(50000);
        char *b = file_contents(names[0], &b_len);
        bool same = a_len == b_len && memcmp(a, b, a_len) == 0;
        free(a);
        free(b);
        if (same) break;
    }
    expect_pack_refused(dir, names[0], "is still writing it: not packed");
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    struct run_result r = run_in(dir, NULL, (const char *[]){heapsnap_bin(), "pack", names[0], NULL});
    cr_expect_eq(r.exit_code, 0, "once its process is gone: %s", r.err);
    run_free(&r);
}
