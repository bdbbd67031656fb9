/* trace_tail.h - following an OPEN trace while its process writes it: which
 * slots are taken, and for each thread's stream the records committed since
 * the last look. `heapsnap run` keeps each traced process's live blocks
 * current this way, so a leak check needs no replay of the whole trace.
 *
 * The file is mapped read-only (MAP_SHARED: the same page-cache pages the
 * shim writes through) and grows as the shim grows it. Only the slots a
 * stream reads now and its newest one stay in our page tables: a slot
 * consumed whole, or waiting behind the one read, is dropped from them (its
 * records stay in the page cache), so a reader that lags behind a fast writer
 * does not hold the distance in its RSS. A stream's committed
 * bytes are those below its chunk's raw_len, published by a release store
 * after each record; a SEALED chunk will not change again. Nothing read is
 * trusted beyond those bounds: the process writing the file is the program,
 * whose bugs may scribble on it. */
#ifndef HEAPSNAP_TRACE_TAIL_H
#define HEAPSNAP_TRACE_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

/* A later chunk of a stream: its number is kept here, not read again from
 * the slot, whose pages we do not keep mapped while it waits. */
struct tail_queued {
    uint64_t slot;
    uint32_t seq;
};

struct tail_stream {
    uint32_t stream, tid;
    uint32_t next_seq;         /* the chunk the stream reads (or waits for) */
    int64_t slot;              /* its slot, or -1 until that chunk's slot is seen */
    uint32_t consumed;         /* record bytes of the current chunk handed out */
    struct tail_queued *queue; /* later chunks, in seq order (a thread takes slots in order) */
    size_t nqueue, capqueue;
    /* How far this round reads: what was committed when it began. A thread
     * writing faster than we read must not keep a round from ending. */
    uint32_t limit_seq, limit_len;
    int64_t limit_slot; /* the slot those were read from, or -1 */
};

struct trace_tail {
    int fd;
    uint8_t *map;        /* the file, mapped up to mapped bytes */
    size_t mapped;
    size_t nslots;       /* slots the file holds now */
    size_t scan_from;    /* slots below it are all known (taken and indexed) */
    uint8_t *slot_state; /* per slot: 0 unseen, 1 indexed, 2 done (consumed whole) */
    /* If set (TRACE_MAX_SLOTS bytes), each slot done is marked 1 there too,
     * with a release store: another thread may read it (a packer freeing the
     * disk blocks of slots no one will read again). */
    _Atomic uint8_t *done_map;
    size_t slot_cap;
    struct tail_stream *streams;
    size_t nstreams;
};

/* Returns 0, or -1 with a reason in err. */
int tail_open(struct trace_tail *t, const char *path, char *err, size_t errlen);
void tail_close(struct trace_tail *t);
/* Looks for new slots and grown chunks (cheap: reads chunk headers only),
 * and starts a round: tail_next hands out what is committed now, no more. */
int tail_refresh(struct trace_tail *t, char *err, size_t errlen);
/* The stream's next committed bytes: [*p, *p + *len) continue the records of
 * chunk *seq (fresh: a new chunk starts there, decoding restarts). false when
 * the stream has nothing new now. The bytes stay valid until tail_refresh. */
bool tail_next(struct trace_tail *t, struct tail_stream *s, const uint8_t **p, size_t *len, bool *fresh);

#endif
