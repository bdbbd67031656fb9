/* unit_model.h - what the encoder and the decoder of a unit (trace_unit.c)
 * both know of it so far, and the predictions they make from it: which block
 * a free names, where glibc will put the next block, which stack comes next
 * and which size it asks for. Both sides make the same updates in the same
 * order, so a code the encoder chose decodes to the value it coded
 * (docs/FORMAT.md, "Units"). Every model starts empty at each unit. */
#ifndef HEAPSNAP_UNIT_MODEL_H
#define HEAPSNAP_UNIT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_rec.h"

/* glibc's size classes: 16-byte steps up to the tcache's largest (1032
 * bytes), then one per power of two. */
#define MODEL_CLASSES 130u
#define MODEL_RING 64u /* blocks freed kept per class, and of any class */
#define MODEL_FILTER 4096u

/* An allocation's pointer (AREF): against the top of the heap, the top
 * itself, the old block of a realloc, the k-th newest block freed in its
 * size class, the k-th newest freed of any class. */
enum {
    AREF_EXPLICIT = 0,
    AREF_TOP = 1,
    AREF_IN_PLACE = 2,
    AREF_CLASS = 3,
    AREF_RECENT = AREF_CLASS + MODEL_RING,
};

struct model_live {
    uint64_t ptr;
    uint32_t serial;
    uint32_t used;
};

struct model_stack {
    uint64_t id;
    uint64_t next[2]; /* the last two stacks that followed it, the newest first */
    uint64_t size;    /* the last size it asked for */
    uint8_t used, nnext, has_size;
};

struct unit_model {
    /* Encoding only: pointer -> serial of its allocation, for blocks the unit allocated and has not freed. */
    struct model_live *live;
    size_t live_cap, live_n;
    uint64_t *sptr;  /* per serial (the unit's allocations in order): its pointer */
    uint64_t *ssize; /* per serial: its size */
    size_t serial_cap;
    uint32_t serials;
    uint32_t cursor;                                      /* the serial after the last one a free named */
    uint64_t ring[MODEL_CLASSES][MODEL_RING];             /* per class, the last blocks freed */
    uint8_t ring_n[MODEL_CLASSES], ring_h[MODEL_CLASSES]; /* how many, where the newest is */
    uint64_t recent[MODEL_RING];                          /* the last blocks freed, whatever their class */
    unsigned recent_n, recent_h;
    /* How many ring entries (of any ring) hash to each count: a pointer
     * whose count is 0 is in no ring, and an allocation of a block no ring
     * holds (a miss, the commonest dear case) skips scanning them. */
    uint16_t in_rings[MODEL_FILTER];
    uint64_t top, last_free;
    struct model_stack *stacks;
    size_t stack_cap, stack_n;
    struct model_stack *last_entry; /* the previous event's stack's entry (NULL: look it up) */
    uint64_t last_stack, defined; /* the previous event's stack; the last STACK record's id */
    bool has_last_stack, has_defined;
    uint64_t *frames; /* the last STACK record's frames */
    size_t nframes, frames_cap;
};

void model_reset(struct unit_model *m);
void model_release(struct unit_model *m);

/* A free (or a realloc's old block) of ptr, encoding: its FREF code (and FPX
 * if FREF is 0). True, with its size in *size, if the unit allocated it. */
bool model_free_code(struct unit_model *m, uint64_t ptr, uint64_t *fref, uint64_t *fpx, uint64_t *size);
/* Decoding: the pointer of FREF/FPX in *ptr; 1 with its size in *size if the
 * unit allocated it, 0 if not, -1 if the code is corrupt. */
int model_free_decode(struct unit_model *m, uint64_t fref, uint64_t fpx, uint64_t *ptr, uint64_t *size);
/* A block of a known size is free again: the next of its class, maybe. */
void model_freed(struct unit_model *m, uint64_t ptr, uint64_t size);

/* An allocation (or a realloc's new block, old its old one) of ptr: its AREF code (and APX if AREF is 0). */
uint64_t model_alloc_code(const struct unit_model *m, uint64_t ptr, uint64_t size, const uint64_t *old, uint64_t *apx);
bool model_alloc_decode(const struct unit_model *m, uint64_t aref, uint64_t apx, uint64_t size, const uint64_t *old,
                        uint64_t *ptr);
/* What the model learns from an allocation coded aref (encoding: it also
 * remembers the block by pointer). */
bool model_alloc_learn(struct unit_model *m, uint64_t aref, uint64_t ptr, uint64_t size, bool encoding);

/* An event's stack (STACK): encoding, *code gets its code; decoding, *code
 * is the code and becomes the stack. False if it cannot be (out of memory,
 * a code that names nothing). */
bool model_stack(struct unit_model *m, uint64_t stack, uint64_t *code, bool decoding);
/* Its size (SIZE), given its stack, the same way. */
bool model_size(struct unit_model *m, uint64_t stack, uint64_t *v, bool decoding);
/* A STACK record: its frames become the reference of the next one. */
bool model_frames_learn(struct unit_model *m, const struct trace_rec *r);
/* Room for n frames in *v (of *cap). */
bool model_grow_frames(uint64_t **v, size_t *cap, size_t n);

#endif
