/* snap_replay.c - turns a trace into a struct snap: every event up to a point
 * (the end, the peak, a time, a marker, a leak check) applied in time order
 * (snap_merge.c), with the non-events collected on the way (snap_meta.c).
 * Only a point in time or at a marker needs the clock or the markers before
 * the events: then a first pass reads those alone.
 *
 * Memory: one decoded chunk per thread (and the unit it comes from, being
 * decoded: trace/trace_read.c), the live blocks, the stacks. */
#include "snap_internal.h"
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

/* The trace's chunks grouped by stream, each stream in sequence order: the
 * order a stream's records were written in. */
static size_t *chunk_order(const struct trace_file *tf)
{
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
    return order;
}

static int pass_meta(struct snap *s, struct trace_file *tf, uint8_t *buf, char *err, size_t errlen)
{
    struct meta_state m = {0};
    struct stack_pending pending = {0};
    size_t *order = chunk_order(tf);
    int rc = 0;
    for (size_t k = 0; rc >= 0 && k < tf->nchunks; k++) {
        size_t i = order[k];
        if (k == 0 || tf->chunks[order[k - 1]].stream != tf->chunks[i].stream) pending = (struct stack_pending){0};
        long len = trace_chunk_load(tf, i, buf, err, errlen);
        if (len < 0) {
            free(order);
            return -1;
        }
        progress_advance(1);
        struct rec_decoder d;
        struct trace_rec r;
        rec_decoder_init(&d, buf, (size_t)len);
        while ((rc = rec_next(&d, &r)) > 0)
            if (meta_record(s, &m, &pending, &r, d.ticks) < 0) rc = -1;
        if (rc < 0) snprintf(err, errlen, "%s: corrupt trace (bad record in chunk %zu)", tf->path, i);
    }
    free(order);
    if (rc < 0) return -1;
    meta_finish(s, &m);
    return 0;
}

/* ---- the events --------------------------------------------------------- */

/* A stream of the trace file: its chunks in sequence order, one decoded at a time. */
struct file_stream {
    struct trace_file *tf;
    size_t *chunks, nchunks, next;
    uint8_t *buf;
};

static int file_refill(struct snap_cursor *c, char *err, size_t errlen)
{
    struct file_stream *fs = c->src;
    if (fs->next >= fs->nchunks) return 0;
    long len = trace_chunk_load(fs->tf, fs->chunks[fs->next++], fs->buf, err, errlen);
    if (len < 0) return -1;
    progress_advance(1);
    rec_decoder_init(&c->dec, fs->buf, (size_t)len);
    return 1;
}

static int pass_events(struct snap *s, struct trace_file *tf, struct meta_state *meta, char *err, size_t errlen)
{
    size_t n = tf->nchunks, *order = chunk_order(tf), ncur = 0;
    struct snap_cursor *curs = xcalloc(n ? n : 1, sizeof *curs);
    struct file_stream *fss = xcalloc(n ? n : 1, sizeof *fss);
    struct snap_merge m = {.s = s, .meta = meta, .path = tf->path};
    int rc = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && tf->chunks[order[j]].stream == tf->chunks[order[i]].stream) j++;
        fss[ncur] = (struct file_stream){.tf = tf, .chunks = order + i, .nchunks = j - i, .buf = xmalloc(TRACE_MAX_CHUNK_RAW)};
        curs[ncur] = (struct snap_cursor){.stream = tf->chunks[order[i]].stream, .refill = file_refill, .src = &fss[ncur]};
        int a = cursor_advance(&m, &curs[ncur], err, errlen);
        if (a < 0) rc = -1;
        if (a > 0) merge_push(&m, &curs[ncur]);
        ncur++;
        i = j;
    }
    if (rc == 0) rc = merge_run(&m, s->stop_ticks == UINT64_MAX ? MERGE_FINAL : MERGE_STOP, err, errlen);
    merge_free(&m);
    for (size_t i = 0; i < ncur; i++) free(fss[i].buf);
    free(fss);
    free(curs);
    free(order);
    return rc;
}

uint64_t snap_ticks_at(const struct snap *s, double seconds)
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
        if (s->point.nth) {
            snprintf(err, errlen, "%s: no leak check number %u", path, s->point.nth);
            return -1;
        }
        if (s->hdr.sample_rate)
            snprintf(err, errlen, "%s: no leak check in this trace: it is sampled (1 allocation in every %llu bytes), "
                     "and a leak check needs every block (record it without --sample-rate)", path,
                     (unsigned long long)s->hdr.sample_rate);
        else if (s->hdr.session)
            snprintf(err, errlen, "%s: no leak check in this trace: the heapsnap run that recorded it did not see its "
                     "process end (heapsnap run was killed, or stopped waiting for it)", path);
        else
            snprintf(err, errlen, "%s: no leak check in this trace: it was recorded with a bare LD_PRELOAD, which cannot "
                     "scan memory (record it with heapsnap run)", path);
        return SNAP_NO_CHECK;
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
uint64_t snap_trace_end_ticks(const struct snap *s, const char *path)
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
            if ((r.type == REC_CLOCK || r.type == REC_LEAK_CHECK || r.type == REC_RSS) && r.ticks > end) end = r.ticks;
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
    double length = ceil(snap_seconds(s, snap_trace_end_ticks(s, path)) * 1e6) / 1e6;
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
    s->stop_ticks = snap_ticks_at(s, want);
    return 0;
}

/* Markers the shim writes itself are named by kind and order as well as by
 * label: "signal#2" is the second "signal:SECONDSs" marker, whose label a user
 * cannot know before reading the report. A program's own markers are
 * labels only. */
const char *snap_marker_kind(const char *label)
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
    const char *kind = snap_marker_kind(s->markers[i].label);
    return by_kind ? kind && strcmp(kind, name) == 0 : strcmp(s->markers[i].label, name) == 0;
}

/* A name that picks marker i: KIND#N for a generated one, the label (with #N
 * when the label repeats) for the program's own. */
static void marker_name(const struct snap *s, size_t i, struct strbuf *out)
{
    const char *kind = snap_marker_kind(s->markers[i].label);
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
void snap_finish_stacks(struct snap *s)
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
        canon->fig_calls += st->calls;
        canon->fig_bytes_allocated += st->bytes_allocated;
        canon->fig_temporary += st->temporary;
        canon->fig_temporary_bytes += st->temporary_bytes;
        canon->fig_bytes[0] += st->live_bytes;
        canon->fig_blocks[0] += st->live_blocks;
        canon->fig_bytes[1] += peaked ? st->peak_bytes : st->live_bytes;
        canon->fig_blocks[1] += peaked ? st->peak_blocks : st->live_blocks;
        bool map_peaked = st->map_saved_gen == s->map_gen, all_peaked = st->all_saved_gen == s->all_gen;
        canon->fig_map_bytes[0] += st->map_live_bytes;
        canon->fig_map_regions[0] += st->map_live_regions;
        canon->fig_map_bytes[1] += map_peaked ? st->map_peak_bytes : st->map_live_bytes;
        canon->fig_map_regions[1] += map_peaked ? st->map_peak_regions : st->map_live_regions;
        canon->fig_all_bytes[0] += st->live_bytes + st->map_live_bytes;
        canon->fig_all_blocks[0] += st->live_blocks + st->map_live_regions;
        canon->fig_all_bytes[1] += all_peaked ? st->all_peak_bytes : st->live_bytes + st->map_live_bytes;
        canon->fig_all_blocks[1] += all_peaked ? st->all_peak_blocks : st->live_blocks + st->map_live_regions;
        canon->fig_map_calls += st->map_calls;
        canon->fig_map_bytes_mapped += st->map_bytes_mapped;
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
    progress_begin(path, (uint64_t)tf.nchunks * (first_pass ? 2 : 1));
    if (first_pass) {
        uint8_t *buf = xmalloc(TRACE_MAX_CHUNK_RAW);
        rc = pass_meta(s, &tf, buf, err, errlen);
        free(buf);
    }
    if (rc == 0) rc = resolve_point(s, path, err, errlen);
    if (rc == 0) rc = pass_events(s, &tf, first_pass ? NULL : &m, err, errlen);
    if (rc == 0 && !first_pass) meta_finish(s, &m);
    progress_end();
    /* Blocks a fork child had from the start carry no time of their own:
     * a peak made of them is at the child's start. */
    if (rc == 0 && s->peak_ticks < s->origin_ticks) s->peak_ticks = s->origin_ticks;
    if (rc == 0) snap_finish_stacks(s);
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
    switch (s->memory) {
    case SNAP_MEMORY_HEAP:
        *bytes = st->fig_bytes[k];
        *blocks = st->fig_blocks[k];
        break;
    case SNAP_MEMORY_MAPPED:
        *bytes = st->fig_map_bytes[k];
        *blocks = st->fig_map_regions[k];
        break;
    case SNAP_MEMORY_ALL:
        *bytes = st->fig_all_bytes[k];
        *blocks = st->fig_all_blocks[k];
        break;
    }
}

void snap_call_figures(const struct snap *s, const struct snap_stack *st, uint64_t *calls, uint64_t *bytes)
{
    *calls = (s->memory != SNAP_MEMORY_MAPPED ? st->fig_calls : 0) + (s->memory != SNAP_MEMORY_HEAP ? st->fig_map_calls : 0);
    *bytes = (s->memory != SNAP_MEMORY_MAPPED ? st->fig_bytes_allocated : 0) +
             (s->memory != SNAP_MEMORY_HEAP ? st->fig_map_bytes_mapped : 0);
}

uint64_t snap_peak_ticks(const struct snap *s)
{
    return s->memory == SNAP_MEMORY_HEAP ? s->peak_ticks : s->memory == SNAP_MEMORY_MAPPED ? s->map_peak_ticks : s->all_peak_ticks;
}

bool snap_parse_memory(const char *text, enum snap_memory *out)
{
    static const char *const names[] = {[SNAP_MEMORY_HEAP] = "heap", [SNAP_MEMORY_MAPPED] = "mapped", [SNAP_MEMORY_ALL] = "all"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = (enum snap_memory)i;
            return true;
        }
    return false;
}

uint64_t snap_rss_peak(const struct snap *s, uint64_t *ticks)
{
    uint64_t best = 0;
    *ticks = 0;
    for (size_t i = 0; i < s->nrss; i++)
        if (s->rss[i].resident > best) {
            best = s->rss[i].resident;
            *ticks = s->rss[i].ticks;
        }
    return best;
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

static int by_calls(const void *a, const void *b)
{
    const struct snap_stack *x = *(struct snap_stack *const *)a, *y = *(struct snap_stack *const *)b;
    if (x->fig_calls != y->fig_calls) return x->fig_calls < y->fig_calls ? 1 : -1;
    if (x->fig_bytes_allocated != y->fig_bytes_allocated) return x->fig_bytes_allocated < y->fig_bytes_allocated ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

struct snap_stack **snap_sorted_by_calls(const struct snap *s, size_t *n)
{
    size_t count = HASH_CNT(hh_frames, s->canon_stacks), k = 0;
    struct snap_stack **arr = xmalloc((count ? count : 1) * sizeof *arr);
    for (struct snap_stack *st = s->canon_stacks; st; st = st->hh_frames.next)
        if (st->fig_calls > 0) arr[k++] = st;
    qsort(arr, k, sizeof *arr, by_calls);
    *n = k;
    return arr;
}

void snap_free(struct snap *s)
{
    blockmap_free(&s->live);
    blockmap_free(&s->heap_regions);
    regionmap_free(&s->mapped);
    free(s->rss);
    blockmap_free(&s->pool_members);
    sb_free(&s->program_suppressions[0]);
    sb_free(&s->program_suppressions[1]);
    free(s->stack_index);
    for (size_t i = 0; i < s->nchecks; i++) free(s->checks[i].note);
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
