/* test_report_limits.c - reports stay bounded by default, in every format:
 * samples/deep_recursion.c makes 300 groups whose stacks run 300 frames and
 * more. Without bounds its JSON report was quadratic in the depth. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir, *trace;

static void setup(void)
{
    dir = temp_dir();
    trace = path_join(dir, "deep.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--frames", "1000", "-o", trace, "--", sample("deep_recursion"),
                          NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
}

TestSuite(report_limits, .init = setup, .timeout = 120);

#define ARGS(...) ((const char *const[]){heapsnap_bin(), __VA_ARGS__, NULL})

static struct json *json_of(const char *const *argv, bool from_stderr)
{
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s: exit %d: %s", argv[1], r.exit_code, r.err);
    struct json *j = json_parse(from_stderr ? r.err : r.out);
    cr_assert(j, "not JSON:\n%.2000s", from_stderr ? r.err : r.out);
    run_free(&r);
    return j;
}

/* "SECTION.I.FIELD" */
static const char *at(const char *section, size_t i, const char *field)
{
    static char p[128];
    snprintf(p, sizeof p, "%s.%zu.%s", section, i, field);
    return p;
}

/* The whole deepest stack: 300 levels of descend, then main and libc's start. */
static size_t full_depth(void)
{
    struct json *j = json_of(ARGS("report", "--format", "json", "--top", "1", "--max-frames", "0", trace), false);
    size_t n = json_len(j, "leaks.0.stack");
    cr_assert_gt(n, 300);
    cr_expect_str_eq(json_str(j, "leaks.0.stack.299.function"), "descend");
    cr_expect_str_eq(json_str(j, "leaks.0.stack.300.function"), "main");
    cr_expect_eq(json_int(j, "leaks.0.frames_omitted"), 0);
    json_free(j);
    return n;
}

static void expect_bounded_groups(const struct json *j, const char *section, size_t top, size_t depth)
{
    cr_assert_eq(json_len(j, section), top, "%s lists %zu groups", section, json_len(j, section));
    /* 300 groups of 16 * level bytes, deepest (largest) first. */
    long long listed = 0;
    for (size_t i = 0; i < top; i++) {
        cr_expect_eq(json_int(j, at(section, i, "bytes")), (long long)(16 * (300 - i)));
        listed += (long long)(16 * (300 - i));
        cr_expect_eq(json_len(j, at(section, i, "stack")), 256);
        cr_expect_eq(json_int(j, at(section, i, "frames_omitted")), (long long)(depth - i - 256));
        cr_expect_str_eq(json_str(j, at(section, i, "stack.255.function")), "descend",
                         "the innermost frames are the ones kept");
    }
    char p[64];
    snprintf(p, sizeof p, "%s_omitted.groups", section);
    cr_expect_eq(json_int(j, p), (long long)(300 - top));
    snprintf(p, sizeof p, "%s_omitted.bytes", section);
    cr_expect_eq(json_int(j, p), 722400 - listed);
    snprintf(p, sizeof p, "%s_omitted.blocks", section);
    cr_expect_eq(json_int(j, p), (long long)(300 - top));
}

Test(report_limits, report_json_bounded_by_default)
{
    size_t depth = full_depth();
    struct json *j = json_of(ARGS("report", "--format", "json", trace), false);
    cr_expect_eq(json_int(j, "limits.top"), 10);
    cr_expect_eq(json_int(j, "limits.max_frames"), 256);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 722400);
    expect_bounded_groups(j, "leaks", 10, depth);
    expect_bounded_groups(j, "peak", 10, depth);
    /* one call per level: the most bytes first among equals */
    cr_assert_eq(json_len(j, "calls"), 10);
    cr_expect_eq(json_int(j, "calls.0.calls"), 1);
    cr_expect_eq(json_int(j, "calls.0.bytes_allocated"), 4800);
    cr_expect_eq(json_len(j, "calls.0.stack"), 256);
    cr_expect_eq(json_int(j, "calls_omitted.groups"), 290);
    cr_expect_eq(json_int(j, "calls_omitted.calls"), 290);
    json_free(j);
}

Test(report_limits, everything_when_asked)
{
    size_t depth = full_depth();
    struct json *j =
        json_of(ARGS("report", "--format", "json", "--top", "0", "--max-frames", "0", trace), false);
    cr_expect_eq(json_len(j, "leaks"), 300);
    cr_expect_eq(json_int(j, "leaks_omitted.groups"), 0);
    cr_expect_eq(json_int(j, "leaks_omitted.bytes"), 0);
    cr_expect_eq(json_len(j, "leaks.0.stack"), depth);
    cr_expect_eq(json_len(j, "leaks.299.stack"), depth - 299);
    json_free(j);
    j = json_of(ARGS("report", "--format", "json", "--top", "3", "--max-frames", "1000", trace), false);
    cr_expect_eq(json_len(j, "peak"), 3);
    cr_expect_eq(json_int(j, "peak_omitted.groups"), 297);
    cr_expect_eq(json_len(j, "peak.0.stack"), depth);
    json_free(j);
}

Test(report_limits, run_json_summary_bounded)
{
    size_t depth = full_depth();
    char *t = path_join(dir, "run.trace");
    struct json *j = json_of(ARGS("run", "--format", "json", "--frames", "1000", "-o", t, "--", sample("deep_recursion")),
                             true);
    cr_expect_eq(json_int(j, "limits.top"), 5, "run lists 5 groups, as its text summary does");
    expect_bounded_groups(j, "leaks", 5, depth);
    json_free(j);
}

Test(report_limits, text_report_bounded)
{
    size_t depth = full_depth();
    const char *argv[] = {heapsnap_bin(), "report", "--top", "2", trace, NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "Still live at the end, by allocation stack (2 of 300 allocation stacks):\n"), "%s", r.out);
    int frames = 0;
    for (const char *p = r.out; (p = strstr(p, "\n      ")); p++) frames += strncmp(p, "\n      ... ", 11) != 0;
    cr_expect(strstr(r.out, "Most allocation calls, by allocation stack (2 of 300 allocation stacks):\n"), "%s", r.out);
    cr_expect_eq(frames, 6 * 256, "2 groups in 3 sections (live, peak, calls), 256 frames each");
    char more[128];
    snprintf(more, sizeof more, "      ... and %zu more frames (heapsnap report --max-frames 0 lists them all)\n",
             depth - 256);
    cr_expect(strstr(r.out, more), "no '%s' in the report", more);
    run_free(&r);
}

Test(report_limits, stats_json_bounded_by_default)
{
    size_t depth = full_depth();
    struct json *j = json_of(ARGS("stats", trace, "--by", "traceback", "--format", "json"), false);
    cr_expect_eq(json_int(j, "groups"), 300);
    cr_assert_eq(json_len(j, "stats"), 10, "as many as the text lists");
    cr_expect_eq(json_int(j, "stats.0.size"), 4800);
    cr_expect_eq(json_len(j, "stats.0.stack"), 256);
    json_free(j);
    j = json_of(ARGS("stats", trace, "--by", "traceback", "--format", "json", "--limit", "0", "--max-frames", "0"),
                false);
    cr_expect_eq(json_len(j, "stats"), 300);
    cr_expect_eq(json_len(j, "stats.0.stack"), depth);
    json_free(j);
}
