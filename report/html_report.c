/* html_report.c - see html_report.h. One replay of the trace feeds
 * everything: the stacks' figures at the end and at the peak (snap.c's own),
 * the timeline and the temporal rows (an event hook), and the leak check's
 * loss records come from the same code as `heapsnap leaks`.
 *
 * The temporal view is exact at the timeline's points: the page may show the
 * heap at point k, or what was allocated between two points and is live at
 * the second, and `heapsnap stats TRACE@Ts` at that point's time gives the
 * same blocks. Points are multiples of a whole number of microseconds (so
 * their printed time converts back to the same tick) and every marker. A
 * block allocated and freed between the same two points is in no such
 * moment, so it needs no row: rows grow with the blocks that outlive a point,
 * not with events. */
#include "html_report.h"
#include "cmds.h"
#include "fmt.h"
#include "html_doc.h"
#include "leaks.h"
#include "report.h"
#include "symbols.h"
#include "symsnap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TIMELINE_STEPS 500     /* points on the time axis, beside the markers */
#define TIMELINE_MARKERS 2000  /* markers that are points of their own; later ones go to the next point */
#define TIMELINE_MIN_POINTS 60 /* fewest points a page is thinned to */
/* Temporal rows a page carries (about 25 bytes each) before its points are thinned: it stays under 10 MB. */
#define TEMPORAL_ROW_BUDGET 250000
#define NO_FREE UINT32_MAX

struct html_point {
    uint64_t ticks; /* the point's state is every event stamped at or before it */
    double t;
    uint64_t bytes, blocks, high; /* high: the most bytes live since the point before */
    uint64_t mapped;              /* the program's own mappings (snap_mapped.c) */
    bool marker;                  /* a marker's moment: kept however the timeline is thinned */
};

/* Blocks of one stack allocated at point a and freed at point f: an open
 * addressing table (a lookup per crossing free; uthash's chained nodes cost
 * four times as much on a trace with a million rows). */
struct temporal_row {
    const struct snap_stack *stack; /* NULL: an empty slot */
    uint32_t a, f;
    uint64_t bytes, blocks;
};

struct temporal_rows {
    struct temporal_row *slots;
    size_t mask, count;
};

struct timeline_build {
    const char *path; /* the trace: its last records say where the run ended */
    struct html_point *pts;
    size_t npts, cur;
    bool started;
    uint64_t prev_bytes, prev_blocks, high, prev_mapped;
    struct temporal_rows rows;
};

static int by_ticks(const void *a, const void *b)
{
    const struct html_point *x = a, *y = b;
    return x->ticks < y->ticks ? -1 : x->ticks > y->ticks;
}

static uint64_t run_end_ticks(const struct snap *s)
{
    uint64_t end = s->last_clock_ticks > s->last_ticks ? s->last_clock_ticks : s->last_ticks;
    if (s->hdr.end_how != END_UNKNOWN && s->hdr.end_ticks > end) end = s->hdr.end_ticks;
    if (s->nmarkers && s->markers[s->nmarkers - 1].ticks > end) end = s->markers[s->nmarkers - 1].ticks;
    if (s->stop_ticks != UINT64_MAX && end > s->stop_ticks) end = s->stop_ticks;
    return end;
}

/* The points: whole microseconds apart, every marker, and the end. Known
 * once the clock and the markers are read (before the first event). */
static void timeline_start(struct timeline_build *tb, const struct snap *s)
{
    tb->started = true;
    /* A trace left open (killed, a bare preload) records no end: its last records are. */
    uint64_t end = run_end_ticks(s), last = snap_trace_end_ticks(s, tb->path);
    if (last > end) end = s->stop_ticks < last ? s->stop_ticks : last;
    double duration = snap_seconds(s, end);
    if (!(duration > 0) || !isfinite(duration)) duration = 0;
    uint64_t step_us = (uint64_t)ceil(duration * 1e6 / TIMELINE_STEPS);
    if (step_us == 0) step_us = 1;
    size_t steps = (size_t)(duration * 1e6 / (double)step_us);
    if (steps > TIMELINE_STEPS) steps = TIMELINE_STEPS;
    size_t nmarkers = s->nmarkers < TIMELINE_MARKERS ? s->nmarkers : TIMELINE_MARKERS;
    tb->pts = xcalloc(steps + 2 + nmarkers, sizeof *tb->pts);
    for (size_t k = 0; k <= steps; k++) {
        double t = (double)(k * step_us) / 1e6;
        tb->pts[tb->npts++] = (struct html_point){.ticks = snap_ticks_at(s, t), .t = t};
    }
    for (size_t i = 0; i < nmarkers; i++)
        if (s->markers[i].ticks <= s->stop_ticks)
            tb->pts[tb->npts++] = (struct html_point){.ticks = s->markers[i].ticks,
                                                      .t = ceil(snap_seconds(s, s->markers[i].ticks) * 1e9) / 1e9,
                                                      .marker = true};
    qsort(tb->pts, tb->npts, sizeof *tb->pts, by_ticks);
    size_t k = 0;
    for (size_t i = 0; i < tb->npts; i++) {
        if (k && tb->pts[k - 1].ticks == tb->pts[i].ticks)
            tb->pts[k - 1].marker |= tb->pts[i].marker;
        else
            tb->pts[k++] = tb->pts[i];
    }
    tb->npts = k;
    /* The end: whatever comes after the last point (the clock's last reading may precede the last event). */
    if (tb->pts[tb->npts - 1].ticks != UINT64_MAX)
        tb->pts[tb->npts++] = (struct html_point){.ticks = UINT64_MAX, .t = duration};
}

/* The first point at or after ticks. */
static uint32_t point_of(const struct timeline_build *tb, uint64_t ticks)
{
    if (tb->cur == 0 || ticks > tb->pts[tb->cur - 1].ticks) return (uint32_t)tb->cur; /* the usual case */
    size_t lo = 0, hi = tb->cur;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tb->pts[mid].ticks < ticks)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

static size_t row_slot(const struct temporal_rows *t, const struct snap_stack *st, uint32_t a, uint32_t f)
{
    uint64_t h = ((uint64_t)(uintptr_t)st ^ ((uint64_t)a << 32 | f)) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 29) & t->mask;
}

static void rows_grow(struct temporal_rows *t)
{
    struct temporal_rows old = *t;
    size_t cap = old.slots ? (old.mask + 1) * 2 : 4096;
    t->slots = xcalloc(cap, sizeof *t->slots);
    t->mask = cap - 1;
    for (size_t i = 0; old.slots && i <= old.mask; i++) {
        const struct temporal_row *r = &old.slots[i];
        if (!r->stack) continue;
        size_t k = row_slot(t, r->stack, r->a, r->f);
        while (t->slots[k].stack)
            k = (k + 1) & t->mask;
        t->slots[k] = *r;
    }
    free(old.slots);
}

static void temporal_add(struct timeline_build *tb, const struct snap_stack *st, uint32_t a, uint32_t f, uint64_t size)
{
    struct temporal_rows *t = &tb->rows;
    if (!t->slots || (t->count + 1) * 2 > t->mask + 1) rows_grow(t);
    size_t k = row_slot(t, st, a, f);
    for (; t->slots[k].stack; k = (k + 1) & t->mask) {
        struct temporal_row *r = &t->slots[k];
        if (r->stack == st && r->a == a && r->f == f) {
            r->bytes += size;
            r->blocks++;
            return;
        }
    }
    t->slots[k] = (struct temporal_row){st, a, f, size, 1};
    t->count++;
}

static void close_points_before(struct timeline_build *tb, uint64_t ticks)
{
    while (tb->cur + 1 < tb->npts && ticks > tb->pts[tb->cur].ticks) {
        struct html_point *p = &tb->pts[tb->cur++];
        p->bytes = tb->prev_bytes;
        p->blocks = tb->prev_blocks;
        p->mapped = tb->prev_mapped;
        p->high = tb->high;
        tb->high = tb->prev_bytes;
    }
}

static void on_event(const struct snap *s, uint64_t ticks, void *ctx)
{
    struct timeline_build *tb = ctx;
    if (!tb->started) timeline_start(tb, s);
    close_points_before(tb, ticks);
    const struct snap_event *ev = &s->ev;
    if (ev->kind == SNAP_EV_FREE && ev->known) {
        uint32_t a = point_of(tb, ev->born_ticks), f = point_of(tb, ticks);
        if (a != f) temporal_add(tb, ev->stack, a, f, ev->size);
    }
    tb->prev_bytes = s->cur_bytes;
    tb->prev_blocks = s->cur_blocks;
    tb->prev_mapped = s->map_cur_bytes;
    if (s->cur_bytes > tb->high) tb->high = s->cur_bytes;
}

static void timeline_finish(struct timeline_build *tb, const struct snap *s)
{
    if (!tb->started) timeline_start(tb, s);
    while (tb->cur < tb->npts) {
        struct html_point *p = &tb->pts[tb->cur++];
        p->bytes = tb->prev_bytes;
        p->blocks = tb->prev_blocks;
        p->mapped = tb->prev_mapped;
        p->high = tb->high;
        tb->high = tb->prev_bytes;
    }
    tb->cur = tb->npts;
    /* The end point is printed at or after the last event, to the microsecond, as TRACE@Ts reads it. */
    double last_t =
        ceil(snap_seconds(s, s->last_ticks > run_end_ticks(s) ? s->last_ticks : run_end_ticks(s)) * 1e6) / 1e6;
    struct html_point *end = &tb->pts[tb->npts - 1];
    if (last_t > end->t) end->t = last_t;
    for (size_t i = 0; s->live.slots && i <= s->live.mask; i++) {
        const struct blockmap_entry *b = &s->live.slots[i];
        if (b->ptr) temporal_add(tb, b->stack, point_of(tb, b->ticks), NO_FREE, b->size);
    }
}

/* ---- stacks of the snap, as the document's stacks ---------------------- */

struct stack_index {
    const struct snap_stack *canon;
    uint32_t index;
    UT_hash_handle hh;
};

static uint32_t doc_stack(struct html_doc *d, struct stack_index **map, const struct snap *s,
                          const struct snap_stack *st)
{
    const struct snap_stack *canon = st->canon ? st->canon : st;
    struct stack_index *e;
    HASH_FIND_PTR(*map, &canon, e);
    if (e) return e->index;
    size_t n;
    const struct sym_frame *frames = symbols_stack(s, canon, &n);
    e = xcalloc(1, sizeof *e);
    e->canon = canon;
    e->index = html_intern_stack(d, frames, n);
    HASH_ADD_PTR(*map, canon, e);
    return e->index;
}

struct temporal_out {
    uint32_t stack, a, f;
    uint64_t bytes, blocks;
};

static int by_temporal(const void *x, const void *y)
{
    const struct temporal_out *a = x, *b = y;
    if (a->stack != b->stack) return a->stack < b->stack ? -1 : 1;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    return a->f < b->f ? -1 : a->f > b->f;
}

/* Sorted, equal (stack, a, f) summed: ids with equal frames are one stack in the document. */
static size_t merge_rows(struct temporal_out *v, size_t n)
{
    qsort(v, n, sizeof *v, by_temporal);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].a == v[i].f) continue; /* allocated and freed between the same two points */
        if (w && v[w - 1].stack == v[i].stack && v[w - 1].a == v[i].a && v[w - 1].f == v[i].f) {
            v[w - 1].bytes += v[i].bytes;
            v[w - 1].blocks += v[i].blocks;
        } else {
            v[w++] = v[i];
        }
    }
    return w;
}

/* Keeps the first and last points, the markers and one point in `every`
 * between them; a row's points become the first kept point at or after
 * them, so "live at point k" is unchanged at every kept k (a block live
 * there was allocated at or before it and freed after it, as before). The
 * highest value between two kept points covers the points dropped between
 * them. False when too few points would be left. */
static bool thin_points(struct timeline_build *tb, struct temporal_out *v, size_t n, size_t every)
{
    size_t np = tb->npts, nkeep = 0;
    bool *keep = xmalloc(np * sizeof *keep);
    for (size_t i = 0; i < np; i++) {
        keep[i] = i == 0 || i + 1 == np || tb->pts[i].marker || i % every == 0;
        nkeep += keep[i];
    }
    if (nkeep == np || nkeep < TIMELINE_MIN_POINTS) {
        free(keep);
        return false;
    }
    uint32_t *to = xmalloc(np * sizeof *to);
    size_t idx = nkeep;
    for (size_t i = np; i-- > 0;) {
        if (keep[i]) idx--;
        to[i] = (uint32_t)idx; /* itself, or the kept point after it (the last point is kept) */
    }
    uint64_t high = 0;
    size_t w = 0;
    for (size_t i = 0; i < np; i++) {
        if (tb->pts[i].high > high) high = tb->pts[i].high;
        if (!keep[i]) continue;
        tb->pts[w] = tb->pts[i];
        tb->pts[w++].high = high;
        high = 0;
    }
    tb->npts = tb->cur = w;
    for (size_t r = 0; r < n; r++) {
        v[r].a = to[v[r].a];
        if (v[r].f != NO_FREE) v[r].f = to[v[r].f];
    }
    free(to);
    free(keep);
    return true;
}

static void write_temporal(struct strbuf *b, struct html_doc *d, struct stack_index **map, const struct snap *s,
                           struct timeline_build *tb)
{
    size_t n = tb->rows.count, k = 0;
    struct temporal_out *v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; tb->rows.slots && i <= tb->rows.mask; i++) {
        const struct temporal_row *r = &tb->rows.slots[i];
        if (r->stack) v[k++] = (struct temporal_out){doc_stack(d, map, s, r->stack), r->a, r->f, r->bytes, r->blocks};
    }
    free(tb->rows.slots);
    tb->rows = (struct temporal_rows){0};
    size_t w = merge_rows(v, n);
    /* Rows grow with stacks times pairs of points: past the budget, points
     * between markers go (about the square root of the excess, as rows grow
     * with pairs), and what stays is as exact. */
    while (w > TEMPORAL_ROW_BUDGET) {
        size_t every = 2;
        while (every * every * TEMPORAL_ROW_BUDGET < w)
            every *= 2;
        if (!thin_points(tb, v, w, every)) break;
        w = merge_rows(v, w);
    }
    sb_puts(b, ",\n\"temporal\": [");
    for (size_t i = 0; i < w; i++)
        sb_printf(b, "%s[%u,%u,%d,%llu,%llu]", i ? "," : "", v[i].stack, v[i].a, v[i].f == NO_FREE ? -1 : (int)v[i].f,
                  (unsigned long long)v[i].bytes, (unsigned long long)v[i].blocks);
    sb_puts(b, "]");
    free(v);
}

/* ---- the document -------------------------------------------------------- */

static void write_figure(struct strbuf *b, const char *name, uint64_t bytes, uint64_t blocks)
{
    fmt_json_string(b, name);
    sb_printf(b, ": {\"bytes\": %llu, \"blocks\": %llu}", (unsigned long long)bytes, (unsigned long long)blocks);
}

static void write_header(struct strbuf *b, const struct snap *s, const struct leak_report *lr, double duration)
{
    char ended[600];
    report_end_words(s, ended, sizeof ended);
    const char *exe = s->exe && *s->exe ? s->exe : "?";
    const char *slash = strrchr(exe, '/');
    sb_puts(b, "\"header\": {\"command\": ");
    fmt_json_string(b, s->cmdline ? s->cmdline : exe);
    sb_puts(b, ", \"exe\": ");
    fmt_json_string(b, slash ? slash + 1 : exe);
    sb_printf(b, ", \"pid\": %llu, \"sample_rate\": %llu, \"duration_s\": %.6f, \"ended\": ", (unsigned long long)s->hdr.pid,
              (unsigned long long)s->hdr.sample_rate, duration);
    fmt_json_string(b, ended);
    sb_printf(b,
              ", \"calls\": %llu, \"frees\": %llu, \"reallocs\": %llu, \"temporary\": %llu, \"unmatched_frees\": "
              "%llu,\n \"peak\": {\"bytes\": %llu, \"blocks\": %llu, \"time_s\": %.6f}, ",
              (unsigned long long)s->allocations, (unsigned long long)s->frees, (unsigned long long)s->reallocs,
              (unsigned long long)s->temporary, (unsigned long long)s->unmatched_frees,
              (unsigned long long)s->peak_bytes, (unsigned long long)s->peak_blocks, snap_seconds(s, s->peak_ticks));
    write_figure(b, "end", s->cur_bytes, s->cur_blocks);
    sb_puts(b, ", \"leaks\": ");
    if (!lr) {
        sb_puts(b, "null}");
        return;
    }
    sb_puts(b, "{");
    write_figure(b, "definite", lr->bytes[LEAK_DEFINITE], lr->blocks[LEAK_DEFINITE]);
    sb_puts(b, ", ");
    write_figure(b, "indirect", lr->bytes[LEAK_INDIRECT], lr->blocks[LEAK_INDIRECT]);
    sb_puts(b, ", ");
    write_figure(b, "possible", lr->bytes[LEAK_POSSIBLE], lr->blocks[LEAK_POSSIBLE]);
    sb_puts(b, ", ");
    write_figure(b, "reachable", lr->bytes[LEAK_REACHABLE], lr->blocks[LEAK_REACHABLE]);
    sb_puts(b, ", ");
    write_figure(b, "suppressed", lr->bytes[KIND_SUPPRESSED], lr->blocks[KIND_SUPPRESSED]);
    sb_puts(b, "}}");
}

static void write_timeline(struct strbuf *b, const struct snap *s, const struct timeline_build *tb)
{
    static const char *const series[] = {"t", "bytes", "blocks", "high"};
    sb_puts(b, ",\n\"timeline\": {");
    for (size_t k = 0; k < 4; k++) {
        sb_printf(b, "%s\"%s\": [", k ? ", " : "", series[k]);
        for (size_t i = 0; i < tb->npts; i++) {
            const struct html_point *p = &tb->pts[i];
            if (k == 0)
                sb_printf(b, i ? ",%.9f" : "%.9f", p->t);
            else
                sb_printf(b, i ? ",%llu" : "%llu",
                          (unsigned long long)(k == 1   ? p->bytes
                                               : k == 2 ? p->blocks
                                                        : p->high));
        }
        sb_puts(b, "]");
    }
    /* The program's own mappings (null: it made none), and the resident set
     * as `heapsnap run` sampled it: at each point its latest sample (null
     * before the first; the whole series null without samples). */
    if (s->mmaps || s->mremaps) {
        sb_puts(b, ", \"mapped\": [");
        for (size_t i = 0; i < tb->npts; i++) sb_printf(b, i ? ",%llu" : "%llu", (unsigned long long)tb->pts[i].mapped);
        sb_puts(b, "]");
    } else {
        sb_puts(b, ", \"mapped\": null");
    }
    if (s->nrss) {
        sb_puts(b, ", \"rss\": [");
        size_t r = 0;
        for (size_t i = 0; i < tb->npts; i++) {
            while (r < s->nrss && s->rss[r].ticks <= tb->pts[i].ticks) r++;
            if (r) sb_printf(b, i ? ",%llu" : "%llu", (unsigned long long)s->rss[r - 1].resident);
            else sb_puts(b, i ? ",null" : "null");
        }
        sb_puts(b, "]}");
    } else {
        sb_puts(b, ", \"rss\": null}");
    }
    uint32_t peak_point = point_of(tb, s->peak_ticks);
    sb_printf(b, ",\n\"peak_point\": %u,\n\"markers\": [", peak_point);
    size_t shown = 0;
    for (size_t i = 0; i < s->nmarkers; i++) {
        if (s->markers[i].ticks > s->stop_ticks) continue;
        const char *kind = snap_marker_kind(s->markers[i].label);
        sb_puts(b, shown++ ? ",\n{\"label\": " : "\n{\"label\": ");
        fmt_json_string(b, s->markers[i].label);
        uint32_t k = point_of(tb, s->markers[i].ticks);
        sb_printf(b, ", \"kind\": \"%s\", \"t\": %.6f, \"point\": %u, \"exact\": %s}", kind ? kind : "snapshot",
                  snap_seconds(s, s->markers[i].ticks), k, tb->pts[k].ticks == s->markers[i].ticks ? "true" : "false");
    }
    sb_puts(b, "]");
}

static void write_leaks(struct strbuf *b, struct strbuf *recs, struct html_doc *d, const struct leak_report *lr)
{
    static const char *const names[] = {"reachable", "definite", "indirect", "possible"};
    struct html_view kinds[4];
    for (int k = 0; k < 4; k++)
        kinds[k] = (struct html_view){.name = names[k]};
    for (size_t i = 0; i < lr->n; i++) {
        const struct leak_record *r = &lr->records[i];
        if (r->kind > LEAK_POSSIBLE || r->suppressed_by) continue; /* suppressed (or ignored): not a leak */
        size_t n = r->nframes;
        const struct sym_frame *frames = r->frames ? r->frames : symbols_stack(&lr->snap, r->stack, &n);
        uint32_t stack = html_intern_stack(d, frames, n);
        html_view_add(&kinds[r->kind], stack, r->bytes, r->blocks);
        /* As `heapsnap leaks` counts a record: a definitely lost block with what it alone holds. */
        sb_printf(recs,
                  "%s{\"kind\": \"%s\", \"bytes\": %llu, \"blocks\": %llu, \"direct_bytes\": %llu, "
                  "\"indirect_bytes\": %llu, \"stack\": %u}",
                  recs->len ? ",\n" : "\n", names[r->kind], (unsigned long long)(r->bytes + r->indirect_bytes),
                  (unsigned long long)r->blocks, (unsigned long long)r->bytes, (unsigned long long)r->indirect_bytes,
                  stack);
    }
    sb_puts(b, ",\n\"leaked\": {");
    for (int k = 0; k < 4; k++) {
        int kind = (int[]){LEAK_DEFINITE, LEAK_INDIRECT, LEAK_POSSIBLE, LEAK_REACHABLE}[k];
        html_view_finish(&kinds[kind]);
        if (k) sb_puts(b, ",\n");
        html_write_view(b, &kinds[kind]);
        html_view_free(&kinds[kind]);
    }
    sb_puts(b, "}");
}

int html_report_data(struct strbuf *out, const char *source, char *err, size_t errlen)
{
    char *path = xstrndup(source, strlen(source));
    struct snap_point point = {.kind = POINT_TIME, .seconds = HUGE_VAL}; /* all of it, its clock read first */
    const char *initial = "peak";                                        /* where the memory went, as heaptrack opens */
    struct stat st;
    char *at = stat(path, &st) == 0 ? NULL : strrchr(path, '@');
    if (at) {
        *at = 0;
        struct snap_point p;
        if (!snap_parse_point(at + 1, &p, err, errlen)) {
            free(path);
            return -1;
        }
        if (p.kind != POINT_PEAK) initial = "end";                   /* the heap at the point given */
        if (p.kind != POINT_PEAK && p.kind != POINT_EXIT) point = p; /* the run up to there */
    }
    if (symsnap_is_file(path)) {
        snprintf(err, errlen,
                 "%s: a snapshot file is one moment, not a run: `heapsnap flamegraph` draws it, "
                 "`heapsnap html OLD NEW` compares it with another",
                 path);
        free(path);
        return -1;
    }
    struct timeline_build tb = {.path = path};
    struct snap s;
    if (snap_load(&s, path, &point, on_event, &tb, err, errlen) < 0) {
        free(path);
        return -1;
    }
    timeline_finish(&tb, &s);

    struct html_doc d = {0};
    struct stack_index *map = NULL;
    struct html_view views[5] = {
        {.name = "peak"}, {.name = "end"}, {.name = "allocated"}, {.name = "calls"}, {.name = "temporary"}};
    for (const struct snap_stack *c = s.canon_stacks; c; c = c->hh_frames.next) {
        if (!(c->fig_bytes[1] || c->fig_blocks[1] || c->fig_bytes[0] || c->fig_blocks[0] || c->fig_calls)) continue;
        uint32_t k = doc_stack(&d, &map, &s, c);
        html_view_add(&views[0], k, c->fig_bytes[1], c->fig_blocks[1]);
        html_view_add(&views[1], k, c->fig_bytes[0], c->fig_blocks[0]);
        html_view_add(&views[2], k, c->fig_bytes_allocated, c->fig_calls);
        html_view_add(&views[3], k, c->fig_calls, c->fig_bytes_allocated);
        html_view_add(&views[4], k, c->fig_temporary, c->fig_temporary_bytes);
    }
    struct strbuf view_rows = {0}, temporal = {0};
    for (int i = 0; i < 5; i++) {
        html_view_finish(&views[i]);
        if (i) sb_puts(&view_rows, ",\n");
        html_write_view(&view_rows, &views[i]);
        html_view_free(&views[i]);
    }
    write_temporal(&temporal, &d, &map, &s, &tb);

    /* The leak check's records, as `heapsnap leaks` gives them (default
     * suppressions): from this replay when the check came after its last
     * event (the usual check, at the end), else from a replay to the check. */
    struct leak_report lr;
    bool have_leaks = false, moved = false, loaded = false;
    struct leak_gate g;
    struct supp_list supps;
    gate_defaults(&g);
    gate_load_suppressions(&g, &supps);
    if (s.nchecks && s.stop_ticks == UINT64_MAX) {
        char lerr[1024];
        moved = leaks_of_replay(&lr, &s, &supps, true) == 0;
        loaded = moved || leaks_load(&lr, path, &supps, true, lerr, sizeof lerr) == 0;
        have_leaks = loaded && !lr.check_failed;
    }
    const struct snap *sp = moved ? &lr.snap : &s;
    struct strbuf records = {0};
    if (have_leaks) write_leaks(&view_rows, &records, &d, &lr);

    sb_puts(out, "{\"version\": 1, \"kind\": \"report\", \"source\": ");
    fmt_json_string(out, source);
    sb_printf(out, ", \"initial\": \"%s\",\n", initial);
    write_header(out, sp, have_leaks ? &lr : NULL, tb.pts[tb.npts - 1].t); /* the run ends where its chart does */
    write_timeline(out, sp, &tb);
    /* Every frame and stack is interned by now: written before the rows that name them. */
    sb_puts(out, ",\n");
    html_write_frames(out, &d);
    sb_puts(out, ",\n");
    html_write_stacks(out, &d);
    sb_puts(out, ",\n\"views\": {");
    sb_add(out, view_rows.s, view_rows.len);
    sb_puts(out, "}");
    sb_add(out, temporal.s, temporal.len);
    sb_puts(out, ",\n\"leak_records\": [");
    if (records.s) sb_add(out, records.s, records.len);
    sb_puts(out, "]}\n");

    sb_free(&view_rows);
    sb_free(&temporal);
    sb_free(&records);
    struct stack_index *e, *etmp;
    HASH_ITER(hh, map, e, etmp)
    {
        HASH_DEL(map, e);
        free(e);
    }
    html_doc_free(&d);
    if (loaded) leaks_free(&lr);
    supp_free(&supps);
    free(g.supp_files);
    free(tb.pts);
    if (!moved) {
        symbols_end(&s);
        snap_free(&s);
    }
    free(path);
    return 0;
}
