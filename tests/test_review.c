/* test_review.c - defects found in review, each shown by a run of
 * samples/review_repro.c that must behave as it does without heapsnap, and
 * be judged as memcheck judges it. */
#include "harness.h"

#include <criterion/criterion.h>
#include <string.h>

static char *dir;

static void setup(void) { dir = temp_dir(); }
TestSuite(review, .init = setup, .timeout = 120);

/* A MAP_SHARED region the child never touched has no page-table entries in
 * the child, but its pages hold the parent's data: skipping pages pagemap
 * shows absent must not apply to shared mappings. */
Test(review, fork_child_sees_pointers_in_shared_memory)
{
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--fail-on-leak", "--", sample("review_repro"), "shared_fork", NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 0, "memcheck: nothing lost in either process; heapsnap says: %s", r.err);
    run_free(&r);
}

/* _exit is async-signal-safe: from a handler that interrupted malloc with
 * its arena lock held it must end the program, not deadlock in glibc's
 * cleanup (or corrupt the heap when single-threaded). */
Test(review, underscore_exit_from_a_signal_handler_inside_malloc)
{
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--", sample("review_repro"), "exit_in_signal", NULL};
    struct run_result r = run_in_limited(dir, NULL, argv, 20);
    cr_expect(!r.timed_out, "the program hung at _exit (it exits 0 at once without heapsnap)");
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
}

/* Each event the follower parks waits for the end of the next round; the
 * check at the end reads two rounds, so a stream that parks twice (two frees
 * of blocks allocated before tracing) leaves everything after the second
 * unread: the leak after them is not seen and the gate passes. */
Test(review, end_check_sees_events_after_two_unmatched_frees)
{
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--fail-on-leak", "--", sample("review_repro"), "unmatched", NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 23, "leak64's 64 B are definitely lost (memcheck agrees): %s", r.err);
    run_free(&r);
}

/* heapsnap run's gate finds the leak; `heapsnap leaks` on the same trace must
 * give the same answer. Replayed to the check's point, the stream parked on
 * the unmatched free stays parked (MERGE_STOP): leak64's block is not even
 * live there. */
Test(review, leaks_later_agrees_with_the_run_after_an_unmatched_free)
{
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--fail-on-leak", "--", sample("review_repro"), "unmatched1", NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 23, "%s", r.err);
    run_free(&r);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    struct json *j = leaks_json_in(dir, names[0], NULL);
    cr_expect_eq(leak_bytes(j, "definitely_lost"), 64);
    cr_expect_eq(leak_blocks(j, "definitely_lost"), 1);
    json_free(j);
}
