/* trace_read.h - reading a trace, OPEN or PACKED, as untrusted input: the
 * header and chunk index are checked on open, and every record is decoded
 * against the end of its chunk. */
#ifndef HEAPSNAP_TRACE_READ_H
#define HEAPSNAP_TRACE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"
#include "varint.h"

struct trace_chunk {
    uint64_t offset; /* of the records (just past the chunk header) */
    uint32_t flags, stream, seq, tid, raw_len, stored_len;
};

/* Set by the reader, never on disk. An OPEN trace whose file ends inside a
 * slot (a full disk, an interrupted copy) was cut: the header copy in struct
 * trace_file carries TRACE_F_CUT, so whatever holds the header (the replay,
 * the reports) can say so; the chunk the cut goes through carries
 * TRACE_CHUNK_CUT and loads up to its last whole record. */
#define TRACE_F_CUT (1u << 31)
#define TRACE_CHUNK_CUT (1u << 31)

struct trace_file {
    const char *path;
    struct trace_header hdr;
    int fd;        /* chunks are read one at a time: memory does not grow with the file */
    size_t size;
    uint8_t *zbuf; /* one stored chunk */
    struct trace_chunk *chunks;
    size_t nchunks;
    void *dctx; /* ZSTD_DCtx */
};

/* Returns 0, or -1 with a one-line reason (naming the file) in err. */
int trace_open(struct trace_file *tf, const char *path, char *err, size_t errlen);
void trace_close(struct trace_file *tf);

/* Decodes chunk i into buf (TRACE_MAX_CHUNK_RAW bytes); returns its length or -1. */
long trace_chunk_load(struct trace_file *tf, size_t i, uint8_t *buf, char *err, size_t errlen);

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
     * (new), size (new_len), fn (flags), stack; RSS ticks, size (resident bytes), total (file-backed). */
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
