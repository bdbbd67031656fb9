/* trace_ticks.h - the trace's time unit, read the same way by the shim (each
 * event's stamp) and by `heapsnap run` (the moment of a leak check it writes
 * into a trace): one definition, or the two disagree by the shift.
 *
 * A tick is the TSC over 1024 (about 0.4 us), calibrated per trace against
 * CLOCK_MONOTONIC by its CLOCK records, so a reader needs no unit. Plain
 * rdtsc (rdtscp cost 10 ns a call here, and would not help): within a thread
 * the stamps follow program order, but across threads they only approximate
 * it. Two cores' TSCs can disagree by hundreds of cycles (in a VM
 * especially), and rdtsc is not ordered with the loads and stores around it,
 * so a free on one thread can be stamped after the allocation that received
 * its address on another. The readers therefore never trust stamps for what
 * the allocator itself orders (report/snap_merge.c, docs/DESIGN.md
 * "Ordering"), and equal stamps are common and harmless. The low bits are
 * noise that would only cost trace bytes: a stamp finer than the ordering it
 * can be trusted for breaks the repetition zstd folds away (a server's
 * request loop packs to half the bytes at this tick than at TSC/16). */
#ifndef HEAPSNAP_TRACE_TICKS_H
#define HEAPSNAP_TRACE_TICKS_H

#include <stdint.h>
#include <time.h>

#define TRACE_TICK_SHIFT 10

static inline uint64_t trace_ticks_now(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc() >> TRACE_TICK_SHIFT;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) >> TRACE_TICK_SHIFT;
#endif
}

#endif
