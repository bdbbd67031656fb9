/* test_ends.c - every way a process ends is checked, and where a check cannot
 * be made the gate fails and says why (samples/ends.c); the program closing
 * every descriptor touches none of its files and loses nothing
 * (samples/close_fds.c). */
#include "harness.h"
#include "../trace/trace_format.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;

static void setup(void) { dir = temp_dir(); }
TestSuite(ends, .init = setup, .timeout = 120);
TestSuite(descriptors, .init = setup, .timeout = 120);

static struct run_result run_ends(const char *mode, bool gate)
{
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--", sample("ends"), mode, NULL};
    const char *gated[] = {heapsnap_bin(), "run", "-q", "--fail-on-leak", "--", sample("ends"), mode, NULL};
    return run_in(dir, NULL, gate ? gated : argv);
}

/* The function where the (unsuppressed) definitely lost block of a leaks
 * report was made. */
static const char *definite_at(const struct json *j)
{
    for (size_t i = 0; i < json_len(j, "records"); i++) {
        char p[64];
        snprintf(p, sizeof p, "records.%zu.kind", i);
        if (strcmp(json_str(j, p), "definite") != 0) continue;
        snprintf(p, sizeof p, "records.%zu.suppressed_by", i);
        if (json_str(j, p)) continue;
        snprintf(p, sizeof p, "records.%zu.stack.0.function", i);
        return json_str(j, p);
    }
    return "(none)";
}

/* The one trace in dir whose definitely lost block comes from fn. */
static struct json *leaks_with(const char *fn)
{
    char **names;
    size_t n = list_traces(dir, &names);
    for (size_t i = 0; i < n; i++) {
        struct json *j = leaks_json_in(dir, names[i], NULL);
        if (strcmp(definite_at(j), fn) == 0) return j;
        json_free(j);
    }
    const char *argv[] = {heapsnap_bin(), "leaks", n ? names[0] : "none", NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_fail("no trace in %s leaks a block from %s: %s", dir, fn, r.out);
    return NULL;
}

static void expect_lost(const char *mode, int exit_code, const char *fn, long long bytes)
{
    struct run_result r = run_ends(mode, false);
    cr_expect_eq(r.exit_code, exit_code, "%s: %s", mode, r.err);
    run_free(&r);
    struct json *j = leaks_with(fn);
    cr_expect(json_bool(j, "check.ok"));
    cr_expect_eq(leak_bytes(j, "definitely_lost"), bytes, "%s", mode);
    cr_expect_eq(leak_blocks(j, "definitely_lost"), 1, "%s", mode);
    json_free(j);
    r = run_ends(mode, true);
    cr_expect_eq(r.exit_code, 23, "%s with the gate: %s", mode, r.err);
    run_free(&r);
}

/* No exit(), no destructor, no _exit(): the process is stopped at its exit. */
Test(ends, raw_exit_group) { expect_lost("exit_group", 3, "leak_before_exit_group", 64); }
Test(ends, exit_group_from_a_thread) { expect_lost("thread_exit_group", 4, "thread_leak", 64); }

/* The launcher is gone long before the daemon it started: heapsnap run waits
 * for the daemon and checks it. */
Test(ends, daemon_that_double_forks)
{
    expect_lost("daemon", 0, "daemon_leak", 48);
    char **names;
    cr_expect_eq(list_traces(dir, &names), 6, "three processes a run, two runs");
    struct run_result r = run_ends("daemon_clean", true);
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
}

/* Recording stopped early: the live blocks are not known, so the gate cannot
 * pass, and says why; the program itself runs on, untouched. */
static void expect_unknowable(const char *mode)
{
    struct run_result r = run_ends(mode, false);
    cr_expect_eq(r.exit_code, 0, "%s: %s", mode, r.err);
    cr_expect(strstr(r.err, "recording stopped, the trace keeps what came before") != NULL, "%s", r.err);
    run_free(&r);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    struct json *j = leaks_json_in(dir, names[0], NULL);
    cr_expect(!json_bool(j, "check.ok"), "%s", mode);
    cr_expect(strstr(json_str(j, "check.note"), "recording stopped") != NULL, "%s", json_str(j, "check.note"));
    json_free(j);
    r = run_ends(mode, true);
    cr_expect_eq(r.exit_code, 23, "%s: %s", mode, r.err);
    cr_expect(strstr(r.err, "the leak check could not run (recording stopped") != NULL, "%s", r.err);
    run_free(&r);
}

Test(ends, file_size_limit) { expect_unknowable("fsize"); }
Test(ends, address_space_limit) { expect_unknowable("as_limit"); }

/* Even SIGKILL: the thread that takes it still stops at its exit, with the
 * process's memory there. Its 500 blocks are all held by a global. */
Test(ends, sigkill)
{
    char *trace = path_join(dir, "k.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--fail-on-leak", "-o", trace, "--", sample("sigkill"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 128 + SIGKILL, "%s", r.err);
    run_free(&r);
    struct json *j = leaks_json_in(dir, trace, NULL);
    cr_expect(json_bool(j, "check.ok"));
    cr_expect_eq(leak_bytes(j, "still_reachable"), 12000);
    cr_expect_eq(leak_blocks(j, "still_reachable"), 500);
    cr_expect_eq(leak_blocks(j, "definitely_lost"), 0);
    json_free(j);
}

/* heapsnap run itself killed: the program runs on and packs its own trace,
 * which has no check; the gate on that trace fails and says why. */
Test(ends, killed_heapsnap_run)
{
    char *trace = path_join(dir, "orphan.trace");
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(heapsnap_bin(), heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("ends"), "daemon_clean", NULL);
        _exit(127);
    }
    /* The launcher's trace appears at once; its daemon lives 300 ms. */
    for (int i = 0; i < 200 && access(trace, F_OK) != 0; i++) usleep(5000);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    usleep(600 * 1000); /* the daemon finishes and packs its own trace */
    char **names;
    size_t n = list_traces(dir, &names);
    cr_assert_geq(n, 1);
    const char *last = names[n - 1];
    const char *argv[] = {heapsnap_bin(), "leaks", "--fail-on-leak", last, NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 23, "%s", r.err);
    cr_expect(strstr(r.err, "the heapsnap run that recorded it did not see its process end") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "--fail-on-leak fails") != NULL, "%s", r.err);
    run_free(&r);
}

/* _exit is async-signal-safe: from a handler that interrupted malloc with
 * its lock held it ends the program at once; heapsnap's work at that end
 * (glibc's cleanup, packing) would take that lock, and must not run there. */
Test(ends, underscore_exit_from_a_signal_handler_inside_malloc)
{
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--", sample("ends"), "exit_in_signal", NULL};
    struct run_result r = run_in_limited(dir, NULL, argv, 20);
    cr_expect(!r.timed_out, "the program hung at _exit (without heapsnap it exits 0 at once)");
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    /* and under a bare preload, where the shim packs its own trace */
    const char *bare[] = {sample("ends"), "exit_in_signal", NULL};
    r = run_in_limited(dir, bare_preload_env(dir), bare, 20);
    cr_expect(!r.timed_out, "the program hung at _exit under a bare preload");
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
}

static bool header_of(const char *trace, struct trace_header *h)
{
    int fd = open(trace, O_RDONLY);
    bool ok = fd >= 0 && pread(fd, h, sizeof *h, 0) == (ssize_t)sizeof *h;
    if (fd >= 0) close(fd);
    return ok;
}

static size_t temporaries_in(const char *d)
{
    DIR *dd = opendir(d);
    size_t n = 0;
    for (struct dirent *e; dd && (e = readdir(dd));) {
        size_t len = strlen(e->d_name);
        if ((len > 8 && strcmp(e->d_name + len - 8, ".packing") == 0) ||
            (len > 5 && strcmp(e->d_name + len - 5, ".left") == 0))
            n++;
    }
    if (dd) closedir(dd);
    return n;
}

/* Starts `heapsnap run ends outlive GO` on trace, waits until it has freed
 * a packed slot and the program has made its 2 million pairs, and kills it.
 * Returns the program's pid. */
static pid_t kill_run_after_packing(const char *trace, const char *go)
{
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(heapsnap_bin(), heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("ends"), "outlive", go, NULL);
        _exit(127);
    }
    struct trace_header h = {0};
    bool punched = false;
    for (int i = 0; i < 6000 && !punched; i++) {
        usleep(10 * 1000);
        punched = header_of(trace, &h) && (h.flags & TRACE_F_PUNCHED);
    }
    cr_assert(punched, "heapsnap run never freed a packed slot of %s", trace);
    char waiting[4096];
    snprintf(waiting, sizeof waiting, "%s.waiting", go);
    for (int i = 0; i < 6000 && access(waiting, F_OK) != 0; i++) usleep(10 * 1000);
    cr_assert(access(waiting, F_OK) == 0, "the program never got to wait");
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    return (pid_t)h.pid;
}

static void expect_pairs(const char *trace, long pairs)
{
    struct json *rep = report_json_of(trace);
    long allocs = json_int(rep, "totals.allocations");
    cr_expect_geq(allocs, pairs);
    cr_expect_lt(allocs, pairs + 100, "%ld", allocs);
    cr_expect_eq(json_int(rep, "totals.unmatched_frees"), 0);
    cr_expect_eq(json_int(rep, "totals.lost_events"), 0);
    cr_expect_eq(allocs - json_int(rep, "totals.frees"), json_int(rep, "totals.leaked_blocks"));
    cr_expect_eq(temporaries_in(dir), 0, "a temporary was left behind");
    json_free(rep);
}

/* heapsnap run killed after it packed part of a long trace and freed those
 * raw slots: the program, running on, packs its own trace and takes over
 * what heapsnap run had packed. Not one pair is lost. */
Test(ends, killed_heapsnap_run_after_packing, .timeout = 120)
{
    char *trace = path_join(dir, "long.trace");
    char *go = path_join(dir, "go");
    kill_run_after_packing(trace, go);
    close(open(go, O_WRONLY | O_CREAT, 0600));
    struct trace_header h = {0};
    bool packed = false;
    for (int i = 0; i < 6000 && !packed; i++) {
        usleep(10 * 1000);
        packed = header_of(trace, &h) && h.state == TRACE_PACKED;
    }
    cr_assert(packed, "the program did not pack its own trace");
    expect_pairs(trace, 2001000);
}

/* Both killed: the raw trace alone is not whole, and reports say so; `heapsnap
 * pack` puts it together with heapsnap run's temporary. */
Test(ends, killed_heapsnap_run_and_program, .timeout = 120)
{
    char *trace = path_join(dir, "long.trace");
    pid_t prog = kill_run_after_packing(trace, path_join(dir, "never"));
    cr_assert_gt(prog, 0);
    kill(prog, SIGKILL);
    for (int i = 0; i < 500 && kill(prog, 0) == 0; i++) usleep(10 * 1000);
    const char *report[] = {heapsnap_bin(), "report", trace, NULL};
    struct run_result r = run_in(dir, NULL, report);
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    cr_expect(strstr(r.err, "heapsnap pack") != NULL, "%s", r.err);
    run_free(&r);
    const char *pack[] = {heapsnap_bin(), "pack", trace, NULL};
    r = run_in(dir, NULL, pack);
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    expect_pairs(trace, 2000000);
}

/* The records of a thread that works while main waits (main's first slot
 * stays open all along) are packed and their disk blocks given back as the
 * run goes: the raw trace holds them once, not twice. */
Test(ends, packed_slots_freed_behind_an_idle_thread, .timeout = 120)
{
    char *trace = path_join(dir, "idle.trace"), *go = path_join(dir, "go"), *waiting = path_join(dir, "go.waiting");
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(heapsnap_bin(), heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("ends"), "outlive_worker", go,
              NULL);
        _exit(127);
    }
    for (int i = 0; i < 6000 && access(waiting, F_OK) != 0; i++) usleep(10 * 1000);
    cr_assert(access(waiting, F_OK) == 0, "the program never got to wait");
    /* Its worker is gone: the packer catches up, then frees. */
    struct trace_header h = {0};
    struct stat st = {0};
    bool freed = false;
    for (int i = 0; i < 1000 && !freed; i++) {
        usleep(10 * 1000);
        freed = header_of(trace, &h) && (h.flags & TRACE_F_PUNCHED) && stat(trace, &st) == 0 &&
                (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size / 2; /* the rest: reserved, not yet used */
    }
    cr_expect(freed, "%s: %lld of %lld bytes still on disk", trace, (long long)st.st_blocks * 512, (long long)st.st_size);
    close(open(go, O_WRONLY | O_CREAT, 0600));
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    expect_pairs(trace, 2001000);
}

/* heapsnap run stops waiting (a signal) for a daemon whose long trace it has
 * been packing and freeing: it writes the freed slots back, so that the
 * trace is whole on its own again, and the daemon packs it at its end. Not
 * one pair lost. */
Test(ends, stopped_waiting_gives_the_trace_back, .timeout = 120)
{
    char *go = path_join(dir, "go"), *waiting = path_join(dir, "go.waiting");
    char script[8192];
    snprintf(script, sizeof script, "%s outlive %s &", sample("ends"), go);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        if (chdir(dir) != 0) _exit(126);
        execl(heapsnap_bin(), heapsnap_bin(), "run", "-q", "--", "/bin/sh", "-c", script, NULL);
        _exit(127);
    }
    char trace[8192] = "";
    struct trace_header h = {0};
    for (int i = 0; i < 6000; i++) {
        usleep(10 * 1000);
        char **names;
        size_t n = list_traces(dir, &names);
        for (size_t k = 0; k < n; k++)
            if (strstr(names[k], "heapsnap.ends.")) snprintf(trace, sizeof trace, "%s", names[k]);
        if (trace[0] && header_of(trace, &h) && (h.flags & TRACE_F_PUNCHED) && access(waiting, F_OK) == 0) break;
    }
    cr_assert(trace[0] && (h.flags & TRACE_F_PUNCHED), "no packed slot was freed");
    cr_assert(access(waiting, F_OK) == 0, "the daemon never got to wait");
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st), "heapsnap run did not end by itself");
    cr_assert(header_of(trace, &h));
    cr_expect_eq(h.state, TRACE_OPEN);
    cr_expect(!(h.flags & TRACE_F_PUNCHED), "the freed slots were not written back");
    cr_expect_eq(temporaries_in(dir), 0, "a temporary was left behind");
    expect_pairs(trace, 2000000); /* the OPEN trace alone, read as it is */
    close(open(go, O_WRONLY | O_CREAT, 0600));
    bool packed = false;
    for (int i = 0; i < 6000 && !packed; i++) {
        usleep(10 * 1000);
        packed = header_of(trace, &h) && h.state == TRACE_PACKED;
    }
    cr_assert(packed, "the daemon did not pack its own trace");
    expect_pairs(trace, 2001000);
}

/* Descriptors closed by every means there is: the program's file stays its
 * own (10 bytes, untouched), the trace grows past its first segment all the
 * same, and both checks (asked for mid-run, and at the end) see the leak. */
static void closes_everything(const char *mode)
{
    char *trace = path_join(dir, "c.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("close_fds"), mode, NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 0, "%s: %s", mode, r.err);
    run_free(&r);
    cr_expect_str_eq(file_contents(path_join(dir, "data.txt"), NULL), "0123456789", "%s", mode);
    /* Complete: nothing lost, every free matched, all 300 threads there
     * (each allocates once, and glibc allocates each one's DTV). */
    struct json *rep = report_json_of(trace);
    cr_expect_eq(json_int(rep, "totals.lost_events"), 0, "%s", mode);
    cr_expect(!json_bool(rep, "totals.truncated"), "%s", mode);
    cr_expect_eq(json_int(rep, "totals.unmatched_frees"), 0, "%s", mode);
    cr_expect_geq(json_int(rep, "totals.allocations"), 601, "%s", mode);
    cr_expect_eq(json_int(rep, "totals.allocations") - json_int(rep, "totals.frees"),
                 json_int(rep, "totals.leaked_blocks"), "%s", mode);
    json_free(rep);
    char *mid = path_join(dir, "c.trace@leak-check:1");
    struct json *l = leaks_json_in(dir, mid, NULL);
    cr_expect_eq(leak_bytes(l, "definitely_lost"), 77, "%s at the check it asked for", mode);
    cr_expect_str_eq(definite_at(l), "leak_after_close");
    json_free(l);
    l = leaks_json_in(dir, trace, NULL);
    cr_expect(json_bool(l, "check.ok"));
    cr_expect_eq(leak_bytes(l, "definitely_lost"), 77, "%s at the end", mode);
    json_free(l);
}

Test(descriptors, close_range) { closes_everything("range"); }
Test(descriptors, closefrom) { closes_everything("from"); }
Test(descriptors, close_loop) { closes_everything("loop"); }
Test(descriptors, raw_close_range_then_the_same_number) { closes_everything("raw"); }
