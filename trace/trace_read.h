/* trace_read.h - reading a trace, OPEN or PACKED, as untrusted input: the
 * header and chunk index are checked on open, and every record is decoded
 * against the end of its chunk. */
#ifndef HEAPSNAP_TRACE_READ_H
#define HEAPSNAP_TRACE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"
#include "trace_rec.h"
#include "trace_unit.h"

struct trace_chunk {
    uint64_t offset; /* of the records (just past the chunk header); a unit's member: of the unit's */
    uint32_t flags, stream, seq, tid, raw_len, stored_len;
    uint32_t member, members; /* CHUNK_UNIT: which member of how many */
};

/* A unit being read: its members are made one after the other. */
struct trace_unit_cursor {
    uint64_t offset;
    struct unit_coder *coder;
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
    /* Units whose members are being read (one per stream read at once, at
     * most); a unit's decoded columns are let go with its last member. */
    struct trace_unit_cursor *units;
    size_t nunits, units_cap;
    struct unit_coder *idle; /* one coder kept, with its memory, for the next unit */
    uint8_t *ubuf;  /* a unit's stored bytes */
    uint8_t *skip;  /* members decoded on the way to a later one */
};

/* Returns 0, or -1 with a one-line reason (naming the file) in err. */
int trace_open(struct trace_file *tf, const char *path, char *err, size_t errlen);
void trace_close(struct trace_file *tf);

/* Decodes chunk i into buf (TRACE_MAX_CHUNK_RAW bytes); returns its length or
 * -1. The members of a unit are read fastest in order (each stream's chunks
 * in sequence order, as the readers take them). */
long trace_chunk_load(struct trace_file *tf, size_t i, uint8_t *buf, char *err, size_t errlen);

#endif
