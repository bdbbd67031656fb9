/* supervise.h - `heapsnap run` as the ptrace tracer of the processes it
 * traces, so that each one can be stopped at its end, however it ends (return
 * from main, exit, _exit, a raw exit_group as Go does, a fatal signal),
 * while its memory is still there, and checked for leaks.
 *
 * Each process asks to be traced when its shim starts (a fork child before it
 * runs on, an exec'd image before main): children are not attached
 * automatically, so a process that is not running the shim (a
 * set-user-ID program of another user, a static binary) is never traced. Threads are attached as they
 * are created. Everything a tracee reports goes through sup_reap; what needs
 * `heapsnap run` (an end, an exec, a process gone) is queued as an event, the
 * rest (signals to deliver, job control, new threads) is handled here. */
#ifndef HEAPSNAP_SUPERVISE_H
#define HEAPSNAP_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

enum sup_state {
    SUP_RUNNING,   /* not in a ptrace-stop, as far as we know */
    SUP_STOPPED,   /* in a ptrace-stop; resumed with `sig` */
    SUP_HELD,      /* stopped at an event given to the caller; sup_resume() lets it go */
    SUP_LISTENING, /* group-stopped (job control): PTRACE_LISTEN, waits for SIGCONT */
};

struct sup_thread {
    pid_t tid, pid;
    enum sup_state state;
    int sig;              /* SUP_STOPPED at a signal: the signal to deliver on resume */
    bool group_stop;      /* the stop is a group-stop: resume with PTRACE_LISTEN */
    bool interrupted;     /* we asked it to stop (PTRACE_INTERRUPT) */
    bool runs_while_held; /* its process is held, but not it (sup_let_run) */
    UT_hash_handle hh;
};

enum sup_event_kind {
    SUP_END,         /* pid is ending (tid stopped at its exit, HELD): check it, then sup_resume(tid) */
    SUP_EXEC,        /* pid exec'd: its old image is over */
    SUP_GONE,        /* pid is gone (reaped); status as waitpid gives it */
    SUP_THREAD_EXIT, /* thread tid of pid exited (not the process); sp: its stack pointer then */
};

struct sup_event {
    enum sup_event_kind kind;
    pid_t pid, tid;
    int status;  /* SUP_END: the exit status as wait() would give it; SUP_GONE: waitpid's */
    uint64_t sp; /* SUP_THREAD_EXIT */
};

struct sup {
    struct sup_thread *threads; /* by tid */
    struct sup_event *queue;
    size_t nqueue, capqueue;
    pid_t *held;    /* processes held still (a check, a fork's reading, an exit's cleanup): their stops are kept */
    size_t nheld;
};

/* Seizes every thread of pid (it asked). false with a reason in err. */
bool sup_attach(struct sup *s, pid_t pid, char *err, size_t errlen);
bool sup_traces(const struct sup *s, pid_t pid);
/* Lets pid go (its threads detached, signals they were stopped on delivered). */
void sup_release(struct sup *s, pid_t pid);

/* Takes every status waiting (waitpid, non-blocking): tracees' stops and any
 * child's end. Returns whether anything came. */
bool sup_reap(struct sup *s);
bool sup_next_event(struct sup *s, struct sup_event *ev);
void sup_resume(struct sup *s, pid_t tid);

/* Holds every thread of pid in a ptrace-stop (threads already dying are
 * left alone), for at most timeout_ms. false with a reason in err. */
bool sup_stop_process(struct sup *s, pid_t pid, int timeout_ms, char *err, size_t errlen);
/* The one thread of a held process that runs on (it is exiting, and runs
 * its cleanup while the others are held): its stops are served as usual. */
void sup_let_run(struct sup *s, pid_t tid);
/* Lets the threads sup_stop_process held go on (events still HELD stay). */
void sup_resume_process(struct sup *s, pid_t pid);
/* One instruction of a thread sup_stop_process holds (a blocking system
 * call: until it is in it). True when it is held again, at a plain stop;
 * false if it could not be stepped (a signal pending delivery, job control)
 * or something else happened to it (queued as usual). */
bool sup_step(struct sup *s, pid_t tid);
/* The threads of pid we trace, in a ptrace-stop: their tids in *out (the
 * caller frees). */
size_t sup_stopped_threads(const struct sup *s, pid_t pid, pid_t **out);

/* The tids of pid, from /proc (the caller frees *out). */
size_t sup_list_threads(pid_t pid, pid_t **out);

#endif
