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

/* Functions that take an address and never read through it: tells GCC that
 * passing freshly malloc'd (uninitialized) memory is fine. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define HEAPSNAP_ADDRESS_ONLY __attribute__((access(none, 1)))
#define HEAPSNAP_ADDRESSES_ONLY __attribute__((access(none, 1), access(none, 2)))
#else
#define HEAPSNAP_ADDRESS_ONLY
#define HEAPSNAP_ADDRESSES_ONLY
#endif

#define HEAPSNAP_VERSION_MAJOR 0
#define HEAPSNAP_VERSION_MINOR 3

/* The shim's entry points: call the wrappers below, never these. */
int heapsnap_shim_is_tracing(void) __attribute__((weak));
void heapsnap_shim_snapshot(const char *label) __attribute__((weak));
void heapsnap_shim_traced_memory(size_t *current, size_t *peak) __attribute__((weak));
void heapsnap_shim_reset_peak(void) __attribute__((weak));
void heapsnap_shim_pause(void) __attribute__((weak));
void heapsnap_shim_resume(void) __attribute__((weak));
void heapsnap_shim_leak_check(void) __attribute__((weak));
void heapsnap_shim_ignore(const void *p) __attribute__((weak)) HEAPSNAP_ADDRESS_ONLY;
void heapsnap_shim_disable(void) __attribute__((weak));
void heapsnap_shim_enable(void) __attribute__((weak));
void heapsnap_shim_register_root(const void *p, size_t len) __attribute__((weak)) HEAPSNAP_ADDRESS_ONLY;
void heapsnap_shim_unregister_root(const void *p, size_t len) __attribute__((weak)) HEAPSNAP_ADDRESS_ONLY;
void heapsnap_shim_pool_alloc(const void *pool, const void *p, size_t size)
    __attribute__((weak)) HEAPSNAP_ADDRESSES_ONLY;
void heapsnap_shim_pool_free(const void *pool, const void *p) __attribute__((weak)) HEAPSNAP_ADDRESSES_ONLY;
void heapsnap_shim_pool_destroy(const void *pool) __attribute__((weak)) HEAPSNAP_ADDRESS_ONLY;

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

/* LeakSanitizer's controls, with its meanings. */

/* This block is never reported as leaked, and what it points to is reachable
 * (__lsan_ignore_object). */
HEAPSNAP_ADDRESS_ONLY static inline void heapsnap_ignore(const void *p)
{
    if (heapsnap_shim_ignore) heapsnap_shim_ignore(p);
}

/* Allocations this thread makes until the matching enable are not leaks
 * (__lsan_disable / __lsan_enable; nestable, per thread). */
static inline void heapsnap_disable(void)
{
    if (heapsnap_shim_disable) heapsnap_shim_disable();
}

static inline void heapsnap_enable(void)
{
    if (heapsnap_shim_enable) heapsnap_shim_enable();
}

/* Scan [p, p+len) for pointers, like a global, even where heapsnap would not
 * (read-only memory, say) (__lsan_register_root_region). */
HEAPSNAP_ADDRESS_ONLY static inline void heapsnap_register_root(const void *p, size_t len)
{
    if (heapsnap_shim_register_root) heapsnap_shim_register_root(p, len);
}

HEAPSNAP_ADDRESS_ONLY static inline void heapsnap_unregister_root(const void *p, size_t len)
{
    if (heapsnap_shim_unregister_root) heapsnap_shim_unregister_root(p, len);
}

/* Custom allocators (pools, arenas, slabs), valgrind's mempool client
 * requests. A malloc interposer sees only the big blocks such an allocator
 * carves; these calls make each object it hands out a block of its own, in
 * every report and in the leak check, with the stack of the call (so make
 * them in the allocator's own allocation function: the stack starts there).
 * An object is scanned for pointers only when it is reached itself: the
 * chunk around it does not keep it, nor what it points to, reachable.
 * `pool` is any address that names the pool (its control block, say): no
 * call creates a pool. Objects must not overlap one another; nothing here
 * reads or writes them. Without heapsnap, each call does nothing. */

/* [p, p+size) is now an object of pool (VALGRIND_MEMPOOL_ALLOC). */
HEAPSNAP_ADDRESSES_ONLY static inline void heapsnap_pool_alloc(const void *pool, const void *p, size_t size)
{
    if (heapsnap_shim_pool_alloc) heapsnap_shim_pool_alloc(pool, p, size);
}

/* The object at p is given back to pool (VALGRIND_MEMPOOL_FREE). */
HEAPSNAP_ADDRESSES_ONLY static inline void heapsnap_pool_free(const void *pool, const void *p)
{
    if (heapsnap_shim_pool_free) heapsnap_shim_pool_free(pool, p);
}

/* Every object of pool is gone at once, as an arena resets
 * (VALGRIND_DESTROY_MEMPOOL). */
HEAPSNAP_ADDRESS_ONLY static inline void heapsnap_pool_destroy(const void *pool)
{
    if (heapsnap_shim_pool_destroy) heapsnap_shim_pool_destroy(pool);
}

/* A block handed out by an allocator that keeps no pool
 * (VALGRIND_MALLOCLIKE_BLOCK / VALGRIND_FREELIKE_BLOCK). */
HEAPSNAP_ADDRESS_ONLY static inline void heapsnap_pool_malloclike(const void *p, size_t size)
{
    if (heapsnap_shim_pool_alloc) heapsnap_shim_pool_alloc(NULL, p, size);
}

HEAPSNAP_ADDRESS_ONLY static inline void heapsnap_pool_freelike(const void *p)
{
    if (heapsnap_shim_pool_free) heapsnap_shim_pool_free(NULL, p);
}

#ifdef __cplusplus
}
#endif

#endif
