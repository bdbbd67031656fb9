/* test_processes.c - following fork and exec, --no-follow, and the bare
 * LD_PRELOAD path for users who cannot wrap the command. */
#include "harness.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../trace/trace_format.h"

static uint32_t trace_state(const char *path)
{
    struct trace_header h = {0};
    int fd = open(path, O_RDONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(read(fd, &h, sizeof h), (ssize_t)sizeof h);
    close(fd);
    return h.state;
}

Test(processes, fork_child_gets_its_own_trace)
{
    char *dir = temp_dir();
    char *trace = path_join(dir, "parent.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("fork_child"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 5, "%s", r.err);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 2);
    struct json *parent = report_json_of(trace);
    const char *child_path = strcmp(names[0], trace) == 0 ? names[1] : names[0];
    cr_expect(strstr(child_path, "heapsnap.fork_child.") != NULL, "%s", child_path);
    struct json *child = report_json_of(child_path);
    cr_expect_eq(json_int(child, "process.ppid"), json_int(parent, "process.pid"));
    cr_expect_eq(json_int(parent, "totals.leaked_bytes"), 100);
    cr_expect_str_eq(json_str(parent, "leaks.0.stack.0.function"), "parent_leak");
    /* The child starts with the parent's blocks (100 B from parent_leak) and
     * adds its own: 300 B live at its end, its own allocation the larger. */
    cr_expect_eq(json_int(child, "totals.allocations"), 1);
    cr_expect_eq(json_int(child, "totals.inherited_blocks"), 1);
    cr_expect_eq(json_int(child, "totals.leaked_bytes"), 300);
    cr_expect_str_eq(json_str(child, "leaks.0.stack.0.function"), "child_leak");
    cr_expect_str_eq(json_str(child, "leaks.1.stack.0.function"), "parent_leak");
    cr_expect_str_eq(json_str(child, "end.how"), "exit");
    cr_expect_eq(json_int(child, "end.code"), 5);
    cr_expect_eq(trace_state(child_path), TRACE_PACKED);
    json_free(parent);
    json_free(child);
}

/* The child's trace has none of the parent's module records: a stack the
 * parent met first must bring its modules into the child's trace too. */
Test(processes, fork_child_names_a_stack_its_parent_met_first)
{
    char *dir = temp_dir();
    char *trace = path_join(dir, "parent.trace");
    char plugin[4096];
    snprintf(plugin, sizeof plugin, "%s", sample("libhsplugin.so"));
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("fork_plugin"), plugin, NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 2);
    for (int i = 0; i < 2; i++) {
        /* The child has its parent's block too, from the same frames. */
        bool child = strcmp(names[i], trace) != 0;
        struct json *j = report_json_of(names[i]);
        cr_expect_eq(group_int(j, "leaks", "plugin_leak", "bytes"), child ? 512 : 256, "%s", names[i]);
        cr_expect_str_eq(group_str(j, "leaks", "plugin_leak", "stack.0.module"), "libhsplugin.so", "%s", names[i]);
        json_free(j);
    }
    run_free(&r);
}

Test(processes, no_follow)
{
    char *dir = temp_dir();
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--no-follow", "--", sample("fork_child"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 5, "%s", r.err);
    char **names;
    cr_expect_eq(list_traces(dir, &names), 1);
    const char *argv2[] = {heapsnap_bin(), "run", "-q", "--no-follow", "--", sample("fork_exec"), sample("leak"), NULL};
    char *dir2 = temp_dir();
    r = run_in(dir2, NULL, argv2);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_eq(list_traces(dir2, &names), 1);
    cr_expect(strstr(names[0], "heapsnap.fork_exec.") != NULL);
}

static void check_exec_follow(const char *mode, size_t expect_traces)
{
    char *dir = temp_dir();
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--", sample("fork_exec"), sample("leak"), mode, NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char **names;
    size_t n = list_traces(dir, &names);
    cr_expect_eq(n, expect_traces);
    bool found = false, exec_seen = false;
    for (size_t i = 0; i < n; i++) {
        struct json *j = report_json_of(names[i]);
        if (strstr(names[i], "heapsnap.leak.")) {
            found = true;
            cr_expect_eq(json_int(j, "totals.leaked_bytes"), 100);
            cr_expect_str_eq(json_str(j, "leaks.0.stack.0.function"), "plain_leak");
        }
        const char *how = json_str(j, "end.how");
        if (how && strcmp(how, "exec") == 0) exec_seen = true;
        json_free(j);
    }
    cr_expect(found, "no trace of the exec'd program");
    cr_expect_eq(exec_seen, expect_traces == 3, "the child's first image ends in exec");
}

Test(processes, fork_then_exec) { check_exec_follow("fork", 3); }
Test(processes, posix_spawn) { check_exec_follow("spawn", 2); }

Test(processes, bare_preload)
{
    char *dir = temp_dir();
    const char *const *env = bare_preload_env(dir);
    const char *argv[] = {sample("leak"), NULL};
    struct run_result r = run_in("/", env, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.err, "");
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    cr_expect(strstr(names[0], "/heapsnap.leak.") != NULL, "%s", names[0]);
    cr_expect_eq(trace_state(names[0]), TRACE_PACKED);
    struct json *j = report_json_of(names[0]);
    cr_expect_eq(json_int(j, "totals.allocations"), 11);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 100);
    cr_expect_str_eq(json_str(j, "end.how"), "exit");
    json_free(j);
}

/* SIGKILL under a bare preload: no one packs the trace, and it still holds
 * every allocation made before the kill. */
Test(processes, bare_preload_sigkill_keeps_everything)
{
    char *dir = temp_dir();
    const char *const *env = bare_preload_env(dir);
    const char *argv[] = {sample("sigkill"), NULL};
    struct run_result r = run_in(dir, env, argv);
    cr_assert_eq(r.exit_code, 137);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    cr_expect_eq(trace_state(names[0]), TRACE_OPEN);
    struct json *j = report_json_of(names[0]);
    cr_expect_eq(json_int(j, "totals.allocations"), 500);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 500);
    cr_expect_str_eq(json_str(j, "end.how"), "unknown");
    json_free(j);
    /* heapsnap pack turns it into a packed trace with the same figures. */
    const char *pack[] = {heapsnap_bin(), "pack", names[0], NULL};
    r = run_in(dir, NULL, pack);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_eq(trace_state(names[0]), TRACE_PACKED);
    j = report_json_of(names[0]);
    cr_expect_eq(json_int(j, "totals.allocations"), 500);
    json_free(j);
}

Test(processes, bad_frames_in_environment)
{
    char *pre_env;
    cr_assert(asprintf(&pre_env, "LD_PRELOAD=%s", shim_path()) > 0);
    const char *env[] = {"HEAPSNAP_FRAMES=0", pre_env, NULL};
    const char *argv[] = {sample("leak"), NULL};
    char *dir = temp_dir();
    struct run_result r = run_in(dir, env, argv);
    cr_expect_eq(r.exit_code, 0, "the program runs on, untraced");
    cr_expect_eq(count_lines(r.err), 1);
    cr_expect(strstr(r.err, "HEAPSNAP_FRAMES=0 is not a number from 1 to 65535") != NULL, "%s", r.err);
}

/* A packer killed mid-way leaves TRACE.PID.packing behind. heapsnap pack
 * removes those whose packer is gone, says so, and leaves a live one's. */
Test(processes, pack_removes_stale_temporaries)
{
    char *dir = temp_dir();
    const char *argv[] = {sample("sigkill"), NULL};
    struct run_result r = run_in(dir, bare_preload_env(dir), argv);
    cr_assert_eq(r.exit_code, 137);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    pid_t gone = fork();
    cr_assert(gone >= 0);
    if (gone == 0) _exit(0);
    cr_assert_eq(waitpid(gone, NULL, 0), gone);
    char *stale, *live, *other;
    cr_assert(asprintf(&stale, "%s.%d.packing", names[0], (int)gone) > 0);
    cr_assert(asprintf(&live, "%s.%d.packing", names[0], (int)getpid()) > 0);
    cr_assert(asprintf(&other, "%s.%d.packing.old", names[0], (int)gone) > 0); /* not a packer's name */
    const char *made[] = {stale, live, other};
    for (size_t i = 0; i < 3; i++) {
        int fd = open(made[i], O_WRONLY | O_CREAT, 0600);
        cr_assert(fd >= 0);
        close(fd);
    }
    const char *pack[] = {heapsnap_bin(), "pack", names[0], NULL};
    r = run_in(dir, NULL, pack);
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    char want[8192];
    snprintf(want, sizeof want, "heapsnap: removed %s, left by a packer (pid %d) that is gone\n", stale, (int)gone);
    cr_expect_str_eq(r.err, want);
    cr_expect_neq(access(stale, F_OK), 0, "the stale temporary is still there");
    cr_expect_eq(access(live, F_OK), 0, "a live packer's temporary was removed");
    cr_expect_eq(access(other, F_OK), 0);
    cr_expect_eq(trace_state(names[0]), TRACE_PACKED);
    run_free(&r);
}

/* The child has what its parent had at the fork, though the parent frees it
 * all and leaves right after: the child's dropped copy is its leak. */
Test(processes, fork_child_keeps_what_its_parent_frees_after)
{
    char *dir = temp_dir();
    char *trace = path_join(dir, "parent.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--fail-on-leak", "-o", trace, "--", sample("fork_after"),
                          "free_after", NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 23, "[%s] [%s]", r.err, r.out);
    run_free(&r);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 2);
    const char *child = strcmp(names[0], trace) == 0 ? names[1] : names[0];
    struct json *j = report_json_of(child);
    cr_expect_eq(json_int(j, "totals.inherited_blocks"), 1);
    cr_expect_eq(json_int(j, "totals.unmatched_frees"), 0);
    cr_expect_geq(json_int(j, "totals.peak_time_s"), 0, "a peak of inherited blocks is at the child's start");
    json_free(j);
    j = leaks_json_in(dir, child, NULL);
    cr_expect_eq(leak_bytes(j, "definitely_lost"), 64);
    cr_expect_str_eq(json_str(j, "records.0.stack.0.function"), "parent_block");
    json_free(j);
    j = leaks_json_in(dir, trace, NULL);
    cr_expect_eq(leak_blocks(j, "definitely_lost"), 0, "the parent freed its block");
    json_free(j);
}

/* A fork child's _exit writes nothing: not its copy of the parent's buffered
 * output, nor the offset of the stdin it shares (glibc's cleanup, run at
 * every exit for memcheck's figures, must not flush there). */
Test(processes, fork_child_exit_writes_nothing)
{
    char *dir = temp_dir();
    char *in = path_join(dir, "in.txt");
    FILE *f = fopen(in, "w");
    fputs("first\nsecond\n", f);
    fclose(f);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s run -q -- %s stdio < %s", heapsnap_bin(), sample("fork_after"), in);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "parent done second\n");
    run_free(&r);
}

/* A program with its own malloc binds every call to it: heapsnap says it saw
 * none, in one line and in the trace, rather than report an empty heap. */
Test(processes, allocator_bound_before_heapsnap)
{
    char *dir = temp_dir();
    char *trace = path_join(dir, "own.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("own_malloc"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.err, "heapsnap: the program has its own malloc, which the loader binds before any preloaded "
                            "library's: its allocations cannot be traced\n");
    run_free(&r);
    struct json *j = report_json_of(trace);
    cr_expect(json_bool(j, "totals.allocator_before_heapsnap"));
    json_free(j);
    /* A non-PIE program that takes malloc's address sees a stub of its own,
     * which leads to heapsnap's malloc: no warning, every call seen. */
    const char *ptr[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("malloc_pointer"), NULL};
    r = run_in(dir, NULL, ptr);
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.err, "");
    cr_expect_str_eq(r.out, "ok\n");
    run_free(&r);
    j = report_json_of(trace);
    cr_expect(!json_bool(j, "totals.allocator_before_heapsnap"));
    cr_expect_eq(json_int(j, "totals.allocations"), 2, "100 B and stdout's buffer");
    json_free(j);
}
