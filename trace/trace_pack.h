/* trace_pack.h - turns an OPEN trace (raw slots, as the shim writes it) into a
 * PACKED one (zstd chunks). One packer serves three callers: the shim at exit,
 * `heapsnap run` (incrementally, while the program runs, then for what is left
 * when it ends) and `heapsnap pack`. */
#ifndef HEAPSNAP_TRACE_PACK_H
#define HEAPSNAP_TRACE_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_wait.h"
#include "trace_format.h"
#include "trace_unit.h"

/* How a packer packs: units (the packer's default: at exit, `heapsnap
 * pack`), or beside a running program as HEAPSNAP_PACK says (packer_beside). */
enum pack_mode { PACK_UNITS, PACK_AUTO, PACK_CHUNKS, PACK_MODE_BAD };

/* Sealed slots of one stream waiting to be packed together (a unit). */
struct pack_pending {
    uint32_t stream;
    uint32_t n;
    uint32_t slot[UNIT_MAX_MEMBERS];
};

struct trace_packer {
    char path[4096], tmp[4200];
    struct trace_header origin; /* the trace's header when packing began: its identity */
    int in, out;
    bool punch;            /* free disk space of slots once packed */
    void *cctx, *zbuf, *slot;
    size_t zcap;
    uint8_t *done;         /* per slot: packed, its disk blocks given back (trace_pack.c) */
    size_t done_cap;
    size_t first_open;     /* slots below are all packed */
    size_t punched;        /* slots whose disk blocks were given back (their records are in tmp only) */
    size_t punch_from;     /* no slot below is packed and still holds its blocks */
    size_t packed_unpunched;
    long punched_at;       /* CLOCK_MONOTONIC seconds of the last punching */
    /* While the program runs: whether a packed slot has been read by
     * whoever else reads the raw trace, so that its disk blocks may go
     * (NULL: no one else reads it). */
    bool (*may_punch)(void *ctx, size_t slot);
    void *punch_ctx;
    /* Temporaries of dead packers whose chunks were taken over: removed
     * when this packer commits. */
    char **adopted;
    size_t nadopted;
    /* While the program runs: slots packed per packer_step at most (0: all),
     * so that one step stays short whatever the program writes. */
    size_t step_slots;
    /* How slots go (PACK_UNITS unless packer_beside says otherwise), and
     * this step's choice: quick packs them one by one with zstd, not 16 of a
     * thread at a time as units. PACK_AUTO is quick while the program runs
     * and this thread waits for a CPU (cpu_wait.h): a unit costs 30-65 ns of
     * CPU per event, a chunk alone about 25, and the difference would be
     * taken from the program; what is left at the end goes in units. */
    enum pack_mode mode;
    bool quick;
    struct cpu_wait cpu;
    /* Units: per stream, its sealed slots not packed yet. */
    struct unit_coder *coder;
    uint8_t *unit_raw; /* UNIT_MAX_MEMBERS slots' records */
    struct pack_pending *pending;
    size_t npending, pending_cap, pending_slots;
    uint8_t *ubuf; /* a unit's stored bytes (adopting, giving back) */
};

/* Returns 0, 1 if the trace is packed already, -1 with a reason in err.
 * Takes over the chunks of the temporaries that packers of this trace left
 * when they died (their raw slots may be gone); refuses if one that punched
 * is still at work. */
int packer_begin(struct trace_packer *p, const char *path, bool punch, char *err, size_t errlen);
/* Packing beside the running program, as HEAPSNAP_PACK says: auto (or
 * unset: units while this thread has a CPU to itself, chunks while it
 * waits for one), units or chunks (always). */
enum pack_mode pack_mode_of_env(void);
void packer_beside(struct trace_packer *p);
/* Packs the slots their threads have sealed (everything=false, while the
 * program runs) or every used slot (everything=true, once it has ended).
 * A stream's slots are packed UNIT_MAX_MEMBERS at a time, as one unit
 * (trace_unit.h); while the program runs, sealed slots wait for the rest of
 * their unit (PENDING_MAX slots in all, then they go as they are). 1 when
 * it stopped at step_slots with more to pack, 0, or -1. */
int packer_step(struct trace_packer *p, bool everything, char *err, size_t errlen);
/* Chunks of records made outside the process (leak-check results by
 * `heapsnap run`), appended to the packed trace as stream TRACE_STREAM_EXTERNAL.
 * rec_chunks_add starts a new chunk when a record would not fit, so each
 * chunk decodes on its own; the caller resets its delta state then (the
 * return value says so). */
#define TRACE_STREAM_EXTERNAL 0xffffffffu
#define TRACE_STREAM_INHERITED 0xfffffffeu /* REC_STACK + REC_INHERIT of a fork child */
struct rec_chunks {
    uint8_t **buf;
    size_t *len;
    size_t n;
};
bool rec_chunks_add(struct rec_chunks *c, const uint8_t *rec, size_t len);
/* Whether a record of len bytes still fits the current chunk. */
bool rec_chunks_fits(const struct rec_chunks *c, size_t len);
void rec_chunks_free(struct rec_chunks *c);
int packer_add_external(struct trace_packer *p, const struct rec_chunks *c, uint32_t stream, char *err, size_t errlen);

/* Writes the header (with end_how/end_code if the process recorded no end of
 * its own, as `heapsnap run` saw it) and renames the result over the trace. */
int packer_commit(struct trace_packer *p, uint32_t end_how, int32_t end_code, char *err, size_t errlen);
/* Writes the records of the slots whose disk blocks were given back into
 * them again, from the temporary: the OPEN trace is whole on its own again
 * (TRACE_F_PUNCHED cleared), for a packer that stops before the program
 * ends. 0, or -1 with a reason (then the temporary must stay). */
int packer_give_back(struct trace_packer *p, char *err, size_t errlen);
/* Stops. The temporary is removed, unless slots were punched: it then holds
 * the only copy of their records, and is renamed PATH.PID.left for the next
 * packer to take over (even while this process lives on). */
void packer_abort(struct trace_packer *p);

/* A packer that dies (SIGKILL, a crash) leaves its temporary, PATH.PID.packing,
 * behind. Removes those of PATH whose packer is gone and calls removed() for
 * each; a live packer's is left alone, and so is every one of a trace still
 * OPEN with TRACE_F_PUNCHED (they hold records found nowhere else: packing
 * the trace takes them over). Returns how many were removed. */
size_t packer_remove_stale(const char *path, void (*removed)(const char *tmp, long pid, void *ctx), void *ctx);

/* All of the above at once. */
int trace_pack(const char *path, uint32_t end_how, int32_t end_code, char *err, size_t errlen);

#endif
