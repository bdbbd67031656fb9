/* safepoint.h - holding a process's other threads where they hold none of
 * the C library's locks, so that the thread that ends the process can run
 * glibc's and libstdc++'s end-of-process cleanup (which frees, and so takes
 * malloc's locks) without waiting forever for a thread that is held still. */
#ifndef HEAPSNAP_SAFEPOINT_H
#define HEAPSNAP_SAFEPOINT_H

#include <stdbool.h>
#include <sys/types.h>

#include "supervise.h"

/* Every thread of pid that sup_stop_process holds, but except, is brought to
 * such a point (stepped there if need be) and stays held. False if one could
 * not be: the cleanup must not run. */
bool safepoint_hold(struct sup *s, pid_t pid, pid_t except);

#endif
