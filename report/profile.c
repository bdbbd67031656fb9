/* profile.c - see profile.h. */
#include "profile.h"
#include "cmds.h"
#include "leaks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const value_names[VALUE_COUNT] = {"inuse", "allocated", "calls", "leaked"};

bool profile_parse_value(const char *text, enum profile_value *v)
{
    for (int i = 0; i < VALUE_COUNT; i++)
        if (strcmp(text, value_names[i]) == 0) return (*v = (enum profile_value)i), true;
    return false;
}

const char *profile_value_name(enum profile_value v) { return value_names[v]; }

/* The trace's last leak check, as `heapsnap leaks` classifies it (default suppressions). */
static void add_leaks(struct profile *p, const char *source, const struct stats_options *filters)
{
    if (!p->ss.snap || !p->ss.snap->nchecks) return;
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s", source);
    char *at = strrchr(path, '@');
    if (at && strncmp(at + 1, "leak-check:", 11) != 0) *at = 0; /* a check is its own point */
    struct leak_gate g;
    struct supp_list supps;
    gate_defaults(&g);
    gate_load_suppressions(&g, &supps);
    struct leak_report *lr = xcalloc(1, sizeof *lr);
    int rc = leaks_load(lr, path, &supps, false, err, sizeof err);
    supp_free(&supps);
    free(g.supp_files);
    if (rc < 0) {
        free(lr);
        return;
    }
    p->leaks = lr;
    if (!lr->check_failed) {
        p->has_leaks = true;
        for (size_t i = 0; i < lr->n; i++) {
            const struct leak_record *rec = &lr->records[i];
            if (rec->kind == LEAK_REACHABLE || rec->kind > LEAK_POSSIBLE || rec->suppressed_by) continue;
            struct symsnap_trace t = {.nframes = rec->nframes, .frames = rec->frames};
            if (!t.frames) t.frames = symbols_stack(&lr->snap, rec->stack, &t.nframes);
            if (filters && !stats_keeps(filters, &t)) continue;
            html_view_add(&p->views[VALUE_LEAKED], html_intern_stack(&p->doc, t.frames, t.nframes), rec->bytes,
                          rec->blocks);
        }
    }
}

int profile_load(struct profile *p, const char *source, const struct stats_options *filters, bool with_leaks,
                 char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < VALUE_COUNT; i++)
        p->views[i].name = value_names[i];
    if (symsnap_load_all(&p->ss, source, err, errlen) < 0) return -1;
    p->has_totals = p->ss.snap != NULL;
    p->stack_of = xmalloc((p->ss.ntraces ? p->ss.ntraces : 1) * sizeof *p->stack_of);
    for (size_t i = 0; i < p->ss.ntraces; i++) {
        const struct symsnap_trace *t = &p->ss.traces[i];
        p->stack_of[i] = UINT32_MAX;
        if (filters && !stats_keeps(filters, t)) continue;
        uint32_t k = html_intern_stack(&p->doc, t->frames, t->nframes);
        p->stack_of[i] = k;
        html_view_add(&p->views[VALUE_INUSE], k, t->size, t->count);
        html_view_add(&p->views[VALUE_ALLOCATED], k, t->allocated, t->calls);
        html_view_add(&p->views[VALUE_CALLS], k, t->calls, t->allocated);
    }
    if (with_leaks) add_leaks(p, source, filters);
    for (int i = 0; i < VALUE_COUNT; i++)
        html_view_finish(&p->views[i]);
    return 0;
}

void profile_free(struct profile *p)
{
    if (p->leaks) leaks_free(p->leaks);
    free(p->leaks);
    for (int i = 0; i < VALUE_COUNT; i++)
        html_view_free(&p->views[i]);
    html_doc_free(&p->doc);
    free(p->stack_of);
    symsnap_free(&p->ss);
    memset(p, 0, sizeof *p);
}
