/* heapsnap.h - the in-program API of heapsnap.
 *
 * Safe to include and call in any program: the functions are weak references,
 * so a program that uses them links with no extra library, runs unchanged
 * without heapsnap (every call does nothing), and talks to the shim when it runs
 * under `heapsnap run` or LD_PRELOAD=libheapsnap.so, without relinking. */
#ifndef HEAPSNAP_H
#define HEAPSNAP_H

#ifdef __cplusplus
extern "C" {
#endif

#define HEAPSNAP_VERSION_MAJOR 0
#define HEAPSNAP_VERSION_MINOR 1

int heapsnap_is_tracing(void) __attribute__((weak));

/* 1 when this process is being traced by heapsnap, else 0. */
static inline int heapsnap_active(void) { return heapsnap_is_tracing ? heapsnap_is_tracing() : 0; }

#ifdef __cplusplus
}
#endif

#endif
