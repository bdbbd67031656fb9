/* snap_replay.c - turns a trace into a struct snap.
 *
 * The events pass merges the threads' streams by time and applies each
 * allocation event. Threads stamp frees before the real free and allocations
 * after the real call, so in time order an address is always freed before
 * another thread receives it again (docs/DESIGN.md, "ordering"). What is not an
 * event (stacks, modules, markers, clock points) is collected on the way;
 * an event may name a stack whose record another thread has not yet given,
 * so stacks are created on first mention and filled when their record comes.
 * Only a point in time or at a marker needs the clock or the markers before
 * the events: then a first pass reads those alone.
 *
 * Memory: one decoded chunk per thread, the live blocks, the stacks. */
#include "snap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

/* ---- what is not an event ------------------------------------------------ */

static int by_ticks(const void *a, const void *b)
{
    const struct snap_marker *x = a, *y = b;
    return x->ticks < y->ticks ? -1 : x->ticks > y->ticks;
}

struct clock_point {
    uint64_t ticks, mono;
};

struct meta_state {
    struct clock_point lo, hi; /* the earliest and latest calibration points */
    bool have_clock;
    struct snap_stack *pending; /* a long stack still being filled */
};

static void add_clock(struct meta_state *m, uint64_t ticks, uint64_t mono)
{
    if (!m->have_clock) {
        m->lo = m->hi = (struct clock_point){ticks, mono};
        m->have_clock = true;
        return;
    }
    if (ticks < m->lo.ticks) m->lo = (struct clock_point){ticks, mono};
    if (ticks > m->hi.ticks) m->hi = (struct clock_point){ticks, mono};
}

static void stack_fill(struct snap_stack *st, struct trace_rec *r)
{
    uint64_t prev = 0;
    for (uint64_t i = 0; i < r->n && st->filled < st->nframes; i++) {
        prev += (uint64_t)varint_get_signed(&r->ips);
        st->key[1 + st->filled++] = prev;
    }
}

/* The stack with this id, created empty on first mention. Ids of a trace the
 * shim wrote are dense from 1: those live in an array, others in a hash. */
static struct snap_stack *stack_get(struct snap *s, uint64_t id)
{
    if (id > UINT32_MAX) id = 0;
    if (id < s->nstack_index && s->stack_index[id]) return s->stack_index[id];
    struct snap_stack *st = NULL;
    uint32_t key = (uint32_t)id;
    HASH_FIND(hh, s->stacks, &key, sizeof key, st);
    if (st) return st;
    st = xcalloc(1, sizeof *st);
    st->id = key;
    HASH_ADD(hh, s->stacks, id, sizeof st->id, st);
    size_t bound = 4 * (size_t)HASH_COUNT(s->stacks) + 4096;
    if (id < bound) {
        s->stack_index = xgrow_zeroed(s->stack_index, &s->nstack_index, id, sizeof *s->stack_index);
        s->stack_index[id] = st;
    }
    return st;
}

static int meta_record(struct snap *s, struct meta_state *m, struct trace_rec *r, uint64_t ticks_now)
{
    switch (r->type) {
    case REC_STACK: {
        if (r->id == 0 || r->id > UINT32_MAX) return -1;
        struct snap_stack *st = stack_get(s, r->id);
        if (st->key) return 0; /* written twice: the first one stands */
        st->nframes = (uint32_t)r->total;
        st->key = xcalloc(st->nframes + 1, sizeof(uint64_t));
        st->key[0] = st->nframes;
        st->seen_ticks = ticks_now;
        stack_fill(st, r);
        m->pending = st->filled < st->nframes ? st : NULL;
        return 0;
    }
    case REC_STACK_MORE:
        if (!m->pending || m->pending->id != r->id) return -1;
        stack_fill(m->pending, r);
        if (m->pending->filled == m->pending->nframes) m->pending = NULL;
        return 0;
    case REC_MODULE: {
        struct snap_module *mod = xcalloc(1, sizeof *mod);
        mod->id = (uint32_t)r->id;
        mod->bias = r->bias;
        mod->lo = r->lo;
        mod->hi = r->hi;
        mod->loaded_ticks = r->ticks;
        mod->unloaded_ticks = UINT64_MAX;
        mod->path = xstrndup((const char *)r->s2, r->l2);
        mod->build_id_len = r->l1 < sizeof mod->build_id ? r->l1 : sizeof mod->build_id;
        memcpy(mod->build_id, r->s1, mod->build_id_len);
        mod->next = s->modules;
        s->modules = mod;
        return 0;
    }
    case REC_UNLOAD:
        for (struct snap_module *mod = s->modules; mod; mod = mod->next)
            if (mod->id == r->id && mod->unloaded_ticks == UINT64_MAX) mod->unloaded_ticks = r->ticks;
        return 0;
    case REC_PROCESS:
        if (s->exe) return 0;
        s->exe = xstrndup((const char *)r->s1, r->l1);
        s->cmdline = xstrndup((const char *)r->s2, r->l2);
        for (uint64_t i = 0; i + 1 < r->l2; i++)
            if (s->cmdline[i] == 0) s->cmdline[i] = ' ';
        s->cwd = xstrndup((const char *)r->s3, r->l3);
        return 0;
    case REC_EXEC:
        if (r->ticks >= s->exec_ticks) {
            free(s->exec_path);
            s->exec_path = xstrndup((const char *)r->s1, r->l1);
            s->exec_ticks = r->ticks;
        }
        return 0;
    case REC_CLOCK:
        add_clock(m, r->ticks, r->mono);
        return 0;
    case REC_LEAK_CHECK:
        s->checks = xrealloc(s->checks, (s->nchecks + 1) * sizeof *s->checks);
        s->checks[s->nchecks++] = (struct snap_leak_check){.ticks = r->ticks,
                                                           .seq = (uint32_t)r->id,
                                                           .status = (uint32_t)r->fn,
                                                           .first = s->nleaks};
        return 0;
    case REC_LEAK:
        if (!s->nchecks || r->fn > LEAK_POSSIBLE) return -1;
        if (s->nleaks % 1024 == 0) s->leaks = xrealloc(s->leaks, (s->nleaks + 1024) * sizeof *s->leaks);
        s->leaks[s->nleaks++] = (struct snap_leak){.ptr = r->ptr, .indirect = r->size, .kind = (uint32_t)r->fn};
        s->checks[s->nchecks - 1].n++;
        return 0;
    case REC_MARKER:
        s->markers = xrealloc(s->markers, (s->nmarkers + 1) * sizeof *s->markers);
        s->markers[s->nmarkers++] = (struct snap_marker){xstrndup((const char *)r->s1, r->l1), r->ticks};
        return 0;
    default:
        return 0;
    }
}

static void meta_finish(struct snap *s, struct meta_state *m)
{
    if (s->hdr.end_how != END_UNKNOWN && s->hdr.end_mono_ns) add_clock(m, s->hdr.end_ticks, s->hdr.end_mono_ns);
    if (m->have_clock) {
        s->origin_ticks = m->lo.ticks;
        s->last_clock_ticks = m->hi.ticks;
        s->origin_mono = m->lo.mono;
        s->start_mono = m->lo.mono;
        if (m->hi.ticks > m->lo.ticks && m->hi.mono > m->lo.mono)
            s->ns_per_tick = (double)(m->hi.mono - m->lo.mono) / (double)(m->hi.ticks - m->lo.ticks);
    }
    if (!(s->ns_per_tick > 0) || !isfinite(s->ns_per_tick)) s->ns_per_tick = 1.0 / 2.5; /* one point only: a guess */
    if (s->nmarkers) qsort(s->markers, s->nmarkers, sizeof *s->markers, by_ticks);
}

static int pass_meta(struct snap *s, struct trace_file *tf, uint8_t *buf, char *err, size_t errlen)
{
    struct meta_state m = {0};
    for (size_t i = 0; i < tf->nchunks; i++) {
        long len = trace_chunk_load(tf, i, buf, err, errlen);
        if (len < 0) return -1;
        struct rec_decoder d;
        struct trace_rec r;
        int rc;
        rec_decoder_init(&d, buf, (size_t)len);
        while ((rc = rec_next(&d, &r)) > 0) {
            if (meta_record(s, &m, &r, d.ticks) < 0) rc = -1;
            if (rc < 0) break;
        }
        if (rc < 0) {
            snprintf(err, errlen, "%s: corrupt trace (bad record in chunk %zu)", tf->path, i);
            return -1;
        }
    }
    meta_finish(s, &m);
    return 0;
}

/* ---- pass 2 ------------------------------------------------------------- */

struct cursor {
    struct snap *snap;
    struct meta_state *meta; /* NULL when a first pass has read it all */
    size_t *chunks, nchunks, next;
    uint32_t stream;
    uint8_t *buf;
    struct rec_decoder dec;
    struct trace_rec rec;
    bool realloc_alloc_half; /* the free half of rec was applied */
};

static uint64_t cursor_key(const struct cursor *c) { return c->realloc_alloc_half ? c->rec.ticks2 : c->rec.ticks; }

/* Frees sort before allocations at equal stamps: the safe reading of a tie. */
static bool cursor_before(const struct cursor *a, const struct cursor *b)
{
    uint64_t ka = cursor_key(a), kb = cursor_key(b);
    if (ka != kb) return ka < kb;
    bool fa = a->rec.type == REC_FREE || (a->rec.type == REC_REALLOC && !a->realloc_alloc_half);
    bool fb = b->rec.type == REC_FREE || (b->rec.type == REC_REALLOC && !b->realloc_alloc_half);
    if (fa != fb) return fa;
    return a->stream < b->stream;
}

/* Loads the next event of the stream; false at its end. */
static int cursor_advance(struct trace_file *tf, struct cursor *c, char *err, size_t errlen)
{
    c->realloc_alloc_half = false;
    for (;;) {
        int rc = rec_next(&c->dec, &c->rec);
        if (rc < 0) {
            snprintf(err, errlen, "%s: corrupt trace (bad record)", tf->path);
            return -1;
        }
        if (rc > 0) {
            if (c->rec.type == REC_ALLOC || c->rec.type == REC_FREE || c->rec.type == REC_REALLOC ||
                c->rec.type == REC_IGNORE || c->rec.type == REC_ROOT)
                return 1; /* applied in time order, after the allocation they name */
            if (c->meta && meta_record(c->snap, c->meta, &c->rec, c->dec.ticks) < 0) {
                snprintf(err, errlen, "%s: corrupt trace (bad record)", tf->path);
                return -1;
            }
            continue;
        }
        if (c->next >= c->nchunks) return 0;
        long len = trace_chunk_load(tf, c->chunks[c->next++], c->buf, err, errlen);
        if (len < 0) return -1;
        rec_decoder_init(&c->dec, c->buf, (size_t)len);
    }
}

static void heap_sift_down(struct cursor **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cursor_before(h[l], h[m])) m = l;
        if (r < n && cursor_before(h[r], h[m])) m = r;
        if (m == i) return;
        struct cursor *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
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

static void apply_free(struct snap *s, uint64_t ptr)
{
    struct blockmap_entry *b = blockmap_find(&s->live, ptr);
    if (!b) {
        s->unmatched_frees++; /* allocated before tracing began, or by untraced code */
        return;
    }
    block_unaccount(s, b);
    blockmap_remove(&s->live, b);
}

static void apply_alloc(struct snap *s, uint64_t ptr, uint64_t size, uint64_t stack_id, uint64_t ticks)
{
    if (ptr == 0) return; /* never a block: a corrupt record */
    bool existed;
    struct blockmap_entry *b = blockmap_upsert(&s->live, ptr, &existed);
    if (existed) {
        /* Allocated twice without a free in between: the free was not seen. */
        s->replaced_blocks++;
        block_unaccount(s, b);
        b->ignored = false; /* a new block: heapsnap_ignore() was about the old one */
    }
    struct snap_stack *st = stack_get(s, stack_id);
    b->size = size;
    if (s->track_heap_regions && size < SNAP_SMALL_BLOCK) {
        bool seen;
        blockmap_upsert(&s->heap_regions, (ptr >> SNAP_HEAP_REGION_SHIFT) + 1, &seen);
    }
    b->stack = st;
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
}

static void apply(struct snap *s, struct cursor *c)
{
    struct trace_rec *r = &c->rec;
    uint64_t t = cursor_key(c);
    if (t > s->stop_ticks) return;
    if (r->type != REC_IGNORE && r->type != REC_ROOT && (!s->events++ || t < s->first_ticks)) s->first_ticks = t;
    if (t > s->last_ticks) s->last_ticks = t;
    switch (r->type) {
    case REC_ALLOC:
        s->allocations++;
        apply_alloc(s, r->ptr, r->size, r->stack, t);
        break;
    case REC_FREE:
        s->frees++;
        apply_free(s, r->ptr);
        break;
    case REC_IGNORE: {
        struct blockmap_entry *b = blockmap_find(&s->live, r->ptr);
        if (b) b->ignored = true;
        return; /* not an allocation event: no hook, no figures */
    }
    case REC_ROOT:
        if (r->fn) {
            s->roots = xrealloc(s->roots, (s->nroots + 1) * sizeof *s->roots);
            s->roots[s->nroots++] = (struct snap_root){r->ptr, r->size};
        } else {
            for (size_t i = 0; i < s->nroots; i++)
                if (s->roots[i].ptr == r->ptr && s->roots[i].len == r->size) s->roots[i] = s->roots[--s->nroots];
        }
        return;
    case REC_REALLOC:
        if (!c->realloc_alloc_half) {
            apply_free(s, r->ptr);
        } else {
            s->allocations++;
            s->reallocs++;
            apply_alloc(s, r->ptr2, r->size, r->stack, t);
        }
        break;
    }
    if (s->hook) s->hook(s, t, s->hook_ctx);
}

static int pass_events(struct snap *s, struct trace_file *tf, struct meta_state *meta, char *err, size_t errlen)
{
    /* Group chunks by stream, in sequence order. */
    size_t n = tf->nchunks;
    size_t *order = xmalloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 1; i < n; i++) { /* insertion sort: chunks are nearly in order already */
        size_t v = order[i], j = i;
        const struct trace_chunk *cv = &tf->chunks[v];
        while (j > 0) {
            const struct trace_chunk *cp = &tf->chunks[order[j - 1]];
            if (cp->stream < cv->stream || (cp->stream == cv->stream && cp->seq <= cv->seq)) break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    size_t ncur = 0;
    struct cursor *curs = xcalloc(n ? n : 1, sizeof *curs);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && tf->chunks[order[j]].stream == tf->chunks[order[i]].stream) j++;
        curs[ncur].chunks = order + i;
        curs[ncur].nchunks = j - i;
        curs[ncur].stream = tf->chunks[order[i]].stream;
        curs[ncur].buf = xmalloc(TRACE_MAX_CHUNK_RAW);
        curs[ncur].snap = s;
        curs[ncur].meta = meta;
        ncur++;
        i = j;
    }
    int rc = 0;
    struct cursor **heap = xmalloc((ncur ? ncur : 1) * sizeof *heap);
    size_t hn = 0;
    for (size_t i = 0; i < ncur; i++) {
        int a = cursor_advance(tf, &curs[i], err, errlen);
        if (a < 0) rc = -1;
        if (a > 0) heap[hn++] = &curs[i];
    }
    for (size_t i = hn; i-- > 0;) heap_sift_down(heap, hn, i);
    while (rc == 0 && hn > 0) {
        struct cursor *c = heap[0];
        if (cursor_key(c) > s->stop_ticks) break; /* the merge is in time order: nothing later counts */
        apply(s, c);
        if (c->rec.type == REC_REALLOC && !c->realloc_alloc_half) {
            c->realloc_alloc_half = true;
        } else {
            int a = cursor_advance(tf, c, err, errlen);
            if (a < 0) rc = -1;
            if (a <= 0) heap[0] = heap[--hn];
        }
        if (hn > 1) heap_sift_down(heap, hn, 0); /* one stream left (or one thread): no merging to do */
    }
    for (size_t i = 0; i < ncur; i++) free(curs[i].buf);
    free(curs);
    free(heap);
    free(order);
    return rc;
}



static uint64_t ticks_at(const struct snap *s, double seconds)
{
    double t = (double)s->origin_ticks + (seconds * 1e9 + (double)s->start_mono - (double)s->origin_mono) / s->ns_per_tick;
    return t <= 0 ? 0 : t >= 1.8e19 ? UINT64_MAX : (uint64_t)t;
}

/* The heap at a leak check is the heap at the marker the shim wrote when it
 * asked for it ("leak-check:SEQ..."): the world stopped right after. */
static int resolve_leak_check(struct snap *s, const char *path, char *err, size_t errlen)
{
    for (size_t i = s->nchecks; i-- > 0;)
        if (s->point.nth == 0 || s->checks[i].seq == s->point.nth) {
            s->check = &s->checks[i];
            break;
        }
    if (!s->check) {
        if (s->point.nth) snprintf(err, errlen, "%s: no leak check number %u", path, s->point.nth);
        else snprintf(err, errlen, "%s: no leak check in this trace (record it with heapsnap run; a bare LD_PRELOAD cannot scan memory)", path);
        return -1;
    }
    char prefix[32];
    int len = snprintf(prefix, sizeof prefix, "leak-check:%u", s->check->seq);
    s->stop_ticks = s->check->ticks;
    for (size_t i = 0; i < s->nmarkers; i++) {
        const char *l = s->markers[i].label;
        if (strncmp(l, prefix, (size_t)len) == 0 && (l[len] == 0 || l[len] == ':')) s->stop_ticks = s->markers[i].ticks;
    }
    return 0;
}

struct chunk_order {
    uint32_t stream, seq;
    size_t index;
};

static int by_stream_then_seq(const void *a, const void *b)
{
    const struct chunk_order *x = a, *y = b;
    if (x->stream != y->stream) return x->stream < y->stream ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The latest moment the trace knows of: its last calibration point, the end
 * in the header, and the last record of each thread. Only the last chunk of
 * each stream can hold a thread's last record, and only those are decoded:
 * after SIGKILL the header has no end and the last clock point is where the
 * last chunk began, not where it stopped. A chunk that does not decode
 * counts for what came before its fault (the events pass names the fault). */
static uint64_t trace_end_ticks(const struct snap *s, const char *path)
{
    uint64_t end = s->last_clock_ticks;
    if (s->hdr.end_how != END_UNKNOWN && s->hdr.end_ticks > end) end = s->hdr.end_ticks;
    struct trace_file tf;
    char ignored[256];
    if (trace_open(&tf, path, ignored, sizeof ignored) < 0) return end;
    struct chunk_order *order = xmalloc((tf.nchunks ? tf.nchunks : 1) * sizeof *order);
    for (size_t i = 0; i < tf.nchunks; i++) order[i] = (struct chunk_order){tf.chunks[i].stream, tf.chunks[i].seq, i};
    qsort(order, tf.nchunks, sizeof *order, by_stream_then_seq);
    uint8_t *buf = xmalloc(TRACE_MAX_CHUNK_RAW);
    for (size_t k = 0; k < tf.nchunks; k++) {
        if (k + 1 < tf.nchunks && order[k + 1].stream == order[k].stream) continue; /* not its stream's last */
        long len = trace_chunk_load(&tf, order[k].index, buf, ignored, sizeof ignored);
        if (len < 0) continue;
        struct rec_decoder d;
        struct trace_rec r;
        rec_decoder_init(&d, buf, (size_t)len);
        while (rec_next(&d, &r) > 0) {
            if (d.ticks > end) end = d.ticks;
            if ((r.type == REC_CLOCK || r.type == REC_LEAK_CHECK) && r.ticks > end) end = r.ticks;
        }
    }
    free(buf);
    free(order);
    trace_close(&tf);
    return end;
}

static int resolve_time(struct snap *s, const char *path, char *err, size_t errlen)
{
    double want = s->point.seconds;
    if (isinf(want) && want > 0) { /* everything (the timeline): not a point a user can type */
        s->stop_ticks = UINT64_MAX;
        return 0;
    }
    /* Rounded up to the microsecond it is printed with, so the figure a
     * message gives is a point that works. */
    double length = ceil(snap_seconds(s, trace_end_ticks(s, path)) * 1e6) / 1e6;
    if (!(length > 0)) length = 0;
    if (want < 0) {
        snprintf(err, errlen, "%s: %gs is before the start of the trace: times count from 0s, and it is %.6fs long",
                 path, want, length);
        return -1;
    }
    if (want > length + 1e-9) {
        snprintf(err, errlen, "%s: %gs is past the end of the trace: it is %.6fs long (@exit is its end)", path, want,
                 length);
        return -1;
    }
    s->stop_ticks = ticks_at(s, want);
    return 0;
}

/* Markers the shim writes itself are named by kind and order as well as by
 * label: "signal#2" is the second "signal:SECONDSs" marker, whose label a user
 * cannot know before reading the report. A program's own markers are
 * labels only. */
static const char *generated_kind(const char *label)
{
    static const char *const kinds[] = {"signal", "interval", "growth", "leak-check"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        size_t n = strlen(kinds[i]);
        if (strncmp(label, kinds[i], n) == 0 && label[n] == ':' && label[n + 1] >= '0' && label[n + 1] <= '9')
            return kinds[i];
    }
    return NULL;
}

static bool is_kind_name(const char *name)
{
    static const char *const kinds[] = {"signal", "interval", "growth", "leak-check"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(name, kinds[i]) == 0) return true;
    return false;
}

/* Whether marker i answers to name: its label, or for a generated marker, its kind. */
static bool marker_answers(const struct snap *s, size_t i, const char *name, bool by_kind)
{
    const char *kind = generated_kind(s->markers[i].label);
    return by_kind ? kind && strcmp(kind, name) == 0 : strcmp(s->markers[i].label, name) == 0;
}

/* A name that picks marker i: KIND#N for a generated one, the label (with #N
 * when the label repeats) for the program's own. */
static void marker_name(const struct snap *s, size_t i, struct strbuf *out)
{
    const char *kind = generated_kind(s->markers[i].label);
    const char *name = kind ? kind : s->markers[i].label;
    unsigned nth = 0, total = 0;
    for (size_t k = 0; k < s->nmarkers; k++) {
        if (!marker_answers(s, k, name, kind != NULL)) continue;
        total++;
        if (k <= i) nth++;
    }
    if (kind || total > 1) sb_printf(out, "%s#%u", name, nth);
    else sb_puts(out, name);
}

static int resolve_marker(struct snap *s, const char *path, char *err, size_t errlen)
{
    const char *name = s->point.label;
    unsigned seen = 0;
    bool by_kind = false;
    for (int pass = 0; pass < 2 && seen == 0; pass++) {
        by_kind = pass == 1; /* a program's own label first: it may be "signal" too */
        if (by_kind && !is_kind_name(name)) break;
        for (size_t i = 0; i < s->nmarkers; i++) {
            if (!marker_answers(s, i, name, by_kind)) continue;
            seen++;
            if (s->point.nth == seen || (s->point.nth == 0 && seen == 1)) s->stop_ticks = s->markers[i].ticks;
        }
    }
    if (seen == 0) {
        struct strbuf known = {0};
        size_t shown = s->nmarkers < 20 ? s->nmarkers : 20;
        for (size_t i = 0; i < shown; i++) {
            if (i) sb_puts(&known, ", ");
            marker_name(s, i, &known);
        }
        if (shown < s->nmarkers) sb_printf(&known, " and %zu more: heapsnap report lists them", s->nmarkers - shown);
        snprintf(err, errlen, "%s: no marker labelled '%s' (%s%s)", path, name,
                 s->nmarkers ? "markers: " : "the trace has no markers", known.s ? known.s : "");
        sb_free(&known);
        return -1;
    }
    if (s->point.nth > seen || (s->point.nth == 0 && seen > 1)) {
        char which[128] = "";
        if (s->point.nth > seen) snprintf(which, sizeof which, ", not %u", s->point.nth);
        else snprintf(which, sizeof which, ": say which, %s#1 to %s#%u", name, name, seen);
        if (by_kind)
            snprintf(err, errlen, "%s: there %s %u %s marker%s%s", path, seen == 1 ? "is" : "are", seen, name,
                     seen == 1 ? "" : "s", which);
        else
            snprintf(err, errlen, "%s: marker '%s' occurs %u time%s%s", path, name, seen, seen == 1 ? "" : "s", which);
        return -1;
    }
    return 0;
}

static int resolve_point(struct snap *s, const char *path, char *err, size_t errlen)
{
    s->stop_ticks = UINT64_MAX;
    switch (s->point.kind) {
    case POINT_EXIT: return 0;
    case POINT_PEAK: s->at_peak = true; return 0;
    case POINT_TIME: return resolve_time(s, path, err, errlen);
    case POINT_MARKER: return resolve_marker(s, path, err, errlen);
    case POINT_LEAK_CHECK: return resolve_leak_check(s, path, err, errlen);
    }
    return 0;
}

static int snap_load_full(struct snap *s, const char *path, const struct snap_point *point, snap_event_hook hook,
                          void *ctx, bool track_heap_regions, char *err, size_t errlen);

/* Merges equal stacks and sums their figures at the point and at the peak. */
static void finish_stacks(struct snap *s)
{
    for (struct snap_stack *st = s->stacks; st; st = st->hh.next) {
        if (!st->key) { /* named by an event, its record never came (cut short) */
            st->key = xcalloc(1, sizeof(uint64_t));
        } else if (st->filled < st->nframes) {
            st->nframes = st->filled; /* a long stack cut short: keep what arrived */
            st->key[0] = st->nframes;
        }
        struct snap_stack *canon;
        size_t klen = (st->nframes + 1) * sizeof(uint64_t);
        HASH_FIND(hh_frames, s->canon_stacks, st->key, klen, canon);
        if (!canon) {
            canon = st;
            HASH_ADD_KEYPTR(hh_frames, s->canon_stacks, st->key, klen, st);
        } else if (st->seen_ticks < canon->seen_ticks) {
            canon->seen_ticks = st->seen_ticks;
        }
        st->canon = canon;
        bool peaked = st->saved_gen == s->gen; /* changed since the last peak: saved */
        canon->fig_bytes[0] += st->live_bytes;
        canon->fig_blocks[0] += st->live_blocks;
        canon->fig_bytes[1] += peaked ? st->peak_bytes : st->live_bytes;
        canon->fig_blocks[1] += peaked ? st->peak_blocks : st->live_blocks;
    }
}

int snap_load_opts(struct snap *s, const char *path, const struct snap_point *point, bool track_heap_regions,
                   char *err, size_t errlen)
{
    return snap_load_full(s, path, point, NULL, NULL, track_heap_regions, err, errlen);
}

int snap_load(struct snap *s, const char *path, const struct snap_point *point, snap_event_hook hook, void *ctx,
              char *err, size_t errlen)
{
    return snap_load_full(s, path, point, hook, ctx, false, err, errlen);
}

static int snap_load_full(struct snap *s, const char *path, const struct snap_point *point, snap_event_hook hook,
                          void *ctx, bool track_heap_regions, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (point) s->point = *point;
    s->hook = hook;
    s->hook_ctx = ctx;
    s->track_heap_regions = track_heap_regions;
    struct trace_file tf;
    if (trace_open(&tf, path, err, errlen) < 0) return -1;
    s->hdr = tf.hdr;
    s->truncated = (tf.hdr.flags & TRACE_F_TRUNCATED) != 0;
    /* A time or a marker must be known before the events: read the rest first. */
    bool first_pass = s->point.kind == POINT_TIME || s->point.kind == POINT_MARKER || s->point.kind == POINT_LEAK_CHECK;
    struct meta_state m = {0};
    int rc = 0;
    if (first_pass) {
        uint8_t *buf = xmalloc(TRACE_MAX_CHUNK_RAW);
        rc = pass_meta(s, &tf, buf, err, errlen);
        free(buf);
    }
    if (rc == 0) rc = resolve_point(s, path, err, errlen);
    if (rc == 0) rc = pass_events(s, &tf, first_pass ? NULL : &m, err, errlen);
    if (rc == 0 && !first_pass) meta_finish(s, &m);
    if (rc == 0) finish_stacks(s);
    trace_close(&tf);
    if (rc < 0) snap_free(s); /* a failed load leaves nothing to free */
    return rc;
}

bool snap_parse_point(const char *text, struct snap_point *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    size_t len = strlen(text);
    if (strcmp(text, "exit") == 0) return (p->kind = POINT_EXIT), true;
    if (strcmp(text, "peak") == 0) return (p->kind = POINT_PEAK), true;
    /* Negative times parse too: the replay then says where the trace starts. */
    if (len > 1 && text[len - 1] == 's' && (text[0] == '.' || text[0] == '-' || (text[0] >= '0' && text[0] <= '9'))) {
        char *end;
        double v = strtod(text, &end);
        if (end == text + len - 1 && isfinite(v)) {
            p->kind = POINT_TIME;
            p->seconds = v;
            return true;
        }
    }
    if (len == 0 || len >= sizeof p->label) {
        snprintf(err, errlen, "'%s' is not a snapshot point (exit, peak, SECONDSs or a marker label)", text);
        return false;
    }
    p->kind = POINT_MARKER;
    snprintf(p->label, sizeof p->label, "%s", text);
    char *hash = strrchr(p->label, '#');
    if (hash && hash[1]) {
        char *end;
        unsigned long n = strtoul(hash + 1, &end, 10);
        if (!*end && n >= 1 && n < 1000000) {
            *hash = 0;
            p->nth = (unsigned)n;
        }
    }
    return true;
}

void snap_figures(const struct snap *s, const struct snap_stack *st, uint64_t *bytes, uint64_t *blocks)
{
    int k = s->at_peak ? 1 : 0;
    *bytes = st->fig_bytes[k];
    *blocks = st->fig_blocks[k];
}

double snap_seconds(const struct snap *s, uint64_t ticks)
{
    double ns = ((double)ticks - (double)s->origin_ticks) * s->ns_per_tick + (double)s->origin_mono;
    return (ns - (double)s->start_mono) / 1e9;
}

struct snap_module *snap_module_for(const struct snap *s, uint64_t ip, uint64_t when)
{
    struct snap_module *best = NULL;
    for (struct snap_module *m = s->modules; m; m = m->next) {
        if (ip < m->lo || ip >= m->hi) continue;
        if (m->loaded_ticks <= when && when < m->unloaded_ticks) return m;
        if (!best || (m->loaded_ticks > when && m->loaded_ticks < best->loaded_ticks)) best = m;
    }
    return best;
}

static int fig_index;

static int by_bytes(const void *a, const void *b)
{
    const struct snap_stack *x = *(struct snap_stack *const *)a, *y = *(struct snap_stack *const *)b;
    uint64_t bx = x->fig_bytes[fig_index], by = y->fig_bytes[fig_index];
    if (bx != by) return bx < by ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

struct snap_stack **snap_sorted(const struct snap *s, bool at_peak, size_t *n)
{
    size_t count = HASH_CNT(hh_frames, s->canon_stacks), k = 0;
    struct snap_stack **arr = xmalloc((count ? count : 1) * sizeof *arr);
    fig_index = at_peak ? 1 : 0;
    for (struct snap_stack *st = s->canon_stacks; st; st = st->hh_frames.next)
        if (st->fig_blocks[fig_index] > 0) arr[k++] = st;
    qsort(arr, k, sizeof *arr, by_bytes);
    *n = k;
    return arr;
}

void snap_free(struct snap *s)
{
    blockmap_free(&s->live);
    blockmap_free(&s->heap_regions);
    free(s->stack_index);
    free(s->checks);
    free(s->leaks);
    free(s->roots);
    HASH_CLEAR(hh_frames, s->canon_stacks);
    struct snap_stack *st, *stt;
    HASH_ITER(hh, s->stacks, st, stt) {
        HASH_DEL(s->stacks, st);
        free(st->key);
        free(st);
    }
    for (struct snap_module *m = s->modules, *nx; m; m = nx) {
        nx = m->next;
        free(m->path);
        free(m);
    }
    free(s->exe);
    free(s->cmdline);
    free(s->cwd);
    free(s->exec_path);
    for (size_t i = 0; i < s->nmarkers; i++) free(s->markers[i].label);
    free(s->markers);
    memset(s, 0, sizeof *s);
}
