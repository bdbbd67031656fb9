/* snap_merge.c - the threads' streams applied in one time order.
 *
 * Each stream is in program order, exactly. Across threads the order comes
 * from the stamps, and stamps taken on two cores can disagree by hundreds of
 * cycles (the TSC is not synchronized that well, least of all in a VM, and
 * rdtsc is not ordered with the memory operations around it): a free on one
 * thread may carry a later stamp than the allocation on another thread that
 * received the freed address. So the order across threads is not trusted for
 * what the allocator itself orders. An allocation of an address that is
 * still live, or a free of one that is not, cannot be applied yet; its stream
 * is parked (its later events wait behind it, program order stays) until an
 * event on that address is applied elsewhere, which wakes it. The allocator
 * guarantees such an event exists when the trace is whole:
 *
 * - offline, with every event at hand, it comes within the skew of the
 *   clocks: a parked event waits until the merge is SNAP_REORDER_WINDOW
 *   ticks past it, then is applied as the trace says (a free that was never
 *   recorded, or a block allocated before tracing);
 * - following a running process (snap_follow.c), the event that orders it was
 *   committed before it (a free is recorded before the real free, an
 *   allocation after the real call), so it was in the round the parked event
 *   was read in, or an earlier one: once a later round has applied all it
 *   could, a parked event is taken as it is (oldest first).
 * - replayed up to a point inside the trace, events parked before the point
 *   are taken as they are there, as the follower took them.
 *
 * Frees sort before allocations at equal stamps. */
#include "snap_internal.h"

#include <stdio.h>
#include <stdlib.h>

uint64_t cursor_key(const struct snap_cursor *c)
{
    if (c->rec.type == REC_INHERIT) return 0; /* the process had these before its first event */
    return c->realloc_alloc_half ? c->rec.ticks2 : c->rec.ticks;
}

/* REALLOC and MREMAP: a record with two stamps, an unmapping (free) half and
 * a mapping (allocation) half, applied each at its own time. */
static bool has_halves(const struct snap_cursor *c) { return c->rec.type == REC_REALLOC || c->rec.type == REC_MREMAP; }

static bool is_free_half(const struct snap_cursor *c)
{
    return c->rec.type == REC_FREE || c->rec.type == REC_MUNMAP || (has_halves(c) && !c->realloc_alloc_half) ||
           (c->rec.type == REC_POOL && c->rec.fn != POOL_ALLOC);
}

/* After c's event (or its half) changed: its place in time order, once. */
static void cursor_settle(struct snap_cursor *c) { c->order = cursor_key(c) << 1 | (is_free_half(c) ? 0 : 1); }

static bool cursor_before(const struct snap_cursor *a, const struct snap_cursor *b)
{
    if (a->order != b->order) return a->order < b->order;
    return a->stream < b->stream;
}

static bool is_event(uint8_t type)
{
    return type == REC_ALLOC || type == REC_FREE || type == REC_REALLOC || type == REC_IGNORE ||
           type == REC_ROOT || type == REC_INHERIT || type == REC_FORK || type == REC_MMAP || type == REC_MUNMAP ||
           type == REC_MREMAP || type == REC_POOL;
}

int cursor_advance(struct snap_merge *m, struct snap_cursor *c, char *err, size_t errlen)
{
    c->realloc_alloc_half = false;
    for (;;) {
        int rc = rec_next(&c->dec, &c->rec);
        if (rc > 0 && is_event(c->rec.type)) { /* applied in time order, IGNORE/ROOT after the block they name */
            cursor_settle(c);
            return 1;
        }
        if (rc > 0 && m->meta && meta_record(m->s, m->meta, &c->pending, &c->rec, c->dec.ticks) < 0) rc = -1;
        if (rc < 0) {
            snprintf(err, errlen, "%s: corrupt trace (bad record in stream %u)", m->path, c->stream);
            return -1;
        }
        if (rc > 0) continue;
        rc = c->refill(c, err, errlen);
        if (rc <= 0) return rc;
    }
}

/* ---- the heap of cursors, by time --------------------------------------- */

static void sift_down(struct snap_merge *m, size_t i)
{
    struct snap_cursor **h = m->heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, k = i;
        if (l < m->hn && cursor_before(h[l], h[k])) k = l;
        if (r < m->hn && cursor_before(h[r], h[k])) k = r;
        if (k == i) return;
        struct snap_cursor *t = h[i];
        h[i] = h[k];
        h[k] = t;
        i = k;
    }
}

static void sift_up(struct snap_merge *m, size_t i)
{
    struct snap_cursor **h = m->heap;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cursor_before(h[i], h[p])) return;
        struct snap_cursor *t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

void merge_push(struct snap_merge *m, struct snap_cursor *c)
{
    if (m->hn == m->cap) m->heap = xrealloc(m->heap, (m->cap = m->cap ? m->cap * 2 : 16) * sizeof *m->heap);
    c->idle = false;
    m->heap[m->hn++] = c;
    sift_up(m, m->hn - 1);
}

static void heap_pop(struct snap_merge *m)
{
    m->heap[0] = m->heap[--m->hn];
    if (m->hn > 1) sift_down(m, 0);
}

/* ---- parking ------------------------------------------------------------ */

static void park(struct snap_merge *m, struct snap_cursor *c, uint64_t ptr)
{
    c->parked = true;
    c->park_key = cursor_key(c);
    c->park_ptr = ptr;
    c->park_round = c->read_round;
    if (m->np == m->parked_cap)
        m->parked = xrealloc(m->parked, (m->parked_cap = m->parked_cap ? m->parked_cap * 2 : 8) * sizeof *m->parked);
    m->parked[m->np++] = c;
}

static void unpark(struct snap_merge *m, size_t i)
{
    struct snap_cursor *c = m->parked[i];
    m->parked[i] = m->parked[--m->np];
    c->parked = false;
    merge_push(m, c);
}

/* After an event on ptr: streams parked on ptr may go on. */
static void wake(struct snap_merge *m, uint64_t ptr)
{
    for (size_t i = m->np; i-- > 0;)
        if (m->parked[i]->park_ptr == ptr) unpark(m, i);
}

/* Parked event i, applied as the trace says. */
static int force_at(struct snap_merge *m, size_t i, char *err, size_t errlen)
{
    struct snap_cursor *c = m->parked[i];
    m->parked[i] = m->parked[--m->np];
    c->parked = false;
    uint64_t ptr;
    snap_apply(m->s, c, true, &ptr);
    wake(m, ptr);
    int a = 1;
    if (has_halves(c) && !c->realloc_alloc_half) {
        c->realloc_alloc_half = true;
        cursor_settle(c);
    } else {
        a = cursor_advance(m, c, err, errlen);
    }
    if (a < 0) return -1;
    if (a > 0) merge_push(m, c);
    else c->idle = true;
    return 0;
}

static size_t oldest_parked(const struct snap_merge *m)
{
    size_t k = 0;
    for (size_t i = 1; i < m->np; i++)
        if (m->parked[i]->park_key < m->parked[k]->park_key) k = i;
    return k;
}

/* Following: the oldest parked event read in a round before this one (its
 * partner, committed before it, has been applied if it ever will be), or np. */
static size_t oldest_settled(const struct snap_merge *m)
{
    size_t k = m->np;
    for (size_t i = 0; i < m->np; i++)
        if (m->parked[i]->park_round < m->round && (k == m->np || m->parked[i]->park_key < m->parked[k]->park_key))
            k = i;
    return k;
}

int merge_run(struct snap_merge *m, enum merge_end end, char *err, size_t errlen)
{
    struct snap *s = m->s;
    for (;;) {
        while (m->hn > 0) {
            struct snap_cursor *c = m->heap[0];
            uint64_t key = cursor_key(c);
            if (key > s->stop_ticks) break; /* in time order: nothing later counts */
            if (end != MERGE_ROUND && m->np) {
                /* Offline, a parked event whose partner has not come within
                 * the window never will: take it as it is. */
                size_t k = oldest_parked(m);
                if (m->parked[k]->park_key + SNAP_REORDER_WINDOW < key) {
                    if (force_at(m, k, err, errlen) < 0) return -1;
                    continue;
                }
            }
            if (m->budget && --m->budget == 0) return 1;
            uint64_t ptr;
            if (!snap_apply(s, c, false, &ptr)) {
                heap_pop(m);
                park(m, c, ptr);
                continue;
            }
            /* c is settled at the top first: a woken stream may sort before it. */
            if (has_halves(c) && !c->realloc_alloc_half) {
                c->realloc_alloc_half = true; /* its allocation half has its own, later stamp */
                cursor_settle(c);
                sift_down(m, 0);
            } else {
                int a = cursor_advance(m, c, err, errlen);
                if (a < 0) return -1;
                if (a == 0) {
                    heap_pop(m);
                    c->idle = true;
                } else if (m->hn > 1) sift_down(m, 0); /* one stream left (or one thread): no merging to do */
            }
            if (m->np) wake(m, ptr);
        }
        if (!m->np) return 0;
        /* Out of events (up to the point) with some parked. Offline, the trace
         * is all there up to where it counts: take them as they are, oldest
         * first (its stream goes on, and may settle the others). Following:
         * those whose partner had its chance. */
        size_t k = end == MERGE_ROUND ? oldest_settled(m) : oldest_parked(m);
        if (k == m->np) return 0;
        if (force_at(m, k, err, errlen) < 0) return -1;
    }
}

void merge_free(struct snap_merge *m)
{
    free(m->heap);
    free(m->parked);
    m->heap = NULL;
    m->parked = NULL;
    m->hn = m->cap = m->np = m->parked_cap = 0;
}
