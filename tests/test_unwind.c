/* test_unwind.c - the gate for `heapsnap run --unwind fast`: each
 * samples/unwind_* program runs bare, under --unwind full and under --unwind
 * fast. Its stdout, stderr and exit status must be the same in all three (and
 * stdout what the sample's comment says: destructors ran, the right catch
 * caught, backtrace() saw the same frames), and every trace of the fast run
 * must hold the stacks of the full run, frame by frame (function, file, line,
 * module), each with the same allocation calls, bytes allocated and blocks
 * live at the end. A few figures per sample check that the full run's stacks
 * are the ones the sample makes, so an unwinder that broke both the same way
 * would not pass either. */
#include "harness.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG(...) ((const char *const[]){__VA_ARGS__, NULL})
#define RUN_SECONDS 60 /* each program takes well under a second */

/* meson test puts the samples' directory on LD_LIBRARY_PATH; the programs run
 * without it, so that unwind_dlopen finds its plugin through its RUNPATH only. */
static const char *const program_env[] = {"LD_LIBRARY_PATH=", NULL};

/* One stack of a traced run, as `heapsnap stats --by traceback --sort-by
 * calls` gives it. */
struct group {
    char *label; /* "root" for the program's trace, else the trace's name without its pid */
    char *funcs; /* "f<g<main<...", innermost first */
    unsigned nframes;
    long long calls, allocated;
    char *line; /* all of it, every frame: what full and fast must agree on */
};

struct traced {
    struct run_result r;
    struct group *groups; /* sorted by line */
    size_t n, ntraces;
};

static int by_line(const void *a, const void *b)
{
    return strcmp(((const struct group *)a)->line, ((const struct group *)b)->line);
}

/* "heapsnap.unwind_fork.4711.trace" -> "heapsnap.unwind_fork.trace": pids differ from run to run */
static char *trace_label(const char *path, const char *root)
{
    if (strcmp(path, root) == 0) return strdup("root");
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *label = strdup(base);
    char *end = strstr(label, ".trace");
    char *dot = end;
    while (dot > label && isdigit((unsigned char)dot[-1]))
        dot--;
    if (end && dot < end && dot > label && dot[-1] == '.') memmove(dot - 1, end, strlen(end) + 1);
    return label;
}

static void add_groups(struct traced *t, const char *dir, const char *trace, const char *label)
{
    struct json *j = heapsnap_json(dir, PROG("stats", trace, "--by", "traceback", "--sort-by", "calls", "--limit", "0",
                                             "--max-frames", "0", "--format", "json"));
    const struct json *stats = json_get(j, "stats");
    cr_assert(stats && stats->type == JSON_ARRAY, "%s: no stats", trace);
    t->groups = realloc(t->groups, (t->n + stats->n) * sizeof *t->groups);
    for (size_t i = 0; i < stats->n; i++) {
        const struct json *g = stats->items[i];
        const struct json *stack = json_get(g, "stack");
        cr_assert(stack && stack->type == JSON_ARRAY);
        struct group *out = &t->groups[t->n++];
        out->label = strdup(label);
        out->nframes = (unsigned)stack->n;
        out->calls = json_int(g, "calls");
        out->allocated = json_int(g, "allocated");
        char *funcs = NULL, *line = NULL;
        size_t flen = 0, llen = 0;
        FILE *fs = open_memstream(&funcs, &flen), *ls = open_memstream(&line, &llen);
        fprintf(ls, "[%s] calls=%lld allocated=%lld live=%lld blocks %lld bytes, %zu frames\n", label, out->calls,
                out->allocated, json_int(g, "count"), json_int(g, "size"), stack->n);
        for (size_t k = 0; k < stack->n; k++) {
            const struct json *f = stack->items[k];
            const char *fn = json_str(f, "function"), *file = json_str(f, "file"), *module = json_str(f, "module");
            fprintf(fs, "%s%s", k ? "<" : "", fn ? fn : "?");
            fprintf(ls, "  %s %s:%lld [%s]\n", fn ? fn : "?", file ? file : "?", json_int(f, "line"),
                    module ? module : "?");
        }
        fclose(fs);
        fclose(ls);
        out->funcs = funcs;
        out->line = line;
    }
    json_free(j);
}

/* `heapsnap run -q --unwind MODE [--frames N] -o DIR/root.trace -- PROG...` in a
 * directory of its own, then every trace the run left there, as groups. */
static struct traced run_traced(const char *mode, const char *frames, const char *const *prog)
{
    char *dir = temp_dir();
    char *root = path_join(dir, "root.trace");
    const char *argv[32] = {heapsnap_bin(), "run", "-q", "--unwind", mode, "-o", root};
    size_t k = 7;
    if (frames) {
        argv[k++] = "--frames";
        argv[k++] = frames;
    }
    argv[k++] = "--";
    for (size_t i = 0; prog[i] && k + 1 < 32; i++)
        argv[k++] = prog[i];
    argv[k] = NULL;
    struct traced t = {.r = run_in_limited(dir, program_env, argv, RUN_SECONDS)};
    cr_assert(!t.r.timed_out, "--unwind %s: %s hung (killed after %d s)", mode, prog[0], RUN_SECONDS);
    char **names;
    t.ntraces = list_traces(dir, &names);
    for (size_t i = 0; i < t.ntraces; i++) {
        char *label = trace_label(names[i], root);
        add_groups(&t, dir, names[i], label);
        free(label);
    }
    qsort(t.groups, t.n, sizeof *t.groups, by_line);
    return t;
}

/* The first group of a that b lacks (both sorted), or NULL. */
static const struct group *first_missing(const struct traced *a, const struct traced *b)
{
    size_t j = 0;
    for (size_t i = 0; i < a->n; i++) {
        while (j < b->n && strcmp(b->groups[j].line, a->groups[i].line) < 0)
            j++;
        if (j == b->n || strcmp(b->groups[j].line, a->groups[i].line) != 0) return &a->groups[i];
        j++;
    }
    return NULL;
}

static void expect_same_stacks(const struct traced *full, const struct traced *fast, const char *name)
{
    cr_expect_eq(fast->ntraces, full->ntraces, "%s: %zu traces under --unwind fast, %zu under full", name,
                 fast->ntraces, full->ntraces);
    const struct group *only_full = first_missing(full, fast), *only_fast = first_missing(fast, full);
    cr_expect(fast->n == full->n && !only_full && !only_fast,
              "%s: the stacks differ: %zu groups under full, %zu under fast\n"
              "first only under full:\n%.3000s\nfirst only under fast:\n%.3000s",
              name, full->n, fast->n, only_full ? only_full->line : "(none)\n",
              only_fast ? only_fast->line : "(none)\n");
}

/* Sums over the groups of a trace whose function chain ("f<g<main<...",
 * innermost first) matches an fnmatch pattern. */
struct figures {
    long long calls, allocated;
    size_t groups;
    unsigned min_frames, max_frames;
};

static struct figures figures_of(const struct traced *t, const char *label, const char *pattern)
{
    struct figures f = {.min_frames = ~0u};
    for (size_t i = 0; i < t->n; i++) {
        const struct group *g = &t->groups[i];
        if (strcmp(g->label, label) != 0 || fnmatch(pattern, g->funcs, 0) != 0) continue;
        f.calls += g->calls;
        f.allocated += g->allocated;
        f.groups++;
        if (g->nframes < f.min_frames) f.min_frames = g->nframes;
        if (g->nframes > f.max_frames) f.max_frames = g->nframes;
    }
    return f;
}

#define expect_calls(t, label, pattern, want_calls, want_bytes)                                                        \
    do {                                                                                                               \
        struct figures f_ = figures_of(t, label, pattern);                                                             \
        cr_expect_eq(f_.calls, want_calls, "%s %.200s: %lld calls, not %lld", label, pattern, f_.calls,                \
                     (long long)(want_calls));                                                                         \
        cr_expect_eq(f_.allocated, want_bytes, "%s %.200s: %lld bytes, not %lld", label, pattern, f_.allocated,        \
                     (long long)(want_bytes));                                                                         \
    } while (0)

/* The calls of the groups whose whole function chain is this one (no
 * pattern: every frame named). */
static long long chain_calls(const struct traced *t, const char *label, const char *funcs)
{
    long long calls = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->groups[i].label, label) == 0 && strcmp(t->groups[i].funcs, funcs) == 0)
            calls += t->groups[i].calls;
    return calls;
}

/* head, then "<f" n times, then tail: a recursion's part of a chain. */
static char *chain(const char *head, const char *f, int n, const char *tail)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    fputs(head, m);
    for (int i = 0; i < n; i++)
        fprintf(m, "<%s", f);
    fputs(tail, m);
    fclose(m);
    return s;
}

/* "~T 5, ~T 4, ~T 3": what, from down to to, comma-separated. */
static char *countdown(const char *what, int from, int to)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    for (int i = from; i >= to; i--)
        fprintf(m, "%s%s %d", i == from ? "" : ", ", what, i);
    fclose(m);
    return s;
}

#define START "<main<__libc_start_call_main<__libc_start_main_impl<_start" /* a chain's end in the main thread */

/* Text with every "+0x..." offset taken out: code layout changes with the
 * compiler, names and frame counts do not. */
static char *without_offsets(const char *s)
{
    char *out = strdup(s), *o = out;
    for (const char *p = s; *p;) {
        if (p[0] == '+' && p[1] == '0' && p[2] == 'x') {
            p += 3;
            while (isxdigit((unsigned char)*p))
                p++;
            continue;
        }
        *o++ = *p++;
    }
    *o = 0;
    return out;
}

struct three_ways {
    struct run_result bare;
    struct traced t[2]; /* --unwind full, --unwind fast */
};

/* The program bare, under full and under fast: the same output, stderr and
 * status, and the same stacks under full and fast. The runs are returned for
 * the sample's own figures. */
static struct three_ways run_three_ways(const char *const *prog, const char *frames, int want_status)
{
    char *dir = temp_dir();
    struct three_ways w = {.bare = run_in_limited(dir, program_env, prog, RUN_SECONDS)};
    struct run_result bare = w.bare;
    struct traced *out = w.t;
    cr_assert(!bare.timed_out, "%s hung bare", prog[0]);
    cr_expect_eq(bare.exit_code, want_status, "%s bare: exit %d: %s", prog[0], bare.exit_code, bare.err);
    cr_expect_str_eq(bare.err, "", "%s bare", prog[0]);
    out[0] = run_traced("full", frames, prog);
    out[1] = run_traced("fast", frames, prog);
    for (int i = 0; i < 2; i++) {
        const char *mode = i ? "fast" : "full";
        cr_expect_eq(out[i].r.exit_code, bare.exit_code, "--unwind %s: exit %d, bare %d: %s", mode, out[i].r.exit_code,
                     bare.exit_code, out[i].r.err);
        cr_expect_str_eq(out[i].r.out, bare.out, "--unwind %s: stdout differs from the bare run's", mode);
        cr_expect_str_eq(out[i].r.err, bare.err, "--unwind %s: stderr differs from the bare run's", mode);
        cr_expect_geq(out[i].ntraces, 1, "--unwind %s: no trace", mode);
    }
    expect_same_stacks(&out[0], &out[1], prog[0]);
    /* Within one run too: every capture's fast stack against libunwind's. */
    struct traced check = run_traced("check", frames, prog);
    cr_expect_eq(check.r.exit_code, bare.exit_code, "--unwind check: exit %d: %s", check.r.exit_code, check.r.err);
    cr_expect_str_eq(check.r.err, bare.err, "--unwind check: the unwinders differ");
    return w;
}

TestSuite(unwind, .timeout = 120);

/* A program we did not write, whose runs differ from one another (hash
 * seeds, addresses): compared within one run, capture by capture. */
Test(unwind, python_checked_capture_by_capture)
{
    struct traced t = run_traced("check", NULL,
                                 PROG("/usr/bin/python3", "-c",
                                      "import json, threading\n"
                                      "def work(n):\n"
                                      "    d = {str(i): [i] * (i % 7) for i in range(n)}\n"
                                      "    return len(json.dumps(d))\n"
                                      "ts = [threading.Thread(target=work, args=(3000,)) for _ in range(3)]\n"
                                      "[t.start() for t in ts]; [t.join() for t in ts]\n"
                                      "print(work(5000))\n"));
    cr_expect_eq(t.r.exit_code, 0, "%s", t.r.err);
    cr_expect_str_eq(t.r.out, "136974\n");
    cr_expect_str_eq(t.r.err, "", "the unwinders differ");
    cr_expect_geq(t.n, 100, "stacks recorded: %zu", t.n);
}

/* The 64 frames kept by default: the deep recursion's stacks are cut at 64. */
Test(unwind, depths)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_depths")), NULL, 0);
    struct traced *t = w.t;
    cr_expect_str_eq(w.bare.out, "zigzag: 4650 allocations, checksum 9712655084014874544\n"
                                 "repeat: checksum 124722\n"
                                 "deep: checksums 16206 48618\n");
    for (int i = 0; i < 2; i++) {
        /* sum over the 90 rounds of depth + 1 levels, 16 + level bytes down, 8 + 2 * level up */
        long long calls = 0, down = 0, up = 0;
        for (int r = 0; r < 90; r++)
            for (int level = 0; level <= (r * 37) % 50; level++) {
                calls++;
                down += 16 + level;
                up += 8 + 2 * level;
            }
        expect_calls(&t[i], "root", "down_alloc<climb<*", calls, down);
        expect_calls(&t[i], "root", "up_alloc<climb<*", calls, up);
        expect_calls(&t[i], "root", "repeat_alloc<nest<nest<nest<nest<nest<nest<nest" START, 1000, 32000);
        expect_calls(&t[i], "root", "bottom_one<sink<*", 6, 2 * (100 + 101 + 102));
        expect_calls(&t[i], "root", "bottom_two<sink<*", 4, 2 * (200 + 201));
        struct figures f = figures_of(&t[i], "root", "bottom_one<sink<*");
        cr_expect_eq(f.min_frames, 64);
        cr_expect_eq(f.max_frames, 64);
        /* levels 0, 100 ... 1200 on the way down, 50, 150 ... 1150 on the way up; twice */
        expect_calls(&t[i], "root", "sink_down<sink<*", 26, 2 * (13 * 1000 + 100 * (12 * 13 / 2)));
        expect_calls(&t[i], "root", "sink_up<sink<*", 24, 2 * (12 * 2000 + 12 * 600));
    }
}

/* Every frame of the 1200-deep recursion kept: stacks of 1207 frames, written
 * in several records each. */
Test(unwind, depths_every_frame)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_depths")), "2048", 0);
    struct traced *t = w.t;
    for (int i = 0; i < 2; i++) {
        const char *tail[] = {"<deep_a<main<__libc_start_call_main<__libc_start_main_impl<_start",
                              "<deep_b<main<__libc_start_call_main<__libc_start_main_impl<_start"};
        for (int d = 0; d < 2; d++) {
            cr_expect_eq(chain_calls(&t[i], "root", chain("bottom_one", "sink", 1201, tail[d])), 3,
                         "bottom_one through 1201 sink frames and %s", tail[d]);
            cr_expect_eq(chain_calls(&t[i], "root", chain("sink_up", "sink", 1151, tail[d])), 1,
                         "sink_up 1151 levels deep through %s", tail[d]);
        }
        struct figures f = figures_of(&t[i], "root", "bottom_one<sink<*");
        cr_expect_eq(f.max_frames, 1207);
        cr_expect_eq(f.calls, 6);
    }
}

/* longjmp and siglongjmp out of 60 and 40 allocating frames, and out of a
 * signal handler 40 frames deep; then allocations shallower and deeper. */
Test(unwind, jumps)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_jumps")), NULL, 0);
    cr_expect_str_eq(w.bare.out, "longjmp: landed with 59\n"
                                 "  after: checksum 4987\n"
                                 "  kept 60 blocks, checksum 1770\n"
                                 "siglongjmp: landed with 1039, SIGUSR2 blocked: no\n"
                                 "  after: checksum 3018\n"
                                 "  kept 40 blocks, checksum 780\n"
                                 "handler jump: landed with 7, SIGUSR1 blocked: no\n"
                                 "  after: checksum 4333\n"
                                 "  kept 40 blocks, checksum 780\n");
    for (int i = 0; i < 2; i++) {
        struct traced *t = &w.t[i];
        expect_calls(t, "root", "dive_alloc<dive<*", 140, 140 * 48);
        expect_calls(t, "root", "after_alloc<after_jump<*", 282, 282 * 24);
        /* the handler's block: through the signal frame (the kernel's return
         * into libc has no symbol) and raise, into the 40 frames it left */
        expect_calls(t, "root",
                     chain("handler_alloc<on_usr1<*<raise", "dive", 40, "<handler_jump<hold<hold<hold" START), 1, 77);
        /* after the jumps, 21 and 11 levels below the landing frame: reached
         * by the two descents from there that go that deep or deeper */
        cr_expect_eq(chain_calls(t, "root", chain("after_alloc", "after_jump", 21, "<plain_jump<hold<hold<hold" START)),
                     2);
        cr_expect_eq(chain_calls(t, "root", chain("after_alloc", "after_jump", 11, "<sig_jump<hold<hold<hold" START)),
                     2);
    }
}

/* Handlers that allocate: a timer's, delivered 50 frames deep in sigsuspend,
 * and one on an alternate stack raised 30 frames deep; then an interval timer
 * interrupting allocating recursion. */
Test(unwind, signals)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_signals")), NULL, 0);
    cr_expect_str_eq(w.bare.out, "timer: 1 alarm, handler checksum 8194, main checksum 7356\n"
                                 "altstack: on the alternate stack: yes, handler checksum 33996147910, main checksum "
                                 "2616\n"
                                 "after altstack: checksum 8578\n"
                                 "async: 400 rounds, checksum 50736, ticks arrived: yes\n");
    for (int i = 0; i < 2; i++) {
        struct traced *t = &w.t[i];
        expect_calls(t, "root", "handler_alloc<in_handler<*", 10, 640);
        expect_calls(t, "root", "alt_alloc<on_alt<*", 20, 1440);
        expect_calls(t, "root", "down_alloc<descend<*", 140, 5600);
        expect_calls(t, "root", "up_alloc<descend<*", 140, 7840);
        expect_calls(t, "root", "bottom_alloc<descend<*", 3, 240);
        expect_calls(t, "root", "rounds_alloc<round_trip<*", 400, 6400);
        expect_calls(t, "root",
                     chain("handler_alloc<in_handler<on_alarm<*<__sigsuspend<wait_for_alarm", "descend", 50, START), 1,
                     64);
        expect_calls(t, "root", chain("alt_alloc<on_alt<on_usr2<*<raise", "descend", 30, START), 1, 72);
    }
}

/* Two ucontext coroutines switching with main at different depths. */
Test(unwind, coroutines)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_coroutines")), NULL, 0);
    cr_expect_str_eq(w.bare.out, "main at depth 3 resumes alpha\n"
                                 "  alpha yields at depth 5\n"
                                 "main at depth 12 resumes beta\n"
                                 "  beta yields at depth 8\n"
                                 "main at depth 1 resumes alpha\n"
                                 "  alpha resumed at depth 5\n"
                                 "  alpha yields at depth 15\n"
                                 "main at depth 25 resumes beta\n"
                                 "  beta resumed at depth 8\n"
                                 "  beta yields at depth 1\n"
                                 "main at depth 7 resumes alpha\n"
                                 "  alpha resumed at depth 15\n"
                                 "  alpha yields at depth 2\n"
                                 "main at depth 0 resumes beta\n"
                                 "  beta resumed at depth 1\n"
                                 "  beta yields at depth 20\n"
                                 "main at depth 18 resumes alpha\n"
                                 "  alpha resumed at depth 2\n"
                                 "  alpha yields at depth 30\n"
                                 "main at depth 4 resumes beta\n"
                                 "  beta resumed at depth 20\n"
                                 "  beta ends, checksum 39849474\n"
                                 "main at depth 9 resumes alpha\n"
                                 "  alpha resumed at depth 30\n"
                                 "  alpha ends, checksum 62277943290\n"
                                 "main: checksum 4005169, alpha 62277943290, beta 39849474\n");
    for (int i = 0; i < 2; i++) {
        struct traced *t = &w.t[i];
        /* alpha: levels 0-5, 6-15, 3-30 and 4 resumes; beta: 0-8, 2-20 and 3 resumes */
        expect_calls(t, "root", "co_alloc<co_descend<*", 48 + 31, 79 * 24);
        /* main: depth + 1 levels and one after the switch, 9 times */
        expect_calls(t, "root", "main_alloc<main_descend<*", 79 + 9 + 9, 97 * 40);
        /* a coroutine's stack ends where makecontext started it (libc's
         * __start_context, which has no symbol) */
        struct figures f = figures_of(t, "root", chain("co_alloc", "co_descend", 31, "<co_main<*"));
        cr_expect_eq(f.calls, 2, "alpha at depth 30: on the way down and after its resume");
        cr_expect_eq(f.max_frames, 34);
        cr_expect_eq(f.min_frames, 34);
        cr_expect_eq(chain_calls(t, "root", chain("main_alloc", "main_descend", 26, START)), 2);
    }
}

/* fork 30 frames deep (the child returns up through them), vfork and
 * posix_spawn of the program itself from 20 and 15 frames deep. */
Test(unwind, fork)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_fork")), NULL, 0);
    cr_expect_str_eq(w.bare.out, "fork child: checksum 8199 at the bottom\n"
                                 "fork child: checksum 16162453869429898 at the top\n"
                                 "fork: child exited 7\n"
                                 "fork parent: checksum 16162453869429898\n"
                                 "spawned: checksum 40962\n"
                                 "vfork: child exited 3\n"
                                 "vfork parent: checksum 238844731420\n"
                                 "spawned: checksum 771751938\n"
                                 "posix_spawn: child exited 3\n"
                                 "posix_spawn parent: checksum 911155546\n");
    const char *child = "heapsnap.unwind_fork.trace";
    for (int i = 0; i < 2; i++) {
        struct traced *t = &w.t[i];
        cr_expect_eq(t->ntraces, 4, "the program, its fork child and the two images it spawned");
        expect_calls(t, "root", "down_alloc<descend<*", 65, 65 * 40);
        expect_calls(t, "root", "up_alloc<descend<*", 65, 65 * 56);
        /* the fork child: its own allocations at the bottom, then up through its parent's frames */
        expect_calls(t, child, chain("child_alloc<at_bottom", "descend", 30, START), 1, 100);
        expect_calls(t, child, "up_alloc<descend<*", 30, 30 * 56);
        cr_expect_eq(chain_calls(t, child, chain("up_alloc", "descend", 30, START)), 1);
        /* 10 levels in the fork child, 12 and 25 in the spawned images */
        expect_calls(t, child, "down_alloc<plain<*", 47, 47 * 40);
        cr_expect_eq(chain_calls(t, child, chain("down_alloc", "plain", 25, START)), 1);
    }
}

/* Threads at different depths, ending by return and by pthread_exit. */
Test(unwind, threads)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_threads")), NULL, 0);
    cr_expect_str_eq(w.bare.out, "first: pthread_exit, 5\n"
                                 "worker 0: returned, checksum 1720\n"
                                 "worker 1: pthread_exit, checksum 2042\n"
                                 "worker 2: returned, checksum 2699\n"
                                 "worker 3: pthread_exit, checksum 2758\n");
    for (int i = 0; i < 2; i++) {
        struct traced *t = &w.t[i];
        /* workers k = 0..3: 10 + 7k levels of 32 + k B; nested: 5 of 41 B */
        expect_calls(t, "root", "work_alloc<work<*", 10 + 17 + 24 + 31 + 5,
                     10 * 32 + 17 * 33 + 24 * 34 + 31 * 35 + 5 * 41);
        expect_calls(t, "root", "work_alloc<first_exit<*", 3, 40 + 41 + 42);
        expect_calls(t, "root", "bottom_alloc<work<*", 250, 250 * 64);
        cr_expect_eq(chain_calls(t, "root", chain("bottom_alloc", "work", 31, "<worker<start_thread<__clone3")), 50);
        cr_expect_eq(chain_calls(t, "root", chain("bottom_alloc", "work", 5, "<nested<start_thread<__clone3")), 50);
    }
}

/* backtrace() and __builtin_return_address after allocations deep in a chain:
 * what the program reads of its own stack. */
Test(unwind, backtrace)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_backtrace")), NULL, 0);
    char *want = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&want, &len);
    static const struct {
        const char *what, *fn;
        int levels;
    } calls[] = {
        {"after 20 levels", "chain", 20}, {"after 5 levels", "other_chain", 5}, {"after 30 levels", "chain", 30}};
    for (size_t c = 0; c < 3; c++) {
        fprintf(m, "%s: %d frames up to main\n    unwind_backtrace(show_backtrace)\n", calls[c].what,
                calls[c].levels + 2);
        for (int k = 0; k < calls[c].levels; k++)
            fprintf(m, "    unwind_backtrace(%s)\n", calls[c].fn);
        fprintf(m, "    unwind_backtrace(main)\n");
    }
    fprintf(m, "return address at depth 1: unchanged after malloc, in ra_descend\n"
               "return address at depth 12: unchanged after malloc, in ra_descend\n"
               "return address at depth 40: unchanged after malloc, in ra_descend\n");
    fclose(m);
    cr_expect_str_eq(without_offsets(w.bare.out), want);
    for (int i = 0; i < 2; i++) {
        struct traced *t = &w.t[i];
        expect_calls(t, "root", "chain_alloc<chain<*", 50, 50 * 40);
        expect_calls(t, "root", "chain_alloc<other_chain<*", 5, 5 * 40);
        expect_calls(t, "root", "chain_alloc<ra_descend<*", 53, 53 * 40);
        expect_calls(t, "root", "ra_check<ra_descend<*", 3, 99);
        cr_expect_eq(chain_calls(t, "root", chain("ra_check", "ra_descend", 40, START)), 1);
        cr_expect_eq(chain_calls(t, "root", chain("__backtrace_symbols<show_backtrace", "chain", 30, START)), 1);
    }
}

/* dlopen by a bare name, found through the program's RUNPATH only, after
 * allocations 25, 3 and 60 frames deep. */
Test(unwind, dlopen)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_dlopen")), NULL, 0);
    cr_expect_str_eq(w.bare.out, "depth 25: loaded from the program's directory, plugin_leak gave a block\n"
                                 "depth 3: loaded from the program's directory, plugin_leak gave a block\n"
                                 "depth 60: loaded from the program's directory, plugin_leak gave a block\n");
    for (int i = 0; i < 2; i++) {
        struct traced *t = &w.t[i];
        expect_calls(t, "root", "descend_alloc<descend<*", 91, 91 * 24);
        expect_calls(t, "root", "plugin_leak<load_plugin<*", 3, 768);
        cr_expect_eq(chain_calls(t, "root", chain("plugin_leak<load_plugin", "descend", 26, START)), 1);
    }
}

/* C++ exceptions through allocating frames and destructors, rethrown,
 * nested, carried in an exception_ptr, and thrown out of qsort's callback. */
Test(unwind, exceptions)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_exceptions")), NULL, 0);
    char *want;
    cr_assert(asprintf(&want,
                       "through: %s, %s, main caught: bottom of dive at 29\n"
                       "rethrow: %s, caught at 12: rethrown, %s, caught at 6: rethrown, %s, main caught: rethrown\n"
                       "nested: ~Tracked 100, caught A 7, caught B from A at 7, %s, %s, main caught: wrapped at 4, "
                       "nested: innermost\n"
                       "exception_ptr: %s, captured, %s, caught released at 4: captured at 19, %s\n"
                       "qsort: %s, main caught: comparator gave up at call 40\n"
                       "calm: 1225, 50 destructors\n",
                       countdown("~Tracked", 29, 0), countdown("~Tracked", 3, 0), countdown("~Tracked", 20, 13),
                       countdown("~Tracked", 12, 7), countdown("~Tracked", 6, 0), countdown("~Tracked", 7, 0),
                       countdown("~Tracked", 9, 0), countdown("~Tracked", 19, 0), countdown("~Tracked", 14, 5),
                       countdown("~Tracked", 4, 0), countdown("~Tracked", 5, 0)) > 0);
    cr_expect_str_eq(w.bare.out, want);
    for (int i = 0; i < 2; i++) {
        struct traced *t = &w.t[i];
        expect_calls(t, "root", "Tracked::Tracked(int)<*", 165, 165 * 64);
        /* destructors run by the exception leaving dive's 30 frames, and on plain returns from calm */
        expect_calls(t, "root", "Tracked::~Tracked()<dive<*", 30, 30 * 32);
        expect_calls(t, "root", "Tracked::~Tracked()<calm<*", 50, 50 * 32);
        cr_expect_eq(
            chain_calls(t, "root", chain("Tracked::~Tracked()", "dive", 30, "<through<through<through<through" START)),
            1);
        /* an exception object per throw (`throw;` makes none), a dependent one
         * per std::rethrow_exception (rethrow_if_nested makes the second) */
        cr_expect_eq(figures_of(t, "root", "__cxa_allocate_exception<*").calls, 8);
        cr_expect_eq(figures_of(t, "root", "__cxa_allocate_dependent_exception<*<release<*").calls, 1);
        cr_expect_eq(figures_of(t, "root", "__cxa_allocate_dependent_exception<*").calls, 2);
        expect_calls(t, "root", "rethrow_dive<*", 2, 96);
        /* the comparator, called by libc's qsort until its 40th call threw */
        expect_calls(t, "root",
                     "throwing_compare<*<__qsort_r<sort_deep<sort_deep<sort_deep<sort_deep<sort_deep<sort_deep" START,
                     40, 40 * 32);
    }
}

/* Forced unwinding: pthread_exit and pthread_cancel of threads deep in frames
 * holding RAII objects; std::thread. */
Test(unwind, cxx_threads)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_cxx_threads")), NULL, 0);
    char *want;
    cr_assert(asprintf(&want,
                       "exit: %s\n"
                       "exit: thread returned 42\n"
                       "cancel: %s, cleanup 10, %s, cleanup 5, %s\n"
                       "cancel: thread canceled\n"
                       "std::thread: 462 7820 40250\n",
                       countdown("~Guard", 11, 0), countdown("~Guard", 14, 11), countdown("~Guard", 10, 6),
                       countdown("~Guard", 5, 0)) > 0);
    cr_expect_str_eq(w.bare.out, want);
    /* fill(): a vector of level + 1 longs per level, grown by doubling from 1 */
    long long fill_calls = 0, fill_bytes = 0;
    for (int k = 0; k < 3; k++)
        for (int level = 0; level < 8 * (k + 1); level++)
            for (long cap = 1; cap < 2 * (level + 1); cap *= 2) {
                fill_calls++;
                fill_bytes += cap * 8;
            }
    for (int i = 0; i < 2; i++) {
        struct traced *t = &w.t[i];
        expect_calls(t, "root", "Guard::Guard(*", 27, 27 * 48);
        expect_calls(t, "root", "Guard::~Guard()<exit_deep<*", 12, 12 * 32);
        expect_calls(t, "root", "Guard::~Guard()<cancel_deep<*", 15, 15 * 32);
        expect_calls(t, "root", "cleanup<__pthread_cleanup_class::~__pthread_cleanup_class()<cancel_step<*", 2, 48);
        cr_expect_eq(
            chain_calls(t, "root", chain("Guard::~Guard()", "exit_deep", 12, "<exit_thread<start_thread<__clone3")), 1);
        expect_calls(t, "root", "std::_Vector_base<long, std::allocator<long> >::_M_allocate(unsigned long)<*<fill<*",
                     fill_calls, fill_bytes);
    }
}

/* Frames that save rbp and reuse it, under frames whose CFA is their rbp
 * (samples/unwind_rbp.c), at the same stack addresses from two callers. The
 * fast unwinder must read a saved rbp again where a frame beyond uses it
 * (without that, via_b's blocks are named via_a's), and step out past frames
 * whose rbp it did not check with the rbp they have now (with the remembered
 * one, via_fp's stacks end at via_fp). */
Test(unwind, frames_that_reuse_rbp_under_frames_that_use_it)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_rbp")), NULL, 0);
    cr_expect_str_eq(w.bare.out, "via_a 100 via_b 100\nvia_gpr 50 via_fp 50\n");
    const char *chains[][2] = {{"leaf<hop<pass<frame<via_a" START, "100"}, {"leaf<hop<pass<frame<via_b" START, "100"},
                               {"leaf<hop<pass<via_gpr" START, "50"},      {"leaf<hop<pass<via_fp" START, "50"}};
    for (int i = 0; i < 2; i++)
        for (size_t c = 0; c < sizeof chains / sizeof *chains; c++)
            cr_expect_eq(chain_calls(&w.t[i], "root", chains[c][0]), atoll(chains[c][1]), "--unwind %s: %s",
                         i ? "fast" : "full", chains[c][0]);
}

/* A walk that ended where a return address read 0, then the same frames at
 * the same addresses with a caller there (samples/unwind_zero_return.c): the
 * end of a remembered walk is read again like its other words (trusted,
 * work()'s called blocks lose enter_called and main). */
Test(unwind, an_end_read_as_zero_is_read_again)
{
    struct three_ways w = run_three_ways(PROG(sample("unwind_zero_return")), NULL, 0);
    cr_expect_str_eq(w.bare.out, "ended 50 called 50\n");
    for (int i = 0; i < 2; i++) {
        const char *mode = i ? "fast" : "full";
        cr_expect_eq(chain_calls(&w.t[i], "root", "leaf<work"), 50, "--unwind %s", mode);
        cr_expect_eq(chain_calls(&w.t[i], "root", "leaf<work<enter_called" START), 50, "--unwind %s", mode);
    }
}
