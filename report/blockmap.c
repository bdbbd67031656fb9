/* blockmap.c - see blockmap.h. Kept at most half full. */
#include "blockmap.h"
#include "util.h"

#include <assert.h>
#include <stdlib.h>

static size_t slot_of(const struct blockmap *m, uint64_t ptr)
{
    uint64_t h = ptr * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & m->mask;
}

struct blockmap_entry *blockmap_find(const struct blockmap *m, uint64_t ptr)
{
    if (!m->slots || ptr == 0) return NULL;
    for (size_t i = slot_of(m, ptr);; i = (i + 1) & m->mask) {
        struct blockmap_entry *e = &m->slots[i];
        if (e->ptr == ptr) return e;
        if (e->ptr == 0) return NULL;
    }
}

static void grow(struct blockmap *m)
{
    struct blockmap old = *m;
    size_t cap = old.slots ? (old.mask + 1) * 2 : 1024;
    m->slots = xcalloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    m->count = 0;
    for (size_t i = 0; old.slots && i <= old.mask; i++)
        if (old.slots[i].ptr) *blockmap_insert(m, old.slots[i].ptr) = old.slots[i];
    free(old.slots);
}

struct blockmap_entry *blockmap_insert(struct blockmap *m, uint64_t ptr)
{
    assert(ptr != 0);
    if (!m->slots || (m->count + 1) * 2 > m->mask + 1) grow(m);
    size_t i = slot_of(m, ptr);
    while (m->slots[i].ptr) i = (i + 1) & m->mask;
    m->count++;
    m->slots[i] = (struct blockmap_entry){.ptr = ptr};
    return &m->slots[i];
}

struct blockmap_entry *blockmap_upsert(struct blockmap *m, uint64_t ptr, bool *existed)
{
    assert(ptr != 0);
    if (!m->slots || (m->count + 1) * 2 > m->mask + 1) grow(m);
    size_t i = slot_of(m, ptr);
    for (; m->slots[i].ptr; i = (i + 1) & m->mask) {
        if (m->slots[i].ptr == ptr) {
            *existed = true;
            return &m->slots[i];
        }
    }
    *existed = false;
    m->count++;
    m->slots[i] = (struct blockmap_entry){.ptr = ptr};
    return &m->slots[i];
}

/* Backward-shift deletion: later entries of the probe run move up, so no
 * tombstones accumulate over tens of millions of frees. */
void blockmap_remove(struct blockmap *m, struct blockmap_entry *e)
{
    size_t i = (size_t)(e - m->slots), j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        if (m->slots[j].ptr == 0) break;
        size_t home = slot_of(m, m->slots[j].ptr);
        /* Move j into the hole at i unless j's home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i].ptr = 0;
    m->count--;
}

bool blockmap_take(struct blockmap *m, uint64_t ptr, struct blockmap_entry *out)
{
    struct blockmap_entry *e = blockmap_find(m, ptr);
    if (!e) return false;
    *out = *e;
    blockmap_remove(m, e);
    return true;
}

void blockmap_free(struct blockmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->mask = m->count = 0;
}
