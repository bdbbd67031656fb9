/* regionmap.c - see regionmap.h. */
#include "regionmap.h"
#include "util.h"

#include <assert.h>
#include <string.h>

/* The first range whose end is above addr (n if none). */
static size_t first_above(const struct regionmap *m, uint64_t addr)
{
    size_t a = 0, b = m->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (m->v[mid].hi <= addr) a = mid + 1;
        else b = mid;
    }
    return a;
}

static void make_room(struct regionmap *m, size_t at)
{
    if (m->n == m->cap) m->v = xrealloc(m->v, (m->cap = m->cap ? m->cap * 2 : 64) * sizeof *m->v);
    memmove(&m->v[at + 1], &m->v[at], (m->n - at) * sizeof *m->v);
    m->n++;
}

void regionmap_remove(struct regionmap *m, uint64_t lo, uint64_t hi, region_cut_fn cut, void *ctx)
{
    if (lo >= hi) return;
    size_t i = first_above(m, lo), gone_from = i, gone = 0;
    while (i < m->n && m->v[i].lo < hi) {
        struct region *r = &m->v[i];
        uint64_t a = r->lo > lo ? r->lo : lo, b = r->hi < hi ? r->hi : hi;
        if (r->lo < lo && r->hi > hi) { /* through the middle: one range becomes two */
            cut(ctx, r, a, b, 1);
            struct region upper = *r;
            upper.lo = hi;
            r->hi = lo;
            make_room(m, i + 1);
            m->v[i + 1] = upper;
            return;
        }
        if (r->lo < lo) { /* its top */
            cut(ctx, r, a, b, 0);
            r->hi = lo;
            gone_from = ++i;
            continue;
        }
        if (r->hi > hi) { /* its bottom: nothing above it is touched */
            cut(ctx, r, a, b, 0);
            r->lo = hi;
            break;
        }
        cut(ctx, r, a, b, -1); /* all of it */
        gone++;
        i++;
    }
    if (gone) {
        memmove(&m->v[gone_from], &m->v[gone_from + gone], (m->n - gone_from - gone) * sizeof *m->v);
        m->n -= gone;
    }
}

void regionmap_insert(struct regionmap *m, const struct region *r)
{
    assert(r->lo < r->hi);
    size_t i = first_above(m, r->lo);
    assert(i == m->n || m->v[i].lo >= r->hi);
    make_room(m, i);
    m->v[i] = *r;
}

const struct region *regionmap_find(const struct regionmap *m, uint64_t addr)
{
    size_t i = first_above(m, addr);
    return i < m->n && m->v[i].lo <= addr ? &m->v[i] : NULL;
}

void regionmap_free(struct regionmap *m)
{
    free(m->v);
    *m = (struct regionmap){0};
}
