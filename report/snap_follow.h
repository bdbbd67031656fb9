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
    uint64_t ptr, size; /* ptr: the key in snap.live (a pool object's has POOL_KEY_BIT) */
    uint64_t pool;      /* a pool object's pool (0: none) */
    uint32_t stack;
    bool ignored;
};

/* A process's live blocks when it forked (at its REC_FORK), kept until its
 * child claims them: the blocks, and the frames of their stacks. */
struct fork_snapshot {
    pid_t parent;
    uint64_t ticks;
    struct inherited_block *blocks;
    size_t nblocks;
    struct snapshot_stack {
        uint32_t id;
        uint64_t *key; /* key[0] = frames, then the frames */
    } *stacks;
    size_t nstacks;
    uint64_t *regions; /* the heap's regions (snap.heap_regions keys): the child's arenas too */
    size_t nregions;
    struct snapshot_module {
        uint32_t id;
        uint64_t bias, lo, hi;
        char *path;
        uint8_t build_id[64];
        size_t build_id_len;
    } *modules; /* mapped at the fork: the child's trace needs them to name the stacks above */
    size_t nmodules;
};

void fork_snapshot_take(struct fork_snapshot *fs, const struct snap *s, pid_t parent, uint64_t ticks);
void fork_snapshot_free(struct fork_snapshot *fs);

/* Modules heapsnap run writes into a child's trace for its parent's stacks
 * get ids apart from the ones the child's shim gives. */
#define INHERITED_MODULE_ID 0x80000000u

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
/* A fork child starts with its parent's blocks at the fork. */
void follow_inherit(struct snap_follow *child, const struct fork_snapshot *fs);
/* The child's inherited blocks as records for its trace (stream
 * TRACE_STREAM_INHERITED): the modules mapped at the fork, the blocks'
 * stacks, then one REC_INHERIT each. */
void follow_inherited_records(const struct snap_follow *f, const struct fork_snapshot *fs, struct rec_chunks *out);

#endif
