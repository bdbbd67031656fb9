/* cpu_wait.c - see cpu_wait.h.
 *
 * /proc/thread-self/schedstat holds three numbers: nanoseconds run, nanoseconds
 * waited on a run queue while runnable, time slices. A thread that sleeps
 * (a packer with nothing to pack) neither runs nor waits, so the share is of
 * the time it wanted a CPU. Windows are 50 ms at least, and one in which the
 * thread wanted a CPU for under 5 ms says nothing new. The share is averaged
 * with the windows before (each weighs half of the rest), because a thread
 * that has a CPU to itself still waits now and then for one window (the
 * kernel writing the trace file back, the scheduler placing it beside the
 * program for a moment: 0.1-0.3 seen on one-thread programs), and a packer
 * that has fallen behind packs its whole backlog alone in a window it calls
 * busy. Two thresholds, so that a share near one of them does not flip the
 * answer at every window; three threads wanting two CPUs wait a third of
 * their time or more. */
#include "cpu_wait.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define WINDOW_NS 50000000ull
#define MIN_WANTED_NS 5000000ull
#define BUSY_FROM 0.15
#define IDLE_BELOW 0.05

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool read_schedstat(int fd, uint64_t *run, uint64_t *wait)
{
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return false;
    buf[n] = 0;
    return sscanf(buf, "%" SCNu64 " %" SCNu64, run, wait) == 2;
}

bool cpu_wait_busy(struct cpu_wait *w)
{
    if (!w->opened) {
        w->opened = true;
        w->fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        if (w->fd >= 0 && !read_schedstat(w->fd, &w->run_ns, &w->wait_ns)) cpu_wait_close(w);
        w->at_ns = mono_ns();
        return false;
    }
    if (w->fd < 0) return false;
    uint64_t now = mono_ns(), run, wait;
    if (now - w->at_ns < WINDOW_NS) return w->busy;
    if (!read_schedstat(w->fd, &run, &wait)) {
        cpu_wait_close(w);
        return w->busy = false;
    }
    uint64_t dr = run - w->run_ns, dw = wait - w->wait_ns;
    if (dr + dw >= MIN_WANTED_NS) {
        w->share = (w->share + (double)dw / (double)(dr + dw)) / 2;
        if (w->share >= BUSY_FROM)
            w->busy = true;
        else if (w->share < IDLE_BELOW)
            w->busy = false;
    }
    w->run_ns = run, w->wait_ns = wait, w->at_ns = now;
    return w->busy;
}

void cpu_wait_close(struct cpu_wait *w)
{
    if (w->opened && w->fd >= 0) close(w->fd);
    w->fd = -1;
}
