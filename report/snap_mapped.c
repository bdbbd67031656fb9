/* snap_mapped.c - the program's own mappings in a replay (REC_MMAP,
 * REC_MUNMAP, REC_MREMAP): the live ranges by stack, their totals and exact
 * peak, and the peak of heap and mapped memory together. The same lazy peak
 * bookkeeping as the heap's (snap_apply.c): a counter of peaks per measure,
 * and a stack saves its figures before its first change after a new one.
 *
 * Unlike heap events, mapping events are never parked: the kernel's order
 * for a range is the order of the stamps (an unmap is stamped before its
 * call, a mapping after), and a range the trace never saw mapped (the
 * loader's, a thread stack, malloc's) is simply not in the map. */
#include "snap_internal.h"

static void map_touch(struct snap *s, struct snap_stack *st)
{
    if (st->map_saved_gen != s->map_gen) {
        st->map_peak_bytes = st->map_live_bytes;
        st->map_peak_regions = st->map_live_regions;
        st->map_saved_gen = s->map_gen;
    }
    snap_all_touch(s, st);
}

void snap_all_touch(struct snap *s, struct snap_stack *st)
{
    if (st->all_saved_gen != s->all_gen) {
        st->all_peak_bytes = st->live_bytes + st->map_live_bytes;
        st->all_peak_blocks = st->live_blocks + st->map_live_regions;
        st->all_saved_gen = s->all_gen;
    }
}

void snap_all_grew(struct snap *s, uint64_t ticks)
{
    uint64_t now = s->cur_bytes + s->map_cur_bytes;
    if (now > s->all_peak_bytes) {
        s->all_peak_bytes = now;
        s->all_peak_blocks = s->cur_blocks + s->map_cur_regions;
        s->all_peak_ticks = ticks;
        s->all_gen++;
    }
}

static void on_cut(void *ctx, const struct region *r, uint64_t lo, uint64_t hi, int ranges_delta)
{
    struct snap *s = ctx;
    struct snap_stack *st = r->stack;
    map_touch(s, st);
    st->map_live_bytes -= hi - lo;
    st->map_live_regions += (uint64_t)(int64_t)ranges_delta;
    s->map_cur_bytes -= hi - lo;
    s->map_cur_regions += (uint64_t)(int64_t)ranges_delta;
}

static void map_range(struct snap *s, uint64_t lo, uint64_t len, uint64_t stack_id, uint32_t kind, uint64_t ticks)
{
    if (!len || lo + len < lo) return;
    regionmap_remove(&s->mapped, lo, lo + len, on_cut, s); /* MAP_FIXED over a mapping replaces it */
    struct snap_stack *st = stack_get(s, stack_id);
    struct region r = {.lo = lo, .hi = lo + len, .stack = st, .ticks = ticks, .kind = kind};
    regionmap_insert(&s->mapped, &r);
    map_touch(s, st);
    st->map_live_bytes += len;
    st->map_live_regions++;
    st->map_calls++;
    st->map_bytes_mapped += len;
    s->map_cur_bytes += len;
    s->map_cur_regions++;
    if (s->map_cur_bytes > s->map_peak_bytes) {
        s->map_peak_bytes = s->map_cur_bytes;
        s->map_peak_regions = s->map_cur_regions;
        s->map_peak_ticks = ticks;
        s->map_gen++;
    }
    snap_all_grew(s, ticks);
}

/* MREMAP_DONTUNMAP (Linux 5.7): the old range stays mapped (emptied). */
#define HS_MREMAP_DONTUNMAP 4

bool snap_apply_mapping(struct snap *s, struct snap_cursor *c, uint64_t t)
{
    const struct trace_rec *r = &c->rec;
    if (s->live_only) return false; /* a follower for leak checks keeps heap blocks only */
    switch (r->type) {
    case REC_MMAP:
        s->mmaps++;
        map_range(s, r->ptr, r->size, r->stack, (uint32_t)r->fn, t);
        break;
    case REC_MUNMAP:
        s->munmaps++;
        regionmap_remove(&s->mapped, r->ptr, r->ptr + r->size, on_cut, s);
        break;
    case REC_MREMAP:
        if (!c->realloc_alloc_half) {
            if (r->total && !(r->fn & HS_MREMAP_DONTUNMAP))
                regionmap_remove(&s->mapped, r->ptr, r->ptr + r->total, on_cut, s);
        } else {
            s->mremaps++;
            /* the kind is the old range's, gone by now; no report tells kinds apart */
            map_range(s, r->ptr2, r->size, r->stack, MAP_KIND_ANON, t);
        }
        break;
    default:
        return false;
    }
    s->ev = (struct snap_event){.kind = SNAP_EV_MAP};
    return true;
}
