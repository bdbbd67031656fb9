/* cpu_wait.h - whether the calling thread waits for a CPU: the share of its
 * runnable time, over the last window, that it spent waiting on a run queue
 * (the kernel's schedstat), not running. A packer that waits shares its CPUs
 * with threads that want them, the program's first: work it does then is
 * taken from the program (trace_pack.c packs cheaply while that is so). */
#ifndef HEAPSNAP_CPU_WAIT_H
#define HEAPSNAP_CPU_WAIT_H

#include <stdbool.h>
#include <stdint.h>

/* All zero to start with. */
struct cpu_wait {
    bool opened, busy;
    int fd; /* once opened: /proc/thread-self/schedstat of the thread that asked first, or -1 */
    uint64_t run_ns, wait_ns, at_ns; /* at the start of the window */
    double share;                    /* of the time it wanted a CPU, the part it waited: averaged over the windows */
};

/* Whether the calling thread (always the same one) has waited for a CPU
 * lately: true once it waited 15% of its runnable time or more (averaged
 * over 50 ms windows, the latest weighing half) until under 5%. False where
 * the kernel keeps no schedstat. */
bool cpu_wait_busy(struct cpu_wait *w);
void cpu_wait_close(struct cpu_wait *w);

#endif
