/* symsnap.h - a snapshot as symbols: each allocation stack, symbolized, with
 * the bytes and blocks live at one moment. Built from a trace at a point
 * (TRACE@peak, TRACE@12.5s, TRACE@LABEL) or read from a snapshot file, so
 * stats and diffs work the same on both and match groups by function, file
 * and line, never by address. Snapshot files are described in
 * docs/SNAPSHOT-FILE.md. */
#ifndef HEAPSNAP_SYMSNAP_H
#define HEAPSNAP_SYMSNAP_H

#include "json.h"
#include "snap.h"
#include "symbols.h"

#define SNAPSHOT_SCHEMA 1

struct symsnap_trace {
    const struct sym_frame *frames; /* innermost first, allocator frames removed */
    size_t nframes;
    uint64_t size, count;
    /* From a trace (0 from a snapshot file): allocation calls and bytes up
     * to the point, and the stack they were replayed as. */
    uint64_t calls, allocated;
    const struct snap_stack *stack;
};

struct symsnap {
    char *source, *point, *command;
    uint64_t pid;
    double time_s;
    struct symsnap_trace *traces;
    size_t ntraces;
    uint64_t total_size, total_count;
    uint64_t sample_rate; /* 0: exact; else sizes and counts are estimates (docs/SAMPLING.md) */
    /* what the frames point into */
    struct snap *snap;
    struct json *json;
    struct sym_frame *owned_frames;
};

/* Whether path is a snapshot file (JSON), not a trace. */
bool symsnap_is_file(const char *path);
/* SOURCE is TRACE[@POINT] or a snapshot file. Returns 0, or -1 with a reason. */
int symsnap_load(struct symsnap *ss, const char *source, char *err, size_t errlen);
/* The same, with every stack that allocated up to the point, live or not
 * (exports: allocation totals beside the live heap). */
int symsnap_load_all(struct symsnap *ss, const char *source, char *err, size_t errlen);
/* Either of them, with figures of that memory (heap, mapped or both: stats
 * --memory); a snapshot file has heap figures only. */
int symsnap_load_memory(struct symsnap *ss, const char *source, bool all, enum snap_memory memory, char *err,
                        size_t errlen);
int symsnap_write(const struct symsnap *ss, const char *path, char *err, size_t errlen);
void symsnap_free(struct symsnap *ss);

#endif
