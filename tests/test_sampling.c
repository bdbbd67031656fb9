/* test_sampling.c - `heapsnap run --sample-rate`: estimates from a sampled
 * trace, checked statistically against samples/sampling.c's known figures
 * over many seeds; what is recorded; what is refused. */
#include "harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEEDS 30
#define RATE "512"

/* samples/sampling.c's figures */
#define SMALL_BYTES 1920000.0
#define SMALL_BLOCKS 40000.0
#define MEDIUM_BYTES 4000000.0
#define MEDIUM_BLOCKS 4000.0
#define CHURN_CALLS 100000.0
#define RESIZED_CALLS 20000.0

static char *dir;
static void setup(void) { dir = temp_dir(); }
TestSuite(sampling, .init = setup, .timeout = 180);

struct site {
    const char *name;
    const char *field;
    double exact;
    double sum;
    int within; /* runs within 5% of exact */
};

static double field_of(const struct json *j, const char *fn, const char *field)
{
    long long v = stats_field(j, fn, field);
    cr_assert_geq(v, 0, "no group %s", fn);
    return (double)v;
}

static struct json *stats_of(const char *trace)
{
    const char *args[] = {"stats", trace, "--by", "function", "--sort-by", "calls", "--format", "json", "--limit", "0",
                          NULL};
    const char *argv[16] = {heapsnap_bin()};
    for (size_t i = 0; args[i]; i++) argv[i + 1] = args[i];
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    struct json *j = json_parse(r.out);
    cr_assert(j, "%s", r.out);
    run_free(&r);
    return j;
}

static char *record(const char *name, const char *rate, unsigned seed)
{
    char *trace = path_join(dir, name), env_seed[64];
    snprintf(env_seed, sizeof env_seed, "HEAPSNAP_SAMPLE_SEED=%u", seed);
    const char *env[] = {env_seed, NULL};
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--sample-rate", rate, "-o", trace, "--", sample("sampling"),
                          NULL};
    struct run_result r = run_in(dir, env, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    run_free(&r);
    return trace;
}

/* Each allocated byte sampled with probability 1/512: per seed the estimate of
 * each site's live bytes, blocks and calls is off by a random error (about
 * 1.6% for small_blocks' 3,600 expected samples); over 30 seeds, nearly every
 * run is within 5% and the mean is within 1.5% (an unbiased estimator). A
 * site whose blocks are far larger than the rate is always sampled: exact. */
Test(sampling, estimates_hold_over_many_seeds)
{
    struct site sites[] = {
        {"small_blocks", "size", SMALL_BYTES, 0, 0},   {"small_blocks", "count", SMALL_BLOCKS, 0, 0},
        {"medium_blocks", "size", MEDIUM_BYTES, 0, 0}, {"medium_blocks", "count", MEDIUM_BLOCKS, 0, 0},
        {"churn", "calls", CHURN_CALLS, 0, 0},         {"resized", "calls", RESIZED_CALLS, 0, 0},
    };
    size_t nsites = sizeof sites / sizeof *sites;
    for (unsigned seed = 1; seed <= SEEDS; seed++) {
        char name[32];
        snprintf(name, sizeof name, "s%u.trace", seed);
        char *trace = record(name, RATE, seed);
        struct json *j = stats_of(trace);
        cr_assert_eq(json_int(j, "sample_rate"), 512);
        cr_expect_eq(field_of(j, "large_blocks", "size"), 4000000.0, "seed %u: large blocks are always sampled", seed);
        cr_expect_eq(field_of(j, "large_blocks", "count"), 20.0, "seed %u", seed);
        for (size_t i = 0; i < nsites; i++) {
            double v = field_of(j, sites[i].name, sites[i].field);
            sites[i].sum += v;
            sites[i].within += fabs(v - sites[i].exact) <= 0.05 * sites[i].exact;
        }
        json_free(j);
        free(trace);
    }
    for (size_t i = 0; i < nsites; i++) {
        double mean = sites[i].sum / SEEDS;
        cr_expect_geq(sites[i].within, SEEDS - 2, "%s %s: %d of %d runs within 5%% of %.0f", sites[i].name,
                      sites[i].field, sites[i].within, SEEDS, sites[i].exact);
        cr_expect(fabs(mean - sites[i].exact) <= 0.015 * sites[i].exact, "%s %s: mean of %d runs %.0f, exact %.0f",
                  sites[i].name, sites[i].field, SEEDS, mean, sites[i].exact);
    }
}

/* The same seed, the same samples (the calls, weighed in order, repeat
 * exactly; live figures are rounded per block by its address, which moves
 * from run to run); another seed, other samples. */
Test(sampling, a_seed_repeats_a_run)
{
    struct json *a = stats_of(record("a.trace", RATE, 7)), *b = stats_of(record("b.trace", RATE, 7)),
                *c = stats_of(record("c.trace", RATE, 8));
    cr_expect_eq(field_of(a, "churn", "calls"), field_of(b, "churn", "calls"));
    cr_expect_eq(field_of(a, "small_blocks", "calls"), field_of(b, "small_blocks", "calls"));
    cr_expect_leq(fabs(field_of(a, "small_blocks", "size") - field_of(b, "small_blocks", "size")), 0.002 * SMALL_BYTES);
    cr_expect_neq(field_of(a, "churn", "calls"), field_of(c, "churn", "calls"));
    json_free(a);
    json_free(b);
    json_free(c);
}

/* Only sampled allocations are in the trace, and only their frees: no free
 * of an unknown block, and far fewer events than calls. The report says the
 * figures are estimates. Without sampling, the figures are exact. */
Test(sampling, records_only_sampled_blocks)
{
    char *trace = record("r.trace", "64K", 3);
    struct json *j = report_json_of(trace);
    cr_expect_eq(json_int(j, "sample_rate"), 65536);
    cr_expect_eq(json_int(j, "totals.unmatched_frees"), 0);
    cr_expect_eq(json_int(j, "totals.lost_events"), 0);
    json_free(j);
    size_t len;
    char *bytes = file_contents(trace, &len);
    free(bytes);
    char *exact = trace_program(dir, "x.trace", (const char *const[]){sample("sampling"), NULL});
    size_t xlen;
    char *xbytes = file_contents(exact, &xlen);
    free(xbytes);
    cr_expect_lt(len * 3, xlen, "sampled trace %zu bytes, exact %zu (its 4 KiB header, modules and stacks)", len, xlen);
    struct json *x = stats_of(exact);
    cr_expect_eq(json_int(x, "sample_rate"), 0);
    cr_expect_eq(field_of(x, "small_blocks", "size"), SMALL_BYTES);
    cr_expect_eq(field_of(x, "churn", "calls"), CHURN_CALLS);
    json_free(x);

    const char *argv[] = {heapsnap_bin(), "report", trace, NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "  sampled:           1 in 64.0 KiB allocated: calls, blocks and bytes below are "
                            "estimates\n"), "%s", r.out);
    run_free(&r);
    const char *sargv[] = {heapsnap_bin(), "stats", trace, NULL};
    r = run_in(dir, NULL, sargv);
    cr_expect_eq(r.exit_code, 0);
    cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
    cr_expect(strstr(r.err, "is sampled (1 allocation in every 65536 bytes): its sizes and counts are estimates"), "%s",
              r.err);
    run_free(&r);
}

/* A leak check needs every block: asked of a sampled trace, one line says so. */
Test(sampling, leak_checks_are_refused)
{
    char *trace = record("l.trace", RATE, 1);
    expect_one_line_error(dir, (const char *const[]){"leaks", trace, NULL}, 1,
                          "it is sampled (1 allocation in every 512 bytes), and a leak check needs every block");
    expect_one_line_error(dir,
                          (const char *const[]){"run", "--sample-rate", "1K", "--fail-on-leak", "--", "/bin/true",
                                                NULL},
                          2, "--fail-on-leak needs every block, and --sample-rate records a sample of them");
    expect_one_line_error(dir, (const char *const[]){"run", "--sample-rate", "lots", "--", "/bin/true", NULL}, 2,
                          "--sample-rate takes bytes");
}

/* Under a bare LD_PRELOAD a bad rate leaves the program untraced, and it runs. */
Test(sampling, bad_rate_in_the_environment)
{
    const char *const *pre = bare_preload_env(dir);
    const char *env[] = {pre[0], pre[1], "HEAPSNAP_SAMPLE_RATE=fast", NULL};
    struct run_result r = run_in(dir, env, (const char *const[]){"/bin/echo", "hi", NULL});
    cr_expect_eq(r.exit_code, 0);
    cr_expect_str_eq(r.out, "hi\n");
    cr_expect_str_eq(r.err, "heapsnap: HEAPSNAP_SAMPLE_RATE=fast is not a number of bytes (0 to 2^40): not tracing\n");
    run_free(&r);
}

/* pprof: the period is the rate (as Go's sampled heap profiles have it), the
 * values the estimates, and a comment says so; read back by go tool pprof. */
Test(sampling, pprof_carries_the_rate)
{
    char *trace = record("p.trace", "4K", 2), *pb = path_join(dir, "p.pb.gz");
    struct run_result r = run_in(dir, NULL,
                                 (const char *const[]){heapsnap_bin(), "export", "--format", "pprof", trace, "-o", pb,
                                                       NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    char *out = go_pprof(dir, (const char *const[]){"-raw", pb, NULL});
    cr_expect(strstr(out, "Period: 4096\n"), "%s", out);
    cr_expect(strstr(out, "Comment: sampled: 1 in 4096 bytes allocated; the values are estimates\n"), "%s", out);
    free(out);
}

/* At one byte per sample every allocation is sampled (p = 1 - e^-size, 1 to
 * within 10^-20 for blocks of 48 bytes): the sampled set then holds every live
 * block of samples/threads, whose 4 producers allocate what 4 consumers free
 * (every free looks up a block another thread put in the set, while the set
 * grows), and every figure is the exact one. */
Test(sampling, one_byte_rate_is_exact)
{
    char *all = path_join(dir, "a.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--sample-rate", "1", "-o", all, "--", sample("threads"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    struct json *a = stats_of(all);
    cr_expect_eq(field_of(a, "produce", "calls"), 80000);
    cr_expect_eq(field_of(a, "produce", "allocated"), 80000 * 48);
    cr_expect_eq(field_of(a, "produce", "size"), 0);
    cr_expect_eq(field_of(a, "producer_leak", "size"), 4000);
    cr_expect_eq(field_of(a, "producer_leak", "count"), 4);
    json_free(a);
    struct json *j = report_json_of(all);
    cr_expect_eq(json_int(j, "totals.unmatched_frees"), 0);
    json_free(j);
}

/* Pool objects (heapsnap_pool_*) are recorded in full in a sampled trace, so
 * they count for themselves, not as samples: samples/pools' objects come out
 * exact while its malloc'd blocks (far smaller than the rate) are sampled. */
Test(sampling, pool_objects_stay_exact)
{
    char *trace = path_join(dir, "pools.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--sample-rate", "512K", "-o", trace, "--", sample("pools"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    const char *args[] = {heapsnap_bin(), "stats", trace, "--by", "function", "--format", "json", NULL};
    r = run_in(dir, NULL, args);
    struct json *j = json_parse(r.out);
    cr_assert(j, "%s", r.out);
    cr_expect_eq(field_of(j, "bump_alloc", "size"), 208);
    cr_expect_eq(field_of(j, "bump_alloc", "count"), 6);
    cr_expect_eq(field_of(j, "slab_alloc", "size"), 128);
    cr_expect_eq(field_of(j, "static_alloc", "count"), 1);
    json_free(j);
    run_free(&r);
}
