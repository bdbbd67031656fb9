/* trace_rec.h - decoding the records of one chunk (docs/FORMAT.md,
 * "Records"): every field read against the end of the chunk, which is
 * untrusted input. Apart from the trace reader (trace_read.h), in the trace
 * library, so that what links no reader (the packer, in the shim too) can
 * decode records. */
#ifndef HEAPSNAP_TRACE_REC_H
#define HEAPSNAP_TRACE_REC_H

#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"
#include "varint.h"

/* Only the fields that belong to rec.type are valid after rec_next. */
struct trace_rec {
    uint8_t type;
    uint64_t ticks;  /* timed records; REALLOC: the free half */
    uint64_t ticks2; /* REALLOC: the allocation half */
    uint64_t ptr;    /* ALLOC, FREE; REALLOC: old pointer */
    uint64_t ptr2;   /* REALLOC: new pointer */
    uint64_t size, stack, fn;
    uint64_t id, total, n;                  /* STACK, STACK_MORE, MODULE, UNLOAD */
    uint64_t bias, lo, hi, mono;            /* MODULE; CLOCK: mono */
    const uint8_t *s1, *s2, *s3;            /* strings: MODULE build-id/path, PROCESS exe/cmd/cwd, EXEC/MARKER */
    /* Mappings reuse the fields above: MMAP ptr, size (len), stack, fn (enum map_kind), lo (prot), hi
     * (flags); MUNMAP ptr, size; MREMAP ticks and ticks2 as REALLOC, ptr (old), total (old_len), ptr2
     * (new), size (new_len), fn (flags), stack; RSS ticks, size (resident bytes), total (file-backed);
     * POOL fn (enum pool_op), id (pool), ptr, size, stack; SUPPRESSIONS fn (enum supp_origin), s1. */
    uint64_t l1, l2, l3;
    struct varint_cursor ips;               /* STACK, STACK_MORE: n zigzag ip deltas */
};

struct rec_decoder {
    struct varint_cursor c;
    uint64_t ticks, ptr;
};

void rec_decoder_init(struct rec_decoder *d, const uint8_t *buf, size_t len);
/* 1: a record in r; 0: end of chunk; -1: corrupt. */
int rec_next(struct rec_decoder *d, struct trace_rec *r);

#endif
