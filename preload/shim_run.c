/* shim_run.c - what the traced process asks of `heapsnap run`: to be traced
 * with ptrace (so that heapsnap run can stop it at its end, however it ends),
 * a leak check now (heapsnap_leak_check()), and to be let go before it execs a
 * set-user-ID program.
 *
 * A request is written into the trace header (req_*: the authority, which
 * `heapsnap run` reads every 20 ms) and announced by a datagram on the socket
 * heapsnap run passed down (HEAPSNAP_CONTROL_FD), which makes it look at once.
 * The socket may be gone (a parent closed it before exec): the header still
 * works. The answer is req_ack, written by heapsnap run through the file.
 * Asking and waiting is safe anywhere: header stores, one send, nanosleep. */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ptrace.h>
#include <time.h>
#include <unistd.h>

static atomic_flag req_busy = ATOMIC_FLAG_INIT; /* one request at a time: the header has one slot */

static bool run_alive(void)
{
    return shim_config.run_pid <= 0 || kill(shim_config.run_pid, 0) == 0 || errno != ESRCH;
}

/* A fork child: a request another thread of the parent was making is not
 * the child's to wait for. */
void run_after_fork(void) { atomic_flag_clear(&req_busy); }

bool run_request(enum run_request kind, uint64_t arg)
{
    struct trace_header *h = spool_header();
    if (!shim_config.checks || !h || getpid() != shim_traced_pid()) return false;
    struct timespec ms = {0, 1000 * 1000};
    while (atomic_flag_test_and_set_explicit(&req_busy, memory_order_acquire)) nanosleep(&ms, NULL);
    uint32_t seq = atomic_load((_Atomic uint32_t *)&h->req_seq) + 1;
    h->req_kind = kind;
    h->req_tid = shim_gettid();
    h->req_arg = arg;
    atomic_store_explicit((_Atomic uint32_t *)&h->req_seq, seq, memory_order_release);

    struct run_doorbell bell = {.magic = RUN_DOORBELL_MAGIC, .pid = (uint32_t)getpid(), .seq = seq, .kind = kind};
    snprintf(bell.trace, sizeof bell.trace, "%s", spool_path());
    int fd = fd_use_begin(FD_CONTROL);
    if (fd >= 0) { /* MSG_NOSIGNAL: if `heapsnap run` is gone, an error, never SIGPIPE */
        send(fd, &bell, offsetof(struct run_doorbell, trace) + strlen(bell.trace) + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        fd_use_end();
    }
    bool answered = false;
    for (unsigned waited = 0; waited < shim_config.leak_check_timeout_ms; waited++) {
        if (atomic_load((_Atomic uint32_t *)&h->req_ack) >= seq) {
            answered = true;
            break;
        }
        if (waited % 100 == 99 && !run_alive()) break; /* no one left to answer */
        nanosleep(&ms, NULL);
    }
    atomic_flag_clear_explicit(&req_busy, memory_order_release);
    return answered;
}

/* ptrace allows one tracer per thread, and `heapsnap run` is one: a program
 * that traces a process itself (a debugger, strace, a crash reporter) asks it
 * to let that process go first, and then finds the way clear. */
SHIM_EXPORT long ptrace(enum __ptrace_request request, ...)
{
    static long (*real)(enum __ptrace_request, pid_t, void *, void *);
    va_list ap;
    va_start(ap, request);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *), *data = va_arg(ap, void *);
    va_end(ap);
    if (request == PTRACE_TRACEME) run_request(RUN_REQ_RELEASE, 0);
    else if ((request == PTRACE_ATTACH || request == PTRACE_SEIZE) && pid > 0) run_request(RUN_REQ_RELEASE, (uint64_t)pid);
    if (!real) real = (__typeof__(real))dlsym(RTLD_NEXT, "ptrace");
    return real(request, pid, addr, data);
}
