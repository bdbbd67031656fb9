/* heapsnap.h - the in-program API of heapsnap.
 *
 * Safe to include and call in any program. Every function here is an inline
 * wrapper around a weak reference to the shim: a program that uses them links
 * with no extra library, runs unchanged without heapsnap (each call does
 * nothing; figures read 0), and reaches the shim when it runs under
 * `heapsnap run` or LD_PRELOAD=libheapsnap.so, without relinking. */
#ifndef HEAPSNAP_H
#define HEAPSNAP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEAPSNAP_VERSION_MAJOR 0
#define HEAPSNAP_VERSION_MINOR 2

/* The shim's entry points: call the wrappers below, never these. */
int heapsnap_shim_is_tracing(void) __attribute__((weak));
void heapsnap_shim_snapshot(const char *label) __attribute__((weak));
void heapsnap_shim_traced_memory(size_t *current, size_t *peak) __attribute__((weak));
void heapsnap_shim_reset_peak(void) __attribute__((weak));
void heapsnap_shim_pause(void) __attribute__((weak));
void heapsnap_shim_resume(void) __attribute__((weak));
void heapsnap_shim_leak_check(void) __attribute__((weak));

/* 1 while this process is traced (and not paused), else 0. */
static inline int heapsnap_active(void) { return heapsnap_shim_is_tracing ? heapsnap_shim_is_tracing() : 0; }

/* Marks this moment in the trace: `heapsnap stats TRACE@LABEL` is the heap as
 * it was here. A label used n times is LABEL#1 ... LABEL#n. */
static inline void heapsnap_snapshot(const char *label)
{
    if (heapsnap_shim_snapshot) heapsnap_shim_snapshot(label);
}

/* Bytes in traced blocks now and at the peak (since the last reset), like
 * tracemalloc.get_traced_memory(). These live figures count usable sizes
 * (malloc_usable_size) and are exact for the calling thread, within 64 KiB
 * for each other thread; reports read from the trace count requested bytes
 * exactly. 0 and 0 without heapsnap. */
static inline void heapsnap_traced_memory(size_t *current, size_t *peak)
{
    if (heapsnap_shim_traced_memory) {
        heapsnap_shim_traced_memory(current, peak);
        return;
    }
    if (current) *current = 0;
    if (peak) *peak = 0;
}

/* Peak := current, like tracemalloc.reset_peak(). */
static inline void heapsnap_reset_peak(void)
{
    if (heapsnap_shim_reset_peak) heapsnap_shim_reset_peak();
}

/* Stop and restart recording new allocations, process-wide, like
 * tracemalloc.stop()/start(). Frees are still recorded, so blocks allocated
 * before the pause stay accounted for. */
static inline void heapsnap_pause(void)
{
    if (heapsnap_shim_pause) heapsnap_shim_pause();
}

static inline void heapsnap_resume(void)
{
    if (heapsnap_shim_resume) heapsnap_shim_resume();
}

/* Classifies every live block by reachability now (LSan's
 * __lsan_do_leak_check), recorded in the trace as TRACE@leak-check:N. Under
 * `heapsnap run` only: the scan is done from outside the process, with every
 * thread stopped; a bare LD_PRELOAD has no one to ask, and this does nothing. */
static inline void heapsnap_leak_check(void)
{
    if (heapsnap_shim_leak_check) heapsnap_shim_leak_check();
}

#ifdef __cplusplus
}
#endif

#endif
