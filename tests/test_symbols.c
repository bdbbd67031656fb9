/* test_symbols.c - symbolization of code inlined at -O2: an address inside
 * inlined calls gives one frame per inlined function, then each function it
 * was inlined into at the line of the inlined call, out to the real function
 * (what `addr2line -f -i` shows), and report, stats, leaks and snapshot files
 * all see those frames. On samples/inline_chain.c and samples/inline_cxx.cpp,
 * whose top comments give the figures and stacks. Lines are looked up in the
 * samples' sources, so the tests follow edits. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

static void setup(void) { dir = temp_dir(); }
TestSuite(symbols, .init = setup, .timeout = 120);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Runs a sample under `heapsnap run`; returns its trace's path. */
static char *traced(const char *name)
{
    char *trace = path_join(dir, "t.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample(name), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s: exit %d: %s", name, r.exit_code, r.err);
    run_free(&r);
    return trace;
}

/* The line of samples/FILE holding needle, which must occur exactly once. */
static int line_of(const char *file, const char *needle)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", SAMPLES_SOURCE_DIR, file);
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    char buf[1024];
    int found = 0;
    for (int n = 1; fgets(buf, sizeof buf, f); n++)
        if (strstr(buf, needle)) {
            cr_assert_eq(found, 0, "'%s' twice in %s (lines %d and %d)", needle, file, found, n);
            found = n;
        }
    fclose(f);
    cr_assert(found, "'%s' not in %s", needle, file);
    return found;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = s ? strlen(s) : 0, b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* The index of the group in json array `path` with `bytes` bytes; asserts one exists. */
static int group_of_size(const struct json *j, const char *path, long long bytes)
{
    size_t n = json_len(j, path);
    for (size_t i = 0; i < n; i++) {
        char p[96];
        snprintf(p, sizeof p, "%s.%zu.bytes", path, i);
        if (json_int(j, p) == bytes) return (int)i;
    }
    cr_assert_fail("no group of %lld bytes in %s", bytes, path);
    return -1;
}

/* Frame k of the stack at `stack` (e.g. "leaks.1.stack"): function (exact,
 * or contained in it when fn_part), line (any known one when -1), file ending
 * in file, and the inlined mark where the format has one. */
static void expect_frame(const struct json *j, const char *stack, int k, const char *fn, bool fn_part, int line,
                         bool inlined, const char *file)
{
    char p[128];
    snprintf(p, sizeof p, "%s.%d.function", stack, k);
    const char *got = json_str(j, p);
    cr_assert(got, "no %s", p);
    if (fn_part)
        cr_expect(strstr(got, fn) != NULL, "%s: '%s', expected within it '%s'", p, got, fn);
    else
        cr_expect(strcmp(got, fn) == 0, "%s: '%s', expected '%s'", p, got, fn);
    snprintf(p, sizeof p, "%s.%d.line", stack, k);
    if (line >= 0)
        cr_expect_eq(json_int(j, p), line, "%s (%s): %lld, expected %d", p, fn, json_int(j, p), line);
    else
        cr_expect_gt(json_int(j, p), 0, "%s (%s): no line", p, fn);
    snprintf(p, sizeof p, "%s.%d.file", stack, k);
    cr_expect(ends_with(json_str(j, p), file), "%s (%s): %s, expected .../%s", p, fn, json_str(j, p), file);
    snprintf(p, sizeof p, "%s.%d.inlined", stack, k);
    const struct json *v = json_get(j, p);
    if (v)
        cr_expect(v->type == JSON_BOOL && v->boolean == inlined, "%s (%s): expected %s", p, fn,
                  inlined ? "true" : "false");
}

/* The entry of a stats JSON whose key is key or ends with "/key"; -1 if absent. */
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

static void expect_entry(const struct json *j, const char *key, long long size, long long count)
{
    int i = entry(j, key);
    cr_assert(i >= 0, "no stats entry '%s'", key);
    char p[64];
    snprintf(p, sizeof p, "stats.%d.size", i);
    cr_expect_eq(json_int(j, p), size, "%s: size %lld, expected %lld", key, json_int(j, p), size);
    snprintf(p, sizeof p, "stats.%d.count", i);
    cr_expect_eq(json_int(j, p), count, "%s: count %lld, expected %lld", key, json_int(j, p), count);
}

static char *chain_key(const char *needle)
{
    char *k;
    cr_assert(asprintf(&k, "inline_chain.c:%d", line_of("inline_chain.c", needle)) > 0);
    return k;
}

#define CHAIN "inline_chain.c"
#define MALLOC_LINE line_of(CHAIN, "= malloc(n);")

/* make() inlined into outer(); make() inlined into fill() inlined into nested(). */
static void expect_chain_stacks(const struct json *j, const char *groups)
{
    char stack[64];
    snprintf(stack, sizeof stack, "%s.%d.stack", groups, group_of_size(j, groups, 64));
    expect_frame(j, stack, 0, "make", false, MALLOC_LINE, true, CHAIN);
    expect_frame(j, stack, 1, "outer", false, line_of(CHAIN, "make(64);"), false, CHAIN);
    expect_frame(j, stack, 2, "main", false, line_of(CHAIN, "outer();"), false, CHAIN);

    snprintf(stack, sizeof stack, "%s.%d.stack", groups, group_of_size(j, groups, 96));
    expect_frame(j, stack, 0, "make", false, MALLOC_LINE, true, CHAIN);
    expect_frame(j, stack, 1, "fill", false, line_of(CHAIN, "make(96);"), true, CHAIN);
    expect_frame(j, stack, 2, "nested", false, line_of(CHAIN, "fill();"), false, CHAIN);
    expect_frame(j, stack, 3, "main", false, line_of(CHAIN, "nested();"), false, CHAIN);
}

Test(symbols, inlined_calls_keep_the_functions_they_were_inlined_into)
{
    char *trace = traced("inline_chain");
    struct json *j = report_json_of(trace);
    cr_expect_eq(json_int(j, "totals.allocations"), 2);
    cr_expect_eq(json_int(j, "totals.frees"), 0);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 160);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 2);
    cr_assert_eq(json_len(j, "leaks"), 2);
    cr_expect_eq(json_int(j, "leaks.0.blocks"), 1);
    cr_expect_eq(json_int(j, "leaks.1.blocks"), 1);
    cr_expect_str_eq(json_str(j, "leaks.0.stack.0.module"), "inline_chain");
    expect_chain_stacks(j, "leaks");
    expect_chain_stacks(j, "peak");
    /* Every frame expanded from one return address carries that address. */
    int g = group_of_size(j, "leaks", 64);
    char a[64], b[64];
    snprintf(a, sizeof a, "leaks.%d.stack.0.address", g);
    snprintf(b, sizeof b, "leaks.%d.stack.1.address", g);
    cr_expect_str_eq(json_str(j, a), json_str(j, b));
    json_free(j);

    /* The text report: the inlined frame marked, the real one after it. */
    char *text = heapsnap_out(dir, ARGS("report", trace));
    char *expect;
    cr_assert(asprintf(&expect,
                       "      at make (%s/" CHAIN ":%d) [inline_chain] (inlined)\n"
                       "      by outer (%s/" CHAIN ":%d) [inline_chain]\n"
                       "      by main (%s/" CHAIN ":%d) [inline_chain]\n",
                       SAMPLES_SOURCE_DIR, MALLOC_LINE, SAMPLES_SOURCE_DIR, line_of(CHAIN, "make(64);"),
                       SAMPLES_SOURCE_DIR, line_of(CHAIN, "outer();")) > 0);
    cr_expect(strstr(text, expect) != NULL, "expected\n%s\nin\n%s", expect, text);
    free(expect);
    free(text);
}

Test(symbols, stats_see_every_inlined_frame)
{
    char *trace = traced("inline_chain");
    /* The call site is the innermost frame, as in an unoptimised build. */
    struct json *j = heapsnap_json(dir, ARGS("stats", trace, "--by", "lineno", "--format", "json"));
    cr_expect_eq(json_len(j, "stats"), 1);
    expect_entry(j, chain_key("= malloc(n);"), 160, 2);
    json_free(j);

    /* make() named an allocator wrapper: the call sites are where it was inlined. */
    j = heapsnap_json(dir, ARGS("stats", trace, "--by", "lineno", "--skip-function", "make", "--format", "json"));
    cr_expect_eq(json_len(j, "stats"), 2);
    expect_entry(j, chain_key("make(64);"), 64, 1);
    expect_entry(j, chain_key("make(96);"), 96, 1);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", trace, "--by", "function", "--skip-function", "make", "--format", "json"));
    expect_entry(j, "outer", 64, 1);
    expect_entry(j, "fill", 96, 1);
    json_free(j);

    j = heapsnap_json(dir, ARGS("stats", trace, "--by", "function", "--cumulative", "--format", "json"));
    expect_entry(j, "make", 160, 2);
    expect_entry(j, "outer", 64, 1);
    expect_entry(j, "fill", 96, 1);
    expect_entry(j, "nested", 96, 1);
    expect_entry(j, "main", 160, 2);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", trace, "--by", "lineno", "--cumulative", "--format", "json"));
    expect_entry(j, chain_key("make(64);"), 64, 1);
    expect_entry(j, chain_key("outer();"), 64, 1);
    expect_entry(j, chain_key("make(96);"), 96, 1);
    expect_entry(j, chain_key("fill();"), 96, 1);
    expect_entry(j, chain_key("nested();"), 96, 1);
    json_free(j);

    /* Tracebacks: two groups, each the whole chain from its call site. */
    j = heapsnap_json(dir, ARGS("stats", trace, "--by", "traceback", "--format", "json"));
    cr_assert_eq(json_len(j, "stats"), 2);
    int big = json_int(j, "stats.0.size") == 96 ? 0 : 1;
    char stack[32];
    snprintf(stack, sizeof stack, "stats.%d.stack", big);
    expect_frame(j, stack, 1, "fill", false, line_of(CHAIN, "make(96);"), true, CHAIN);
    expect_frame(j, stack, 2, "nested", false, line_of(CHAIN, "fill();"), false, CHAIN);
    snprintf(stack, sizeof stack, "stats.%d.stack", 1 - big);
    expect_frame(j, stack, 1, "outer", false, line_of(CHAIN, "make(64);"), false, CHAIN);
    json_free(j);

    /* A snapshot file keeps the frames: the same call sites from it. */
    char *snapshot = path_join(dir, "s.json");
    free(heapsnap_out(dir, ARGS("snapshot", trace, "-o", snapshot)));
    j = heapsnap_json(dir, ARGS("stats", snapshot, "--by", "lineno", "--skip-function", "make", "--format", "json"));
    expect_entry(j, chain_key("make(64);"), 64, 1);
    expect_entry(j, chain_key("make(96);"), 96, 1);
    json_free(j);
}

Test(symbols, leaks_and_suppressions_see_inlined_frames)
{
    char *trace = traced("inline_chain");
    struct json *j = heapsnap_json(dir, ARGS("leaks", "--format", "json", trace));
    cr_expect_eq(json_int(j, "summary.definitely_lost.bytes"), 160);
    cr_expect_eq(json_int(j, "summary.definitely_lost.blocks"), 2);
    char stack[64];
    snprintf(stack, sizeof stack, "records.%d.stack", json_int(j, "records.0.bytes") == 64 ? 0 : 1);
    expect_frame(j, stack, 0, "make", false, MALLOC_LINE, true, CHAIN);
    expect_frame(j, stack, 1, "outer", false, line_of(CHAIN, "make(64);"), false, CHAIN);
    expect_frame(j, stack, 2, "main", false, line_of(CHAIN, "outer();"), false, CHAIN);
    json_free(j);

    /* A memcheck suppression naming the function make() was inlined into. */
    char *supp = path_join(dir, "outer.supp");
    FILE *f = fopen(supp, "w");
    cr_assert(f);
    fputs("{\n   make_in_outer\n   Memcheck:Leak\n   fun:make\n   fun:outer\n}\n", f);
    fclose(f);
    j = heapsnap_json(dir, ARGS("leaks", "--format", "json", "--suppressions", supp, trace));
    cr_expect_eq(json_int(j, "summary.suppressed.bytes"), 64);
    cr_expect_eq(json_int(j, "summary.suppressed.blocks"), 1);
    cr_expect_eq(json_int(j, "summary.definitely_lost.bytes"), 96);
    json_free(j);
}

#define CXX "inline_cxx.cpp"

Test(symbols, cxx_user_function_under_make_unique_and_make_shared)
{
    char *trace = traced("inline_cxx");
    struct json *j = report_json_of(trace);
    char stack[64];
    snprintf(stack, sizeof stack, "leaks.%d.stack", group_of_size(j, "leaks", 40));
    expect_frame(j, stack, 0, "std::make_unique<Widget>()", true, -1, true, "/unique_ptr.h");
    expect_frame(j, stack, 1, "keep_widget()", false, line_of(CXX, "std::make_unique<Widget>().release()"), false, CXX);
    expect_frame(j, stack, 2, "main", false, line_of(CXX, "keep_widget();"), false, CXX);

    /* make_shared: libstdc++'s frames, all inlined, then the user's function. */
    int g = group_of_size(j, "peak", 56);
    snprintf(stack, sizeof stack, "peak.%d.stack", g);
    int k = 0, n = (int)json_len(j, stack);
    char p[96];
    for (; k < n; k++) {
        snprintf(p, sizeof p, "%s.%d.function", stack, k);
        if (strcmp(json_str(j, p), "share_widget()") == 0) break;
        snprintf(p, sizeof p, "%s.%d.inlined", stack, k);
        const struct json *v = json_get(j, p);
        cr_expect(v && v->boolean, "%s: frame %d before share_widget() not inlined", stack, k);
    }
    cr_assert(k >= 1 && k < n, "no share_widget() in %s after an inlined frame", stack);
    expect_frame(j, stack, k - 1, "std::make_shared<Widget>()", true, -1, true, "/shared_ptr.h");
    expect_frame(j, stack, k, "share_widget()", false, line_of(CXX, "= std::make_shared<Widget>();"), false, CXX);
    expect_frame(j, stack, k + 1, "main", false, line_of(CXX, "share_widget();"), false, CXX);
    json_free(j);

    /* The call site is the user's line, not the library's. */
    char *peak, *key40, *key56;
    cr_assert(asprintf(&peak, "%s@peak", trace) > 0);
    cr_assert(asprintf(&key40, CXX ":%d", line_of(CXX, "std::make_unique<Widget>().release()")) > 0);
    cr_assert(asprintf(&key56, CXX ":%d", line_of(CXX, "= std::make_shared<Widget>();")) > 0);
    j = heapsnap_json(dir, ARGS("stats", peak, "--by", "lineno", "--format", "json"));
    expect_entry(j, key40, 40, 1);
    expect_entry(j, key56, 56, 1);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", peak, "--by", "function", "--format", "json"));
    expect_entry(j, "keep_widget()", 40, 1);
    expect_entry(j, "share_widget()", 56, 1);
    json_free(j);
    j = heapsnap_json(dir, ARGS("stats", trace, "--by", "function", "--format", "json"));
    expect_entry(j, "keep_widget()", 40, 1);
    cr_expect_eq(entry(j, "share_widget()"), -1, "freed by shared_widget's destructor at exit");
    json_free(j);
}
