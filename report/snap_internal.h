/* snap_internal.h - what the replay's files share (not for the reports):
 *
 *   snap_meta.c    records that are not events: stacks, modules, markers, clock
 *   snap_apply.c   one event applied to the live blocks, the stacks, the peak
 *   snap_merge.c   the threads' streams merged in time order, cross-thread
 *                  address reuse resolved by the allocator's own rules
 *   snap_replay.c  a whole trace, up to a point (struct snap for the reports)
 *   snap_follow.c  an open trace followed while its process runs (heapsnap run)
 */
#ifndef HEAPSNAP_SNAP_INTERNAL_H
#define HEAPSNAP_SNAP_INTERNAL_H

#include "snap.h"
#include "../trace/trace_ticks.h"

/* ---- snap_meta.c -------------------------------------------------------- */

struct clock_point {
    uint64_t ticks, mono;
};

struct meta_state {
    struct clock_point lo, hi; /* the earliest and latest calibration points */
    bool have_clock;
};

/* A stream's long stack still being filled by STACK_MORE records. */
struct stack_pending {
    struct snap_stack *st;
    uint64_t left; /* frames still to come */
    bool dup;      /* a second record of a known stack: skipped */
};

/* The stack with this id, created empty on first mention. */
struct snap_stack *stack_get(struct snap *s, uint64_t id);
int meta_record(struct snap *s, struct meta_state *m, struct stack_pending *pending, struct trace_rec *r,
                uint64_t ticks_now);
void meta_finish(struct snap *s, struct meta_state *m);
/* A module mapped from `loaded` on (a MODULE record, or a fork child's
 * inherited one); build_id_len is cut to what the snap keeps. */
struct snap_module *snap_add_module(struct snap *s, uint32_t id, uint64_t bias, uint64_t lo, uint64_t hi,
                                    uint64_t loaded, const char *path, size_t path_len, const uint8_t *build_id,
                                    size_t build_id_len);

/* ---- snap_merge.c ------------------------------------------------------- */

/* One thread's stream of records, from a source that refills its decoder
 * (the chunks of a trace file, or what a running process has committed). */
struct snap_cursor;
typedef int (*cursor_refill_fn)(struct snap_cursor *c, char *err, size_t errlen); /* 1 more, 0 none now, -1 */

struct snap_cursor {
    uint32_t stream;
    struct rec_decoder dec;
    struct trace_rec rec;            /* the current event */
    bool realloc_alloc_half;         /* the free half of rec was applied */
    uint64_t order;                  /* cursor_key * 2, + 1 unless a free: the merge's sort key (cursor_settle) */
    struct stack_pending pending;
    cursor_refill_fn refill;
    void *src;                       /* the source's state */
    size_t src_index;
    bool idle;                       /* out of the merge: no event loaded (its source had none) */
    uint64_t last_alloc;             /* the thread's latest allocation, until its free or the next one */
    /* Following: the round whose reading gave the bytes of the current
     * event (all committed before that round began). */
    unsigned read_round;
    /* Parked: its event cannot be applied yet (merge_run). */
    bool parked;
    uint64_t park_key, park_ptr;
    unsigned park_round; /* read_round of the parked event */
};

/* Keeps the events of a cursor out of the merge when they arrive late (see
 * snap_merge.c): ticks an offline replay waits for the event that frees (or
 * allocates) the address, beyond the parked event's own stamp: 2^18 TSC
 * cycles (about 100 us), far beyond any two cores' disagreement. */
#define SNAP_REORDER_WINDOW ((1ull << 18) >> TRACE_TICK_SHIFT)

enum merge_end {
    MERGE_FINAL,  /* the end of the trace: parked events are applied as they are */
    MERGE_STOP,   /* a point inside the trace: parked events before it are applied as they are there */
    MERGE_ROUND,  /* following a running process: what has come so far; parked events wait for the
                     round after the one they were read in */
};

struct snap_merge {
    struct snap *s;
    struct meta_state *meta;   /* NULL when a first pass read the non-events */
    struct snap_cursor **heap; /* by time */
    size_t hn, cap;
    struct snap_cursor **parked;
    size_t np, parked_cap;
    unsigned round;
    uint64_t budget;           /* events merge_run may still apply before it returns (0: no limit) */
    const char *path;          /* for messages */
};

uint64_t cursor_key(const struct snap_cursor *c);
/* Decodes up to the cursor's next event: 1, 0 (none now), -1 with err. */
int cursor_advance(struct snap_merge *m, struct snap_cursor *c, char *err, size_t errlen);
/* A cursor whose current event is loaded joins the merge. */
void merge_push(struct snap_merge *m, struct snap_cursor *c);
/* Applies events in time order until none is left (or the point is passed):
 * 0; 1 if it stopped because m->budget ran out (call again to go on); -1. */
int merge_run(struct snap_merge *m, enum merge_end end, char *err, size_t errlen);
void merge_free(struct snap_merge *m);

/* ---- snap_apply.c ------------------------------------------------------- */

/* Applies c's current event. Without force, an allocation of an address
 * still live, or a free of one not live, is refused (false): the event that
 * orders it has not been applied yet. *ptr is the address it concerns. */
bool snap_apply(struct snap *s, struct snap_cursor *c, bool force, uint64_t *ptr);

/* ---- snap_mapped.c ------------------------------------------------------ */

/* Applies a mapping event (MMAP, MUNMAP, a half of MREMAP) at time t: true
 * if it was one (and changed the figures), false otherwise. */
bool snap_apply_mapping(struct snap *s, struct snap_cursor *c, uint64_t t);
/* Before a stack's heap or mapped figures change: its share of the peak of
 * the two together is saved if that peak came after its last change. */
void snap_all_touch(struct snap *s, struct snap_stack *st);
/* After heap or mapped memory grew: a new peak of the two together? */
void snap_all_grew(struct snap *s, uint64_t ticks);

#endif
