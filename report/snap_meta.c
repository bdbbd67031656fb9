/* snap_meta.c - the records that are not allocation events: stacks (made on
 * first mention, since an event may name a stack whose record another thread
 * has not written yet), modules, the process, markers, clock points, leak
 * checks. They are collected in any order; meta_finish sorts what needs it
 * and fits the clock. */
#include "snap_internal.h"
#include "../trace/trace_ticks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_ticks(const void *a, const void *b)
{
    const struct snap_marker *x = a, *y = b;
    return x->ticks < y->ticks ? -1 : x->ticks > y->ticks;
}

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
struct snap_stack *stack_get(struct snap *s, uint64_t id)
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

struct snap_module *snap_add_module(struct snap *s, uint32_t id, uint64_t bias, uint64_t lo, uint64_t hi,
                                    uint64_t loaded, const char *path, size_t path_len, const uint8_t *build_id,
                                    size_t build_id_len)
{
    struct snap_module *mod = xcalloc(1, sizeof *mod);
    *mod = (struct snap_module){.id = id, .bias = bias, .lo = lo, .hi = hi, .loaded_ticks = loaded,
                                .unloaded_ticks = UINT64_MAX, .path = xstrndup(path, path_len), .next = s->modules};
    mod->build_id_len = build_id_len < sizeof mod->build_id ? build_id_len : sizeof mod->build_id;
    memcpy(mod->build_id, build_id, mod->build_id_len);
    s->modules = mod;
    return mod;
}

int meta_record(struct snap *s, struct meta_state *m, struct stack_pending *pending, struct trace_rec *r,
                uint64_t ticks_now)
{
    switch (r->type) {
    case REC_STACK: {
        if (r->id == 0 || r->id > UINT32_MAX || r->n > r->total) return -1;
        struct snap_stack *st = stack_get(s, r->id);
        /* Written twice (a fork child's, or two threads at once): the first
         * one stands, and the second one's continuations are skipped. */
        pending->dup = st->key != NULL;
        pending->st = r->total > r->n ? st : NULL;
        pending->left = r->total - r->n;
        if (pending->dup) return 0;
        st->nframes = (uint32_t)r->total;
        st->key = xcalloc(st->nframes + 1, sizeof(uint64_t));
        st->key[0] = st->nframes;
        st->seen_ticks = ticks_now;
        stack_fill(st, r);
        return 0;
    }
    case REC_STACK_MORE:
        if (!pending->st || pending->st->id != r->id || r->n > pending->left) return -1;
        if (!pending->dup) stack_fill(pending->st, r);
        pending->left -= r->n;
        if (pending->left == 0) pending->st = NULL;
        return 0;
    case REC_MODULE:
        snap_add_module(s, (uint32_t)r->id, r->bias, r->lo, r->hi, r->ticks, (const char *)r->s2, r->l2, r->s1, r->l1);
        return 0;
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
    case REC_CHECK_NOTE:
        for (size_t i = s->nchecks; i-- > 0;)
            if (s->checks[i].seq == r->id) {
                free(s->checks[i].note);
                s->checks[i].note = xstrndup((const char *)r->s1, r->l1);
                break;
            }
        return 0;
    case REC_RSS:
        if (s->nrss % 1024 == 0) s->rss = xrealloc(s->rss, (s->nrss + 1024) * sizeof *s->rss);
        s->rss[s->nrss++] = (struct snap_rss){.ticks = r->ticks, .resident = r->size, .file = r->total};
        return 0;
    case REC_SUPPRESSIONS: /* a long text comes in pieces, in order */
        sb_add(&s->program_suppressions[r->fn - 1], (const char *)r->s1, r->l1);
        return 0;
    case REC_MARKER:
        s->markers = xrealloc(s->markers, (s->nmarkers + 1) * sizeof *s->markers);
        s->markers[s->nmarkers++] = (struct snap_marker){xstrndup((const char *)r->s1, r->l1), r->ticks};
        return 0;
    default:
        return 0;
    }
}

/* A check the program asked for has its marker, written by the shim when it
 * asked ("leak-check:N"). The check at a process's end is made from outside
 * (`heapsnap run` stops the process at its exit): it gets its marker here,
 * at the moment the process was stopped, so every check is a point alike. */
static void mark_end_checks(struct snap *s)
{
    for (size_t c = 0; c < s->nchecks; c++) {
        char label[48];
        int len = snprintf(label, sizeof label, "leak-check:%u", s->checks[c].seq);
        bool marked = false;
        for (size_t i = 0; i < s->nmarkers && !marked; i++)
            marked = strncmp(s->markers[i].label, label, (size_t)len) == 0 &&
                     (s->markers[i].label[len] == 0 || s->markers[i].label[len] == ':');
        if (marked) continue;
        snprintf(label + len, sizeof label - (size_t)len, ":end");
        s->markers = xrealloc(s->markers, (s->nmarkers + 1) * sizeof *s->markers);
        s->markers[s->nmarkers++] = (struct snap_marker){xstrndup(label, strlen(label)), s->checks[c].ticks};
    }
}

void meta_finish(struct snap *s, struct meta_state *m)
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
    /* one point only: a guess (a 2.5 GHz TSC) */
    if (!(s->ns_per_tick > 0) || !isfinite(s->ns_per_tick)) s->ns_per_tick = (double)(1u << TRACE_TICK_SHIFT) / 2.5;
    mark_end_checks(s);
    if (s->nmarkers) qsort(s->markers, s->nmarkers, sizeof *s->markers, by_ticks);
}

