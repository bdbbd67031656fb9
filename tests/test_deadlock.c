/* test_deadlock.c - programs that allocate while threads are inside the
 * loader must not hang under heapsnap (docs/DESIGN.md, "Locks"). Each run has
 * a watchdog: a hang is killed and fails the test instead of the suite. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define HANG_SECONDS 20 /* the programs take well under a second */

/* loader_lock: main allocates inside a dl_iterate_phdr callback while the
 * helper thread is blocked on the loader's lock in its first stack capture. */
static void check_loader_lock_report(const char *trace)
{
    struct json *j = report_json_of(trace);
    cr_expect_eq(group_int(j, "leaks", "helper_alloc", "bytes"), 100);
    cr_expect_eq(group_int(j, "leaks", "locked_alloc", "bytes"), 200);
    cr_expect_str_eq(group_str(j, "leaks", "locked_alloc", "stack.1.function"), "with_loader_lock");
    json_free(j);
}

Test(deadlock, allocation_holding_the_loader_lock)
{
    char *dir = temp_dir();
    char *trace = path_join(dir, "ll.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("loader_lock"), NULL};
    struct run_result r = run_in_limited(dir, NULL, argv, HANG_SECONDS);
    cr_assert(!r.timed_out, "loader_lock hung under heapsnap run (killed after %d s)", HANG_SECONDS);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "ok\n");
    check_loader_lock_report(trace);
    run_free(&r);
}

Test(deadlock, allocation_holding_the_loader_lock_bare_preload)
{
    char *dir = temp_dir();
    const char *argv[] = {sample("loader_lock"), NULL};
    struct run_result r = run_in_limited(dir, bare_preload_env(dir), argv, HANG_SECONDS);
    cr_assert(!r.timed_out, "loader_lock hung under LD_PRELOAD (killed after %d s)", HANG_SECONDS);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "ok\n");
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    check_loader_lock_report(names[0]);
    run_free(&r);
}

/* dlopen_stress: fresh threads allocating through new stacks while one thread
 * loops on dlopen/dlclose and another allocates inside dl_iterate_phdr. */
Test(deadlock, allocations_racing_dlopen_dlclose_and_dl_iterate_phdr)
{
    char *dir = temp_dir();
    char *trace = path_join(dir, "stress.trace");
    char plugin[4096];
    snprintf(plugin, sizeof plugin, "%s", sample("libhsplugin.so"));
    const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("dlopen_stress"), plugin, "30", NULL};
    struct run_result r = run_in_limited(dir, NULL, argv, HANG_SECONDS);
    cr_assert(!r.timed_out, "dlopen_stress hung under heapsnap run (killed after %d s)", HANG_SECONDS);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "done 30\n");
    struct json *j = report_json_of(trace);
    cr_expect_str_eq(json_str(j, "end.how"), "exit");
    /* 2 x 200 per round from the allocator threads alone */
    cr_expect_geq(json_int(j, "totals.allocations"), 30 * 400);
    /* Loaded and unloaded hundreds of times, the plugin still names its leak. */
    cr_expect_eq(group_int(j, "leaks", "plugin_leak", "bytes"), 256);
    cr_expect_str_eq(group_str(j, "leaks", "plugin_leak", "stack.0.module"), "libhsplugin.so");
    json_free(j);
    run_free(&r);
}
