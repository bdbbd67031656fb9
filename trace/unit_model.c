/* unit_model.c - see unit_model.h.
 *
 * The raw records carry deltas against the previous record of the chunk,
 * which for a pointer is a near-random number even when the program does
 * something as plain as freeing the block it allocated last. Here, per unit
 * and per thread:
 *
 *  - a free names its block by the serial of its allocation in the unit:
 *    counted back from the newest (a block freed soon after it was made), or
 *    from the serial after the one freed last (blocks freed in the order
 *    they were made), whichever is smaller; a block the unit did not
 *    allocate, by its distance from the previous free;
 *  - an allocation is predicted the way glibc hands blocks out: the last
 *    blocks freed in its size class (glibc's tcache and fast bins are per
 *    thread, last in first out; its small bins, first in first out), the
 *    next block carved from the top of the heap or from the block split
 *    last, a realloc that stayed in place, the last blocks freed of any
 *    size (a larger block split); else its distance from that top;
 *  - a stack is predicted as one of the two that followed the previous
 *    event's stack, or the one the last STACK record brought (a new stack
 *    is met right before its event), and a size as the one its stack asked
 *    for last time.
 *
 * Only the encoder looks blocks up by pointer (a hash of the blocks the unit
 * allocated and has not freed); the decoder finds a serial's pointer in an
 * array, so that reading stays cheap. */
#include "unit_model.h"

#include <stdlib.h>
#include <string.h>

#include "varint.h"

/* ---- blocks -------------------------------------------------------------- */

static uint64_t hash64(uint64_t k) { return k * 0x9E3779B97F4A7C15ull; }

void model_reset(struct unit_model *m)
{
    if (m->live_n) memset(m->live, 0, m->live_cap * sizeof *m->live);
    if (m->stack_n) memset(m->stacks, 0, m->stack_cap * sizeof *m->stacks);
    m->live_n = m->stack_n = 0;
    m->serials = m->cursor = 0;
    memset(m->ring_n, 0, sizeof m->ring_n);
    memset(m->in_rings, 0, sizeof m->in_rings);
    memset(m->ring_h, 0, sizeof m->ring_h);
    m->recent_n = m->recent_h = 0;
    m->top = m->last_free = m->last_stack = 0;
    m->has_last_stack = m->has_defined = false;
    m->last_entry = NULL;
    m->nframes = 0;
}

void model_release(struct unit_model *m)
{
    free(m->frames);
    free(m->live);
    free(m->sptr);
    free(m->ssize);
    free(m->stacks);
    memset(m, 0, sizeof *m);
}

static size_t live_find(const struct unit_model *m, uint64_t ptr)
{
    size_t mask = m->live_cap - 1;
    size_t i = (size_t)(hash64(ptr) >> 20) & mask;
    while (m->live[i].used && m->live[i].ptr != ptr)
        i = (i + 1) & mask;
    return i;
}

static bool live_grow(struct unit_model *m)
{
    size_t cap = m->live_cap ? m->live_cap * 2 : 1024;
    struct model_live *old = m->live, *n = calloc(cap, sizeof *n);
    if (!n) return false;
    size_t ocap = m->live_cap;
    m->live = n;
    m->live_cap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].used) m->live[live_find(m, old[i].ptr)] = old[i];
    free(old);
    return true;
}

/* Linear probing without tombstones: the entries after a removed one move
 * back into the hole if their home is not between it and them. */
static void live_remove_at(struct unit_model *m, size_t i)
{
    size_t mask = m->live_cap - 1;
    m->live[i].used = 0;
    m->live_n--;
    for (size_t j = (i + 1) & mask; m->live[j].used; j = (j + 1) & mask) {
        size_t home = (size_t)(hash64(m->live[j].ptr) >> 20) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->live[i] = m->live[j];
            m->live[j].used = 0;
            i = j;
        }
    }
}

static bool serials_grow(struct unit_model *m)
{
    size_t cap = m->serial_cap ? m->serial_cap * 2 : 4096;
    uint64_t *sp = realloc(m->sptr, cap * sizeof *sp);
    if (sp) m->sptr = sp;
    uint64_t *ss = sp ? realloc(m->ssize, cap * sizeof *ss) : NULL;
    if (ss) m->ssize = ss;
    if (!sp || !ss) return false;
    m->serial_cap = cap;
    return true;
}

/* An allocation gets the next serial; the encoder finds it by pointer. */
static bool serial_add(struct unit_model *m, uint64_t ptr, uint64_t size, bool encoding)
{
    if (m->serials == UINT32_MAX || (m->serials == m->serial_cap && !serials_grow(m))) return false;
    uint32_t s = m->serials++;
    m->sptr[s] = ptr;
    m->ssize[s] = size;
    if (!encoding) return true;
    if ((m->live_n + 1) * 2 > m->live_cap && !live_grow(m)) return false;
    size_t i = live_find(m, ptr);
    /* Allocated again without a free here: freed by another thread, that block is gone. */
    if (!m->live[i].used) m->live_n++;
    m->live[i] = (struct model_live){.ptr = ptr, .serial = s, .used = 1};
    return true;
}

static unsigned size_class(uint64_t size)
{
    if (size <= 1032) return size < 9 ? 2 : (unsigned)((size + 23) >> 4);
    return 66 + (63 - (unsigned)__builtin_clzll(size));
}

/* glibc's chunk for a request: the request and a size word, in 16-byte steps, 32 at least. */
static uint64_t chunk_of(uint64_t size)
{
    uint64_t c = (size + 8 + 15) & ~(uint64_t)15;
    return c < 32 ? 32 : c;
}

static uint16_t *filter_of(struct unit_model *m, uint64_t ptr)
{
    return &m->in_rings[((ptr >> 4) ^ (ptr >> 16)) & (MODEL_FILTER - 1)];
}

static void recent_push(struct unit_model *m, uint64_t ptr)
{
    m->recent_h = (m->recent_h + 1) % MODEL_RING;
    if (m->recent_n == MODEL_RING) --*filter_of(m, m->recent[m->recent_h]); /* the oldest leaves */
    m->recent[m->recent_h] = ptr;
    ++*filter_of(m, ptr);
    if (m->recent_n < MODEL_RING) m->recent_n++;
}

static uint64_t recent_at(const struct unit_model *m, unsigned k)
{
    return m->recent[(m->recent_h + MODEL_RING - k) % MODEL_RING];
}

/* Rings: the newest at ring_h, the older ones before it; a full ring forgets its oldest. */
void model_freed(struct unit_model *m, uint64_t ptr, uint64_t size)
{
    unsigned c = size_class(size), h = (m->ring_h[c] + 1u) % MODEL_RING;
    if (m->ring_n[c] == MODEL_RING) --*filter_of(m, m->ring[c][h]); /* the oldest leaves */
    m->ring[c][h] = ptr;
    ++*filter_of(m, ptr);
    m->ring_h[c] = (uint8_t)h;
    if (m->ring_n[c] < MODEL_RING) m->ring_n[c]++;
}

/* The k-th newest block of class c (k < ring_n[c]). */
static uint64_t ring_at(const struct unit_model *m, unsigned c, unsigned k)
{
    return m->ring[c][(m->ring_h[c] + MODEL_RING - k) % MODEL_RING];
}

static void ring_take(struct unit_model *m, unsigned c, unsigned k)
{
    unsigned h = m->ring_h[c];
    --*filter_of(m, ring_at(m, c, k));
    for (unsigned j = k; j > 0; j--) /* the newer ones move down into its place */
        m->ring[c][(h + MODEL_RING - j) % MODEL_RING] = m->ring[c][(h + MODEL_RING - j + 1) % MODEL_RING];
    m->ring_h[c] = (uint8_t)((h + MODEL_RING - 1) % MODEL_RING);
    m->ring_n[c]--;
}

/* ---- frees and allocations ---------------------------------------------------- */

/* A free (or a realloc's free half) of ptr: its code in *fref (and *fpx),
 * and the model forgets the block; its size in *size if the unit allocated
 * it (else false). A block the unit allocated is named by its serial:
 * counted back from the newest allocation (1 + 2 age: a block freed soon
 * after it was made), or from the serial after the one freed last (2 + 2
 * zigzag: blocks freed in the order they were made), whichever is smaller. */
bool model_free_code(struct unit_model *m, uint64_t ptr, uint64_t *fref, uint64_t *fpx, uint64_t *size)
{
    bool known = false;
    if (m->live_cap) {
        size_t i = live_find(m, ptr);
        if (m->live[i].used) {
            uint32_t s = m->live[i].serial;
            uint64_t age = 1 + 2 * (uint64_t)(m->serials - 1 - s);
            uint64_t next = 2 + 2 * zigzag((int64_t)s - (int64_t)m->cursor);
            *fref = age <= next ? age : next;
            *size = m->ssize[s];
            m->cursor = s + 1;
            live_remove_at(m, i);
            known = true;
        }
    }
    if (!known) {
        *fref = 0;
        *fpx = zigzag((int64_t)(ptr - m->last_free));
    }
    m->last_free = ptr;
    recent_push(m, ptr);
    return known;
}

/* 1 if the unit allocated the block (its size in *size), 0 if not, -1 if the code is corrupt. */
int model_free_decode(struct unit_model *m, uint64_t fref, uint64_t fpx, uint64_t *ptr, uint64_t *size)
{
    int known = fref != 0;
    if (known) {
        uint64_t s = (fref & 1) ? (uint64_t)m->serials - 1 - (fref - 1) / 2
                                : (uint64_t)((int64_t)m->cursor + unzigzag((fref - 2) / 2));
        if (s >= m->serials) return -1;
        *ptr = m->sptr[s];
        *size = m->ssize[s];
        m->cursor = (uint32_t)s + 1;
    } else {
        *ptr = m->last_free + (uint64_t)unzigzag(fpx);
    }
    m->last_free = *ptr;
    recent_push(m, *ptr);
    return known;
}

uint64_t model_alloc_code(const struct unit_model *m, uint64_t ptr, uint64_t size, const uint64_t *old, uint64_t *apx)
{
    if (old && ptr == *old) return AREF_IN_PLACE;
    if (ptr == m->top) return AREF_TOP;
    if (!m->in_rings[((ptr >> 4) ^ (ptr >> 16)) & (MODEL_FILTER - 1)]) goto explicit;
    unsigned c = size_class(size);
    for (unsigned k = 0; k < m->ring_n[c]; k++)
        if (ring_at(m, c, k) == ptr) return AREF_CLASS + k;
    for (unsigned k = 0; k < m->recent_n; k++)
        if (recent_at(m, k) == ptr) return AREF_RECENT + k;
explicit:
    *apx = zigzag((int64_t)(ptr - m->top));
    return AREF_EXPLICIT;
}

bool model_alloc_decode(const struct unit_model *m, uint64_t aref, uint64_t apx, uint64_t size, const uint64_t *old,
                        uint64_t *ptr)
{
    switch (aref) {
    case AREF_EXPLICIT: *ptr = m->top + (uint64_t)unzigzag(apx); return true;
    case AREF_TOP: *ptr = m->top; return true;
    case AREF_IN_PLACE:
        if (!old) return false;
        *ptr = *old;
        return true;
    default:
        if (aref >= AREF_RECENT) {
            if (aref - AREF_RECENT >= m->recent_n) return false;
            *ptr = recent_at(m, (unsigned)(aref - AREF_RECENT));
            return true;
        }
        if (aref - AREF_CLASS >= m->ring_n[size_class(size)]) return false;
        *ptr = ring_at(m, size_class(size), (unsigned)(aref - AREF_CLASS));
        return true;
    }
}

/* What the model learns from an allocation of ptr coded aref. */
bool model_alloc_learn(struct unit_model *m, uint64_t aref, uint64_t ptr, uint64_t size, bool encoding)
{
    if (aref >= AREF_CLASS && aref < AREF_RECENT) ring_take(m, size_class(size), (unsigned)(aref - AREF_CLASS));
    if (aref == AREF_EXPLICIT || aref == AREF_TOP) m->top = ptr + chunk_of(size);
    return serial_add(m, ptr, size, encoding);
}

/* ---- stacks and sizes -------------------------------------------------------- */

static struct model_stack *stack_get(struct unit_model *m, uint64_t id)
{
    if ((m->stack_n + 1) * 2 > m->stack_cap) {
        size_t cap = m->stack_cap ? m->stack_cap * 2 : 256;
        struct model_stack *old = m->stacks, *n = calloc(cap, sizeof *n);
        if (!n) return NULL;
        size_t ocap = m->stack_cap;
        m->stacks = n;
        m->stack_cap = cap;
        for (size_t i = 0; i < ocap; i++) {
            if (!old[i].used) continue;
            size_t j = (size_t)(hash64(old[i].id) >> 20) & (cap - 1);
            while (n[j].used)
                j = (j + 1) & (cap - 1);
            n[j] = old[i];
        }
        free(old);
        m->last_entry = NULL; /* it moved */
    }
    size_t mask = m->stack_cap - 1;
    size_t i = (size_t)(hash64(id) >> 20) & mask;
    while (m->stacks[i].used && m->stacks[i].id != id)
        i = (i + 1) & mask;
    if (!m->stacks[i].used) {
        m->stacks[i] = (struct model_stack){.id = id, .used = 1};
        m->stack_n++;
    }
    return &m->stacks[i];
}

/* Two values last seen, the newest first: v moves to the front. */
static void mru2(uint64_t *v, uint8_t *n, uint64_t x)
{
    if (*n && v[0] == x) return;
    v[1] = v[0];
    v[0] = x;
    if (*n < 2) (*n)++;
}

/* The stack's code (NUM_STACK): 0 the stack that followed the previous
 * event's last time, 1 the one the last STACK record brought (a new stack is
 * met right before its event), 2 the one that followed it the time before,
 * else stack + 3; and what the model learns from it. Decoding, *code is the
 * code and becomes the stack. */
bool model_stack(struct unit_model *m, uint64_t stack, uint64_t *code, bool decoding)
{
    /* The previous event's stack was looked up for its size (model_size). */
    struct model_stack *prev = NULL;
    if (m->has_last_stack)
        prev = m->last_entry && m->last_entry->id == m->last_stack ? m->last_entry : stack_get(m, m->last_stack);
    if (m->has_last_stack && !prev) return false;
    uint64_t cand[3];
    bool has[3] = {prev && prev->nnext > 0, m->has_defined, prev && prev->nnext > 1};
    cand[0] = has[0] ? prev->next[0] : 0;
    cand[1] = m->defined;
    cand[2] = has[2] ? prev->next[1] : 0;
    if (decoding) {
        if (*code < 3) {
            if (!has[*code]) return false;
            stack = cand[*code];
        } else {
            stack = *code - 3;
        }
    } else {
        *code = UINT64_MAX;
        for (unsigned i = 0; i < 3 && *code == UINT64_MAX; i++)
            if (has[i] && cand[i] == stack) *code = i;
        if (*code == UINT64_MAX) {
            if (stack > UINT64_MAX - 3) return false;
            *code = stack + 3;
        }
    }
    if (prev) mru2(prev->next, &prev->nnext, stack);
    m->last_stack = stack;
    m->has_last_stack = true;
    if (decoding) *code = stack;
    return true;
}

/* The size's code given its stack (NUM_SIZE): 0 the size it asked for
 * last, else size + 1. Decoding, *v is the code and becomes the size. */
bool model_size(struct unit_model *m, uint64_t stack, uint64_t *v, bool decoding)
{
    struct model_stack *s = stack_get(m, stack);
    if (!s) return false;
    m->last_entry = s;
    uint64_t size;
    if (decoding) {
        if (*v == 0 && !s->has_size) return false;
        size = *v == 0 ? s->size : *v - 1;
        *v = size;
    } else {
        size = *v;
        if (size == UINT64_MAX) return false;
        *v = s->has_size && s->size == size ? 0 : size + 1;
    }
    s->size = size;
    s->has_size = 1;
    return true;
}

/* ---- stack records ---------------------------------------------------------- */

bool model_grow_frames(uint64_t **v, size_t *cap, size_t n)
{
    if (n <= *cap) return true;
    size_t c = *cap ? *cap : 256;
    while (c < n)
        c *= 2;
    uint64_t *f = realloc(*v, c * sizeof *f);
    if (!f) return false;
    *v = f;
    *cap = c;
    return true;
}

bool model_frames_learn(struct unit_model *m, const struct trace_rec *r)
{
    if (!model_grow_frames(&m->frames, &m->frames_cap, r->n)) return false;
    struct varint_cursor c = r->ips;
    uint64_t ip = 0;
    for (uint64_t k = 0; k < r->n; k++)
        m->frames[k] = ip += (uint64_t)varint_get_signed(&c);
    m->nframes = r->n;
    m->defined = r->id;
    m->has_defined = true;
    return !c.bad;
}
