/* blockmap.h - the live-block table of a replay: address -> (size, stack).
 * Open addressing with linear probing and backward-shift deletion, so a
 * lookup touches one or two cache lines. It replaces uthash for this one
 * table only: a replay does a lookup per event, and uthash's chained nodes
 * cost twice the time (measured on a 10M-event trace, bench/README.md). */
#ifndef HEAPSNAP_BLOCKMAP_H
#define HEAPSNAP_BLOCKMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap_stack;

struct blockmap_entry {
    uint64_t ptr; /* 0: empty (malloc never returns NULL for a block we track) */
    uint64_t size;
    struct snap_stack *stack;
    /* Two per cache line: a replay touches one entry per event. */
    uint64_t ticks : 63; /* when it was allocated (0: before the process's first event, inherited) */
    uint64_t ignored : 1; /* heapsnap_ignore() or heapsnap_disable(): never a leak */
};

_Static_assert(sizeof(struct blockmap_entry) == 32, "a blockmap entry is half a cache line");

struct blockmap {
    struct blockmap_entry *slots;
    size_t mask, count;
};

struct blockmap_entry *blockmap_find(const struct blockmap *m, uint64_t ptr);
/* ptr must not be in the map; returns the new entry to fill. */
struct blockmap_entry *blockmap_insert(struct blockmap *m, uint64_t ptr);
/* The entry of ptr, new (*existed = false, to fill) or not: one probe. */
struct blockmap_entry *blockmap_upsert(struct blockmap *m, uint64_t ptr, bool *existed);
void blockmap_remove(struct blockmap *m, struct blockmap_entry *e);
/* Finds ptr's entry, copies it to *out and removes it: one probe. */
bool blockmap_take(struct blockmap *m, uint64_t ptr, struct blockmap_entry *out);
void blockmap_free(struct blockmap *m);

#endif
