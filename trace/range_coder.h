/* range_coder.h - LZMA's binary range coder: each bit coded with a 12-bit
 * probability that follows the bits it has seen, so that a bit whose value
 * the context nearly gives costs a small fraction of a bit (zstd's Huffman
 * codes never go below one). A unit's stamps are coded with it
 * (trace_unit.c, docs/FORMAT.md "Units"). The decoder reads untrusted bytes:
 * past their end it reads zeros and says so in `bad`, never more. */
#ifndef HEAPSNAP_RANGE_CODER_H
#define HEAPSNAP_RANGE_CODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define RC_PROB_BITS 12
#define RC_PROB_HALF (1u << (RC_PROB_BITS - 1))
/* Each probability moves 1/16 of the way to the bit it saw: it adapts within
 * a few dozen events, as a program's phases change the odds. */
#define RC_PROB_SHIFT 4
#define RC_TOP (1u << 24)

struct rc_enc {
    uint8_t *p; /* the bytes so far (kept from one use to the next) */
    size_t len, cap;
    uint64_t low;
    uint32_t range;
    uint8_t cache;
    uint64_t pending;
    bool ok; /* false once memory ran out */
};

struct rc_dec {
    const uint8_t *p, *end;
    uint32_t range, code;
    bool bad;
};

static inline void rc_enc_init(struct rc_enc *e)
{
    e->len = 0;
    e->low = 0;
    e->range = 0xFFFFFFFFu;
    e->cache = 0;
    e->pending = 1;
    e->ok = true;
}

static inline void rc_enc_free(struct rc_enc *e)
{
    free(e->p);
    e->p = NULL;
    e->len = e->cap = 0;
}

static inline void rc_out(struct rc_enc *e, uint8_t b)
{
    if (e->len == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4096;
        uint8_t *p = realloc(e->p, cap);
        if (!p) {
            e->ok = false;
            return;
        }
        e->p = p;
        e->cap = cap;
    }
    e->p[e->len++] = b;
}

/* A carry may still change the bytes not yet written: they wait in cache
 * and pending until it cannot. */
static inline void rc_shift_low(struct rc_enc *e)
{
    if ((uint32_t)e->low < 0xFF000000u || (e->low >> 32) != 0) {
        uint8_t carry = (uint8_t)(e->low >> 32), b = e->cache;
        do {
            rc_out(e, (uint8_t)(b + carry));
            b = 0xFF;
        } while (--e->pending != 0);
        e->cache = (uint8_t)(e->low >> 24);
    }
    e->pending++;
    e->low = (e->low & 0x00FFFFFFu) << 8;
}

static inline void rc_bit(struct rc_enc *e, uint16_t *prob, unsigned bit)
{
    uint32_t bound = (e->range >> RC_PROB_BITS) * *prob;
    if (!bit) {
        e->range = bound;
        *prob = (uint16_t)(*prob + (((1u << RC_PROB_BITS) - *prob) >> RC_PROB_SHIFT));
    } else {
        e->low += bound;
        e->range -= bound;
        *prob = (uint16_t)(*prob - (*prob >> RC_PROB_SHIFT));
    }
    while (e->range < RC_TOP) {
        e->range <<= 8;
        rc_shift_low(e);
    }
}

/* The low nbits of v, highest first, at even odds. */
static inline void rc_direct(struct rc_enc *e, uint64_t v, unsigned nbits)
{
    while (nbits--) {
        e->range >>= 1;
        if ((v >> nbits) & 1) e->low += e->range;
        while (e->range < RC_TOP) {
            e->range <<= 8;
            rc_shift_low(e);
        }
    }
}

/* Writes what is left: the decoder reads exactly the bytes written. */
static inline void rc_flush(struct rc_enc *e)
{
    for (int i = 0; i < 5; i++)
        rc_shift_low(e);
}

static inline uint8_t rc_in(struct rc_dec *d)
{
    if (d->p < d->end) return *d->p++;
    d->bad = true;
    return 0;
}

static inline void rc_dec_init(struct rc_dec *d, const uint8_t *p, size_t len)
{
    *d = (struct rc_dec){.p = p, .end = p + len, .range = 0xFFFFFFFFu};
    for (int i = 0; i < 5; i++)
        d->code = (d->code << 8) | rc_in(d);
}

static inline unsigned rc_dbit(struct rc_dec *d, uint16_t *prob)
{
    uint32_t bound = (d->range >> RC_PROB_BITS) * *prob;
    unsigned bit;
    if (d->code < bound) {
        d->range = bound;
        *prob = (uint16_t)(*prob + (((1u << RC_PROB_BITS) - *prob) >> RC_PROB_SHIFT));
        bit = 0;
    } else {
        d->code -= bound;
        d->range -= bound;
        *prob = (uint16_t)(*prob - (*prob >> RC_PROB_SHIFT));
        bit = 1;
    }
    while (d->range < RC_TOP) {
        d->range <<= 8;
        d->code = (d->code << 8) | rc_in(d);
    }
    return bit;
}

static inline uint64_t rc_ddirect(struct rc_dec *d, unsigned nbits)
{
    uint64_t v = 0;
    while (nbits--) {
        d->range >>= 1;
        unsigned b = d->code >= d->range;
        if (b) d->code -= d->range;
        v = (v << 1) | b;
        while (d->range < RC_TOP) {
            d->range <<= 8;
            d->code = (d->code << 8) | rc_in(d);
        }
    }
    return v;
}

#endif
