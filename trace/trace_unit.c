/* trace_unit.c - a packed unit (trace_unit.h): its columns, its stamps, its
 * stack records, and the loops that code and decode its records.
 *
 * Why columns: zstd codes a byte it cannot match with a Huffman code of at
 * least one bit, and finds repeats only where whole records repeat. Split by
 * field, each column is a stream of like values (mostly zeros once
 * predicted, unit_model.c) whose repeats are its own. A column of numbers
 * goes as varints or as byte planes (the count of significant bytes, then
 * the lowest bytes, the next ones...), whichever zstd makes smaller: varints
 * keep the repeats of a column that repeats itself whole, planes keep a
 * varint's continuation bits out of the bytes Huffman codes, which cost a
 * bit and more per value where the values themselves are random (the block
 * a random free names, a random size).
 *
 * Why a range coder for stamps: mostly 0 or 1 tick apart and never repeating
 * for long, they cost zstd a bit and more each; coded bit by bit in the
 * context of the kinds and stamps of the events before (range_coder.h), a
 * stamp costs about half a bit.
 *
 * The encoder codes a record only if the shim's encoding of the values it
 * read gives back its very bytes (shortest varints, a record type this
 * version knows), and refuses the unit otherwise (trace_pack.c then stores
 * its chunks as they are): a decoder that mirrors its models makes exactly
 * what the shim wrote. */
#include "trace_unit.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "range_coder.h"
#include "trace_rec.h"
#include "unit_model.h"
#include "varint.h"

/* Columns of bytes, compressed whole. */
enum bytecol {
    COL_KIND,     /* u8 per record: its type; an allocation by fn > 0 is KIND_ALLOC_FN | fn */
    COL_STACKREC, /* STACK and STACK_MORE records, whole, or a KIND_STACK_REF's fields (stack_put) */
    COL_OTHER,    /* CLOCK as s ticks against the previous timed record, s monotonic ns against the
                     previous CLOCK (varints); every other record but the events, whole */
    NBYTECOL
};

/* Columns of numbers (varints or byte planes). */
enum numcol {
    NUM_FREF,  /* a free's block (model_free_code) */
    NUM_FPX,   /* s: a free's pointer against the previous free's, when FREF is 0 */
    NUM_AREF,  /* an allocation's block (model_alloc_code) */
    NUM_APX,   /* s: an allocation's pointer against the top, when AREF is 0 */
    NUM_SIZE,  /* an allocation's size (model_size) */
    NUM_STACK, /* an allocation's stack (model_stack) */
    NNUMCOL
};

#define KIND_ALLOC_FN 0x40u
#define KIND_FN_MAX 0x3fu
#define KIND_STACK_REF 0x20u /* a STACK record coded against the previous one (stack_put) */

struct colbuf {
    uint8_t *p;
    size_t len, cap;
};

/* A column of numbers as they are made: their varints (one of the two forms
 * put_numbers chooses from, as it is), a quarter of the memory of the values
 * themselves on a unit of small numbers. */
struct numbuf {
    struct colbuf varints;
    size_t n;
};

/* ---- ticks: a binary range coder (LZMA's) ------------------------------------------ */

/* The contexts of a stamp: the event's kind (an allocation, a free, a
 * realloc's free half, its allocation half), the previous event's, and the
 * previous two stamps up to 3; one more for a chunk's first stamp, which
 * may go back (a thread that moved to a core whose clock is behind). */
enum { TK_ALLOC, TK_FREE, TK_REFREE, TK_REALLOC, TK_N };
#define TCTX_FIRST (TK_N * (TK_N + 1) * 16)
#define TCTX_N (TCTX_FIRST + 1)

struct time_model {
    uint16_t small[TCTX_N][3]; /* the value is 0, 1, 2 */
    uint16_t bits[2][64];      /* the length of a larger one, in unary: chunk's first stamp or not */
    unsigned prev_kind;        /* TK_N: none yet */
    uint64_t pdt, ppdt;
};

/* Per column of numbers, decoding: the count plane and the planes of bytes,
 * or (varints) the varints in len. */
struct numcur {
    const uint8_t *len, *len_end;
    const uint8_t *pl[8], *pl_end[8];
    bool varints, bad;
};

struct unit_coder {
    struct unit_model m;
    struct time_model tm;
    uint64_t ticks;     /* of the last timed record */
    uint64_t last_mono; /* of the last CLOCK record */
    bool member_timed;  /* the member has had a timed record: its stamps cannot go back */
    struct colbuf col[NBYTECOL];
    struct numbuf num[NNUMCOL];
    struct colbuf planes[9]; /* encoding: one column's planes at a time */
    struct colbuf scratch_dir[2], scratch[2];
    uint64_t *scratch_frames; /* a stack's frames, being coded */
    size_t scratch_frames_cap;
    uint8_t scratch_rec[1 + 3 * VARINT_MAX + 1024 * VARINT_MAX]; /* a STACK record, again (1024 frames at most) */
    struct rc_enc rce;                                           /* the stamps */
    struct colbuf out;
    void *cctx, *dctx;
    /* decoding */
    struct unit_member members[UNIT_MAX_MEMBERS];
    size_t nmembers, next_member;
    struct colbuf dcol[NBYTECOL + NNUMCOL * 9 + 1]; /* every stream, decompressed */
    struct varint_cursor cur[NBYTECOL];
    struct numcur ncur[NNUMCOL];
    struct rc_dec rcd;
};

/* ---- buffers -------------------------------------------------------------- */

/* Appending is most of what coding does: the check is inline, the growth is not. */
__attribute__((noinline)) static bool col_grow(struct colbuf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

static inline bool col_reserve(struct colbuf *b, size_t more)
{
    return __builtin_expect(b->len + more <= b->cap, 1) || col_grow(b, more);
}

static bool col_put(struct colbuf *b, const void *s, size_t n)
{
    if (!n) return true;
    if (!col_reserve(b, n)) return false;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return true;
}

static inline bool col_varint(struct colbuf *b, uint64_t v)
{
    if (!col_reserve(b, VARINT_MAX)) return false;
    uint8_t *p = b->p + b->len;
    if (__builtin_expect(v < 0x80, 1)) { /* most values, once predicted */
        *p = (uint8_t)v;
        b->len++;
        return true;
    }
    b->len = (size_t)(varint_put(p, v) - b->p);
    return true;
}

static inline bool col_byte(struct colbuf *b, uint8_t v)
{
    if (!col_reserve(b, 1)) return false;
    b->p[b->len++] = v;
    return true;
}

static inline bool num_put(struct numbuf *b, uint64_t v)
{
    if (!col_varint(&b->varints, v)) return false;
    b->n++;
    return true;
}

static uint64_t num_get(struct numcur *c)
{
    if (c->varints) {
        struct varint_cursor v = {.p = c->len, .end = c->len_end};
        uint64_t x = varint_get(&v);
        c->len = v.p;
        c->bad |= v.bad;
        return x;
    }
    if (c->len >= c->len_end || *c->len > 8) {
        c->bad = true;
        return 0;
    }
    unsigned n = *c->len++;
    uint64_t v = 0;
    for (unsigned k = 0; k < n; k++) {
        if (c->pl[k] >= c->pl_end[k]) {
            c->bad = true;
            return 0;
        }
        v |= (uint64_t)*c->pl[k]++ << (8 * k);
    }
    return v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- raw records, as the shim writes them ------------------------------------ */

struct chain {
    uint64_t ticks, ptr;
};

static uint8_t *raw_alloc(uint8_t *w, struct chain *ch, const struct trace_rec *r)
{
    *w++ = REC_ALLOC;
    w = varint_put(w, r->ticks - ch->ticks);
    w = varint_put_signed(w, (int64_t)(r->ptr - ch->ptr));
    w = varint_put(w, r->size);
    w = varint_put(w, r->stack);
    w = varint_put(w, r->fn);
    ch->ticks = r->ticks;
    ch->ptr = r->ptr;
    return w;
}

static uint8_t *raw_free(uint8_t *w, struct chain *ch, const struct trace_rec *r)
{
    *w++ = REC_FREE;
    w = varint_put(w, r->ticks - ch->ticks);
    w = varint_put_signed(w, (int64_t)(r->ptr - ch->ptr));
    ch->ticks = r->ticks;
    ch->ptr = r->ptr;
    return w;
}

static uint8_t *raw_realloc(uint8_t *w, struct chain *ch, const struct trace_rec *r)
{
    *w++ = REC_REALLOC;
    w = varint_put(w, r->ticks - ch->ticks);
    w = varint_put_signed(w, (int64_t)(r->ptr - ch->ptr));
    w = varint_put(w, r->ticks2 - r->ticks);
    w = varint_put_signed(w, (int64_t)(r->ptr2 - r->ptr));
    w = varint_put(w, r->size);
    w = varint_put(w, r->stack);
    ch->ticks = r->ticks2;
    ch->ptr = r->ptr2;
    return w;
}

static uint8_t *raw_clock(uint8_t *w, const struct trace_rec *r)
{
    *w++ = REC_CLOCK;
    w = varint_put(w, r->ticks);
    return varint_put(w, r->mono);
}

#define RAW_EVENT_MAX (1 + 6 * VARINT_MAX)

static bool timed_type(uint8_t type)
{
    switch (type) {
    case REC_MODULE:
    case REC_UNLOAD:
    case REC_MARKER:
    case REC_EXEC:
    case REC_IGNORE:
    case REC_ROOT:
    case REC_FORK: return true;
    default: return false;
    }
}

/* ---- stamps ---------------------------------------------------------------------------- */

static void time_reset(struct time_model *t)
{
    for (size_t i = 0; i < TCTX_N; i++)
        for (int j = 0; j < 3; j++)
            t->small[i][j] = RC_PROB_HALF;
    for (int g = 0; g < 2; g++)
        for (int j = 0; j < 64; j++)
            t->bits[g][j] = RC_PROB_HALF;
    t->prev_kind = TK_N;
    t->pdt = t->ppdt = 0;
}

static unsigned time_ctx(const struct time_model *t, unsigned kind, bool first)
{
    if (first) return TCTX_FIRST;
    unsigned pd = t->pdt < 3 ? (unsigned)t->pdt : 3, ppd = t->ppdt < 3 ? (unsigned)t->ppdt : 3;
    return ((kind * (TK_N + 1) + t->prev_kind) * 4 + pd) * 4 + ppd;
}

static void time_learn(struct time_model *t, unsigned kind, uint64_t v)
{
    t->prev_kind = kind;
    t->ppdt = t->pdt;
    t->pdt = v;
}

/* A stamp's value: 0, 1 and 2 in its context; larger ones as 3 plus an
 * Elias-gamma number whose length is coded adaptively. */
static void time_put(struct unit_coder *c, unsigned kind, bool first, uint64_t v)
{
    struct time_model *t = &c->tm;
    uint16_t *p = t->small[time_ctx(t, kind, first)];
    time_learn(t, kind, v);
    for (unsigned i = 0; i < 3; i++) {
        rc_bit(&c->rce, &p[i], v != i);
        if (v == i) return;
    }
    uint64_t w = v - 2; /* >= 1 */
    unsigned nb = 63 - (unsigned)__builtin_clzll(w);
    for (unsigned j = 0; j < nb; j++)
        rc_bit(&c->rce, &t->bits[first][j], 1);
    if (nb < 63) rc_bit(&c->rce, &t->bits[first][nb], 0);
    rc_direct(&c->rce, w, nb);
}

static uint64_t time_get(struct unit_coder *c, unsigned kind, bool first)
{
    struct time_model *t = &c->tm;
    uint16_t *p = t->small[time_ctx(t, kind, first)];
    uint64_t v = 0;
    for (; v < 3; v++)
        if (!rc_dbit(&c->rcd, &p[v])) break;
    if (v == 3) {
        unsigned nb = 0;
        while (nb < 63 && rc_dbit(&c->rcd, &t->bits[first][nb]))
            nb++;
        v = (((uint64_t)1 << nb) | rc_ddirect(&c->rcd, nb)) + 2;
    }
    time_learn(t, kind, v);
    return v;
}

/* ---- stack records -------------------------------------------------------------- */

/* A new stack mostly repeats the previous one's innermost frames (the same
 * allocation site) and its outermost (the same main loop), with a few in
 * between that differ: a STACK record is coded (KIND_STACK_REF, in
 * COL_STACKREC) as s id against the previous STACK's, u total - n, u n, u
 * frames in common at the innermost end, u frames in common at the
 * outermost, then the frames between as s deltas, each against the frame
 * before it (the first against the last one in common, or 0). */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* A STACK record as the shim writes it, from its frames: its length, or 0 if over cap bytes. */
static size_t raw_stack(uint8_t *w, size_t cap, uint64_t id, uint64_t total, const uint64_t *f, size_t n)
{
    size_t len = 1 + varint_len(id) + varint_len(total) + varint_len(n);
    uint64_t prev = 0;
    for (size_t k = 0; k < n; k++) {
        len += varint_len(zigzag((int64_t)(f[k] - prev)));
        prev = f[k];
    }
    if (len > cap) return 0;
    uint8_t *p = w;
    *p++ = REC_STACK;
    p = varint_put(p, id);
    p = varint_put(p, total);
    p = varint_put(p, n);
    prev = 0;
    for (size_t k = 0; k < n; k++) {
        p = varint_put_signed(p, (int64_t)(f[k] - prev));
        prev = f[k];
    }
    return len;
}

/* Codes a STACK record against the previous one; false if it cannot be (it goes whole then). */
static bool stack_put(struct unit_coder *c, const struct trace_rec *r, const uint8_t *start, size_t len)
{
    struct unit_model *m = &c->m;
    if (r->n > TRACE_MAX_FRAMES || r->total < r->n ||
        !model_grow_frames(&c->scratch_frames, &c->scratch_frames_cap, r->n))
        return false;
    uint64_t *f = c->scratch_frames;
    struct varint_cursor ips = r->ips;
    uint64_t ip = 0;
    for (uint64_t k = 0; k < r->n; k++)
        f[k] = ip += (uint64_t)varint_get_signed(&ips);
    size_t n = r->n, p = 0, q = 0;
    /* Only a record that comes back byte for byte is coded. */
    if (ips.bad || len > sizeof c->scratch_rec ||
        raw_stack(c->scratch_rec, sizeof c->scratch_rec, r->id, r->total, f, n) != len ||
        memcmp(c->scratch_rec, start, len) != 0)
        return false;
    while (p < n && p < m->nframes && f[p] == m->frames[p])
        p++;
    while (q < n - p && q < m->nframes - p && f[n - 1 - q] == m->frames[m->nframes - 1 - q])
        q++;
    struct colbuf *o = &c->col[COL_STACKREC];
    bool ok = col_varint(o, zigzag((int64_t)(r->id - m->defined))) && col_varint(o, r->total - n) && col_varint(o, n) &&
              col_varint(o, p) && col_varint(o, q);
    uint64_t prev = p ? f[p - 1] : 0;
    for (size_t k = p; ok && k < n - q; k++) {
        ok = col_varint(o, zigzag((int64_t)(f[k] - prev)));
        prev = f[k];
    }
    return ok;
}

/* A KIND_STACK_REF record, back as the shim wrote it, at w (cap bytes): its length, or 0. */
static size_t stack_get_raw(struct unit_coder *c, struct varint_cursor *in, uint8_t *w, size_t cap)
{
    struct unit_model *m = &c->m;
    uint64_t id = m->defined + (uint64_t)varint_get_signed(in);
    uint64_t more = varint_get(in), n = varint_get(in), p = varint_get(in), q = varint_get(in);
    if (in->bad || n > TRACE_MAX_FRAMES || p > m->nframes || q > m->nframes - p || p + q > n || more > UINT64_MAX - n ||
        !model_grow_frames(&c->scratch_frames, &c->scratch_frames_cap, n))
        return 0;
    uint64_t *f = c->scratch_frames;
    if (p) memcpy(f, m->frames, p * sizeof *f);
    uint64_t prev = p ? f[p - 1] : 0;
    for (size_t k = p; k < n - q; k++)
        f[k] = prev += (uint64_t)varint_get_signed(in);
    if (q) memcpy(f + n - q, m->frames + m->nframes - q, q * sizeof *f);
    if (in->bad) return 0;
    return raw_stack(w, cap, id, n + more, f, n);
}

/* ---- encoding -------------------------------------------------------------------- */

struct unit_coder *unit_coder_new(void) { return calloc(1, sizeof(struct unit_coder)); }

void unit_coder_free(struct unit_coder *c)
{
    if (!c) return;
    for (size_t i = 0; i < sizeof c->dcol / sizeof c->dcol[0]; i++)
        free(c->dcol[i].p);
    free(c->scratch_frames);
    model_release(&c->m);
    for (int i = 0; i < NBYTECOL; i++)
        free(c->col[i].p);
    for (int i = 0; i < NNUMCOL; i++)
        free(c->num[i].varints.p);
    for (int i = 0; i < 9; i++)
        free(c->planes[i].p);
    for (int i = 0; i < 2; i++) {
        free(c->scratch_dir[i].p);
        free(c->scratch[i].p);
    }
    rc_enc_free(&c->rce);
    free(c->out.p);
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    free(c);
}

static bool same_bytes(const uint8_t *a, const uint8_t *a_end, const uint8_t *b, size_t blen)
{
    return (size_t)(a_end - a) == blen && memcmp(a, b, blen) == 0;
}

/* A stamp of an event: against the previous timed record, which only a
 * member's first may precede. */
static void put_stamp(struct unit_coder *c, unsigned kind, uint64_t ticks)
{
    uint64_t d = ticks - c->ticks;
    time_put(c, kind, !c->member_timed, c->member_timed ? d : zigzag((int64_t)d));
    c->ticks = ticks;
    c->member_timed = true;
}

static uint64_t get_stamp(struct unit_coder *c, unsigned kind)
{
    uint64_t v = time_get(c, kind, !c->member_timed);
    uint64_t t = c->ticks + (c->member_timed ? v : (uint64_t)unzigzag(v));
    c->ticks = t;
    c->member_timed = true;
    return t;
}

static bool put_stack_size(struct unit_coder *c, const struct trace_rec *r)
{
    uint64_t stack = r->stack, size = r->size;
    return model_stack(&c->m, stack, &stack, false) && model_size(&c->m, r->stack, &size, false) &&
           num_put(&c->num[NUM_STACK], stack) && num_put(&c->num[NUM_SIZE], size);
}

/* One event of a chunk into the columns; false if it cannot be (then the unit is refused). */
static bool encode_event(struct unit_coder *c, const struct trace_rec *r)
{
    struct unit_model *m = &c->m;
    uint64_t fref, fpx = 0, aref, apx = 0, old_size = 0;
    bool ok = true;
    switch (r->type) {
    case REC_ALLOC:
        if (r->fn > KIND_FN_MAX) return false;
        ok &= col_byte(&c->col[COL_KIND], r->fn ? (uint8_t)(KIND_ALLOC_FN | r->fn) : REC_ALLOC);
        put_stamp(c, TK_ALLOC, r->ticks);
        aref = model_alloc_code(m, r->ptr, r->size, NULL, &apx);
        ok &= num_put(&c->num[NUM_AREF], aref);
        if (aref == AREF_EXPLICIT) ok &= num_put(&c->num[NUM_APX], apx);
        ok &= model_alloc_learn(m, aref, r->ptr, r->size, true);
        return ok && put_stack_size(c, r);
    case REC_FREE:
        ok &= col_byte(&c->col[COL_KIND], REC_FREE);
        put_stamp(c, TK_FREE, r->ticks);
        if (model_free_code(m, r->ptr, &fref, &fpx, &old_size)) model_freed(m, r->ptr, old_size);
        ok &= num_put(&c->num[NUM_FREF], fref);
        if (fref == 0) ok &= num_put(&c->num[NUM_FPX], fpx);
        return ok;
    case REC_REALLOC: {
        ok &= col_byte(&c->col[COL_KIND], REC_REALLOC);
        put_stamp(c, TK_REFREE, r->ticks);
        time_put(c, TK_REALLOC, false, r->ticks2 - r->ticks);
        c->ticks = r->ticks2;
        bool known = model_free_code(m, r->ptr, &fref, &fpx, &old_size);
        ok &= num_put(&c->num[NUM_FREF], fref);
        if (fref == 0) ok &= num_put(&c->num[NUM_FPX], fpx);
        aref = model_alloc_code(m, r->ptr2, r->size, &r->ptr, &apx);
        ok &= num_put(&c->num[NUM_AREF], aref);
        if (aref == AREF_EXPLICIT) ok &= num_put(&c->num[NUM_APX], apx);
        ok &= model_alloc_learn(m, aref, r->ptr2, r->size, true);
        if (known && r->ptr2 != r->ptr) model_freed(m, r->ptr, old_size);
        return ok && put_stack_size(c, r);
    }
    default: return false;
    }
}

/* A varint exactly as varint_put writes it (the shortest), or false. */
static inline bool get_exact(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) { /* most are one byte */
        *v = *p;
        *pp = p + 1;
        return true;
    }
    uint64_t x = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (p >= end) return false;
        uint8_t b = *p++;
        if (shift == 63) { /* the tenth byte holds the top bit alone */
            if (b != 1) return false;
            x |= (uint64_t)1 << 63;
            break;
        }
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift) return false;
            break;
        }
    }
    *v = x;
    *pp = p;
    return true;
}

/* An event as rec_next would read it, if its bytes are exactly what the
 * shim's encoding of those values gives (only such records are coded, so
 * that the decoder's make them again). */
static bool parse_event(const uint8_t **pp, const uint8_t *end, struct chain *ch, struct trace_rec *r)
{
    const uint8_t *p = *pp;
    uint64_t dt = 0, dptr = 0, dt2 = 0, dnew = 0;
    r->type = *p++;
    bool ok = get_exact(&p, end, &dt) && get_exact(&p, end, &dptr);
    r->ticks = ch->ticks + dt;
    r->ptr = ch->ptr + (uint64_t)unzigzag(dptr);
    switch (r->type) {
    case REC_ALLOC:
        ok = ok && get_exact(&p, end, &r->size) && get_exact(&p, end, &r->stack) && get_exact(&p, end, &r->fn);
        ch->ticks = r->ticks;
        ch->ptr = r->ptr;
        break;
    case REC_FREE:
        ch->ticks = r->ticks;
        ch->ptr = r->ptr;
        break;
    default: /* REC_REALLOC */
        ok = ok && get_exact(&p, end, &dt2) && get_exact(&p, end, &dnew) && get_exact(&p, end, &r->size) &&
             get_exact(&p, end, &r->stack);
        r->ticks2 = r->ticks + dt2;
        r->ptr2 = r->ptr + (uint64_t)unzigzag(dnew);
        ch->ticks = r->ticks2;
        ch->ptr = r->ptr2;
        break;
    }
    *pp = p;
    return ok;
}

static bool encode_chunk(struct unit_coder *c, const uint8_t *raw, size_t len)
{
    struct unit_model *m = &c->m;
    struct rec_decoder d;
    struct trace_rec r;
    struct chain ch = {0, 0};
    const uint8_t *p = raw, *end = raw + len;
    c->member_timed = false;
    while (p < end) {
        const uint8_t *start = p;
        bool ok = true;
        if (*p == REC_ALLOC || *p == REC_FREE || *p == REC_REALLOC) {
            if (!parse_event(&p, end, &ch, &r) || !encode_event(c, &r)) return false;
            continue;
        }
        rec_decoder_init(&d, p, (size_t)(end - p));
        d.ticks = ch.ticks;
        d.ptr = ch.ptr;
        if (rec_next(&d, &r) != 1) return false;
        p = d.c.p;
        size_t rl = (size_t)(p - start);
        switch (r.type) {
        case REC_CLOCK: {
            uint8_t again[1 + 2 * VARINT_MAX];
            ok = same_bytes(again, raw_clock(again, &r), start, rl) && col_byte(&c->col[COL_KIND], REC_CLOCK) &&
                 col_varint(&c->col[COL_OTHER], zigzag((int64_t)(r.ticks - c->ticks))) &&
                 col_varint(&c->col[COL_OTHER], zigzag((int64_t)(r.mono - c->last_mono)));
            c->last_mono = r.mono;
            break;
        }
        case REC_STACK:
            if (m->has_defined && stack_put(c, &r, start, rl))
                ok = col_byte(&c->col[COL_KIND], KIND_STACK_REF);
            else
                ok = col_byte(&c->col[COL_KIND], REC_STACK) && col_put(&c->col[COL_STACKREC], start, rl);
            ok = ok && model_frames_learn(m, &r);
            break;
        case REC_STACK_MORE:
            ok = col_byte(&c->col[COL_KIND], r.type) && col_put(&c->col[COL_STACKREC], start, rl);
            break;
        default:
            ok = col_byte(&c->col[COL_KIND], r.type) && col_put(&c->col[COL_OTHER], start, rl);
            ch.ticks = d.ticks;
            ch.ptr = d.ptr;
            if (timed_type(r.type)) {
                c->ticks = d.ticks;
                c->member_timed = true;
            }
            break;
        }
        if (!ok || !c->rce.ok) return false;
    }
    return c->rce.ok;
}

/* Appends one stream of the payload: its directory entry (length, then
 * stored length times two, plus one if zstd) to dir, its bytes to data. */
static bool put_stream(struct unit_coder *c, struct colbuf *dir, struct colbuf *data, const uint8_t *p, size_t len,
                       bool compress)
{
    size_t stored = len;
    bool z = false;
    if (len && compress) {
        size_t bound = ZSTD_compressBound(len);
        if (!col_reserve(data, bound)) return false;
        size_t n = ZSTD_compress2(c->cctx, data->p + data->len, bound, p, len);
        if (!ZSTD_isError(n) && n < len) {
            stored = n;
            z = true;
        }
    }
    if (!z && !col_put(data, p, len)) return false;
    if (z) data->len += stored;
    return col_varint(dir, len) && col_varint(dir, (uint64_t)stored * 2 + z);
}

/* A column of numbers, whichever is smaller: as varints (nplanes 0), or as
 * planes: the count of each value's significant bytes, then its lowest
 * bytes, its second bytes... (nplanes of them). Varints keep the repeats of
 * a column that repeats itself whole; planes give random values their
 * entropy and little more. */
static bool put_numbers(struct unit_coder *c, struct colbuf *dir, struct colbuf *data, const struct numbuf *b)
{
    unsigned nplanes = 0;
    for (int k = 0; k < 9; k++) {
        c->planes[k].len = 0;
        if (!col_reserve(&c->planes[k], b->n)) return false;
    }
    uint8_t *pl[9];
    for (int k = 0; k < 9; k++)
        pl[k] = c->planes[k].p;
    struct varint_cursor in = {.p = b->varints.p, .end = b->varints.p + b->varints.len};
    for (size_t i = 0; i < b->n; i++) {
        if (*in.p < 0x80) { /* a one-byte varint: most values, once predicted */
            uint8_t v = *in.p++;
            *pl[8]++ = v != 0;
            *pl[0] = v;
            pl[0] += v != 0;
            if (v && !nplanes) nplanes = 1;
            continue;
        }
        uint64_t v = varint_get(&in);
        unsigned n = v ? 8 - (unsigned)__builtin_clzll(v) / 8 : 0;
        *pl[8]++ = (uint8_t)n;
        for (unsigned k = 0; k < n; k++)
            *pl[k]++ = (uint8_t)(v >> (8 * k));
        if (n > nplanes) nplanes = n;
    }
    assert(!in.bad && in.p == in.end); /* our own varints, b->n of them */
    for (int k = 0; k < 9; k++)
        c->planes[k].len = (size_t)(pl[k] - c->planes[k].p);
    /* Both ways into scratch, the smaller one kept. */
    struct colbuf *d[2] = {&c->scratch_dir[0], &c->scratch_dir[1]}, *s[2] = {&c->scratch[0], &c->scratch[1]};
    for (int w = 0; w < 2; w++)
        d[w]->len = s[w]->len = 0;
    bool ok = col_varint(d[0], 0) && put_stream(c, d[0], s[0], b->varints.p, b->varints.len, true);
    if (ok && nplanes > 0) {
        ok = col_varint(d[1], nplanes) && put_stream(c, d[1], s[1], c->planes[8].p, c->planes[8].len, true);
        for (unsigned k = 0; ok && k < nplanes; k++)
            ok = put_stream(c, d[1], s[1], c->planes[k].p, c->planes[k].len, true);
    }
    if (!ok) return false;
    int w = nplanes > 0 && d[1]->len + s[1]->len < d[0]->len + s[0]->len;
    return col_put(dir, d[w]->p, d[w]->len) && col_put(data, s[w]->p, s[w]->len);
}

int unit_encode(struct unit_coder *c, const struct unit_member *mem, const uint8_t *const *raw, size_t n, int level,
                const uint8_t **out, size_t *outlen)
{
    if (n == 0 || n > UNIT_MAX_MEMBERS) return -1;
    model_reset(&c->m);
    time_reset(&c->tm);
    c->ticks = c->last_mono = 0;
    rc_enc_init(&c->rce);
    for (int i = 0; i < NBYTECOL; i++)
        c->col[i].len = 0;
    for (int i = 0; i < NNUMCOL; i++)
        c->num[i].n = c->num[i].varints.len = 0;
    for (size_t i = 0; i < n; i++)
        if (mem[i].raw_len > TRACE_MAX_CHUNK_RAW || !encode_chunk(c, raw[i], mem[i].raw_len)) return -1;
    rc_flush(&c->rce);
    if (!c->rce.ok) return -1;
    if (!c->cctx && !(c->cctx = ZSTD_createCCtx())) return -1;
    /* A checksum per stream (4 bytes): a unit that was damaged is refused, never read as other records. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1)))
        return -1;
    /* The member table, the directory, the streams. */
    struct colbuf dir = {0}, *o = &c->out;
    o->len = 0;
    if (!col_reserve(o, UNIT_TABLE_MAX)) return -1;
    put_u32(o->p, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = o->p + 4 + i * UNIT_MEMBER_BYTES;
        put_u32(e, mem[i].seq);
        put_u32(e + 4, mem[i].tid);
        put_u32(e + 8, mem[i].raw_len);
        put_u32(e + 12, mem[i].slot);
    }
    size_t table = 4 + n * UNIT_MEMBER_BYTES;
    o->len = table;
    struct colbuf data = {0};
    bool ok = true;
    for (int i = 0; ok && i < NBYTECOL; i++)
        ok = put_stream(c, &dir, &data, c->col[i].p, c->col[i].len, true);
    for (int i = 0; ok && i < NNUMCOL; i++)
        ok = put_numbers(c, &dir, &data, &c->num[i]);
    ok = ok && put_stream(c, &dir, &data, c->rce.p, c->rce.len, false);
    ok = ok && col_put(o, dir.p, dir.len) && col_put(o, data.p, data.len);
    free(dir.p);
    free(data.p);
    if (!ok) return -1;
    *out = o->p;
    *outlen = o->len;
    return 0;
}

/* ---- decoding ------------------------------------------------------------------ */

size_t unit_members(const uint8_t *p, size_t len, struct unit_member *m)
{
    if (len < 4) return 0;
    uint32_t n = get_u32(p);
    if (n == 0 || n > UNIT_MAX_MEMBERS || len < 4 + (size_t)n * UNIT_MEMBER_BYTES) return 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = p + 4 + i * UNIT_MEMBER_BYTES;
        m[i] = (struct unit_member){get_u32(e), get_u32(e + 4), get_u32(e + 8), get_u32(e + 12)};
        if (m[i].raw_len == 0 || m[i].raw_len > TRACE_MAX_CHUNK_RAW) return 0;
    }
    return n;
}

struct stream_dir {
    uint64_t len, stored;
    bool z;
};

static bool get_dir(struct varint_cursor *dir, struct stream_dir *s, uint64_t max, uint64_t *sum)
{
    s->len = varint_get(dir);
    uint64_t st = varint_get(dir);
    s->stored = st / 2;
    s->z = st & 1;
    *sum += s->len <= max ? s->len : max + 1;
    return !dir->bad && s->len <= max && *sum <= max && (s->z ? s->stored > 0 : s->stored == s->len);
}

/* Stream i's bytes, decompressed into dcol[i]. */
static bool get_stream(struct unit_coder *c, int i, const struct stream_dir *s, struct varint_cursor *data)
{
    const uint8_t *src = varint_get_bytes(data, s->stored);
    struct colbuf *b = &c->dcol[i];
    b->len = 0;
    if (!src || !col_reserve(b, s->len ? s->len : 1)) return false;
    if (s->z) {
        size_t got = ZSTD_decompressDCtx(c->dctx, b->p, s->len, src, s->stored);
        if (ZSTD_isError(got) || got != s->len) return false;
    } else if (s->len) {
        memcpy(b->p, src, s->len);
    }
    b->len = s->len;
    return true;
}

int unit_decode_begin(struct unit_coder *c, const uint8_t *p, size_t len)
{
    c->nmembers = c->next_member = 0;
    size_t n = unit_members(p, len, c->members);
    if (!n) return -1;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += c->members[i].raw_len;
    /* Every stream holds at most a varint per byte of records; all of them together not much more. */
    uint64_t max = total * VARINT_MAX, sum = 0;
    struct varint_cursor dir = {.p = p + 4 + n * UNIT_MEMBER_BYTES, .end = p + len};
    enum { NSTREAM = NBYTECOL + NNUMCOL * 9 + 1 };
    struct stream_dir sd[NSTREAM];
    int ns = 0;
    unsigned nplanes[NNUMCOL];
    for (int i = 0; i < NBYTECOL; i++)
        if (!get_dir(&dir, &sd[ns++], max, &sum)) return -1;
    for (int i = 0; i < NNUMCOL; i++) {
        uint64_t np = varint_get(&dir);
        if (np > 8) return -1;
        nplanes[i] = (unsigned)np;
        for (unsigned k = 0; k <= np; k++)
            if (!get_dir(&dir, &sd[ns++], max, &sum)) return -1;
    }
    if (!get_dir(&dir, &sd[ns++], max, &sum) || sd[ns - 1].z) return -1;
    if (!c->dctx && !(c->dctx = ZSTD_createDCtx())) return -1;
    struct varint_cursor data = dir; /* the streams follow the directory */
    for (int i = 0; i < ns; i++)
        if (!get_stream(c, i, &sd[i], &data)) return -1;
    if (data.p != data.end) return -1;
    int s = 0;
    for (int i = 0; i < NBYTECOL; i++, s++)
        c->cur[i] = (struct varint_cursor){.p = c->dcol[s].p, .end = c->dcol[s].p + c->dcol[s].len};
    for (int i = 0; i < NNUMCOL; i++) {
        struct numcur *nc = &c->ncur[i];
        *nc = (struct numcur){.len = c->dcol[s].p, .len_end = c->dcol[s].p + c->dcol[s].len, .varints = !nplanes[i]};
        s++;
        for (unsigned k = 0; k < 8; k++) {
            if (k < nplanes[i]) {
                nc->pl[k] = c->dcol[s].p;
                nc->pl_end[k] = c->dcol[s].p + c->dcol[s].len;
                s++;
            } else {
                nc->pl[k] = nc->pl_end[k] = NULL;
            }
        }
    }
    rc_dec_init(&c->rcd, c->dcol[s].p, c->dcol[s].len);
    model_reset(&c->m);
    time_reset(&c->tm);
    c->ticks = c->last_mono = 0;
    c->nmembers = n;
    return 0;
}

size_t unit_decoded(const struct unit_coder *c) { return c->next_member; }

/* A whole record of a column (STACK, MODULE, ...): its bytes, or NULL. */
/* The next whole record of a column, read with the chunk's delta bases as
 * they stand (a record's checks may depend on the pointer it is relative to). */
static const uint8_t *take_record(struct varint_cursor *col, size_t *len, const struct chain *ch)
{
    struct rec_decoder d;
    struct trace_rec r;
    rec_decoder_init(&d, col->p, (size_t)(col->end - col->p));
    d.ticks = ch->ticks;
    d.ptr = ch->ptr;
    if (rec_next(&d, &r) != 1) return NULL;
    const uint8_t *p = col->p;
    *len = (size_t)(d.c.p - p);
    col->p = d.c.p;
    return p;
}

static bool get_stack_size(struct unit_coder *c, struct trace_rec *r)
{
    uint64_t stack = num_get(&c->ncur[NUM_STACK]), size = num_get(&c->ncur[NUM_SIZE]);
    if (!model_stack(&c->m, 0, &stack, true) || !model_size(&c->m, stack, &size, true)) return false;
    r->stack = stack;
    r->size = size;
    return true;
}

static bool decode_event(struct unit_coder *c, uint8_t kind, struct trace_rec *r)
{
    struct unit_model *m = &c->m;
    struct numcur *nc = c->ncur;
    uint64_t aref, old_size = 0;
    if (kind == REC_ALLOC || (kind & KIND_ALLOC_FN)) {
        r->type = REC_ALLOC;
        r->fn = kind == REC_ALLOC ? 0 : kind & KIND_FN_MAX;
        r->ticks = get_stamp(c, TK_ALLOC);
        aref = num_get(&nc[NUM_AREF]);
        uint64_t apx = aref == AREF_EXPLICIT ? num_get(&nc[NUM_APX]) : 0;
        if (!get_stack_size(c, r) || !model_alloc_decode(m, aref, apx, r->size, NULL, &r->ptr)) return false;
        return model_alloc_learn(m, aref, r->ptr, r->size, false);
    }
    if (kind == REC_FREE) {
        r->type = REC_FREE;
        r->ticks = get_stamp(c, TK_FREE);
        uint64_t fref = num_get(&nc[NUM_FREF]);
        uint64_t fpx = fref == 0 ? num_get(&nc[NUM_FPX]) : 0;
        int known = model_free_decode(m, fref, fpx, &r->ptr, &old_size);
        if (known < 0) return false;
        if (known) model_freed(m, r->ptr, old_size);
        return true;
    }
    r->type = REC_REALLOC;
    r->ticks = get_stamp(c, TK_REFREE);
    r->ticks2 = r->ticks + time_get(c, TK_REALLOC, false);
    c->ticks = r->ticks2;
    uint64_t fref = num_get(&nc[NUM_FREF]);
    uint64_t fpx = fref == 0 ? num_get(&nc[NUM_FPX]) : 0;
    int known = model_free_decode(m, fref, fpx, &r->ptr, &old_size);
    if (known < 0) return false;
    aref = num_get(&nc[NUM_AREF]);
    uint64_t apx = aref == AREF_EXPLICIT ? num_get(&nc[NUM_APX]) : 0;
    if (!get_stack_size(c, r) || !model_alloc_decode(m, aref, apx, r->size, &r->ptr, &r->ptr2) ||
        !model_alloc_learn(m, aref, r->ptr2, r->size, false))
        return false;
    if (known && r->ptr2 != r->ptr) model_freed(m, r->ptr, old_size);
    return true;
}

static bool cursors_bad(const struct unit_coder *c)
{
    for (int i = 0; i < NBYTECOL; i++)
        if (c->cur[i].bad) return true;
    for (int i = 0; i < NNUMCOL; i++)
        if (c->ncur[i].bad) return true;
    return c->rcd.bad;
}

/* Every stream used up, no more. */
static bool cursors_done(const struct unit_coder *c)
{
    for (int i = 0; i < NBYTECOL; i++)
        if (c->cur[i].p != c->cur[i].end) return false;
    for (int i = 0; i < NNUMCOL; i++) {
        const struct numcur *nc = &c->ncur[i];
        if (nc->len != nc->len_end) return false;
        for (int k = 0; k < 8; k++)
            if (nc->pl[k] != nc->pl_end[k]) return false;
    }
    return c->rcd.p == c->rcd.end;
}

long unit_decode_next(struct unit_coder *c, uint8_t *buf)
{
    if (c->next_member >= c->nmembers) return -1;
    struct unit_model *m = &c->m;
    struct varint_cursor *cur = c->cur;
    size_t want = c->members[c->next_member].raw_len, pos = 0;
    struct chain ch = {0, 0};
    c->member_timed = false;
    while (pos < want) {
        if (cur[COL_KIND].p >= cur[COL_KIND].end) return -1;
        uint8_t kind = *cur[COL_KIND].p++;
        uint8_t tmp[RAW_EVENT_MAX], *end = NULL;
        /* An event is written in place where a longest one would fit the buffer. */
        uint8_t *ev = pos + RAW_EVENT_MAX <= TRACE_MAX_CHUNK_RAW ? buf + pos : tmp;
        struct trace_rec r;
        const uint8_t *whole = NULL;
        size_t wlen = 0;
        switch (kind) {
        case KIND_STACK_REF: {
            if (!m->has_defined) return -1;
            size_t len = stack_get_raw(c, &cur[COL_STACKREC], buf + pos, want - pos);
            struct rec_decoder d;
            rec_decoder_init(&d, buf + pos, len);
            if (!len || rec_next(&d, &r) != 1 || !model_frames_learn(m, &r)) return -1;
            pos += len;
            continue;
        }
        case REC_STACK:
        case REC_STACK_MORE:
            whole = take_record(&cur[COL_STACKREC], &wlen, &ch);
            if (!whole || whole[0] != kind) return -1;
            break;
        case REC_CLOCK:
            r.type = REC_CLOCK;
            r.ticks = c->ticks + (uint64_t)varint_get_signed(&cur[COL_OTHER]);
            r.mono = c->last_mono + (uint64_t)varint_get_signed(&cur[COL_OTHER]);
            c->last_mono = r.mono;
            end = raw_clock(ev, &r);
            break;
        case REC_ALLOC:
        case REC_FREE:
        case REC_REALLOC:
            if (!decode_event(c, kind, &r)) return -1;
            end = r.type == REC_ALLOC  ? raw_alloc(ev, &ch, &r)
                  : r.type == REC_FREE ? raw_free(ev, &ch, &r)
                                       : raw_realloc(ev, &ch, &r);
            break;
        default:
            if (kind & KIND_ALLOC_FN) {
                if (!decode_event(c, kind, &r)) return -1;
                end = raw_alloc(ev, &ch, &r);
                break;
            }
            whole = take_record(&cur[COL_OTHER], &wlen, &ch);
            if (!whole || whole[0] != kind || kind == REC_CLOCK) return -1;
            break;
        }
        if (whole) {
            if (wlen > want - pos) return -1;
            memcpy(buf + pos, whole, wlen);
            /* The record moves the chunk's delta bases as the reader will see it move them. */
            struct rec_decoder d;
            rec_decoder_init(&d, buf + pos, wlen);
            d.ticks = ch.ticks;
            d.ptr = ch.ptr;
            if (rec_next(&d, &r) != 1) return -1;
            ch.ticks = d.ticks;
            ch.ptr = d.ptr;
            if (kind == REC_STACK && !model_frames_learn(m, &r)) return -1;
            if (timed_type(kind)) {
                c->ticks = d.ticks;
                c->member_timed = true;
            }
            pos += wlen;
        } else {
            size_t len = (size_t)(end - ev);
            if (len > want - pos) return -1;
            if (ev != buf + pos) memcpy(buf + pos, ev, len);
            pos += len;
        }
    }
    /* A cursor that ran dry gave zeros since, never bytes from elsewhere: enough to look once. */
    if (cursors_bad(c)) return -1;
    if (++c->next_member == c->nmembers && !cursors_done(c)) return -1;
    return (long)want;
}

void unit_decode_end(struct unit_coder *c) { c->nmembers = c->next_member = 0; }
