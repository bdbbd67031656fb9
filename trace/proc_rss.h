/* proc_rss.h - a process's peak resident set (VmHWM) from /proc, read the
 * same way by the shim as its process ends (no allocation, no stdio: it may
 * run in a signal handler) and by `heapsnap run` at a process's exit stop. */
#ifndef HEAPSNAP_PROC_RSS_H
#define HEAPSNAP_PROC_RSS_H

#include <stdint.h>
#include <sys/types.h>

/* KiB; pid 0 is the calling process. 0 when it cannot be read. */
uint64_t proc_peak_rss_kib(pid_t pid);

#endif
