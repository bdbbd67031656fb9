/* test_mapped.c - mapped memory and the resident set: samples/mappings.c's
 * known mappings by call site (anonymous, file-backed, a hole unmapped, a
 * remap, MAP_FIXED over a mapping, the break), at the end and at the mapped
 * peak; heap and mapped kept apart (malloc's own mmap is heap); heapsnap
 * run's RSS samples against what the program touched; stats --memory and
 * run --rss-interval, and their errors. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* samples/mappings.c's figures */
#define MAPPED_END 155648
#define MAPPED_PEAK 163840
#define HEAP_END (1000 + 1048576)
#define RSS_TOUCHED (32ll << 20)

static char *dir;
static void setup(void) { dir = temp_dir(); }
TestSuite(mapped, .init = setup, .timeout = 120);

static char *trace_mappings(const char *name, const char *const *extra)
{
    char *trace = path_join(dir, name);
    const char *argv[24] = {heapsnap_bin(), "run", "-q", "-o", trace};
    size_t n = 5;
    for (size_t i = 0; extra && extra[i]; i++) argv[n++] = extra[i];
    argv[n++] = "--";
    argv[n++] = sample("mappings");
    if (strcmp(name, "rss.trace") == 0) argv[n++] = "rss";
    argv[n] = NULL;
    const char *env[] = {NULL, NULL};
    char tmpdir[4200];
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", dir);
    env[0] = tmpdir;
    struct run_result r = run_in(dir, env, argv);
    cr_assert_eq(r.exit_code, 0, "the sample's calls returned what they must (exit 3 if not): %s", r.err);
    run_free(&r);
    return trace;
}

static struct json *stats_memory(const char *source, const char *memory)
{
    return heapsnap_json(dir, ARGS("stats", source, "--memory", memory, "--by", "function", "--limit", "0", "--format",
                                   "json"));
}

static long long site(const struct json *j, const char *fn, const char *field) { return stats_field(j, fn, field); }

Test(mapped, bytes_by_site_at_the_end)
{
    char *trace = trace_mappings("m.trace", NULL);
    struct json *j = stats_memory(trace, "mapped");
    cr_expect_eq(site(j, "map_anon", "size"), 20480);
    cr_expect_eq(site(j, "map_anon", "count"), 1);
    cr_expect_eq(site(j, "map_file", "size"), 12288, "10000 bytes of a file map 3 whole pages");
    cr_expect_eq(site(j, "map_holed", "size"), 24576, "8 pages less the 2 unmapped from the middle");
    cr_expect_eq(site(j, "map_holed", "count"), 2, "the hole splits the range in two");
    cr_expect_eq(site(j, "remap_grow", "size"), 65536, "grown by mremap: the remap's site");
    cr_expect_eq(site(j, "map_for_remap", "size"), -1, "moved away by the remap");
    cr_expect_eq(site(j, "map_replaced", "size"), 16384, "6 pages less the 2 MAP_FIXED over them");
    cr_expect_eq(site(j, "map_fixed_over", "size"), 8192);
    cr_expect_eq(site(j, "grow_break", "size"), 8192, "sbrk by the program");
    cr_expect_eq(site(j, "map_and_drop", "size"), -1);
    cr_expect_eq(site(j, "unseen_mapping", "size"), -1, "an unmap of a range never seen mapped changes nothing");
    cr_expect_eq(site(j, "heap_block", "size"), -1, "heap is not mapped memory");
    cr_expect_eq(site(j, "big_heap_block", "size"), -1, "malloc's own mmap is heap, not the program's mapping");
    cr_expect_eq(json_int(j, "total.size"), MAPPED_END);
    cr_expect_eq(json_int(j, "total.count"), 8);
    json_free(j);
}

Test(mapped, bytes_by_site_at_the_mapped_peak)
{
    char *trace = trace_mappings("m.trace", NULL);
    char *at;
    cr_assert(asprintf(&at, "%s@peak", trace) > 0);
    struct json *j = stats_memory(at, "mapped");
    cr_expect_eq(json_int(j, "total.size"), MAPPED_PEAK);
    cr_expect_eq(site(j, "map_and_drop", "size"), 16384, "its 4 pages were there at the peak");
    cr_expect_eq(site(j, "grow_break", "size"), -1, "the break grew after the peak");
    cr_expect_eq(site(j, "remap_grow", "size"), 65536);
    json_free(j);
    free(at);
}

Test(mapped, heap_and_mapped_apart_and_together)
{
    char *trace = trace_mappings("m.trace", NULL);
    struct json *heap = stats_memory(trace, "heap");
    cr_expect_eq(json_int(heap, "total.size"), HEAP_END, "the heap as without mappings");
    cr_expect_eq(json_int(heap, "total.count"), 2);
    cr_expect_eq(site(heap, "map_anon", "size"), -1);
    json_free(heap);
    /* the default is heap, as it always was */
    struct json *plain = heapsnap_json(dir, ARGS("stats", trace, "--by", "function", "--format", "json"));
    cr_expect_eq(json_int(plain, "total.size"), HEAP_END);
    json_free(plain);
    struct json *all = stats_memory(trace, "all");
    cr_expect_eq(json_int(all, "total.size"), HEAP_END + MAPPED_END);
    cr_expect_eq(json_int(all, "total.count"), 2 + 8);
    cr_expect_eq(site(all, "big_heap_block", "size"), 1048576);
    cr_expect_eq(site(all, "map_holed", "size"), 24576);
    json_free(all);
    /* --by works on mappings as on blocks: by file, everything is the sample's */
    struct json *by_file = heapsnap_json(dir, ARGS("stats", trace, "--memory", "mapped", "--by", "file", "--format", "json"));
    cr_expect_eq(json_len(by_file, "stats"), 1);
    cr_expect_eq(json_int(by_file, "stats.0.size"), MAPPED_END);
    json_free(by_file);
}

Test(mapped, summary_figures)
{
    char *trace = trace_mappings("m.trace", NULL);
    struct json *j = report_json_of(trace);
    cr_expect_eq(json_int(j, "totals.mapped_bytes"), MAPPED_END);
    cr_expect_eq(json_int(j, "totals.mapped_ranges"), 8);
    cr_expect_eq(json_int(j, "totals.mapped_peak_bytes"), MAPPED_PEAK);
    cr_expect_eq(json_int(j, "totals.mmaps"), 8);
    cr_expect_eq(json_int(j, "totals.munmaps"), 3);
    cr_expect_eq(json_int(j, "totals.mremaps"), 1);
    cr_expect_eq(json_int(j, "totals.peak_bytes"), HEAP_END, "the heap peak is heap only");
    json_free(j);
    char *text = heapsnap_out(dir, ARGS("report", trace));
    cr_expect(strstr(text, "  mapped at end:     152 KiB in 8 ranges") != NULL, "%s", text);
    cr_expect(strstr(text, "  peak mapped:       160 KiB, at ") != NULL, "%s", text);
    free(text);
}

/* A bare preload: the shim packs its own trace at the end (its own mappings
 * then, none of them recorded) and there are no RSS samples. */
Test(mapped, bare_preload)
{
    char tmpdir[4200];
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", dir);
    const char *const *base = bare_preload_env(dir);
    const char *env[16];
    size_t n = 0;
    for (; base[n]; n++) env[n] = base[n];
    env[n++] = tmpdir;
    env[n] = NULL;
    struct run_result r = run_in(dir, env, ARGS(sample("mappings")));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    char *trace = names[0]; /* a path already */
    struct json *j = stats_memory(trace, "mapped");
    cr_expect_eq(json_int(j, "total.size"), MAPPED_END);
    cr_expect_eq(site(j, "map_holed", "count"), 2);
    json_free(j);
    struct json *rep = report_json_of(trace);
    cr_expect_eq(json_int(rep, "totals.rss_samples"), 0);
    cr_expect(json_get(rep, "totals.rss_peak_sampled_bytes") && json_get(rep, "totals.rss_peak_sampled_bytes")->type == JSON_NULL);
    json_free(rep);
}

/* The sample touches 32 MiB between two idle stretches: the samples, taken
 * from /proc as it runs, see the resident set grow by that much at least,
 * and none above the kernel's own high-water mark. */
Test(mapped, rss_samples_see_touched_pages)
{
    char *trace = trace_mappings("rss.trace", NULL);
    struct json *rep = report_json_of(trace);
    long long samples = json_int(rep, "totals.rss_samples");
    cr_expect_geq(samples, 5, "300 ms idle at 10 ms a sample: %lld samples", samples);
    long long top = json_int(rep, "totals.rss_peak_sampled_bytes"), hwm = json_int(rep, "totals.peak_rss_bytes");
    cr_expect_leq(top, hwm, "a sample (%lld) above VmHWM (%lld)", top, hwm);
    cr_expect_eq(json_int(rep, "totals.mapped_bytes"), MAPPED_END + RSS_TOUCHED);
    json_free(rep);
    struct json *tl = heapsnap_json(dir, ARGS("timeline", trace, "--format", "json", "--resolution", "0.01"));
    size_t n = json_len(tl, "samples");
    cr_assert_gt(n, 20);
    long long low = -1, high = -1;
    for (size_t i = 0; i < n; i++) {
        char p[64];
        snprintf(p, sizeof p, "samples.%zu.rss", i);
        const struct json *v = json_get(tl, p);
        if (!v || v->type != JSON_NUMBER) continue;
        long long rss = json_int(tl, p);
        if (low < 0 || rss < low) low = rss;
        if (rss > high) high = rss;
    }
    cr_expect_geq(high - low, RSS_TOUCHED, "RSS grew by %lld bytes (from %lld to %lld)", high - low, low, high);
    char p[64];
    snprintf(p, sizeof p, "samples.%zu.mapped", n - 1);
    cr_expect_eq(json_int(tl, p), MAPPED_END + RSS_TOUCHED);
    json_free(tl);
}

Test(mapped, rss_interval_zero_takes_no_samples)
{
    char *trace = trace_mappings("m.trace", ARGS("--rss-interval", "0"));
    struct json *rep = report_json_of(trace);
    cr_expect_eq(json_int(rep, "totals.rss_samples"), 0);
    cr_expect_eq(json_int(rep, "totals.mapped_bytes"), MAPPED_END);
    json_free(rep);
}

Test(mapped, timeline_columns)
{
    char *trace = trace_mappings("m.trace", NULL);
    char *csv = heapsnap_out(dir, ARGS("timeline", trace, "--format", "csv", "--resolution", "10"));
    const char *head = "time_s,current_bytes,peak_bytes,blocks,mapped_bytes,rss_bytes,markers\n";
    cr_expect(strncmp(csv, head, strlen(head)) == 0, "%s", csv);
    char want[64];
    snprintf(want, sizeof want, ",%d,%d,2,%d,", HEAP_END, HEAP_END, MAPPED_END);
    cr_expect(strstr(csv, want) != NULL, "one 10 s row with %s:\n%s", want, csv);
    free(csv);
}

Test(mapped, bad_options)
{
    char *trace = trace_mappings("m.trace", NULL);
    expect_one_line_error(dir, ARGS("stats", trace, "--memory", "rss"), 2, "--memory takes heap, mapped or all, not 'rss'");
    expect_one_line_error(dir, ARGS("stats", trace, "--memory"), 2, "--memory");
    char *snapshot = path_join(dir, "s.json");
    free(heapsnap_out(dir, ARGS("snapshot", trace, "-o", snapshot)));
    expect_one_line_error(dir, ARGS("stats", snapshot, "--memory", "mapped"), 1,
                          "a snapshot file holds heap blocks only: mapped memory needs a trace");
    expect_one_line_error(dir, ARGS("diff", trace, trace, "--memory", "mapped"), 2, "--memory");
    expect_one_line_error(dir, ARGS("run", "--rss-interval", "-5", "--", sample("mappings")), 2,
                          "--rss-interval takes milliseconds from 0 (no samples) to 60000, not '-5'");
    expect_one_line_error(dir, ARGS("run", "--rss-interval", "10ms", "--", sample("mappings")), 2,
                          "--rss-interval takes milliseconds");
}
