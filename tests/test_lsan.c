/* test_lsan.c - programs annotated for LeakSanitizer run unchanged under
 * heapsnap: each entry point of LSan's interface and each of its hooks, by a
 * sample built twice from one source (plain, run by heapsnap; and with
 * -fsanitize=leak, run by LSan's own runtime), whose output, exit status,
 * leaked bytes and blocks and loss records' functions must be the same.
 * Programs that carry a sanitizer runtime run untraced. And custom
 * allocators' annotations (heapsnap_pool_*), against memcheck's mempools. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;

static void setup(void) { dir = temp_dir(); }
TestSuite(lsan, .init = setup, .timeout = 120);
TestSuite(pools, .init = setup, .timeout = 120);

/* What a leak report says: the leaked total, and one line per loss record,
 * "definite 48 1 direct" (kind, direct bytes, blocks, the function that
 * called the allocating one), sorted. */
struct leaked {
    long long bytes, blocks;
    char records[16][128];
    size_t n;
};

static int by_text(const void *a, const void *b) { return strcmp(a, b); }

/* LSan's last report on stderr: its SUMMARY line and its "Direct leak of"
 * blocks, whose frame #2 is the caller of make() (#0 is LSan's malloc). */
static struct leaked lsan_leaked(const char *err)
{
    struct leaked l = {0};
    const char *report = NULL;
    for (const char *p = err; (p = strstr(p, "ERROR: LeakSanitizer")); p++)
        report = p;
    if (!report) return l;
    const char *sum = strstr(report, "SUMMARY: LeakSanitizer: ");
    cr_assert(sum, "%s", err);
    cr_assert_eq(sscanf(sum, "SUMMARY: LeakSanitizer: %lld byte(s) leaked in %lld allocation(s).", &l.bytes, &l.blocks),
                 2, "%s", sum);
    for (const char *p = report; p < sum && l.n < 16;) {
        const char *d = strstr(p, "irect leak of ");
        if (!d || d > sum) break;
        long long bytes, blocks;
        char func[64] = "";
        cr_assert_eq(sscanf(d, "irect leak of %lld byte(s) in %lld object(s)", &bytes, &blocks), 2);
        const char *f2 = strstr(d, "#2 0x");
        cr_assert(f2 && f2 < sum, "%s", d);
        cr_assert_eq(sscanf(strstr(f2, " in ") + 4, "%63s", func), 1);
        snprintf(l.records[l.n++], 128, "%s %lld %lld %s", d[-1] == 'D' ? "definite" : "indirect", bytes, blocks, func);
        p = d + 1;
    }
    qsort(l.records, l.n, sizeof l.records[0], by_text);
    return l;
}

/* heapsnap's figures for the same: definitely and indirectly lost, and their
 * loss records (stack.0 is make(), stack.1 its caller). */
static struct leaked heapsnap_leaked(const char *trace)
{
    struct json *j = leaks_json_in(dir, trace, NULL);
    struct leaked l = {0};
    l.bytes = leak_bytes(j, "definitely_lost") + leak_bytes(j, "indirectly_lost");
    l.blocks = leak_blocks(j, "definitely_lost") + leak_blocks(j, "indirectly_lost");
    for (size_t i = 0; i < json_len(j, "records") && l.n < 16; i++) {
        char p[128];
        snprintf(p, sizeof p, "records.%zu.kind", i);
        const char *kind = json_str(j, p);
        if (strcmp(kind, "definite") != 0 && strcmp(kind, "indirect") != 0) continue;
        snprintf(p, sizeof p, "records.%zu.suppressed_by", i);
        if (json_str(j, p)) continue;
        snprintf(p, sizeof p, "records.%zu.direct_bytes", i);
        long long bytes = json_int(j, p);
        snprintf(p, sizeof p, "records.%zu.blocks", i);
        long long blocks = json_int(j, p);
        snprintf(p, sizeof p, "records.%zu.stack.1.function", i);
        snprintf(l.records[l.n++], 128, "%s %lld %lld %s", kind, bytes, blocks, json_str(j, p));
    }
    qsort(l.records, l.n, sizeof l.records[0], by_text);
    json_free(j);
    return l;
}

static void expect_same_leaks(const struct leaked *hs, const struct leaked *lsan, long long bytes, long long blocks)
{
    cr_expect_eq(lsan->bytes, bytes, "LSan's leaked bytes");
    cr_expect_eq(lsan->blocks, blocks, "LSan's leaked blocks");
    cr_expect_eq(hs->bytes, bytes, "heapsnap's definitely + indirectly lost bytes");
    cr_expect_eq(hs->blocks, blocks, "heapsnap's definitely + indirectly lost blocks");
    cr_assert_eq(hs->n, lsan->n, "loss records: heapsnap %zu, LSan %zu", hs->n, lsan->n);
    for (size_t i = 0; i < hs->n; i++)
        cr_expect_str_eq(hs->records[i], lsan->records[i]);
}

/* The sanitized build, as it is; and the plain one under `heapsnap run`. */
static struct run_result run_lsan(const char *prog, const char *mode, const char *const *env)
{
    char name[128];
    snprintf(name, sizeof name, "%s_sanitized", prog);
    const char *argv[] = {sample(name), mode, NULL};
    return run_in(dir, env, argv);
}

static struct run_result run_heapsnap(const char *prog, const char *mode, const char *trace, const char *const *env)
{
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample(prog), mode, NULL};
    return run_in(dir, env, argv);
}

/* Every entry point and hook at once; leaks remain at __lsan_do_leak_check,
 * so both exit there with LSan's exitcode, 23, and "after" is never written. */
Test(lsan, final_check_with_leaks_exits_like_lsan)
{
    char *trace = path_join(dir, "final.trace");
    struct run_result l = run_lsan("lsan_api", "final", NULL), h = run_heapsnap("lsan_api", "final", trace, NULL);
    cr_expect_eq(l.exit_code, 23, "%s", l.err);
    cr_expect_eq(h.exit_code, 23, "%s", h.err);
    cr_expect_str_eq(l.out, "recoverable 1\n");
    cr_expect_str_eq(h.out, "recoverable 1\n");
    struct leaked hs = heapsnap_leaked(trace), ls = lsan_leaked(l.err);
    /* direct 48, tree 32 -> 16, unrooted 56: ignored, disabled, rooted and suppressed are not leaks */
    expect_same_leaks(&hs, &ls, 152, 4);
    cr_expect_str_eq(hs.records[0], "definite 32 1 tree");
    cr_expect_str_eq(hs.records[3], "indirect 16 1 tree");
    /* The program's own suppression, used once for 40 B, by both. */
    cr_expect(strstr(l.err, "      1         40 suppressed_by_program"), "%s", l.err);
    struct json *j = leaks_json_in(dir, trace, NULL);
    cr_expect_str_eq(json_str(j, "suppressions_used.0.name"), "suppressed_by_program");
    cr_expect_str_eq(json_str(j, "suppressions_used.0.origin"), "__lsan_default_suppressions");
    cr_expect_eq(json_int(j, "suppressions_used.0.bytes"), 40);
    /* ignored (64) and disabled (100) by the program, suppressed (40) */
    cr_expect_eq(leak_bytes(j, "suppressed"), 204);
    cr_expect_eq(leak_blocks(j, "suppressed"), 3);
    cr_expect_eq(leak_bytes(j, "still_reachable"), 24, "the block held by the registered root region");
    json_free(j);
    run_free(&l);
    run_free(&h);
}

/* No leak at the final check: the program goes on, and what it leaks after
 * is checked no more: by LSan, nor by heapsnap's gate. */
Test(lsan, final_check_without_leaks_stands_for_the_end)
{
    char *trace = path_join(dir, "clean.trace");
    struct run_result l = run_lsan("lsan_api", "clean", NULL);
    const char *argv[] = {heapsnap_bin(), "run", "--fail-on-leak", "-o", trace, "--", sample("lsan_api"),
                          "clean",        NULL};
    struct run_result h = run_in(dir, NULL, argv);
    cr_expect_eq(l.exit_code, 0, "%s", l.err);
    cr_expect_eq(h.exit_code, 0, "%s", h.err);
    cr_expect_str_eq(l.out, "recoverable 0\nafter\n");
    cr_expect_str_eq(h.out, "recoverable 0\nafter\n");
    cr_expect(!strstr(l.err, "ERROR: LeakSanitizer"), "%s", l.err);
    cr_expect(strstr(h.err, "judged at the program's final leak check (__lsan_do_leak_check)"), "%s", h.err);
    /* Its last check is that one, the second (the recoverable one came first). */
    struct json *j = leaks_json_in(dir, trace, NULL);
    cr_expect_eq(json_int(j, "check.seq"), 2);
    cr_expect_eq(leak_bytes(j, "definitely_lost"), 0);
    json_free(j);
    /* The 200 B leaked after it are in the trace, for who looks. */
    struct json *r = report_json_of(trace);
    cr_expect_eq(group_int(r, "leaks", "make", "bytes"), 200);
    json_free(r);
    run_free(&l);
    run_free(&h);
}

Test(lsan, recoverable_check_runs_again_and_again)
{
    char *trace = path_join(dir, "twice.trace");
    struct run_result l = run_lsan("lsan_api", "twice", NULL), h = run_heapsnap("lsan_api", "twice", trace, NULL);
    cr_expect_eq(l.exit_code, 0, "%s", l.err);
    cr_expect_eq(h.exit_code, 0, "%s", h.err);
    cr_expect_str_eq(l.out, "recoverable 1\nrecoverable 0\n");
    cr_expect_str_eq(h.out, "recoverable 1\nrecoverable 0\n");
    /* LSan reported once: at the first check (152 B), not the second, nor at the end. */
    const char *report = strstr(l.err, "ERROR: LeakSanitizer");
    cr_expect(report && !strstr(report + 1, "ERROR: LeakSanitizer"), "%s", l.err);
    struct leaked hs = heapsnap_leaked(trace), ls = lsan_leaked(l.err);
    cr_expect_eq(ls.bytes, 152);
    cr_expect_eq(hs.bytes, 0, "nothing at the end");
    /* The first check saw the leaks: TRACE@leak-check:1. */
    char at[4200];
    snprintf(at, sizeof at, "%s@leak-check:1", trace);
    struct leaked first = heapsnap_leaked(at);
    cr_expect_eq(first.bytes, 152);
    cr_expect_eq(first.blocks, 4);
    run_free(&l);
    run_free(&h);
}

/* __lsan_is_turned_off: no check at all, whatever leaks; the gate passes. */
Test(lsan, is_turned_off)
{
    char *trace = path_join(dir, "off.trace");
    struct run_result l = run_lsan("lsan_api_off", "final", NULL);
    const char *argv[] = {heapsnap_bin(), "run", "--fail-on-leak", "-o", trace, "--", sample("lsan_api_off"),
                          "final",        NULL};
    struct run_result h = run_in(dir, NULL, argv);
    cr_expect_eq(l.exit_code, 0, "%s", l.err);
    cr_expect_eq(h.exit_code, 0, "%s", h.err);
    cr_expect_str_eq(l.out, "recoverable 0\nafter\n");
    cr_expect_str_eq(h.out, "recoverable 0\nafter\n");
    cr_expect(!strstr(l.err, "LeakSanitizer"), "%s", l.err);
    cr_expect(strstr(h.err, "LEAK SUMMARY: not checked: the program turned leak checking off"), "%s", h.err);
    struct json *j = leaks_json_in(dir, trace, NULL);
    cr_expect(json_bool(j, "check.off"));
    cr_expect(json_bool(j, "check.ok"));
    json_free(j);
    run_free(&l);
    run_free(&h);
}

/* __lsan_default_options: exitcode=42. */
Test(lsan, default_options_exitcode)
{
    char *trace = path_join(dir, "code.trace");
    struct run_result l = run_lsan("lsan_api_exitcode", "final", NULL);
    struct run_result h = run_heapsnap("lsan_api_exitcode", "final", trace, NULL);
    cr_expect_eq(l.exit_code, 42, "%s", l.err);
    cr_expect_eq(h.exit_code, 42, "%s", h.err);
    struct leaked hs = heapsnap_leaked(trace), ls = lsan_leaked(l.err);
    expect_same_leaks(&hs, &ls, 152, 4);
    run_free(&l);
    run_free(&h);
}

/* LSAN_OPTIONS overrides the program's options: its suppressions file (a
 * relative name, found beside nothing else: in the current directory) and
 * its exitcode. */
Test(lsan, lsan_options_suppressions_and_exitcode)
{
    char *supp = path_join(dir, "more.supp"), *trace = path_join(dir, "opts.trace");
    FILE *f = fopen(supp, "w");
    fputs("# the one in direct()\nleak:direct\n", f);
    fclose(f);
    const char *env[] = {"LSAN_OPTIONS=suppressions=more.supp:exitcode=7", NULL};
    struct run_result l = run_lsan("lsan_api_exitcode", "final", env);
    struct run_result h = run_heapsnap("lsan_api_exitcode", "final", trace, env);
    cr_expect_eq(l.exit_code, 7, "%s", l.err);
    cr_expect_eq(h.exit_code, 7, "%s", h.err);
    struct leaked hs = heapsnap_leaked(trace), ls = lsan_leaked(l.err);
    expect_same_leaks(&hs, &ls, 104, 3); /* without direct()'s 48 B */
    struct json *j = leaks_json_in(dir, trace, NULL);
    cr_expect_str_eq(json_str(j, "suppressions_used.1.name"), "direct");
    cr_expect_str_eq(json_str(j, "suppressions_used.1.origin"), "LSAN_OPTIONS suppressions=");
    json_free(j);
    run_free(&l);
    run_free(&h);
}

/* A suppressions file that is not there: LSan dies of it; heapsnap says so
 * in one line and changes nothing else. */
Test(lsan, missing_suppressions_file)
{
    char *trace = path_join(dir, "nosupp.trace");
    const char *env[] = {"LSAN_OPTIONS=suppressions=/nonexistent/x.supp", NULL};
    struct run_result h = run_heapsnap("lsan_api", "twice", trace, env);
    cr_expect_eq(h.exit_code, 0, "%s", h.err);
    cr_expect_str_eq(h.err, "heapsnap: LSAN_OPTIONS suppressions=/nonexistent/x.supp: No such file or directory: the "
                            "program's suppressions file is not used\n");
    run_free(&h);
}

/* C++'s __lsan::ScopedDisabler, per thread. */
Test(lsan, scoped_disabler)
{
    char *trace = path_join(dir, "scoped.trace");
    struct run_result l = run_lsan("lsan_scoped", NULL, NULL), h = run_heapsnap("lsan_scoped", NULL, trace, NULL);
    cr_expect_eq(l.exit_code, 23, "%s", l.err);
    cr_expect_eq(h.exit_code, 0, "%s", h.err); /* no gate asked for: the program's status */
    struct leaked hs = heapsnap_leaked(trace), ls = lsan_leaked(l.err);
    expect_same_leaks(&hs, &ls, 72, 2);
    cr_expect_str_eq(hs.records[0], "definite 32 1 after_scope");
    cr_expect_str_eq(hs.records[1], "definite 40 1 other_thread");
    run_free(&l);
    run_free(&h);
}

static size_t traces_in(const char *d)
{
    char **names;
    return list_traces(d, &names);
}

/* A program with a sanitizer runtime checks its own leaks: heapsnap runs it
 * untraced, says why in one line, and its output and status are its own. */
static void expect_untraced(struct run_result *r, const char *runtime, int status)
{
    cr_expect_eq(r->exit_code, status, "%s", r->err);
    cr_expect_str_eq(r->out, "recoverable 1\n");
    const char *line = r->err;
    cr_assert(strncmp(line, "heapsnap: ", 10) == 0, "%s", r->err);
    cr_expect(strstr(line, runtime), "%s", line);
    cr_expect(strstr(line, "a leak checker of its own that cannot share a process with heapsnap: it runs untraced\n"));
    cr_expect(!strstr(line, "\nheapsnap"), "one line: %s", r->err);
    cr_expect(strstr(r->err, "SUMMARY: ") && strstr(r->err, " 152 byte(s) leaked in 4 allocation(s)."), "%s", r->err);
    cr_expect_eq(traces_in(dir), 0);
}

Test(lsan, sanitized_program_runs_untraced)
{
    const char *run[] = {heapsnap_bin(), "run", "--fail-on-leak", "--", sample("lsan_api_sanitized"), NULL};
    struct run_result r = run_in(dir, NULL, run);
    expect_untraced(&r, "LeakSanitizer's runtime (liblsan.so", 23);
    run_free(&r);
    const char *asan[] = {heapsnap_bin(), "run", "--", sample("lsan_api_asan"), NULL};
    r = run_in(dir, NULL, asan);
    expect_untraced(&r, "AddressSanitizer's runtime (libasan.so", 1); /* ASan's exitcode */
    run_free(&r);
}

/* Under a bare LD_PRELOAD the shim starts LSan's program again without itself. */
Test(lsan, sanitized_program_under_bare_preload)
{
    const char *argv[] = {sample("lsan_api_sanitized"), NULL};
    struct run_result r = run_in(dir, bare_preload_env(dir), argv);
    expect_untraced(&r, "LeakSanitizer's runtime (liblsan.so", 23);
    run_free(&r);
}

/* Exec'd by a traced program: `heapsnap run` lets it go first (LSan checks
 * nothing under ptrace), and it runs untraced; the shell is traced. */
Test(lsan, sanitized_program_execd_by_a_traced_one)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s; exit $?", sample("lsan_api_sanitized"));
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--", "/bin/sh", "-c", cmd, NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 23, "%s", r.err);
    cr_expect_str_eq(r.out, "recoverable 1\n");
    cr_expect(strstr(r.err, "LeakSanitizer's runtime (liblsan.so"), "%s", r.err);
    cr_expect(strstr(r.err, " 152 byte(s) leaked in 4 allocation(s)."), "%s", r.err);
    cr_expect(!strstr(r.err, "does not work under ptrace"), "%s", r.err);
    run_free(&r);
}

/* ---- pools --------------------------------------------------------------- */

/* The figures of samples/pools.c, by heapsnap and by memcheck (whose two
 * differences the sample's comment says: it leaves the arena's 4096 B chunk
 * out, and reaches the 28 B block through the slab's mapping). */
Test(pools, objects_are_blocks_like_memcheck_mempools)
{
    char *trace = path_join(dir, "pools.trace");
    const char *run[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("pools"), NULL};
    struct run_result h = run_in(dir, NULL, run);
    cr_assert_eq(h.exit_code, 0, "%s", h.err);
    const char *vg[] = {"/usr/bin/valgrind", "--leak-check=full", sample("pools"), NULL};
    struct run_result m = run_in(dir, NULL, vg);
    cr_assert_eq(m.exit_code, 0, "%s", m.err);
    cr_expect(strstr(m.err, "definitely lost: 196 bytes in 5 blocks"), "%s", m.err);
    cr_expect(strstr(m.err, "indirectly lost: 36 bytes in 2 blocks"), "%s", m.err);
    cr_expect(strstr(m.err, "still reachable: 188 bytes in 4 blocks"), "%s", m.err);
    struct json *j = leaks_json_in(dir, trace, NULL);
    cr_expect_eq(leak_bytes(j, "definitely_lost"), 196);
    cr_expect_eq(leak_blocks(j, "definitely_lost"), 5);
    cr_expect_eq(leak_bytes(j, "indirectly_lost"), 36 + 28);
    cr_expect_eq(leak_blocks(j, "indirectly_lost"), 2 + 1);
    cr_expect_eq(leak_bytes(j, "still_reachable"), 188 - 28 + 4096);
    cr_expect_eq(leak_blocks(j, "still_reachable"), 4 - 1 + 1);
    cr_expect_eq(leak_bytes(j, "possibly_lost"), 0);
    /* Each object's stack starts at the allocator's function that annotated it. */
    char want[][64] = {"definite 72 slab_alloc slab_objects", "definite 48 bump_alloc arena_objects",
                       "definite 36 static_alloc main", "definite 32 bump_alloc arena_objects",
                       "definite 8 bump_alloc arena_objects"};
    size_t k = 0;
    for (size_t i = 0; i < json_len(j, "records"); i++) {
        char p[128], line[128];
        snprintf(p, sizeof p, "records.%zu.kind", i);
        if (strcmp(json_str(j, p), "definite") != 0) continue;
        snprintf(p, sizeof p, "records.%zu.direct_bytes", i);
        long long bytes = json_int(j, p);
        snprintf(p, sizeof p, "records.%zu.stack.0.function", i);
        char top[64];
        snprintf(top, sizeof top, "%s", json_str(j, p));
        snprintf(p, sizeof p, "records.%zu.stack.1.function", i);
        snprintf(line, sizeof line, "definite %lld %s %s", bytes, top, json_str(j, p));
        cr_assert_lt(k, 5);
        cr_expect_str_eq(line, want[k++]);
    }
    cr_expect_eq(k, 5);
    json_free(j);
    /* In every report: 13 objects and 4 malloc'd blocks allocated; the 24 B
     * object freed, the 12 B malloc-like one, the two destroyed with their
     * pool and that pool's chunk. */
    struct json *r = report_json_of(trace);
    cr_expect_eq(json_int(r, "totals.allocations"), 17);
    cr_expect_eq(json_int(r, "totals.frees"), 5);
    cr_expect_eq(json_int(r, "totals.leaked_bytes"), 196 + 64 + 4256);
    cr_expect_eq(json_int(r, "totals.leaked_blocks"), 12);
    cr_expect_eq(json_int(r, "totals.unmatched_frees"), 0);
    json_free(r);
    run_free(&h);
    run_free(&m);
}

/* Without heapsnap the annotations do nothing (valgrind's neither). */
Test(pools, annotations_without_heapsnap)
{
    const char *argv[] = {sample("pools"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 0);
    cr_expect_str_eq(r.err, "");
    run_free(&r);
}

/* A fork child has its parent's objects, in their pools: its destroy frees
 * them. Left as blocks of no pool, the child would end with the arena's
 * objects live. */
Test(pools, fork_child_destroys_what_it_inherited)
{
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--", sample("pools"), "fork", NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 2);
    for (int i = 0; i < 2; i++) {
        char *trace = names[i]; /* list_traces gives whole paths */
        struct json *rep = report_json_of(trace);
        bool child = json_int(rep, "totals.inherited_blocks") > 0;
        struct json *j = leaks_json_in(dir, trace, NULL);
        if (child) { /* 6 objects and the chunk from the parent, all freed; the 20 B block is left */
            cr_expect_eq(json_int(rep, "totals.inherited_blocks"), 8);
            cr_expect_eq(json_int(rep, "totals.frees"), 7);
            cr_expect_eq(json_int(rep, "totals.leaked_blocks"), 1);
            cr_expect_eq(leak_bytes(j, "definitely_lost"), 20);
            cr_expect_eq(leak_bytes(j, "still_reachable"), 0);
        } else { /* the arena part of the figures */
            cr_expect_eq(leak_bytes(j, "definitely_lost"), 32 + 48 + 8);
            cr_expect_eq(leak_bytes(j, "indirectly_lost"), 16 + 20);
            cr_expect_eq(leak_bytes(j, "still_reachable"), 40 + 64 + 4096);
        }
        json_free(j);
        json_free(rep);
    }
    run_free(&r);
}
