/* stats.c - see stats.h. Grouping follows tracemalloc, with two differences
 * native programs need: the call site skips allocator wrappers (strdup,
 * std::allocator, --skip-function patterns), and --cumulative counts a frame
 * once per stack even when recursion repeats it (tracemalloc counts twice). */
#include "stats.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

/* Functions that allocate on their caller's behalf: never the call site. */
static const char *const builtin_wrappers[] = {
    "strdup", "__strdup", "strndup", "__strndup", "wcsdup", "asprintf", "__asprintf", "vasprintf",
    "__vasprintf_internal", "__vasprintf", "getline", "getdelim", "__getdelim", "open_memstream",
    "std::__new_allocator*", "__gnu_cxx::new_allocator*", "std::allocator*", "std::allocator_traits*",
    "operator new*", "xmalloc", "xcalloc", "xrealloc", "xstrdup",
    /* libstdc++'s smart-pointer factories and shared_ptr's control-block
     * allocation, which -O2 inlines into the caller. A demangled function
     * template starts with its return type, hence the "* " forms. */
    "std::make_unique*", "* std::make_unique*", "std::make_shared*", "* std::make_shared*", "std::allocate_shared*",
    "* std::allocate_shared*", "* std::__allocate_guarded<*", "std::__shared_count<*", "std::__shared_ptr<*",
    "std::shared_ptr<*>::shared_ptr*",
};

bool stats_parse_key(const char *name, enum stats_key *key)
{
    static const char *const names[] = {"lineno", "function", "file", "module", "traceback"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0) return (*key = (enum stats_key)i), true;
    return false;
}

bool stats_parse_sort(const char *name, enum stats_sort *sort)
{
    static const char *const names[] = {"size", "count", "calls"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) return (*sort = (enum stats_sort)i), true;
    return false;
}

const char *stats_key_name(enum stats_key key)
{
    static const char *const names[] = {"lineno", "function", "file", "module", "traceback"};
    return names[key];
}

bool stats_check(const struct stats_options *o, char *err, size_t errlen)
{
    if (o->cumulative && o->key == KEY_TRACEBACK) {
        snprintf(err, errlen, "--cumulative does not go with --by traceback (a traceback is already every frame)");
        return false;
    }
    return true;
}

static bool is_wrapper(const struct stats_options *o, const struct sym_frame *f)
{
    for (size_t i = 0; i < sizeof builtin_wrappers / sizeof *builtin_wrappers; i++)
        if (fnmatch(builtin_wrappers[i], f->function, 0) == 0) return true;
    for (size_t i = 0; i < o->nskip; i++)
        if (fnmatch(o->skip[i], f->function, 0) == 0) return true;
    return false;
}

/* The first frame that is not an allocator wrapper (the last one if all are). */
static size_t call_site(const struct stats_options *o, const struct symsnap_trace *t)
{
    size_t i = 0;
    while (i + 1 < t->nframes && is_wrapper(o, &t->frames[i])) i++;
    return i;
}

static bool frame_matches(const char *pattern, const struct sym_frame *f)
{
    return (f->file && fnmatch(pattern, f->file, 0) == 0) || fnmatch(pattern, f->function, 0) == 0 ||
           (f->module && fnmatch(pattern, f->module, 0) == 0);
}

/* tracemalloc's filter_traces: kept when no inclusive filter exists or any
 * matches, and no exclusive filter matches. Without --all-frames a filter
 * sees only the call site. */
static bool kept(const struct stats_options *o, const struct symsnap_trace *t, size_t site)
{
    bool have_inclusive = false, included = false;
    for (size_t i = 0; i < o->nfilters; i++) {
        const struct stats_filter *f = &o->filters[i];
        bool m = false;
        if (t->nframes == 0) m = false;
        else if (!o->all_frames) m = frame_matches(f->pattern, &t->frames[site]);
        else
            for (size_t k = site; k < t->nframes && !m; k++) m = frame_matches(f->pattern, &t->frames[k]);
        if (f->inclusive) {
            have_inclusive = true;
            included |= m;
        } else if (m) {
            return false;
        }
    }
    return !have_inclusive || included;
}

size_t stats_call_site(const struct stats_options *o, const struct symsnap_trace *t) { return call_site(o, t); }

bool stats_keeps(const struct stats_options *o, const struct symsnap_trace *t)
{
    return kept(o, t, call_site(o, t));
}

static char *frame_key(enum stats_key key, const struct sym_frame *f)
{
    struct strbuf b = {0};
    const char *module = f->module ? f->module : "??";
    switch (key) {
    case KEY_LINENO:
    case KEY_TRACEBACK:
        if (f->file) sb_printf(&b, "%s:%d", f->file, f->line);
        else sb_printf(&b, "%s [%s]", f->function, module);
        break;
    case KEY_FUNCTION: sb_printf(&b, "%s", f->function); break;
    case KEY_FILE: sb_printf(&b, "%s", f->file ? f->file : module); break;
    case KEY_MODULE: sb_printf(&b, "%s", module); break;
    }
    return b.s;
}

/* Tracebacks group by every frame's function, file, line and module. */
static char *traceback_id(const struct symsnap_trace *t, size_t site)
{
    struct strbuf b = {0};
    for (size_t k = site; k < t->nframes; k++) {
        const struct sym_frame *f = &t->frames[k];
        sb_printf(&b, "%s\t%s\t%d\t%s\n", f->function, f->file ? f->file : "", f->line, f->module ? f->module : "");
    }
    if (!b.s) sb_puts(&b, "");
    return b.s;
}

struct group_table {
    struct stats_entry *by_id; /* keyed by id (the display key, or the traceback id) */
};

static struct stats_entry *group_get(struct group_table *g, char *id, char *display)
{
    struct stats_entry *e;
    HASH_FIND_STR(g->by_id, id, e);
    if (e) {
        free(id);
        free(display);
        return e;
    }
    e = xcalloc(1, sizeof *e);
    e->key = display ? display : xstrndup(id, strlen(id));
    e->last_trace = SIZE_MAX;
    /* the id string becomes the hash key; keep it alive in the same block */
    HASH_ADD_KEYPTR(hh, g->by_id, id, strlen(id), e);
    return e;
}

static void group_snapshot(const struct symsnap *ss, const struct stats_options *o, struct group_table *g,
                           bool is_new)
{
    for (size_t i = 0; i < ss->ntraces; i++) {
        const struct symsnap_trace *t = &ss->traces[i];
        size_t site = call_site(o, t);
        if (!kept(o, t, site)) continue;
        int64_t sz = is_new ? (int64_t)t->size : -(int64_t)t->size, ct = is_new ? (int64_t)t->count : -(int64_t)t->count;
        size_t first = site, last = o->cumulative ? t->nframes : site + 1;
        if (t->nframes == 0 || o->key == KEY_TRACEBACK) { /* no frames at all: one "unknown" group */
            char *display = t->nframes ? frame_key(KEY_LINENO, &t->frames[site]) : xstrndup("<no stack>", 10);
            struct stats_entry *e = group_get(g, traceback_id(t, site), display);
            if (!e->frames) {
                e->frames = t->frames ? t->frames + site : NULL;
                e->nframes = t->nframes > site ? t->nframes - site : 0;
            }
            if (is_new) e->size += t->size, e->count += t->count, e->calls += t->calls, e->allocated += t->allocated;
            e->size_diff += sz;
            e->count_diff += ct;
            continue;
        }
        for (size_t k = first; k < last; k++) {
            struct stats_entry *e = group_get(g, frame_key(o->key, &t->frames[k]), NULL);
            if (e->last_trace == i + (is_new ? 0 : (size_t)1 << 62)) continue; /* once per stack */
            e->last_trace = i + (is_new ? 0 : (size_t)1 << 62);
            if (is_new) e->size += t->size, e->count += t->count, e->calls += t->calls, e->allocated += t->allocated;
            e->size_diff += sz;
            e->count_diff += ct;
        }
    }
}

static int cmp_stats(const void *a, const void *b)
{
    const struct stats_entry *x = *(struct stats_entry *const *)a, *y = *(struct stats_entry *const *)b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->key, y->key);
}

static int cmp_count(const void *a, const void *b)
{
    const struct stats_entry *x = *(struct stats_entry *const *)a, *y = *(struct stats_entry *const *)b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return cmp_stats(a, b);
}

static int cmp_calls(const void *a, const void *b)
{
    const struct stats_entry *x = *(struct stats_entry *const *)a, *y = *(struct stats_entry *const *)b;
    if (x->calls != y->calls) return x->calls < y->calls ? 1 : -1;
    if (x->allocated != y->allocated) return x->allocated < y->allocated ? 1 : -1;
    return cmp_stats(a, b);
}

static uint64_t mag(int64_t v) { return v < 0 ? (uint64_t)-v : (uint64_t)v; }

static int cmp_diff(const void *a, const void *b)
{
    const struct stats_entry *x = *(struct stats_entry *const *)a, *y = *(struct stats_entry *const *)b;
    if (mag(x->size_diff) != mag(y->size_diff)) return mag(x->size_diff) < mag(y->size_diff) ? 1 : -1;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    if (mag(x->count_diff) != mag(y->count_diff)) return mag(x->count_diff) < mag(y->count_diff) ? 1 : -1;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->key, y->key);
}

static void finish(struct group_table *g, const struct stats_options *o, struct stats_result *out, bool diff)
{
    size_t n = HASH_COUNT(g->by_id), k = 0;
    out->v = xmalloc((n ? n : 1) * sizeof *out->v);
    struct stats_entry *e, *tmp;
    HASH_ITER(hh, g->by_id, e, tmp) {
        HASH_DEL(g->by_id, e);
        free((char *)e->hh.key);
        e->hh.key = NULL;
        if (!diff && e->count == 0 && !(o->sort == SORT_CALLS && e->calls)) { /* nothing live, nor asked for */
            free(e->key);
            free(e);
            continue;
        }
        out->v[k++] = e;
    }
    int (*order)(const void *, const void *) = o->sort == SORT_CALLS ? cmp_calls
                                               : o->sort == SORT_COUNT ? cmp_count
                                                                       : cmp_stats;
    qsort(out->v, k, sizeof *out->v, diff ? cmp_diff : order);
    out->total_groups = k;
    out->n = o->limit && o->limit < k ? o->limit : k;
    for (size_t i = out->n; i < k; i++) {
        free(out->v[i]->key);
        free(out->v[i]);
    }
    out->diff = diff;
}

static void totals(const struct symsnap *ss, const struct stats_options *o, uint64_t *size, uint64_t *count)
{
    *size = *count = 0;
    for (size_t i = 0; i < ss->ntraces; i++) {
        if (!kept(o, &ss->traces[i], call_site(o, &ss->traces[i]))) continue;
        *size += ss->traces[i].size;
        *count += ss->traces[i].count;
    }
}

void stats_compute(const struct symsnap *ss, const struct stats_options *o, struct stats_result *out)
{
    memset(out, 0, sizeof *out);
    struct group_table g = {0};
    group_snapshot(ss, o, &g, true);
    finish(&g, o, out, false);
    totals(ss, o, &out->total_size, &out->total_count);
    out->sample_rate = ss->sample_rate;
}

void stats_compare(const struct symsnap *old, const struct symsnap *new, const struct stats_options *o,
                   struct stats_result *out)
{
    memset(out, 0, sizeof *out);
    out->sample_rate = new->sample_rate ? new->sample_rate : old->sample_rate;
    struct group_table g = {0};
    group_snapshot(old, o, &g, false);
    group_snapshot(new, o, &g, true);
    finish(&g, o, out, true);
    uint64_t os, oc;
    totals(old, o, &os, &oc);
    totals(new, o, &out->total_size, &out->total_count);
    out->total_size_diff = (int64_t)out->total_size - (int64_t)os;
    out->total_count_diff = (int64_t)out->total_count - (int64_t)oc;
}

void stats_free(struct stats_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i]->key);
        free(r->v[i]);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}
