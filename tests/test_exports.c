/* test_exports.c - `heapsnap export` read by the tools each format is for:
 * ms_print (valgrind's) for massif, speedscope's published schema for its
 * JSON, and the folded stacks summed back as a flame graph tool sums them;
 * each against `heapsnap stats` on samples/phases, whose figures are known
 * to the byte. pprof has its own file (test_pprof.c). */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *dir;

static void setup(void) { dir = temp_dir(); }

static char *export_of(const char *source, const char *format, const char *extra, const char *name)
{
    char *out = path_join(dir, name);
    const char *argv[16] = {heapsnap_bin(), "export", source, "--format", format, "-o", out};
    size_t k = 7;
    if (extra) {
        argv[k++] = "--value";
        argv[k++] = extra;
    }
    argv[k] = NULL;
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "export %s: %s", format, r.err);
    run_free(&r);
    return out;
}

/* What a flame graph tool does with folded stacks: per function, the sum of
 * the values of the lines whose innermost frame it is. */
static long long folded_leaf_total(const char *folded, const char *fn)
{
    long long total = 0;
    for (const char *line = folded; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        const char *space = end;
        while (space > line && *space != ' ')
            space--;
        const char *leaf = space;
        while (leaf > line && leaf[-1] != ';')
            leaf--;
        if ((size_t)(space - leaf) == strlen(fn) && strncmp(leaf, fn, strlen(fn)) == 0) total += atoll(space + 1);
        line = *end ? end + 1 : end;
    }
    return total;
}

Test(exports, folded_sums_to_stats, .init = setup)
{
    char *trace = trace_program(dir, "p.trace", ARGS(sample("phases")));
    char *peak;
    cr_assert(asprintf(&peak, "%s@peak", trace) > 0);
    char *f = export_of(peak, "folded", NULL, "peak.folded");
    char *s = file_contents(f, NULL);
    cr_assert_eq(folded_leaf_total(s, "build_cache"), 100000, "%s", s);
    cr_assert_eq(folded_leaf_total(s, "load_config"), 10000, "%s", s);
    cr_assert_eq(folded_leaf_total(s, "grow_sessions"), 0);
    cr_assert(strncmp(s, "_start;", 7) == 0, "root first: %s", s);
    free(s);
    free(f);
    f = export_of(trace, "folded", "calls", "calls.folded");
    s = file_contents(f, NULL);
    cr_assert_eq(folded_leaf_total(s, "build_cache"), 50);
    cr_assert_eq(folded_leaf_total(s, "grow_sessions"), 30);
    free(s);
    free(f);
    f = export_of(trace, "folded", "allocated", "allocated.folded");
    s = file_contents(f, NULL);
    cr_assert_eq(folded_leaf_total(s, "build_cache"), 100000, "freed, but allocated");
    free(s);
    free(f);
    free(peak);
    free(trace);
}

Test(exports, massif_read_by_ms_print, .init = setup)
{
    char *trace = trace_program(dir, "p.trace", ARGS(sample("phases")));
    char *m = export_of(trace, "massif", NULL, "massif.out.phases");
    struct run_result r = run_in(dir, NULL, ARGS(MS_PRINT, m));
    cr_assert_eq(r.exit_code, 0, "ms_print: %s", r.err);
    /* ms_print names the peak among the detailed snapshots and shows its tree, largest site first. */
    cr_assert(strstr(r.out, " (peak)"), "%s", r.out);
    const char *tree = strstr(r.out, "100.00% (110,000B) (heap allocation functions)");
    cr_assert(tree, "the exact peak, 110,000 B:\n%s", r.out);
    const char *top = strstr(tree, "->");
    cr_assert(top && strncmp(top, "->90.91% (100,000B) 0x0: build_cache (", 38) == 0, "top site: %.200s", top);
    /* The end state: 100,477 B still live. */
    cr_assert(strstr(r.out, "100,477"), "%s", r.out);
    run_free(&r);
    free(m);
    free(trace);
}

Test(exports, speedscope_valid_against_its_schema, .init = setup)
{
    char *trace = trace_program(dir, "p.trace", ARGS(sample("phases")));
    char *f = export_of(trace, "speedscope", NULL, "p.speedscope.json");
    struct run_result r = run_in(dir, NULL, ARGS(NODE_BIN, VALIDATE_SPEEDSCOPE, f));
    cr_assert_eq(r.exit_code, 0, "speedscope's schema: %s %s", r.out, r.err);
    cr_assert_str_eq(r.out, "valid\n");
    run_free(&r);
    char *s = file_contents(f, NULL);
    struct json *j = json_parse(s);
    cr_assert(j);
    /* One profile per value: live, allocated, calls (and leaked when checked). */
    cr_assert_geq(json_len(j, "profiles"), 3);
    cr_assert_eq(json_int(j, "profiles.0.endValue"), 100477, "live at exit");
    cr_assert_eq(json_int(j, "profiles.2.endValue"), 97, "allocation calls");
    json_free(j);
    free(s);
    free(f);
    free(trace);
}

Test(exports, bad_input, .init = setup)
{
    char *trace = trace_program(dir, "p.trace", ARGS(sample("phases")));
    struct run_result r = run_in(dir, NULL, ARGS(heapsnap_bin(), "export", trace, "--format", "svgz", "-o", "x"));
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "--format takes pprof, folded, massif or speedscope, not 'svgz'"), "%s", r.err);
    run_free(&r);
    r = run_in(dir, NULL, ARGS(heapsnap_bin(), "export", trace, "--format", "folded"));
    cr_assert_eq(r.exit_code, 2, "no -o");
    run_free(&r);
    char *bad = path_join(dir, "no/dir/x.folded");
    r = run_in(dir, NULL, ARGS(heapsnap_bin(), "export", trace, "--format", "folded", "-o", bad));
    cr_assert_eq(r.exit_code, 1);
    cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
    run_free(&r);
    char *snapfile = path_join(dir, "p.json");
    r = run_in(dir, NULL, ARGS(heapsnap_bin(), "snapshot", trace, "-o", snapfile));
    run_free(&r);
    r = run_in(dir, NULL,
               ARGS(heapsnap_bin(), "export", snapfile, "--format", "folded", "--value", "calls", "-o", "-"));
    cr_assert_eq(r.exit_code, 1);
    cr_assert(strstr(r.err, "a snapshot file holds the live heap only"), "%s", r.err);
    run_free(&r);
    free(snapfile);
    free(bad);
    free(trace);
}
