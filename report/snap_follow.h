/* snap_follow.h - a struct snap kept current while its process runs:
 * `heapsnap run` applies each traced process's records as they are committed
 * (every 20 ms, and once more with the process stopped before a leak check),
 * so a check at any moment sees the live blocks without replaying the trace,
 * and memory stays O(live blocks + distinct stacks), not O(events). */
#ifndef HEAPSNAP_SNAP_FOLLOW_H
#define HEAPSNAP_SNAP_FOLLOW_H

#include "snap_internal.h"
#include "../trace/trace_pack.h"
#include "../trace/trace_tail.h"

struct inherited_block {
    uint64_t ptr, size;
    uint32_t stack;
    bool ignored;
};

struct snap_follow {
    struct snap s;
    struct trace_tail tail;
    struct meta_state meta;
    struct snap_merge merge;
    struct snap_cursor **curs; /* one per stream of the tail, same index */
    size_t ncurs;
    char *path;
    struct inherited_block *inherited; /* a fork child's blocks from its parent */
    size_t ninherited;
    bool round_open; /* the last round is not finished */
};

int follow_open(struct snap_follow *f, const char *path, char *err, size_t errlen);
/* Applies what the process had committed when the round began, at most
 * budget events of it per call (0: all); a new round begins once one is done.
 * 1 while a round is unfinished (budget spent), 0, -1. */
int follow_poll(struct snap_follow *f, uint64_t budget, char *err, size_t errlen);
/* Everything committed until now, whatever the budget: for a check with the
 * process stopped, or a fork child's inheritance. */
int follow_catch_up(struct snap_follow *f, char *err, size_t errlen);
void follow_close(struct snap_follow *f);
/* A fork child starts with its parent's blocks allocated up to fork_ticks
 * (and still live: the parent must have been polled after the fork). */
void follow_inherit(struct snap_follow *child, const struct snap *parent, uint64_t fork_ticks);
/* The child's inherited blocks as records for its trace (stream
 * TRACE_STREAM_INHERITED): their stacks, then one REC_INHERIT each. */
void follow_inherited_records(const struct snap_follow *f, struct rec_chunks *out);

#endif
