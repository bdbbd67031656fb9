/* regionmap.h - the program's live mappings in a replay: disjoint address
 * ranges, each with the stack that mapped it, kept sorted by address. An
 * unmap may cover any part of any number of ranges (it splits one it cuts
 * through the middle), or none. Mappings are few next to heap blocks (a
 * program maps in pages, and rarely), so a sorted array does: a lookup is a
 * binary search, a change moves the ranges above it. */
#ifndef HEAPSNAP_REGIONMAP_H
#define HEAPSNAP_REGIONMAP_H

#include <stddef.h>
#include <stdint.h>

struct snap_stack;

struct region {
    uint64_t lo, hi; /* [lo, hi) */
    struct snap_stack *stack;
    uint64_t ticks;  /* when it was mapped */
    uint32_t kind;   /* enum map_kind */
};

struct regionmap {
    struct region *v;
    size_t n, cap;
};

/* Called for each piece [lo, hi) of a range that an unmap takes away, before
 * the map changes; ranges_delta is what the count of ranges changes by: 1
 * when the range lives on on both sides of the piece, -1 when it is all
 * gone, else 0. */
typedef void (*region_cut_fn)(void *ctx, const struct region *range, uint64_t lo, uint64_t hi, int ranges_delta);

/* Takes [lo, hi) out of the map. */
void regionmap_remove(struct regionmap *m, uint64_t lo, uint64_t hi, region_cut_fn cut, void *ctx);
/* Adds r, which overlaps no range of the map (remove its span first). */
void regionmap_insert(struct regionmap *m, const struct region *r);
/* The range holding addr, or NULL. */
const struct region *regionmap_find(const struct regionmap *m, uint64_t addr);
void regionmap_free(struct regionmap *m);

#endif
