/* snap_follow.c - see snap_follow.h. Each round reads what every stream has
 * committed since the last one (trace/trace_tail.c) and merges it in time
 * order (snap_merge.c, whose parked events wait one round: the event that
 * orders them was committed before them, so the next round sees it). */
#include "snap_follow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../trace/varint.h"

static int tail_refill(struct snap_cursor *c, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct snap_follow *f = c->src;
    const uint8_t *p;
    size_t len;
    bool fresh;
    if (!tail_next(&f->tail, &f->tail.streams[c->src_index], &p, &len, &fresh)) return 0;
    c->read_round = f->merge.round;
    if (fresh) rec_decoder_init(&c->dec, p, len); /* a new chunk: its delta state starts afresh */
    else c->dec.c = (struct varint_cursor){.p = p, .end = p + len};
    return 1;
}

int follow_open(struct snap_follow *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    if (tail_open(&f->tail, path, err, errlen) < 0) return -1;
    f->path = xstrndup(path, strlen(path));
    struct snap *s = &f->s;
    memcpy(&s->hdr, f->tail.map, sizeof s->hdr);
    s->stop_ticks = UINT64_MAX;
    s->track_heap_regions = true; /* a leak check leaves the heap's regions out of its roots */
    s->live_only = true;          /* what a check needs; the reports read the trace itself */
    f->merge = (struct snap_merge){.s = s, .meta = &f->meta, .path = f->path};
    return 0;
}

static int round_begin(struct snap_follow *f, char *err, size_t errlen)
{
    /* Growing the mapping may move it: cursors hold positions in it. */
    const uint8_t *old = f->tail.map;
    size_t old_len = f->tail.mapped;
    if (tail_refresh(&f->tail, err, errlen) < 0) return -1;
    if (f->tail.map != old) {
        for (size_t i = 0; i < f->ncurs; i++) {
            struct varint_cursor *vc = &f->curs[i]->dec.c;
            if (vc->p >= old && vc->p <= old + old_len) {
                vc->p = f->tail.map + (vc->p - old);
                vc->end = f->tail.map + (vc->end - old);
            }
        }
    }
    while (f->ncurs < f->tail.nstreams) {
        f->curs = xrealloc(f->curs, (f->ncurs + 1) * sizeof *f->curs);
        struct snap_cursor *c = xcalloc(1, sizeof *c);
        *c = (struct snap_cursor){.stream = f->tail.streams[f->ncurs].stream,
                                  .refill = tail_refill,
                                  .src = f,
                                  .src_index = f->ncurs,
                                  .idle = true};
        f->curs[f->ncurs++] = c;
    }
    f->merge.round++;
    for (size_t i = 0; i < f->ncurs; i++) {
        struct snap_cursor *c = f->curs[i];
        if (!c->idle || c->parked) continue;
        int a = cursor_advance(&f->merge, c, err, errlen);
        if (a < 0) return -1;
        if (a > 0) merge_push(&f->merge, c);
    }
    return 0;
}

int follow_poll(struct snap_follow *f, uint64_t budget, char *err, size_t errlen)
{
    if (!f->round_open && round_begin(f, err, errlen) < 0) return -1;
    f->merge.budget = budget;
    int rc = merge_run(&f->merge, MERGE_ROUND, err, errlen);
    f->round_open = rc == 1;
    return rc;
}

/* Two whole rounds from the moment of the call (after the one under way):
 * the second settles what the first had to leave parked, whose partners
 * were committed before them. */
int follow_catch_up(struct snap_follow *f, char *err, size_t errlen)
{
    int rounds = f->round_open ? 3 : 2;
    for (int i = 0; i < rounds; i++)
        if (follow_poll(f, 0, err, errlen) < 0) return -1;
    return 0;
}

void follow_close(struct snap_follow *f)
{
    merge_free(&f->merge);
    for (size_t i = 0; i < f->ncurs; i++) free(f->curs[i]);
    free(f->curs);
    tail_close(&f->tail);
    snap_free(&f->s);
    free(f->path);
    free(f->inherited);
    memset(f, 0, sizeof *f);
    f->tail.fd = -1;
}

static int by_stack_id(const void *a, const void *b)
{
    uint32_t x = (*(const struct snap_stack *const *)a)->id, y = (*(const struct snap_stack *const *)b)->id;
    return x < y ? -1 : x > y;
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void fork_snapshot_take(struct fork_snapshot *fs, const struct snap *s, pid_t parent, uint64_t ticks)
{
    memset(fs, 0, sizeof *fs);
    fs->parent = parent;
    fs->ticks = ticks;
    fs->blocks = xmalloc((s->live.count ? s->live.count : 1) * sizeof *fs->blocks);
    const struct snap_stack **used = xmalloc((s->live.count ? s->live.count : 1) * sizeof *used);
    for (size_t i = 0; s->live.slots && i <= s->live.mask; i++) {
        const struct blockmap_entry *b = &s->live.slots[i];
        if (!b->ptr) continue;
        const struct blockmap_entry *pool =
            snap_is_pool_object(b->ptr) ? blockmap_find(&s->pool_members, b->ptr) : NULL;
        fs->blocks[fs->nblocks] = (struct inherited_block){.ptr = b->ptr,
                                                           .size = b->size,
                                                           .stack = b->stack->id,
                                                           .ignored = b->ignored,
                                                           .pool = pool ? pool->size : 0};
        used[fs->nblocks++] = b->stack;
    }
    /* Each stack once: ids come from the trace (any 32-bit value), so sorted, not indexed. */
    qsort(used, fs->nblocks, sizeof *used, by_stack_id);
    for (size_t i = 0; i < fs->nblocks; i++) {
        const struct snap_stack *st = used[i];
        if ((i && used[i - 1]->id == st->id) || !st->key) continue;
        size_t klen = (st->key[0] + 1) * sizeof(uint64_t);
        fs->stacks = xrealloc(fs->stacks, (fs->nstacks + 1) * sizeof *fs->stacks);
        fs->stacks[fs->nstacks] = (struct snapshot_stack){.id = st->id, .key = xmalloc(klen)};
        memcpy(fs->stacks[fs->nstacks++].key, st->key, klen);
    }
    free(used);
    for (const struct snap_module *m = s->modules; m; m = m->next) {
        if (m->unloaded_ticks != UINT64_MAX && m->unloaded_ticks <= ticks) continue;
        fs->modules = xrealloc(fs->modules, (fs->nmodules + 1) * sizeof *fs->modules);
        struct snapshot_module *c = &fs->modules[fs->nmodules++];
        *c = (struct snapshot_module){.id = m->id, .bias = m->bias, .lo = m->lo, .hi = m->hi,
                                      .path = xstrndup(m->path, strlen(m->path)), .build_id_len = m->build_id_len};
        memcpy(c->build_id, m->build_id, m->build_id_len);
    }
    fs->regions = xmalloc((s->heap_regions.count ? s->heap_regions.count : 1) * sizeof *fs->regions);
    for (size_t i = 0; s->heap_regions.slots && i <= s->heap_regions.mask; i++)
        if (s->heap_regions.slots[i].ptr) fs->regions[fs->nregions++] = s->heap_regions.slots[i].ptr;
}

void fork_snapshot_free(struct fork_snapshot *fs)
{
    for (size_t i = 0; i < fs->nstacks; i++) free(fs->stacks[i].key);
    free(fs->stacks);
    free(fs->blocks);
    free(fs->regions);
    for (size_t i = 0; i < fs->nmodules; i++) free(fs->modules[i].path);
    free(fs->modules);
    memset(fs, 0, sizeof *fs);
}

void follow_inherit(struct snap_follow *child, const struct fork_snapshot *fs)
{
    struct snap *s = &child->s;
    for (size_t i = 0; i < fs->nstacks; i++) {
        struct snap_stack *st = stack_get(s, fs->stacks[i].id);
        if (st->key) continue;
        st->nframes = st->filled = (uint32_t)fs->stacks[i].key[0];
        size_t klen = (st->nframes + 1) * sizeof *st->key;
        st->key = xmalloc(klen);
        memcpy(st->key, fs->stacks[i].key, klen);
    }
    child->inherited = xmalloc((fs->nblocks ? fs->nblocks : 1) * sizeof *child->inherited);
    for (size_t i = 0; i < fs->nblocks; i++) {
        const struct inherited_block *b = &fs->blocks[i];
        bool existed;
        struct blockmap_entry *e = blockmap_upsert(&s->live, b->ptr, &existed);
        if (existed) continue;
        struct snap_stack *st = stack_get(s, b->stack);
        *e = (struct blockmap_entry){.ptr = b->ptr, .size = b->size, .stack = st, .ticks = 0, .ignored = b->ignored};
        st->live_bytes += b->size;
        st->live_blocks++;
        s->cur_bytes += b->size;
        s->cur_blocks++;
        s->inherited_blocks++;
        if (b->pool) blockmap_insert(&s->pool_members, b->ptr)->size = b->pool;
        child->inherited[child->ninherited++] = *b;
    }
    /* The modules the stacks above are in, as the child's trace will name
     * them (follow_inherited_records): a report made while it runs (the
     * pprof stream) symbolizes them as one made from the trace does. */
    for (size_t i = 0; i < fs->nmodules; i++) {
        const struct snapshot_module *m = &fs->modules[i];
        snap_add_module(s, INHERITED_MODULE_ID | m->id, m->bias, m->lo, m->hi, 0, m->path, strlen(m->path),
                        m->build_id, m->build_id_len);
    }
    /* The parent's arenas are the child's, free chunks and all: not roots. */
    for (size_t i = 0; i < fs->nregions; i++) {
        bool existed;
        blockmap_upsert(&s->heap_regions, fs->regions[i], &existed);
    }
}

static void add_stack_records(struct rec_chunks *out, const struct snap_stack *st)
{
    uint8_t rec[16 + 3 * 10 + 1024 * 10];
    uint32_t done = 0;
    do {
        uint32_t n = st->nframes - done > 1024 ? 1024 : st->nframes - done;
        uint8_t *p = rec;
        *p++ = done == 0 ? REC_STACK : REC_STACK_MORE;
        p = varint_put(p, st->id);
        if (done == 0) p = varint_put(p, st->nframes);
        p = varint_put(p, n);
        uint64_t prev = 0;
        for (uint32_t i = done; i < done + n; i++) {
            p = varint_put_signed(p, (int64_t)(st->key[1 + i] - prev));
            prev = st->key[1 + i];
        }
        rec_chunks_add(out, rec, (size_t)(p - rec));
        done += n;
    } while (done < st->nframes);
}

static void add_module_record(struct rec_chunks *out, const struct snapshot_module *m)
{
    size_t plen = strlen(m->path);
    if (plen > 4096) plen = 4096;
    uint8_t *rec = xmalloc(16 + 6 * 10 + m->build_id_len + plen), *p = rec;
    *p++ = REC_MODULE;
    p = varint_put(p, 0); /* ticks 0: mapped before the child's first event */
    p = varint_put(p, INHERITED_MODULE_ID | m->id);
    p = varint_put(p, m->bias);
    p = varint_put(p, m->lo);
    p = varint_put(p, m->hi);
    p = varint_put(p, m->build_id_len);
    memcpy(p, m->build_id, m->build_id_len);
    p += m->build_id_len;
    p = varint_put(p, plen);
    memcpy(p, m->path, plen);
    rec_chunks_add(out, rec, (size_t)(p - rec) + plen);
    free(rec);
}

/* An inherited pool object: a POOL_ALLOC at time 0 in the inherited stream
 * (INHERIT has no room for its pool), and an IGNORE after it if ignored.
 * Their pointers are the object's address, without POOL_KEY_BIT; returns
 * the chunk's last pointer. */
static uint64_t add_pool_records(struct rec_chunks *out, const struct inherited_block *b, uint64_t prev)
{
    uint64_t addr = snap_block_addr(b->ptr);
    for (int ignore = 0; ignore <= (b->ignored ? 1 : 0); ignore++) {
        uint8_t rec[64], *p;
        for (int fresh = 0; fresh < 2; fresh++) { /* a new chunk: its deltas (and ticks) start from 0 */
            p = rec;
            *p++ = ignore ? REC_IGNORE : REC_POOL;
            p = varint_put(p, 0);
            if (!ignore) {
                p = varint_put(p, POOL_ALLOC);
                p = varint_put(p, b->pool);
            }
            p = varint_put_signed(p, (int64_t)(addr - (fresh ? 0 : prev)));
            if (!ignore) {
                p = varint_put(p, b->size);
                p = varint_put(p, b->stack);
            }
            if (rec_chunks_fits(out, (size_t)(p - rec))) break;
        }
        rec_chunks_add(out, rec, (size_t)(p - rec));
        prev = addr;
    }
    return prev;
}

void follow_inherited_records(const struct snap_follow *f, const struct fork_snapshot *fs, struct rec_chunks *out)
{
    if (!f->ninherited) return;
    const struct snap *s = &f->s;
    for (size_t i = 0; i < fs->nmodules; i++) add_module_record(out, &fs->modules[i]);
    /* Each distinct stack once, before the blocks that name it. */
    uint32_t *ids = xmalloc(f->ninherited * sizeof *ids);
    for (size_t i = 0; i < f->ninherited; i++) ids[i] = f->inherited[i].stack;
    qsort(ids, f->ninherited, sizeof *ids, by_id);
    for (size_t i = 0; i < f->ninherited; i++) {
        if (i && ids[i - 1] == ids[i]) continue;
        struct snap_stack *st = NULL;
        HASH_FIND(hh, s->stacks, &ids[i], sizeof ids[i], st);
        if (st && st->key) add_stack_records(out, st);
    }
    free(ids);
    uint64_t prev = 0;
    for (size_t i = 0; i < f->ninherited; i++) {
        const struct inherited_block *b = &f->inherited[i];
        if (snap_is_pool_object(b->ptr)) {
            prev = add_pool_records(out, b, prev);
            continue;
        }
        uint8_t rec[48], *p = rec;
        *p++ = REC_INHERIT;
        uint8_t *delta = p;
        p = varint_put_signed(p, (int64_t)(b->ptr - prev));
        p = varint_put(p, b->size);
        p = varint_put(p, b->stack);
        p = varint_put(p, b->ignored ? 1 : 0);
        if (!rec_chunks_fits(out, (size_t)(p - rec))) { /* a new chunk: its deltas start from 0 */
            p = varint_put_signed(delta, (int64_t)b->ptr);
            p = varint_put(p, b->size);
            p = varint_put(p, b->stack);
            p = varint_put(p, b->ignored ? 1 : 0);
        }
        rec_chunks_add(out, rec, (size_t)(p - rec));
        prev = b->ptr;
    }
}
