/* shim_run.c - what the traced process asks of `heapsnap run`: to be traced
 * with ptrace (so that heapsnap run can stop it at its end, however it ends),
 * a leak check now (heapsnap_leak_check()), and to be let go before it execs a
 * program that gains privileges (shim_process.c).
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

/* Whether `heapsnap run` is still there to answer. Its end of the socket
 * says so best (a datagram to a closed peer is refused; a pid may be reused
 * once it is gone); without the socket, its pid. A one-byte datagram is no
 * doorbell: it reads and drops it. */
static bool run_alive(void)
{
    int fd = fd_use_begin(FD_CONTROL);
    if (fd >= 0) {
        char ping = 0;
        bool refused = send(fd, &ping, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == ECONNREFUSED;
        fd_use_end();
        return !refused;
    }
    return shim_config.run_pid <= 0 || kill(shim_config.run_pid, 0) == 0 || errno != ESRCH;
}

/* A fork child: a request another thread of the parent was making is not
 * the child's to wait for. */
void run_after_fork(void) { atomic_flag_clear(&req_busy); }

bool run_request(enum run_request kind, uint64_t arg) { return run_ask(kind, arg, NULL); }

/* `heapsnap run` stopped waiting for us (SELF_PACK): it answers no more, and
 * neither will it for a child we fork. */
bool run_note_let_go(void)
{
    struct trace_header *h = spool_header();
    if (h && (atomic_load_explicit((_Atomic uint32_t *)&h->flags, memory_order_acquire) & TRACE_F_SELF_PACK))
        shim_config.checks = false;
    return !shim_config.checks;
}

bool run_ask(enum run_request kind, uint64_t arg, uint64_t *answer)
{
    struct trace_header *h = spool_header();
    if (!shim_config.checks || !h || getpid() != shim_traced_pid() || run_note_let_go()) return false;
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
    bool gone = false;
    if (fd >= 0) { /* MSG_NOSIGNAL: if `heapsnap run` is gone, an error, never SIGPIPE */
        gone = send(fd, &bell, offsetof(struct run_doorbell, trace) + strlen(bell.trace) + 1,
                    MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == ECONNREFUSED;
        fd_use_end();
    }
    bool answered = false;
    for (unsigned waited = 0; !gone && waited < shim_config.leak_check_timeout_ms; waited++) {
        if (atomic_load_explicit((_Atomic uint32_t *)&h->req_ack, memory_order_acquire) >= seq) {
            answered = true;
            if (answer) *answer = h->req_arg; /* written before the ack */
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
    if (!real) real = (__typeof__(real))shim_next("ptrace");
    return real(request, pid, addr, data);
}
