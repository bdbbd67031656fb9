/* run_procs.h - what `heapsnap run` knows of each process image it traces:
 * its trace, the header it shares with the process (requests, answers, how
 * it ended), its live blocks kept current (snap_follow.c), the packing of its
 * trace beside it, and the leak-check results waiting to be written into the
 * trace when it is packed. */
#ifndef HEAPSNAP_RUN_PROCS_H
#define HEAPSNAP_RUN_PROCS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "snap_follow.h"
#include "../trace/trace_pack.h"

enum proc_state {
    PROC_RUNNING,
    PROC_REPLACED, /* the process exec'd: this image is over, the pid lives on */
    PROC_GONE,     /* the process ended and was reaped */
    PROC_PACKED,   /* its trace is packed: nothing left to do */
    PROC_LEFT,     /* still running when heapsnap run stopped waiting: its shim packs its own trace */
};

struct run_proc {
    pid_t pid;
    char path[PATH_MAX];
    struct trace_header *hdr; /* mapped from the trace, shared with the process */
    enum proc_state state;
    bool supervised;          /* traced with ptrace: its end is stopped and checked */
    bool following;
    struct snap_follow follow;
    bool packing;
    struct trace_packer packer;
    struct rec_chunks checks_out; /* leak-check results, written into the trace at packing */
    struct rec_chunks inherited;  /* a fork child's blocks from its parent, likewise */
    uint32_t checks;          /* leak checks recorded so far (their seq numbers count from 1) */
    bool end_checked;         /* the check at its end ran (or says why it could not) */
    int status;               /* PROC_GONE: as waitpid gave it */
    bool reaped_status;       /* status is known */
    char *why_unsupervised;   /* why ptrace could not be used, if it could not */
    uint64_t frozen_until;    /* ms: its other threads are held still while it exits (RUN_REQ_FREEZE) */
    uint64_t *dead_sps;       /* stack pointers of its threads that exited, at their exit (distinct) */
    size_t ndead;
};

struct run_procs {
    struct run_proc **v;
    size_t n;
};

struct run_proc *procs_add(struct run_procs *ps, pid_t pid, const char *path);
struct run_proc *procs_by_path(const struct run_procs *ps, const char *path);
/* The image of pid still running, if any. */
struct run_proc *procs_running(const struct run_procs *ps, pid_t pid);
void procs_free(struct run_procs *ps);

/* Starts keeping p's live blocks current. */
bool proc_follow(struct run_proc *p, char *err, size_t errlen);
/* Packs what p's threads have sealed (and the follower has read). */
void proc_pack_step(struct run_proc *p);
/* Packs all of p's trace, with the extra records, and the end as seen from
 * outside if the process recorded none (how: enum end_how). */
void proc_pack_final(struct run_proc *p, uint32_t how, int32_t code);

#endif
