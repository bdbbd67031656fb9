/* run.h - `heapsnap run` inside: what cmd_run.c (options, the program's
 * start, the summary and the gate) shares with run_loop.c (everything
 * between the start and the end: requests from the traced processes, their
 * ends, their leak checks, following and packing their traces). */
#ifndef HEAPSNAP_RUN_H
#define HEAPSNAP_RUN_H

#include <signal.h>

#include "run_pack.h"
#include "run_procs.h"
#include "run_stream.h"
#include "supervise.h"

struct leak_gate;

struct run_exit {
    pid_t pid;
    int status;
};

struct run_pending {
    pid_t pid;
    uint64_t since; /* ms: when it was first seen not yet asking, or exec'd */
    bool exec;      /* a traced process exec'd: its next image may not have mapped the shim yet */
};

struct run_ctx {
    const char *dir;   /* where traces are written (absolute) */
    const char *named; /* -o FILE, or NULL */
    uint64_t session;
    bool checks;       /* leak checks: every traced process is supervised with ptrace */
    bool follow;       /* fork children and exec'd programs are traced too */
    bool quiet;
    unsigned rss_ms;   /* --rss-interval: the resident set is sampled this often (0: never) */
    struct supp_list *supps; /* the gate's suppressions: verdicts are made as processes end */
    const struct leak_gate *gate; /* its rule answers the program's own LSan checks too */
    struct run_stream stream; /* --pprof-every: stream.dir is NULL without it */
    pid_t root;        /* the program */
    int control_fd;    /* our end of the socket the processes ring (-1 without checks) */
    struct sup sup;
    struct run_procs procs;
    struct run_packing packing;
    struct run_exit *exits; /* statuses of every child reaped */
    size_t nexits;
    struct run_pending *pending; /* descendants seen running the shim before they asked */
    size_t npending;
    bool root_done;
    int root_status;
    volatile sig_atomic_t stop_waiting; /* a signal asked us to stop waiting for processes that outlive the program */
};

/* Serves the traced processes until the program and every process traced
 * with it have ended (or stop_waiting). */
void run_loop(struct run_ctx *rc);
/* After the loop: every trace packed, with its results; processes still
 * running are let go, their traces whole on their own (their shims pack them
 * at their ends, but for a fatal signal: then `heapsnap pack` does). */
void run_finish(struct run_ctx *rc);

#endif
