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
#include "../trace/trace_pack.h"

#include <math.h>

/* What one recorded block counts for: itself, or in a sampled trace the
 * blocks and bytes it stands for (docs/SAMPLING.md): a block of size bytes
 * was recorded with probability p = 1 - exp(-size / rate). */
struct weight {
    uint64_t blocks, bytes;
};

/* x rounded up or down at random, up with probability frac(x): the sum over
 * many blocks keeps its expectation, where rounding to nearest would count a
 * block sampled with p = 0.86 as 1, not 1.16. The draw is a hash of key. */
static uint64_t round_randomly(double x, uint64_t key)
{
    uint64_t z = key * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    double whole = floor(x), u = (double)(z >> 11) / 9007199254740992.0;
    return (uint64_t)whole + (u < x - whole);
}

static struct weight weigh_key(const struct snap *s, uint64_t ptr, uint64_t size, uint64_t key)
{
    /* Pool objects (heapsnap_pool_*) are recorded whether sampling or not. */
    if (!s->hdr.sample_rate || (ptr & POOL_KEY_BIT)) return (struct weight){1, size};
    double p = -expm1(-(double)(size ? size : 1) / (double)s->hdr.sample_rate);
    return (struct weight){round_randomly(1.0 / p, key), round_randomly((double)size / p, ~key)};
}

/* A live block's weight: drawn from the block (address, size, time), so its
 * free takes away exactly what its allocation added. */
static struct weight weigh(const struct snap *s, uint64_t ptr, uint64_t size, uint64_t ticks)
{
    return weigh_key(s, ptr, size, ptr ^ size * 0xff51afd7ed558ccdull ^ ticks * 0xc4ceb9fe1a85ec53ull);
}

/* A call's weight, never taken back: a fresh draw each time. */
static struct weight weigh_call(struct snap *s, uint64_t ptr, uint64_t size)
{
    return weigh_key(s, ptr, size, ++s->sample_draws);
}

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
    snap_all_touch(s, st);
}

/* Takes a live block out of the figures (its entry stays to the caller). */
static void block_unaccount(struct snap *s, const struct blockmap_entry *b)
{
    struct weight w = weigh(s, b->ptr, b->size, b->ticks);
    stack_touch(s, b->stack);
    b->stack->live_bytes -= w.bytes;
    b->stack->live_blocks -= w.blocks;
    s->cur_bytes -= w.bytes;
    s->cur_blocks -= w.blocks;
}

static bool apply_free(struct snap *s, uint64_t ptr, bool force)
{
    struct blockmap_entry b;
    if (!blockmap_take(&s->live, ptr, &b)) {
        if (!force) return false;
        s->unmatched_frees++; /* allocated before tracing began, or by untraced code */
        s->ev = (struct snap_event){.kind = SNAP_EV_FREE, .ptr = ptr};
        return true;
    }
    if (s->live_only) return true;
    block_unaccount(s, &b);
    s->ev = (struct snap_event){
        .kind = SNAP_EV_FREE, .known = true, .ptr = ptr, .size = b.size, .stack = b.stack, .born_ticks = b.ticks};
    return true;
}

/* An allocation call of the process (not a block a fork child inherited). */
static void count_call(struct snap *s, struct snap_cursor *c, uint64_t ptr)
{
    struct weight w = weigh_call(s, s->ev.ptr, s->ev.size);
    s->allocations += w.blocks;
    c->last_alloc = ptr;
    if (s->live_only || !s->ev.stack) return; /* no stack: not a block (address 0) */
    s->ev.stack->calls += w.blocks;
    s->ev.stack->bytes_allocated += w.bytes;
}

/* heaptrack's temporary allocation: freed before its thread allocated again. */
static void count_temporary(struct snap *s, struct snap_cursor *c)
{
    if (!s->ev.known || c->last_alloc != s->ev.ptr) return;
    struct weight w = weigh_call(s, s->ev.ptr, s->ev.size);
    s->ev.temporary = true;
    s->temporary += w.blocks;
    s->ev.stack->temporary += w.blocks;
    s->ev.stack->temporary_bytes += w.bytes;
}

static bool apply_alloc(struct snap *s, uint64_t ptr, uint64_t size, uint64_t stack_id, uint64_t ticks, bool force)
{
    if (ptr == 0) { /* never a block: a corrupt record */
        s->ev = (struct snap_event){.kind = SNAP_EV_ALLOC};
        return true;
    }
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
    /* A pool object lies in memory its pool got elsewhere: not malloc's arenas. */
    if (s->track_heap_regions && size < SNAP_SMALL_BLOCK && region != s->last_region && !snap_is_pool_object(ptr)) {
        bool seen;
        blockmap_upsert(&s->heap_regions, region, &seen);
        s->last_region = region; /* consecutive blocks mostly share one */
    }
    b->stack = st;
    if (s->live_only) return true;
    s->ev = (struct snap_event){.kind = SNAP_EV_ALLOC, .ptr = ptr, .size = size, .stack = st, .born_ticks = ticks};
    struct weight w = weigh(s, ptr, size, ticks);
    stack_touch(s, st);
    st->live_bytes += w.bytes;
    st->live_blocks += w.blocks;
    s->cur_bytes += w.bytes;
    s->cur_blocks += w.blocks;
    if (s->cur_bytes > s->peak_bytes) {
        s->peak_bytes = s->cur_bytes;
        s->peak_blocks = s->cur_blocks;
        s->peak_ticks = ticks;
        s->gen++;
    }
    snap_all_grew(s, ticks);
    return true;
}

/* The block an address names for heapsnap_ignore() (LSan's
 * __lsan_ignore_object takes any address inside it): a pool object before
 * the chunk it lies in. Not found at its start, the block is searched for,
 * which is rare (a program ignores few blocks, and by their start). */
static struct blockmap_entry *block_named(const struct snap *s, uint64_t addr)
{
    struct blockmap_entry *b = blockmap_find(&s->live, addr | POOL_KEY_BIT);
    if (!b) b = blockmap_find(&s->live, addr);
    for (int pass = 0; !b && pass < 2; pass++)
        for (size_t i = 0; s->live.slots && i <= s->live.mask; i++) {
            struct blockmap_entry *e = &s->live.slots[i];
            if (e->ptr && snap_is_pool_object(e->ptr) == (pass == 0) && addr - snap_block_addr(e->ptr) < e->size) {
                b = e;
                break;
            }
        }
    return b;
}

static void pool_member(struct snap *s, uint64_t key, uint64_t pool)
{
    struct blockmap_entry out;
    blockmap_take(&s->pool_members, key, &out);
    if (pool) blockmap_insert(&s->pool_members, key)->size = pool;
}

/* A pool destroyed: each of its objects freed, as an event of its own. */
static void pool_destroy(struct snap *s, struct snap_cursor *c, uint64_t pool, uint64_t t)
{
    size_t n = 0;
    uint64_t *keys = xmalloc((s->pool_members.count ? s->pool_members.count : 1) * sizeof *keys);
    for (size_t i = 0; s->pool_members.slots && i <= s->pool_members.mask; i++)
        if (s->pool_members.slots[i].ptr && s->pool_members.slots[i].size == pool)
            keys[n++] = s->pool_members.slots[i].ptr;
    for (size_t i = 0; i < n; i++) {
        pool_member(s, keys[i], 0);
        apply_free(s, keys[i], true);
        s->frees++;
        if (!s->events++ || t < s->first_ticks) s->first_ticks = t;
        if (t > s->last_ticks) s->last_ticks = t;
        if (s->hook && !s->live_only) {
            s->ev.stream = c->stream;
            s->hook(s, t, s->hook_ctx);
        }
    }
    c->last_alloc = 0;
    free(keys);
}

bool snap_apply(struct snap *s, struct snap_cursor *c, bool force, uint64_t *ptr)
{
    const struct trace_rec *r = &c->rec;
    uint64_t t = cursor_key(c);
    *ptr = 0;
    switch (r->type) {
    case REC_ALLOC:
        *ptr = r->ptr;
        if (!apply_alloc(s, r->ptr, r->size, r->stack, t, force)) return false;
        count_call(s, c, r->ptr);
        break;
    case REC_INHERIT: {
        *ptr = r->ptr;
        if (!apply_alloc(s, r->ptr, r->size, r->stack, 0, force)) return false;
        struct blockmap_entry *b = blockmap_find(&s->live, r->ptr);
        if (b) b->ignored = (r->fn & 1) != 0;
        s->inherited_blocks++;
        /* Not an event of its own (no count, no time), but the heap grew:
         * a hook that draws the heap over time sees it, at time 0. */
        if (s->hook && !s->live_only) {
            s->ev.stream = c->stream;
            s->hook(s, 0, s->hook_ctx);
        }
        return true;
    }
    case REC_FREE:
        *ptr = r->ptr;
        if (!apply_free(s, r->ptr, force)) return false;
        s->frees += s->live_only || !s->ev.known ? 1 : weigh_call(s, s->ev.ptr, s->ev.size).blocks;
        if (s->live_only) break;
        count_temporary(s, c);
        c->last_alloc = 0;
        break;
    case REC_REALLOC:
        if (!c->realloc_alloc_half) {
            *ptr = r->ptr;
            if (!apply_free(s, r->ptr, force)) return false;
            if (s->live_only) break;
            count_temporary(s, c);
            c->last_alloc = 0;
        } else {
            *ptr = r->ptr2;
            if (!apply_alloc(s, r->ptr2, r->size, r->stack, t, force)) return false;
            count_call(s, c, r->ptr2);
            s->reallocs += weigh_call(s, r->ptr2, r->size).blocks;
        }
        s->ev.realloc = true;
        break;
    case REC_POOL: {
        uint64_t key = r->ptr | POOL_KEY_BIT;
        if (r->fn == POOL_DESTROY) {
            pool_destroy(s, c, r->id, t);
            return true;
        }
        *ptr = key;
        if (r->fn == POOL_FREE) {
            if (!apply_free(s, key, force)) return false;
            pool_member(s, key, 0);
            s->frees++;
            if (s->live_only) break;
            count_temporary(s, c);
            c->last_alloc = 0;
            break;
        }
        bool inherited = c->stream == TRACE_STREAM_INHERITED; /* a fork child's, from its parent */
        if (!apply_alloc(s, key, r->size, r->stack, inherited ? 0 : t, force)) return false;
        pool_member(s, key, r->id);
        if (!inherited) {
            count_call(s, c, key);
            break;
        }
        s->inherited_blocks++;
        if (s->hook && !s->live_only) {
            s->ev.stream = c->stream;
            s->hook(s, 0, s->hook_ctx);
        }
        return true;
    }
    case REC_IGNORE: {
        struct blockmap_entry *b = block_named(s, r->ptr);
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
    case REC_MMAP:
    case REC_MUNMAP:
    case REC_MREMAP:
        if (!snap_apply_mapping(s, c, t)) return true;
        break;
    default:
        return true;
    }
    if (!s->events++ || t < s->first_ticks) s->first_ticks = t;
    if (t > s->last_ticks) s->last_ticks = t;
    if (s->hook) {
        s->ev.stream = c->stream;
        s->hook(s, t, s->hook_ctx);
    }
    return true;
}
