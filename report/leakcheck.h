/* leakcheck.h - reachability of a traced process's live blocks, classified
 * from outside the process by `heapsnap run` (docs/LEAKS.md). */
#ifndef HEAPSNAP_LEAKCHECK_H
#define HEAPSNAP_LEAKCHECK_H

#include <sys/types.h>

#include "snap.h"
#include "../trace/trace_pack.h"

/* What a REC_LEAK_CHECK's status says. */
/* CHECK_OFF: the program turned its leak checking off (__lsan_is_turned_off), so none was made. */
enum check_status { CHECK_DONE = 0, CHECK_FAILED = 1, CHECK_OFF = 2 };

struct leakcheck_request {
    pid_t pid;
    uint32_t seq;
    const struct snap *live;   /* the process's live blocks, current */
    const pid_t *tids;         /* its threads, every one held in a ptrace-stop */
    size_t ntids;
    pid_t from_tid;            /* the thread that asked, or that is ending the process */
    uint64_t stack_from;       /* its stack counts only above this (0: from its stack pointer) */
    bool ending;               /* from_tid is ending the process (exit_group, a fatal signal) */
    const char *trace_path;    /* the trace's mapping is not a root */
    const uint64_t *dead_sps;  /* exited threads' stack pointers at their exit: their stacks are dead below */
    size_t ndead;
    /* If set: the lost blocks as an array too (the caller frees it), and the check's time. */
    struct snap_leak **leaks;
    size_t *nleaks;
    uint64_t *ticks;
};

/* Scans the roots and the reached blocks, classifies the rest (memcheck's
 * kinds and clique rule) and appends REC_LEAK_CHECK + REC_LEAK records to out. */
int leakcheck_run(const struct leakcheck_request *rq, struct rec_chunks *out, char *err, size_t errlen);
/* A check that could not run: its record, and the reason (REC_CHECK_NOTE). */
void leakcheck_failed(uint32_t seq, const char *why, struct rec_chunks *out);
/* A check the program turned off: its record (CHECK_OFF), and why. */
void leakcheck_off(uint32_t seq, const char *why, struct rec_chunks *out);
/* A remark on check seq (e.g. what it could not see). */
void leakcheck_note(uint32_t seq, const char *text, struct rec_chunks *out);

#endif
