/* safepoint.h - holding a process's other threads where they hold none of
 * the C library's locks, so that the thread that ends the process can run
 * glibc's and libstdc++'s end-of-process cleanup (which frees, and so takes
 * malloc's locks) without waiting forever for a thread that is held still. */
#ifndef HEAPSNAP_SAFEPOINT_H
#define HEAPSNAP_SAFEPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "supervise.h"

/* The executable ranges of the libraries whose code may hold their locks
 * (libc, the loader, libstdc++, libgcc, libpthread), from /proc/PID/maps. */
struct code_range {
    uint64_t lo, hi;
};
size_t safepoint_library_code(pid_t pid, struct code_range **out);
/* Whether held thread tid is at such a point now. */
bool safepoint_at(pid_t tid, const struct code_range *code, size_t ncode);

/* Every thread of pid that sup_stop_process holds, but except, is brought to
 * such a point (stepped there if need be) and stays held. False if one could
 * not be: the cleanup must not run. */
bool safepoint_hold(struct sup *s, pid_t pid, pid_t except);

#endif
