/* varint.h - LEB128 and zigzag coding for trace records. Writers trust their
 * buffer size; readers check every byte against the end of the input. */
#ifndef HEAPSNAP_VARINT_H
#define HEAPSNAP_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10

static inline uint8_t *varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static inline uint8_t *varint_put_signed(uint8_t *p, int64_t v) { return varint_put(p, zigzag(v)); }

/* A cursor over untrusted bytes: every getter fails once the input is short
 * or malformed, and stays failed, so callers may check once per record. */
struct varint_cursor {
    const uint8_t *p;
    const uint8_t *end;
    bool bad;
};

static inline uint64_t varint_get(struct varint_cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end) break;
        uint8_t b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    c->bad = true;
    return 0;
}

static inline int64_t varint_get_signed(struct varint_cursor *c) { return unzigzag(varint_get(c)); }

/* Returns a pointer to len bytes inside the input, or NULL (and marks the cursor bad). */
static inline const uint8_t *varint_get_bytes(struct varint_cursor *c, uint64_t len)
{
    if (c->bad || len > (uint64_t)(c->end - c->p)) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *r = c->p;
    c->p += len;
    return r;
}

#endif
