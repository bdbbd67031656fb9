/* trace_rec.c - see trace_rec.h. */
#include "trace_rec.h"

void rec_decoder_init(struct rec_decoder *d, const uint8_t *buf, size_t len)
{
    d->c = (struct varint_cursor){.p = buf, .end = buf + len};
    d->ticks = 0;
    d->ptr = 0;
}

static void get_string(struct varint_cursor *c, const uint8_t **s, uint64_t *len)
{
    *len = varint_get(c);
    if (*len > TRACE_MAX_STRING) c->bad = true;
    *s = varint_get_bytes(c, *len);
}

static void timed(struct rec_decoder *d, struct trace_rec *r)
{
    d->ticks += varint_get(&d->c);
    r->ticks = d->ticks;
}

int rec_next(struct rec_decoder *d, struct trace_rec *r)
{
    struct varint_cursor *c = &d->c;
    if (c->p >= c->end) return 0;
    /* Only the fields of the record's own type are set: clearing the whole
     * struct per record was a quarter of a report's time. */
    r->type = *c->p++;
    switch (r->type) {
    case REC_ALLOC:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        r->fn = varint_get(c);
        break;
    case REC_FREE:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        break;
    case REC_REALLOC:
        timed(d, r);
        r->ptr = d->ptr + (uint64_t)varint_get_signed(c);
        d->ticks += varint_get(c);
        r->ticks2 = d->ticks;
        r->ptr2 = r->ptr + (uint64_t)varint_get_signed(c);
        d->ptr = r->ptr2;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        break;
    case REC_STACK:
    case REC_STACK_MORE:
        r->ips.bad = false;
        r->id = varint_get(c);
        r->total = r->type == REC_STACK ? varint_get(c) : 0;
        r->n = varint_get(c);
        if (r->total > TRACE_MAX_FRAMES || r->n > TRACE_MAX_FRAMES) return -1;
        r->ips = *c;
        for (uint64_t i = 0; i < r->n && !c->bad; i++) varint_get(c);
        r->ips.end = c->p;
        break;
    case REC_MODULE:
        timed(d, r);
        r->id = varint_get(c);
        r->bias = varint_get(c);
        r->lo = varint_get(c);
        r->hi = varint_get(c);
        get_string(c, &r->s1, &r->l1);
        get_string(c, &r->s2, &r->l2);
        break;
    case REC_UNLOAD:
        timed(d, r);
        r->id = varint_get(c);
        break;
    case REC_PROCESS:
        get_string(c, &r->s1, &r->l1);
        get_string(c, &r->s2, &r->l2);
        get_string(c, &r->s3, &r->l3);
        break;
    case REC_MARKER:
    case REC_EXEC:
        timed(d, r);
        get_string(c, &r->s1, &r->l1);
        break;
    case REC_CLOCK:
        r->ticks = varint_get(c);
        r->mono = varint_get(c);
        break;
    case REC_IGNORE:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        break;
    case REC_ROOT:
        timed(d, r);
        r->ptr = varint_get(c);
        r->size = varint_get(c);
        r->fn = varint_get(c);
        break;
    case REC_LEAK_CHECK:
        d->ptr = 0; /* each check's pointer deltas start from 0 */
        r->ticks = varint_get(c);
        r->id = varint_get(c);    /* seq */
        r->fn = varint_get(c);    /* status */
        r->total = varint_get(c); /* lost blocks that follow */
        break;
    case REC_LEAK:
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->fn = varint_get(c);   /* kind */
        r->size = varint_get(c); /* indirect bytes */
        break;
    case REC_FORK:
        timed(d, r);
        break;
    case REC_INHERIT:
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        r->fn = varint_get(c); /* flags */
        break;
    case REC_CHECK_NOTE:
        r->id = varint_get(c); /* seq */
        get_string(c, &r->s1, &r->l1);
        break;
    case REC_MMAP:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        r->fn = varint_get(c); /* kind */
        r->lo = varint_get(c); /* prot */
        r->hi = varint_get(c); /* flags */
        if (r->fn > MAP_KIND_BRK || r->ptr + r->size < r->ptr) return -1;
        break;
    case REC_MUNMAP:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        if (r->ptr + r->size < r->ptr) return -1;
        break;
    case REC_MREMAP: /* as REALLOC: two stamps, the unmapping half and the mapping half */
        timed(d, r);
        r->ptr = d->ptr + (uint64_t)varint_get_signed(c);
        r->total = varint_get(c); /* old_len */
        d->ticks += varint_get(c);
        r->ticks2 = d->ticks;
        r->ptr2 = r->ptr + (uint64_t)varint_get_signed(c);
        d->ptr = r->ptr2;
        r->size = varint_get(c);
        r->fn = varint_get(c); /* flags */
        r->stack = varint_get(c);
        if (r->ptr + r->total < r->ptr || r->ptr2 + r->size < r->ptr2) return -1;
        break;
    case REC_RSS:
        r->ticks = varint_get(c);
        r->size = varint_get(c);  /* resident */
        r->total = varint_get(c); /* file-backed or shared */
        if (r->total > r->size) return -1;
        break;
    case REC_POOL:
        timed(d, r);
        r->fn = varint_get(c); /* op */
        r->id = varint_get(c); /* pool */
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        /* An object keyed with POOL_KEY_BIT set must not collide with itself
         * untagged, nor a pool be named by a kernel address. */
        if (r->fn < POOL_ALLOC || r->fn > POOL_DESTROY || (r->ptr & POOL_KEY_BIT)) return -1;
        break;
    case REC_SUPPRESSIONS:
        r->fn = varint_get(c); /* origin */
        get_string(c, &r->s1, &r->l1);
        if (r->fn < SUPP_FROM_DEFAULT_SUPPRESSIONS || r->fn > SUPP_FROM_LSAN_OPTIONS) return -1;
        break;
    default:
        return -1;
    }
    return c->bad ? -1 : 1;
}
