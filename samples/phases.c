/* phases.c - a program in phases, with exactly known figures, for snapshots,
 * stats and diffs. Arguments: "more" (40 sessions, not 30), "nolabel" (skip
 * make_label), "slow" (sleep between phases, churning small blocks), "signal"
 * (raise SIGUSR2 after the warm phase), "ticks" (2500 markers "tick" after "warm", 1 us apart).
 *
 *   load_config     10 x 1000 B kept                         marker "warm" after it
 *   build_cache     50 x 2000 B, all freed by drop_cache     global peak: 110000 B in 60 blocks
 *   grow_sessions   30 x 3000 B kept (40 with "more")        never live at the global peak
 *   make_label      strdup of 12 bytes + NUL = 13 B kept     the call site is make_label, not strdup
 *   via_wrapper     my_alloc(64) kept                        --skip-function my_alloc moves it to via_wrapper
 *   recurse(3)      100 B at each of 4 levels, kept          --cumulative counts recurse once per stack
 *   paused          malloc(5000) while paused: not traced
 *   marker "done" at the end. At exit (without "more"): 10000 + 90000 + 13 + 64 + 400 = 100477 B in 47 blocks.
 * Prints "current=N peak=N" (heapsnap_traced_memory after drop_cache) on stdout. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heapsnap.h"

void *kept[200];
int nkept;
void *cache[50];
void *volatile sink;

static void pause_a_little(int slow)
{
    if (!slow) return;
    struct timespec ts = {0, 120 * 1000 * 1000};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 600; k++) { /* events, so interval markers get their chance */
            sink = malloc(16);
            free(sink);
        }
        nanosleep(&ts, NULL);
    }
}

__attribute__((noinline)) void load_config(void)
{
    for (int i = 0; i < 10; i++) kept[nkept++] = malloc(1000);
}

__attribute__((noinline)) void build_cache(void)
{
    for (int i = 0; i < 50; i++) cache[i] = malloc(2000);
}

__attribute__((noinline)) void drop_cache(void)
{
    for (int i = 0; i < 50; i++) free(cache[i]);
}

__attribute__((noinline)) void grow_sessions(int n)
{
    for (int i = 0; i < n; i++) kept[nkept++] = malloc(3000);
}

__attribute__((noinline)) void make_label(void) { kept[nkept++] = strdup("label-012345"); }

__attribute__((noinline)) void *my_alloc(size_t n) { return malloc(n); }
__attribute__((noinline)) void via_wrapper(void) { kept[nkept++] = my_alloc(64); }

__attribute__((noinline)) void recurse(int depth)
{
    kept[nkept++] = malloc(100);
    if (depth > 0) recurse(depth - 1);
    sink = kept[0]; /* not a tail call: each level keeps its frame */
}

int main(int argc, char **argv)
{
    int more = 0, nolabel = 0, slow = 0, sig = 0, ticks = 0;
    for (int i = 1; i < argc; i++) {
        more |= strcmp(argv[i], "more") == 0;
        nolabel |= strcmp(argv[i], "nolabel") == 0;
        slow |= strcmp(argv[i], "slow") == 0;
        sig |= strcmp(argv[i], "signal") == 0;
        ticks |= strcmp(argv[i], "ticks") == 0;
    }
    load_config();
    heapsnap_snapshot("warm");
    if (sig) raise(SIGUSR2);
    /* More markers than a picture keeps points for, each at a moment of its
     * own (a microsecond apart at least: a trace's tick is about 0.4 us). */
    struct timespec us = {0, 1000};
    for (int i = 0; ticks && i < 2500; i++) {
        heapsnap_snapshot("tick");
        nanosleep(&us, NULL);
    }
    pause_a_little(slow);
    build_cache();
    drop_cache();
    size_t current, peak;
    heapsnap_traced_memory(&current, &peak);
    printf("current=%zu peak=%zu\n", current, peak);
    pause_a_little(slow);
    grow_sessions(more ? 40 : 30);
    if (!nolabel) make_label();
    via_wrapper();
    recurse(3);
    heapsnap_pause();
    sink = malloc(5000);
    heapsnap_resume();
    heapsnap_snapshot("done");
    return 0;
}
