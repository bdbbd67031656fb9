/* test_summary.c - the end-of-run summary's figures that heaptrack's has:
 * temporary allocations, the sites with the most allocation calls and the
 * program's peak RSS, in the text and the JSON, checked on samples with known
 * figures and against heaptrack's own on the same program. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

static void setup(void) { dir = temp_dir(); }

TestSuite(summary, .init = setup, .timeout = 120);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* heaptrack's figure after "LABEL: " in heaptrack_print's summary. */
static double heaptrack_figure(const char *printed, const char *label)
{
    const char *p = strstr(printed, label);
    cr_assert(p, "no '%s' in:\n%s", label, printed);
    return strtod(p + strlen(label), NULL);
}

/* heaptrack on the same program; returns heaptrack_print's output. */
static char *heaptrack_of(const char *const *prog)
{
    char *out = path_join(dir, "ht");
    const char *argv[16] = {HEAPTRACK_BIN, "-o", out};
    size_t k = 3;
    for (size_t i = 0; prog[i]; i++)
        argv[k++] = prog[i];
    argv[k] = NULL;
    struct run_result r = run_in_limited(dir, NULL, argv, 60);
    cr_assert_eq(r.exit_code, 0, "heaptrack: %s", r.err);
    run_free(&r);
    char *file;
    cr_assert(asprintf(&file, "%s.zst", out) > 0);
    r = run_in(dir, NULL, ARGS(HEAPTRACK_PRINT, file));
    cr_assert_eq(r.exit_code, 0, "heaptrack_print: %s", r.err);
    free(r.err);
    return r.out;
}

/* phases slow: 3600 malloc/free pairs in pause_a_little (from two call
 * sites, 1800 each), each freed before the next allocation: temporary. */
Test(summary, temporary_allocations_and_most_calls)
{
    char *trace = path_join(dir, "slow.trace");
    struct run_result r = run_in(dir, NULL, ARGS(heapsnap_bin(), "run", "-o", trace, "--", sample("phases"), "slow"));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.err, "\n  temporary allocs:  3600 ("), "%s", r.err);
    const char *most = strstr(r.err, "\nMost allocation calls, by allocation stack (");
    cr_assert(most, "%s", r.err);
    cr_expect(strstr(most, "\n  1800 calls (1800 temporary), 28.1 KiB allocated\n      at pause_a_little ("), "%s",
              most);
    run_free(&r);

    struct json *j = report_json_of(trace);
    cr_expect_eq(json_int(j, "totals.temporary"), 3600);
    for (int i = 0; i < 2; i++) {
        char p[64];
        snprintf(p, sizeof p, "calls.%d.stack.0.function", i);
        cr_expect_str_eq(json_str(j, p), "pause_a_little");
        snprintf(p, sizeof p, "calls.%d.calls", i);
        cr_expect_eq(json_int(j, p), 1800);
        snprintf(p, sizeof p, "calls.%d.temporary", i);
        cr_expect_eq(json_int(j, p), 1800);
        snprintf(p, sizeof p, "calls.%d.bytes_allocated", i);
        cr_expect_eq(json_int(j, p), 1800 * 16);
    }
    cr_expect_eq(json_int(j, "calls.2.calls"), 50);
    cr_expect_str_eq(json_str(j, "calls.2.stack.0.function"), "build_cache");

    /* heaptrack counts the same program's calls and temporary allocations
     * alike, give or take the one or two its own start makes */
    char *ht = heaptrack_of(ARGS(sample("phases"), "slow"));
    double calls = heaptrack_figure(ht, "calls to allocation functions: ");
    double temporary = heaptrack_figure(ht, "temporary memory allocations: ");
    long long ours = json_int(j, "totals.allocations");
    cr_expect(calls >= (double)ours && calls <= (double)ours + 2, "heaptrack %.0f calls, heapsnap %lld", calls, ours);
    cr_expect(temporary >= 3600 && temporary <= 3602, "heaptrack %.0f temporary, heapsnap 3600", temporary);
    cr_expect(strstr(ht, "MOST CALLS TO ALLOCATION FUNCTIONS\n3600 calls to allocation functions"), "%s", ht);
    free(ht);
    json_free(j);
}

/* bigheap 64 keeps 64 MiB live and touched: the program's peak RSS, as the
 * shim reads it at its end (--no-leak-check) and `heapsnap run` at its exit
 * stop, is the bare program's within heapsnap's own memory, and heaptrack's
 * figure (its own overhead in it too) within as much. */
Test(summary, peak_rss_of_the_program)
{
    struct run_result bare = run_in(dir, NULL, ARGS(sample("bigheap"), "64"));
    cr_assert_eq(bare.exit_code, 0);
    double bare_mib = (double)bare.maxrss_kib / 1024;
    cr_assert_gt(bare_mib, 64);
    run_free(&bare);
    char *ht = heaptrack_of(ARGS(sample("bigheap"), "64"));
    double ht_mib = heaptrack_figure(ht, "peak RSS (including heaptrack overhead): ");
    free(ht);
    const char *modes[] = {"--no-leak-check", "--quiet"}; /* the shim's reading; heapsnap run's at the exit stop */
    for (int m = 0; m < 2; m++) {
        char *trace = path_join(dir, m ? "checked.trace" : "unchecked.trace");
        struct run_result r =
            run_in(dir, NULL, ARGS(heapsnap_bin(), "run", modes[m], "-o", trace, "--", sample("bigheap"), "64"));
        cr_assert_eq(r.exit_code, 0, "%s", r.err);
        if (m == 0) {
            const char *line = strstr(r.err, "\n  peak RSS:          ");
            cr_expect(line && strtod(line + 22, NULL) > 64 && strstr(line, " MiB (the process's resident memory"),
                      "%s", r.err);
        }
        run_free(&r);
        struct json *j = report_json_of(trace);
        double mib = (double)json_int(j, "totals.peak_rss_bytes") / (1 << 20);
        cr_expect(mib >= bare_mib - 1 && mib <= bare_mib + 16, "%s: heapsnap %.1f MiB, bare %.1f MiB", modes[m], mib,
                  bare_mib);
        cr_expect(mib <= ht_mib + 16 && mib >= ht_mib - 16, "%s: heapsnap %.1f MiB, heaptrack %.1f MiB", modes[m], mib,
                  ht_mib);
        json_free(j);
    }
}

/* stats --sort-by calls: every site that allocated up to the point, live
 * or not, most calls first, with its calls and bytes; --sort-by count: most
 * blocks first; diff keeps tracemalloc's order. */
Test(summary, stats_sort_by_calls_and_count)
{
    char *trace = trace_program(dir, "slow.trace", ARGS(sample("phases"), "slow"));
    struct json *j =
        heapsnap_json(dir, ARGS("stats", trace, "--by", "function", "--sort-by", "calls", "--format", "json"));
    cr_expect_str_eq(json_str(j, "stats.0.key"), "pause_a_little");
    cr_expect_eq(json_int(j, "stats.0.calls"), 3600);
    cr_expect_eq(json_int(j, "stats.0.allocated"), 3600 * 16);
    cr_expect_eq(json_int(j, "stats.0.size"), 0, "all freed: listed for its calls alone");
    cr_expect_str_eq(json_str(j, "stats.1.key"), "build_cache");
    cr_expect_eq(json_int(j, "stats.1.calls"), 50);
    cr_expect_eq(json_int(j, "stats.1.allocated"), 100000);
    cr_expect_str_eq(json_str(j, "stats.2.key"), "grow_sessions");
    json_free(j);
    char *text = heapsnap_out(dir, ARGS("stats", trace, "--by", "function", "--sort-by", "calls", "--limit", "1"));
    cr_expect_str_eq(text, "pause_a_little: size=0 B, count=0, calls=3600, allocated=56.2 KiB\n");
    free(text);
    /* at the peak the cache's 50 blocks outnumber and outweigh load_config's 10 */
    char *peak;
    cr_assert(asprintf(&peak, "%s@peak", trace) > 0);
    text = heapsnap_out(dir, ARGS("stats", peak, "--by", "function", "--sort-by", "count"));
    cr_expect_str_eq(text, "build_cache: size=97.7 KiB, count=50, average=2000 B\n"
                           "load_config: size=10000 B, count=10, average=1000 B\n");
    free(text);
    struct run_result r = run_in(dir, NULL, ARGS(heapsnap_bin(), "stats", trace, "--sort-by", "bytes"));
    cr_expect_eq(r.exit_code, 2);
    cr_expect(strstr(r.err, "--sort-by takes size, count or calls, not 'bytes'"), "%s", r.err);
    run_free(&r);
    r = run_in(dir, NULL, ARGS(heapsnap_bin(), "diff", trace, trace, "--sort-by", "calls"));
    cr_expect_eq(r.exit_code, 2);
    run_free(&r);
}
