/* trace_unit.h - the packed form of a run of one thread's chunks (trace
 * version 3), a "unit": the packer turns the records of up to
 * UNIT_MAX_MEMBERS consecutive chunks of a stream into columns (record
 * kinds, ticks, pointers, sizes, stacks, the rest), codes each value against
 * what the same thread did before it in the unit, and compresses each column
 * as one zstd frame. A reader turns a unit back into exactly the bytes of
 * its chunks, so everything past trace_chunk_load sees the records the shim
 * wrote. docs/FORMAT.md, "Units", says what each column holds.
 *
 * A unit decodes on its own (its models start empty), so the chunks of
 * different units can be read in any order; the chunks of one unit are made
 * one after the other. Nothing in a unit is trusted: a decoder fails on
 * anything that does not add up, never reads or writes out of bounds. */
#ifndef HEAPSNAP_TRACE_UNIT_H
#define HEAPSNAP_TRACE_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

/* 1 MiB of records: past a few hundred KiB, a longer unit saves little and
 * costs a reader memory per thread it reads at once. */
#define UNIT_MAX_MEMBERS 16u

/* The zstd level of a unit's columns. Level 3 made units no smaller than
 * level 1 (within 2% either way on churn, server, python3, prodcons, lua:
 * bench/unit_cost) and cost 5-25 ns more per event on the columns of random
 * pointers. */
#define UNIT_LEVEL 1

/* A unit's payload starts with its member table: u32 count, then per member
 * u32 seq, tid, raw_len and slot (as in struct chunk_header), little-endian. */
#define UNIT_MEMBER_BYTES 16u
#define UNIT_TABLE_MAX (4u + UNIT_MAX_MEMBERS * UNIT_MEMBER_BYTES)
/* A unit stores fewer bytes than its records, or is not made (the chunks go
 * as they are); a reader refuses a larger one. */
#define UNIT_MAX_STORED (UNIT_MAX_MEMBERS * TRACE_MAX_CHUNK_RAW)

struct unit_member {
    uint32_t seq, tid, raw_len, slot;
};

struct unit_coder;

struct unit_coder *unit_coder_new(void);
void unit_coder_free(struct unit_coder *c);

/* Codes n chunks of one stream (their raw records in raw[i], of m[i].raw_len
 * bytes) as one unit at zstd level `level`. 0 with the payload in *out
 * (valid until the next call), or -1 if the records cannot be coded as a
 * unit exactly (a record this version does not know, a varint that is not
 * the shortest): the caller stores those chunks as they are. */
int unit_encode(struct unit_coder *c, const struct unit_member *m, const uint8_t *const *raw, size_t n, int level,
                const uint8_t **out, size_t *outlen);

/* The member table at the start of a payload of len bytes (at least its
 * first UNIT_TABLE_MAX bytes, or all of it if shorter): the count, or 0 if
 * the table is not well formed. */
size_t unit_members(const uint8_t *payload, size_t len, struct unit_member *m);

/* Starts decoding a unit: 0, or -1 if it is corrupt. */
int unit_decode_begin(struct unit_coder *c, const uint8_t *payload, size_t len);
/* The records of the next member into buf (TRACE_MAX_CHUNK_RAW bytes): its
 * length, or -1 if the unit is corrupt. */
long unit_decode_next(struct unit_coder *c, uint8_t *buf);
/* Members decoded so far. */
size_t unit_decoded(const struct unit_coder *c);
/* Done with the unit; the coder keeps its memory for the next one. */
void unit_decode_end(struct unit_coder *c);

#endif
