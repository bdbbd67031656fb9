/* leaks.c - see leaks.h. Blocks live at the check and not named by the
 * check's records were still reachable. A definitely lost block carries the
 * bytes of its clique ("64 (32 direct, 32 indirect) bytes"). */
#include "leaks.h"
#include "color.h"
#include "fmt.h"
#include "leakcheck.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const kind_names[KIND_COUNT] = {"reachable", "definite", "indirect", "possible", "suppressed"};
static const char *const kind_words[KIND_COUNT] = {"still reachable", "definitely lost", "indirectly lost",
                                                   "possibly lost", "suppressed"};

bool leaks_parse_kinds(const char *text, unsigned *kinds)
{
    *kinds = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (strcmp(tok, "all") == 0) {
            *kinds = (1u << LEAK_REACHABLE) | (1u << LEAK_DEFINITE) | (1u << LEAK_INDIRECT) | (1u << LEAK_POSSIBLE);
            continue;
        }
        unsigned k = KIND_COUNT;
        for (unsigned i = 0; i < 4; i++)
            if (strcmp(tok, kind_names[i]) == 0) k = i;
        if (k == KIND_COUNT) return false;
        *kinds |= 1u << k;
    }
    return *kinds != 0;
}

/* Blocks the program marked with heapsnap_ignore() or allocated under
 * heapsnap_disable(): grouped apart, then counted as suppressed. */
enum { KIND_IGNORED = 8 };
static struct supp ignored_by_program = {.name = (char *)"heapsnap_ignore()/heapsnap_disable()", .builtin = true};

static int by_ptr(const void *a, const void *b)
{
    const struct snap_leak *x = a, *y = b;
    return x->ptr < y->ptr ? -1 : x->ptr > y->ptr;
}

static const struct snap_leak *lookup(const struct snap_leak *v, size_t n, uint64_t ptr)
{
    size_t l = 0, r = n;
    while (l < r) {
        size_t m = (l + r) / 2;
        if (v[m].ptr < ptr) l = m + 1;
        else r = m;
    }
    return l < n && v[l].ptr == ptr ? &v[l] : NULL;
}

static int by_size(const void *a, const void *b)
{
    const struct leak_record *x = a, *y = b;
    uint64_t sx = x->bytes + x->indirect_bytes, sy = y->bytes + y->indirect_bytes;
    if (sx != sy) return sx < sy ? 1 : -1;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    return x->stack->id < y->stack->id ? -1 : x->stack->id > y->stack->id;
}

static void leaks_build(struct leak_report *r, struct supp_list *supps, bool reachable_details);

int leaks_load(struct leak_report *r, const char *source, struct supp_list *supps, bool reachable_details, char *err,
               size_t errlen)
{
    memset(r, 0, sizeof *r);
    ignored_by_program.used_records = ignored_by_program.used_blocks = ignored_by_program.used_bytes = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s", source);
    struct snap_point point = {.kind = POINT_LEAK_CHECK};
    char *at = strrchr(path, '@');
    if (at && strncmp(at + 1, "leak-check:", 11) == 0) {
        *at = 0;
        point.nth = (unsigned)atoi(at + 12);
        if (!point.nth) {
            snprintf(err, errlen, "%s: a leak check is leak-check:N, N from 1", source);
            return -1;
        }
    } else if (at && access(source, F_OK) != 0) {
        snprintf(err, errlen, "%s: leaks are classified at a leak check: TRACE or TRACE@leak-check:N", source);
        return -1;
    }
    int rc = snap_load(&r->snap, path, &point, NULL, NULL, err, errlen);
    if (rc < 0) return rc;
    leaks_build(r, supps, reachable_details);
    return 0;
}

int leaks_of_replay(struct leak_report *r, struct snap *s, struct supp_list *supps, bool reachable_details)
{
    /* The last check saw the heap this replay ends with only if no event came after it. */
    if (!s->nchecks || s->stop_ticks != UINT64_MAX || s->checks[s->nchecks - 1].ticks < s->last_ticks) return -1;
    memset(r, 0, sizeof *r);
    ignored_by_program.used_records = ignored_by_program.used_blocks = ignored_by_program.used_bytes = 0;
    r->snap = *s;
    memset(s, 0, sizeof *s); /* the report owns it now */
    r->snap.check = &r->snap.checks[r->snap.nchecks - 1];
    leaks_build(r, supps, reachable_details);
    return 0;
}

int leaks_of_snap(struct leak_report *r, struct snap *s, const struct snap_leak_check *check, struct snap_leak *leaks,
                  size_t nleaks, struct supp_list *supps)
{
    memset(r, 0, sizeof *r);
    ignored_by_program.used_records = ignored_by_program.used_blocks = ignored_by_program.used_bytes = 0;
    r->snap = *s;
    memset(s, 0, sizeof *s); /* the report owns it now */
    s = &r->snap;
    s->checks = xmalloc(sizeof *s->checks);
    s->checks[0] = *check;
    s->checks[0].first = 0;
    s->checks[0].n = nleaks;
    s->checks[0].note = check->note ? xstrndup(check->note, strlen(check->note)) : NULL;
    s->nchecks = 1;
    s->check = &s->checks[0];
    s->leaks = leaks;
    s->nleaks = nleaks;
    snap_finish_stacks(s);
    leaks_build(r, supps, false);
    return 0;
}

static const char *const origin_names[] = {"__lsan_default_suppressions", "LSAN_OPTIONS suppressions="};

void leaks_program_suppressions(const struct snap *s, struct supp_list *l)
{
    for (size_t o = 0; o < 2; o++) {
        const struct strbuf *text = &s->program_suppressions[o];
        size_t first = l->n;
        char name[256], err[1024];
        snprintf(name, sizeof name, "pid %llu's %s", (unsigned long long)s->hdr.pid, origin_names[o]);
        if (supp_load_text(l, text->s, text->len, name, err, sizeof err) < 0)
            warn("%s: the rest of the program's suppressions there are left out", err);
        for (size_t i = first; i < l->n; i++)
            l->v[i].origin = origin_names[o];
    }
}

/* The suppression a lost block's record falls under: the caller's, then the program's. */
static struct supp *suppressed_by(struct supp_list *supps, struct supp_list *program, const struct sym_frame *f,
                                  size_t n, unsigned kind)
{
    struct supp *by = supps ? supp_match(supps, f, n, kind) : NULL;
    return by ? by : supp_match(program, f, n, kind);
}

static void leaks_build(struct leak_report *r, struct supp_list *supps, bool reachable_details)
{
    struct snap *s = &r->snap;
    r->check_failed = s->check->status != CHECK_DONE && s->check->status != CHECK_OFF;
    r->check_off = s->check->status == CHECK_OFF;
    r->check_note = s->check->note;
    leaks_program_suppressions(s, &r->program_supps);
    size_t ncl = s->leaks ? s->check->n : 0; /* no lost block recorded anywhere: no array */
    struct snap_leak *classes = ncl ? s->leaks + s->check->first : NULL;
    if (ncl) qsort(classes, ncl, sizeof *classes, by_ptr);

    /* One record per (canonical stack, kind): a small table per stack. */
    struct acc {
        const struct snap_stack *stack;
        unsigned kind;
        uint64_t bytes, blocks, indirect;
        UT_hash_handle hh;
        struct {
            const void *stack;
            unsigned kind;
        } key;
    } *table = NULL, *e, *tmp;
    for (size_t i = 0; s->live.slots && i <= s->live.mask; i++) {
        const struct blockmap_entry *b = &s->live.slots[i];
        if (!b->ptr) continue;
        const struct snap_leak *c = lookup(classes, ncl, b->ptr);
        unsigned kind = b->ignored ? KIND_IGNORED : c ? c->kind : LEAK_REACHABLE;
        struct acc key = {0};
        key.key.stack = b->stack->canon;
        key.key.kind = kind;
        HASH_FIND(hh, table, &key.key, sizeof key.key, e);
        if (!e) {
            e = xcalloc(1, sizeof *e);
            e->key = key.key;
            e->stack = b->stack->canon;
            e->kind = kind;
            HASH_ADD(hh, table, key, sizeof e->key, e);
        }
        e->bytes += b->size;
        e->blocks++;
        if (c) e->indirect += c->indirect;
    }
    r->records = xcalloc(HASH_COUNT(table) + 1, sizeof *r->records);
    HASH_ITER(hh, table, e, tmp) {
        struct leak_record *rec = &r->records[r->n++];
        rec->stack = e->stack;
        rec->kind = e->kind;
        rec->bytes = e->bytes;
        rec->blocks = e->blocks;
        rec->indirect_bytes = e->kind == LEAK_DEFINITE ? e->indirect : 0;
        if (e->kind != LEAK_REACHABLE || reachable_details) rec->frames = symbols_stack(s, e->stack, &rec->nframes);
        if (e->kind == LEAK_REACHABLE && !reachable_details) {
            rec->suppressed_by = NULL;
        } else if (e->kind == KIND_IGNORED) { /* the program said so: suppressed, by itself */
            rec->kind = LEAK_REACHABLE;
            rec->suppressed_by = &ignored_by_program;
        } else {
            rec->suppressed_by = suppressed_by(supps, &r->program_supps, rec->frames, rec->nframes, rec->kind);
        }
        unsigned k = rec->suppressed_by ? KIND_SUPPRESSED : rec->kind;
        r->bytes[k] += rec->bytes;
        r->blocks[k] += rec->blocks;
        if (rec->suppressed_by) {
            rec->suppressed_by->used_records++;
            rec->suppressed_by->used_blocks += rec->blocks;
            rec->suppressed_by->used_bytes += rec->bytes;
        }
        HASH_DEL(table, e);
        free(e);
    }
    qsort(r->records, r->n, sizeof *r->records, by_size);
}

void leaks_summarize(struct snap *s, struct snap_leak *classes, size_t n, struct supp_list *supps,
                     uint64_t bytes[KIND_COUNT], uint64_t blocks[KIND_COUNT])
{
    memset(bytes, 0, KIND_COUNT * sizeof *bytes);
    memset(blocks, 0, KIND_COUNT * sizeof *blocks);
    if (n) qsort(classes, n, sizeof *classes, by_ptr);
    struct supp_list program = {0};
    leaks_program_suppressions(s, &program);
    /* Whether a stack's lost blocks of a kind are suppressed: worked out
     * once per (stack, kind), counted without marking suppressions used. */
    struct verdict {
        struct {
            const struct snap_stack *stack;
            unsigned kind;
        } key;
        bool suppressed;
        UT_hash_handle hh;
    } *seen = NULL, *v, *tmp;
    for (size_t i = 0; s->live.slots && i <= s->live.mask; i++) {
        const struct blockmap_entry *b = &s->live.slots[i];
        if (!b->ptr) continue;
        const struct snap_leak *c = lookup(classes, n, b->ptr);
        unsigned kind = b->ignored ? KIND_SUPPRESSED : c ? c->kind : LEAK_REACHABLE;
        if (kind != KIND_SUPPRESSED && kind != LEAK_REACHABLE) {
            struct verdict key;
            memset(&key, 0, sizeof key);
            key.key.stack = b->stack;
            key.key.kind = kind;
            HASH_FIND(hh, seen, &key.key, sizeof key.key, v);
            if (!v) {
                v = xcalloc(1, sizeof *v);
                v->key = key.key;
                size_t nframes;
                const struct sym_frame *frames = symbols_stack(s, b->stack, &nframes);
                struct supp *by = suppressed_by(supps, &program, frames, nframes, kind);
                v->suppressed = by != NULL;
                HASH_ADD(hh, seen, key, sizeof v->key, v);
            }
            if (v->suppressed) kind = KIND_SUPPRESSED;
        }
        bytes[kind] += b->size;
        blocks[kind]++;
    }
    HASH_ITER(hh, seen, v, tmp)
    {
        HASH_DEL(seen, v);
        free(v);
    }
    supp_free(&program);
}

void leaks_free(struct leak_report *r)
{
    free(r->records);
    supp_free(&r->program_supps);
    symbols_end(&r->snap);
    snap_free(&r->snap);
    memset(r, 0, sizeof *r);
}

uint64_t leaks_bytes_of(const struct leak_report *r, unsigned kinds)
{
    uint64_t b = 0;
    for (unsigned k = 0; k < 4; k++)
        if (kinds & (1u << k)) b += r->bytes[k];
    return b;
}

uint64_t leaks_blocks_of(const struct leak_report *r, unsigned kinds)
{
    uint64_t b = 0;
    for (unsigned k = 0; k < 4; k++)
        if (kinds & (1u << k)) b += r->blocks[k];
    return b;
}

static bool shown(const struct leak_record *rec, unsigned kinds)
{
    return !rec->suppressed_by && (kinds & (1u << rec->kind));
}

/* memcheck's kinds, most urgent reddest */
static enum color kind_color(unsigned kind)
{
    switch (kind) {
    case LEAK_DEFINITE: return COLOR_RED_BOLD;
    case LEAK_INDIRECT: return COLOR_RED;
    case LEAK_POSSIBLE: return COLOR_YELLOW;
    case KIND_SUPPRESSED: return COLOR_DIM;
    default: return COLOR_RESET;
    }
}

static void print_frames(FILE *out, const struct leak_record *rec)
{
    for (size_t i = 0; i < rec->nframes; i++) {
        const struct sym_frame *f = &rec->frames[i];
        fprintf(out, "   %s %s", i ? "by" : "at", f->function);
        if (f->file) fprintf(out, " (%s:%d)", f->file, f->line);
        if (f->module) fprintf(out, " [%s]", f->module);
        fputc('\n', out);
    }
    if (!rec->nframes) fprintf(out, "   (no stack recorded)\n");
}

void leaks_print_text(FILE *out, const struct leak_report *r, unsigned show_kinds)
{
    size_t total = 0, k = 0;
    for (size_t i = 0; i < r->n; i++) total += shown(&r->records[i], show_kinds);
    for (size_t i = 0; i < r->n; i++) {
        const struct leak_record *rec = &r->records[i];
        if (!shown(rec, show_kinds)) continue;
        k++;
        const char *on = color(out, kind_color(rec->kind)), *off = *on ? color(out, COLOR_RESET) : "";
        if (rec->indirect_bytes)
            fprintf(out, "%llu (%llu direct, %llu indirect) bytes in %llu blocks are %s%s%s in loss record %zu of %zu\n",
                    (unsigned long long)(rec->bytes + rec->indirect_bytes), (unsigned long long)rec->bytes,
                    (unsigned long long)rec->indirect_bytes, (unsigned long long)rec->blocks, on, kind_words[rec->kind],
                    off, k, total);
        else
            fprintf(out, "%llu bytes in %llu blocks are %s%s%s in loss record %zu of %zu\n",
                    (unsigned long long)rec->bytes, (unsigned long long)rec->blocks, on, kind_words[rec->kind], off, k,
                    total);
        print_frames(out, rec);
        fputc('\n', out);
    }
    leaks_print_summary(out, r);
}

void leaks_print_summary(FILE *out, const struct leak_report *r)
{
    if (r->check_failed) {
        fprintf(out, "LEAK SUMMARY: the leak check could not run: %s\n", r->check_note ? r->check_note : "no reason recorded");
        return;
    }
    if (r->check_off) {
        fprintf(out, "LEAK SUMMARY: not checked: %s\n",
                r->check_note ? r->check_note : "the program turned leak checking off");
        return;
    }
    fprintf(out, "LEAK SUMMARY:\n");
    static const unsigned order[] = {LEAK_DEFINITE, LEAK_INDIRECT, LEAK_POSSIBLE, LEAK_REACHABLE, KIND_SUPPRESSED};
    for (size_t i = 0; i < 5; i++) {
        /* coloured only where there is something to see */
        const char *on = r->bytes[order[i]] ? color(out, kind_color(order[i])) : "", *off = *on ? color(out, COLOR_RESET) : "";
        fprintf(out, "   %s%15s: %llu bytes in %llu blocks%s\n", on, kind_words[order[i]],
                (unsigned long long)r->bytes[order[i]], (unsigned long long)r->blocks[order[i]], off);
    }
}

void leaks_print_suppressions_used(FILE *out, const struct leak_report *r, const struct supp_list *supps)
{
    bool any = false;
    const struct supp_list *lists[] = {supps, &r->program_supps};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; lists[k] && i < lists[k]->n; i++) {
            const struct supp *s = &lists[k]->v[i];
            if (!s->used_records) continue;
            if (!any) fprintf(out, "Suppressions used:\n  blocks      bytes suppression\n");
            any = true;
            fprintf(out, "%8llu %10llu %s%s%s%s", (unsigned long long)s->used_blocks, (unsigned long long)s->used_bytes,
                    s->name, s->builtin ? " (built in)" : "", s->origin ? " (the program's, " : "",
                    s->origin ? s->origin : "");
            if (s->origin) fputs(")", out);
            fputc('\n', out);
        }
}

static void frames_json(struct strbuf *b, const struct leak_record *rec)
{
    sb_puts(b, "[");
    for (size_t i = 0; i < rec->nframes; i++) {
        if (i) sb_puts(b, ", ");
        symbols_frame_json(b, &rec->frames[i]);
    }
    sb_puts(b, "]");
}

void leaks_print_json(FILE *out, const struct leak_report *r, unsigned show_kinds, const struct supp_list *supps)
{
    struct strbuf b = {0};
    static const char *const keys[KIND_COUNT] = {"still_reachable", "definitely_lost", "indirectly_lost",
                                                 "possibly_lost", "suppressed"};
    sb_printf(&b,
              "{\n  \"schema\": 1,\n  \"pid\": %llu,\n  \"check\": {\"seq\": %u, \"ok\": %s, \"off\": %s, \"note\": ",
              (unsigned long long)r->snap.hdr.pid, r->snap.check->seq, r->check_failed ? "false" : "true",
              r->check_off ? "true" : "false");
    fmt_json_string(&b, r->check_note);
    sb_puts(&b, "},\n  \"summary\": {");
    for (unsigned k = 0; k < KIND_COUNT; k++)
        sb_printf(&b, "%s\"%s\": {\"bytes\": %llu, \"blocks\": %llu}", k ? ", " : "", keys[k],
                  (unsigned long long)r->bytes[k], (unsigned long long)r->blocks[k]);
    sb_puts(&b, "},\n  \"records\": [");
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct leak_record *rec = &r->records[i];
        if (!(show_kinds & (1u << rec->kind)) && !rec->suppressed_by) continue;
        if (rec->suppressed_by && !(show_kinds & (1u << rec->kind))) continue;
        sb_printf(&b, "%s\n    {\"kind\": \"%s\", \"bytes\": %llu, \"blocks\": %llu, \"direct_bytes\": %llu, "
                      "\"indirect_bytes\": %llu, \"suppressed_by\": ",
                  k++ ? "," : "", kind_names[rec->kind], (unsigned long long)(rec->bytes + rec->indirect_bytes),
                  (unsigned long long)rec->blocks, (unsigned long long)rec->bytes,
                  (unsigned long long)rec->indirect_bytes);
        fmt_json_string(&b, rec->suppressed_by ? rec->suppressed_by->name : NULL);
        sb_puts(&b, ", \"stack\": ");
        frames_json(&b, rec);
        sb_puts(&b, "}");
    }
    sb_puts(&b, k ? "\n  ],\n  \"suppressions_used\": [" : "],\n  \"suppressions_used\": [");
    k = 0;
    const struct supp_list *lists[] = {supps, &r->program_supps};
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; lists[l] && i < lists[l]->n; i++) {
            const struct supp *s = &lists[l]->v[i];
            if (!s->used_records) continue;
            sb_puts(&b, k++ ? ", {\"name\": " : "{\"name\": ");
            fmt_json_string(&b, s->name);
            sb_printf(&b, ", \"builtin\": %s, \"origin\": ", s->builtin ? "true" : "false");
            fmt_json_string(&b, s->origin);
            sb_printf(&b, ", \"records\": %llu, \"blocks\": %llu, \"bytes\": %llu}",
                      (unsigned long long)s->used_records, (unsigned long long)s->used_blocks,
                      (unsigned long long)s->used_bytes);
        }
    sb_puts(&b, "]\n}\n");
    fwrite(b.s, 1, b.len, out);
    sb_free(&b);
}

/* A valgrind block per shown record: precise (the frames it names), and read
 * by both heapsnap and memcheck. */
void leaks_print_suppressions(FILE *out, const struct leak_report *r, unsigned show_kinds)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct leak_record *rec = &r->records[i];
        if (!shown(rec, show_kinds)) continue;
        fprintf(out, "{\n   heapsnap-leak-%zu\n   Memcheck:Leak\n   match-leak-kinds: %s\n", ++k, kind_names[rec->kind]);
        for (size_t f = 0; f < rec->nframes && f < 12; f++) fprintf(out, "   fun:%s\n", rec->frames[f].function);
        fprintf(out, "}\n");
    }
}
