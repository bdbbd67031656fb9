/* run_rss.h - the resident set of each traced process over time: `heapsnap
 * run` reads /proc/PID/statm every few milliseconds (one pread of a
 * descriptor kept open) and keeps the samples as REC_RSS records, written
 * into the process's trace when it is packed (stream TRACE_STREAM_RSS). */
#ifndef HEAPSNAP_RUN_RSS_H
#define HEAPSNAP_RUN_RSS_H

#include <stdint.h>

#include "run_procs.h"

#define RSS_DEFAULT_INTERVAL_MS 10

/* Samples every running process whose interval has passed (interval_ms 0: none). */
void rss_tick(struct run_procs *ps, unsigned interval_ms, uint64_t now_ms);
/* One sample of p now (its end: stopped at its exit, its memory still there). */
void rss_sample(struct run_proc *p);
/* The loop is done with p: no more samples; its records stay for the packer. */
void rss_stop(struct run_proc *p);

#endif
