/* snap_apply.c - one allocation event applied to a struct snap: the live
 * blocks, each stack's live figures, the totals and the exact peak.
 *
 * An allocator never hands out an address that is live, and a program frees
 * only what is live. An event that breaks either rule here has come before
 * the event that orders it (another thread's free of the same address,
 * stamped on another core's clock): snap_apply refuses it, and the merge
 * (snap_merge.c) tries it again once that event is in. Forced, it is taken as
 * the trace says: a block whose free was never recorded is replaced, a free
 * of an unknown block is counted as unmatched. */
#include "snap_internal.h"

/* Peak bookkeeping without copying the table at every new peak: snap->gen
 * counts peaks; before a stack's live figures change, if the last peak was
 * taken after the stack last changed, its current figures are its figures at
 * that peak, so they are saved then. See snap_sorted() for the read side. */
static void stack_touch(struct snap *s, struct snap_stack *st)
{
    if (st->saved_gen != s->gen) {
        st->peak_bytes = st->live_bytes;
        st->peak_blocks = st->live_blocks;
        st->saved_gen = s->gen;
    }
}

/* Takes a live block out of the figures (its entry stays to the caller). */
static void block_unaccount(struct snap *s, const struct blockmap_entry *b)
{
    stack_touch(s, b->stack);
    b->stack->live_bytes -= b->size;
    b->stack->live_blocks--;
    s->cur_bytes -= b->size;
    s->cur_blocks--;
}

static bool apply_free(struct snap *s, uint64_t ptr, bool force)
{
    struct blockmap_entry b;
    if (!blockmap_take(&s->live, ptr, &b)) {
        if (!force) return false;
        s->unmatched_frees++; /* allocated before tracing began, or by untraced code */
        return true;
    }
    if (!s->live_only) block_unaccount(s, &b);
    return true;
}

static bool apply_alloc(struct snap *s, uint64_t ptr, uint64_t size, uint64_t stack_id, uint64_t ticks, bool force)
{
    if (ptr == 0) return true; /* never a block: a corrupt record */
    bool existed;
    struct blockmap_entry *b = blockmap_upsert(&s->live, ptr, &existed);
    if (existed) {
        if (!force) return false;
        /* Allocated twice without a free in between: the free was not seen. */
        s->replaced_blocks++;
        if (!s->live_only) block_unaccount(s, b);
        b->ignored = false; /* a new block: heapsnap_ignore() was about the old one */
    }
    struct snap_stack *st = stack_get(s, stack_id);
    b->size = size;
    b->ticks = ticks;
    uint64_t region = (ptr >> SNAP_HEAP_REGION_SHIFT) + 1;
    if (s->track_heap_regions && size < SNAP_SMALL_BLOCK && region != s->last_region) {
        bool seen;
        blockmap_upsert(&s->heap_regions, region, &seen);
        s->last_region = region; /* consecutive blocks mostly share one */
    }
    b->stack = st;
    if (s->live_only) return true;
    stack_touch(s, st);
    st->live_bytes += size;
    st->live_blocks++;
    s->cur_bytes += size;
    s->cur_blocks++;
    if (s->cur_bytes > s->peak_bytes) {
        s->peak_bytes = s->cur_bytes;
        s->peak_blocks = s->cur_blocks;
        s->peak_ticks = ticks;
        s->gen++;
    }
    return true;
}

bool snap_apply(struct snap *s, const struct snap_cursor *c, bool force, uint64_t *ptr)
{
    const struct trace_rec *r = &c->rec;
    uint64_t t = cursor_key(c);
    *ptr = 0;
    switch (r->type) {
    case REC_ALLOC:
        *ptr = r->ptr;
        if (!apply_alloc(s, r->ptr, r->size, r->stack, t, force)) return false;
        s->allocations++;
        break;
    case REC_INHERIT: {
        *ptr = r->ptr;
        if (!apply_alloc(s, r->ptr, r->size, r->stack, 0, force)) return false;
        struct blockmap_entry *b = blockmap_find(&s->live, r->ptr);
        if (b) b->ignored = (r->fn & 1) != 0;
        s->inherited_blocks++;
        return true; /* the process had it from the start: not an event of its own */
    }
    case REC_FREE:
        *ptr = r->ptr;
        if (!apply_free(s, r->ptr, force)) return false;
        s->frees++;
        break;
    case REC_REALLOC:
        if (!c->realloc_alloc_half) {
            *ptr = r->ptr;
            if (!apply_free(s, r->ptr, force)) return false;
        } else {
            *ptr = r->ptr2;
            if (!apply_alloc(s, r->ptr2, r->size, r->stack, t, force)) return false;
            s->allocations++;
            s->reallocs++;
        }
        break;
    case REC_IGNORE: {
        struct blockmap_entry *b = blockmap_find(&s->live, r->ptr);
        if (b) b->ignored = true;
        return true; /* not an allocation event: no hook, no figures */
    }
    case REC_FORK: /* the heap its child starts with is the heap now */
        if (s->fork_hook) s->fork_hook(s, r->ticks, s->fork_ctx);
        return true;
    case REC_ROOT:
        if (r->fn) {
            s->roots = xrealloc(s->roots, (s->nroots + 1) * sizeof *s->roots);
            s->roots[s->nroots++] = (struct snap_root){r->ptr, r->size};
        } else {
            for (size_t i = 0; i < s->nroots; i++) /* one registration undone, as LSan's unregister does */
                if (s->roots[i].ptr == r->ptr && s->roots[i].len == r->size) {
                    s->roots[i] = s->roots[--s->nroots];
                    break;
                }
        }
        return true;
    default:
        return true;
    }
    if (!s->events++ || t < s->first_ticks) s->first_ticks = t;
    if (t > s->last_ticks) s->last_ticks = t;
    if (s->hook) s->hook(s, t, s->hook_ctx);
    return true;
}
