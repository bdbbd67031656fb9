/* inject.h - making threads of another process stand still and call
 * functions of its own (ptrace): how `heapsnap attach` loads the shim into a
 * running process and takes it out again (docs/ATTACH.md).
 *
 * A held thread is in a ptrace-stop; a call sets its registers to enter the
 * function with a return address of 0, lets it run until that return faults,
 * reads the result and puts every register back. Signals that arrive for a
 * held thread are kept and sent again when it is let go, so the program gets
 * each one, late. */
#ifndef HEAPSNAP_INJECT_H
#define HEAPSNAP_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

struct inject_thread {
    pid_t tid;
    /* As it was stopped, restored after each call and at the end: the
     * general registers, and the extended state (NT_X86_XSTATE: x87, SSE,
     * AVX...; the FP registers where the kernel has no XSAVE). */
    struct user_regs_struct saved;
    _Alignas(64) uint8_t xstate[16384];
    size_t xlen;
    struct user_fpregs_struct fp;
    bool have_fp;
    siginfo_t deferred[8]; /* signals that arrived while held */
    int ndeferred;
};

struct inject_proc {
    pid_t pid;
    struct inject_thread *threads;
    size_t n;
};

/* Holds thread tid of pid where it holds no lock of the C library or the
 * loader (its ip out of their code, or blocked in a system call malloc does
 * not make under its lock): it may then call dlopen. The other threads run
 * on. False with a reason (ptrace refused: why, and what to change). */
bool inject_hold_one(struct inject_proc *p, pid_t pid, pid_t tid, char *err, size_t errlen);
/* Holds every thread of pid (none can start another meanwhile). */
bool inject_hold_all(struct inject_proc *p, pid_t pid, char *err, size_t errlen);
/* Lets the held threads run for a moment (ms), then holds them again. */
bool inject_breathe(struct inject_proc *p, unsigned ms, char *err, size_t errlen);
/* Calls fn(args...) in held thread t; a non-NULL str is copied onto its
 * stack and passed as the first argument instead of args[0]. */
bool inject_call(struct inject_thread *t, pid_t pid, uint64_t fn, const char *str, const uint64_t *args, int nargs,
                 uint64_t *ret, char *err, size_t errlen);
/* Lets every held thread go, as it was. */
void inject_release(struct inject_proc *p);

/* A NUL-terminated string from the process's memory. */
bool inject_read_string(pid_t pid, uint64_t addr, char *out, size_t cap);
/* Where a module (its file's name starting with prefix, e.g. "libc.so.") is
 * loaded: its load bias and its file as seen from here (through
 * /proc/PID/root). False if the process has none. */
bool inject_find_module(pid_t pid, const char *prefix, uint64_t *bias, char *path, size_t cap, uint64_t *text_lo,
                        uint64_t *text_hi);

#endif
