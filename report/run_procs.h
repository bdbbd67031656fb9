/* run_procs.h - what `heapsnap run` knows of each process image it traces:
 * its trace, the header it shares with the process (requests, answers, how
 * it ended), its live blocks kept current (snap_follow.c), the packing of its
 * trace beside it, and the leak-check results waiting to be written into the
 * trace when it is packed. */
#ifndef HEAPSNAP_RUN_PROCS_H
#define HEAPSNAP_RUN_PROCS_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "leaks.h"
#include "snap_follow.h"
#include "../trace/trace_pack.h"

enum proc_state {
    PROC_RUNNING,
    PROC_REPLACED, /* the process exec'd: this image is over, the pid lives on */
    PROC_GONE,     /* the process ended and was reaped */
    PROC_PACKING,  /* the loop is done with it; the packing thread packs the rest */
    PROC_PACKED,   /* its trace is packed: nothing left to do */
    PROC_LEFT,     /* still running when heapsnap run stopped waiting: its shim packs its own trace */
};

struct stream_image;

struct run_proc {
    pid_t pid;
    char path[PATH_MAX];
    struct trace_header *hdr; /* mapped from the trace, shared with the process */
    enum proc_state state;
    bool exec_ended;          /* this image ended by an exec (it was PROC_REPLACED): no end to check */
    bool inherited_unknown;   /* a fork child whose parent's heap at the fork could not be had */
    bool supervised;          /* traced with ptrace: its end is stopped and checked */
    bool following;
    struct snap_follow follow;
    struct stream_image *stream; /* what the pprof stream keeps of it (run_stream.c), or NULL */
    struct rec_chunks checks_out; /* leak-check results, written into the trace at packing */
    struct rec_chunks inherited;  /* a fork child's blocks from its parent, likewise */
    struct rec_chunks rss_out;    /* samples of its resident set (run_rss.c), likewise */
    enum { RSS_NONE, RSS_OPEN, RSS_OFF } rss_state; /* its statm descriptor: not opened yet, open, done */
    int rss_fd;
    uint64_t rss_next_ms;         /* when the next sample is due */
    uint32_t checks;          /* leak checks recorded so far (their seq numbers count from 1) */
    bool end_checked;         /* the check at its end ran (or says why it could not) */
    int status;               /* PROC_GONE: as waitpid gave it */
    bool reaped_status;       /* status is known */
    char *why_unsupervised;   /* why ptrace could not be used, if it could not */
    struct run_procs *owner;
    /* The check at its end, kept to judge it without reading the trace again. */
    struct snap_leak_check final;
    struct snap_leak *final_leaks;
    size_t nfinal;
    bool have_final;
    /* The verdict, made when the trace is packed (per kind, after
     * suppressions); the program's own process keeps its followed heap for
     * the full loss records instead (symbolized last, see report_leaks). */
    struct leak_report verdict;
    bool have_verdict;
    /* The program's __lsan_do_leak_check() found no leak: as under LSan, that
     * check stands for the one at its end, which is not made (verdict: it). */
    bool final_stands;
    uint32_t final_seq;
    struct snap *kept;
    uint64_t frozen_until;    /* ms: its other threads are held still while it exits (RUN_REQ_FREEZE) */
    uint64_t *dead_sps;       /* stack pointers of its threads that exited, at their exit (distinct) */
    size_t ndead;

    /* Shared with the packing thread (run_pack.c). */
    bool pack_handed;             /* the loop: it was handed over */
    _Atomic int pack_phase;       /* enum pack_phase: the loop moves it on, the thread ends it */
    /* Per slot, 1 once the follower is done with it (TRACE_MAX_SLOTS bytes,
     * pages made as they are touched); NULL when no follower reads the trace. */
    _Atomic uint8_t *followed;
    uint32_t end_how;             /* for PACK_END, written before it */
    int32_t end_code;
    /* The packing thread's own. */
    bool packing, pack_failed;
    struct trace_packer packer;
};

enum pack_phase {
    PACK_RUNNING, /* pack what is sealed */
    PACK_END,     /* pack the rest, commit */
    PACK_ABANDON, /* stop: the process runs on without us */
    PACK_DONE,
};

struct run_procs {
    struct run_proc **v;
    size_t n;
    struct fork_snapshot *forks; /* heaps at forks, until the children claim them */
    size_t nforks;
    bool children_followed;      /* fork children are traced: their heaps at the fork are kept for them */
    bool full_figures;           /* followers keep every figure, not only the live blocks (the pprof stream) */
};

struct run_proc *procs_add(struct run_procs *ps, pid_t pid, const char *path);
struct run_proc *procs_by_path(const struct run_procs *ps, const char *path);
/* The image of pid still running, if any. */
struct run_proc *procs_running(const struct run_procs *ps, pid_t pid);
void procs_free(struct run_procs *ps);

/* The heap pid had when it forked at ticks (the child's fork_ticks), taken
 * from the list; false if there is none (yet). */
bool procs_claim_fork(struct run_procs *ps, pid_t parent, uint64_t ticks, struct fork_snapshot *out);

/* A follower will read p's raw slots: the packing thread must wait for it
 * before it frees them. */
void proc_will_follow(struct run_proc *p);
/* Starts keeping p's live blocks current. */
bool proc_follow(struct run_proc *p, char *err, size_t errlen);
/* Thread tid of p has exited (it is held at its exit): its last slot will
 * not change again, so it is marked sealed, for the follower to finish it
 * and the packer to pack it (a thread does that itself only when it moves
 * on to another slot). */
void proc_seal_thread(struct run_proc *p, pid_t tid);
/* The loop is done with p: what it followed and mapped is let go. */
void proc_release(struct run_proc *p);

#endif
