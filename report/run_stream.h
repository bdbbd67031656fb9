/* run_stream.h - `heapsnap run --pprof-every SECONDS --pprof-dir DIR`: while
 * the program runs, one pprof file per interval for every process image
 * followed, for an agent that ships pprof files to a continuous-profiling
 * back end (docs/EXPORTS.md, "A stream for continuous profiling").
 *
 * Each file holds alloc_* for its interval and inuse_* at its end. The
 * interval ends where heapsnap run has read the trace to when the file is
 * written (the follower is a few milliseconds behind the program; under a
 * flood, further): an event is in exactly one file, and the last file of an
 * image, written at its end, holds the rest. So the files of an image add up
 * to its whole run, and its last file's inuse_* is its heap at the end. */
#ifndef HEAPSNAP_RUN_STREAM_H
#define HEAPSNAP_RUN_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "run_procs.h"

struct run_stream {
    const char *dir; /* NULL: no stream */
    uint64_t every_ms;
    uint64_t next_ms; /* when the next round of files is due (CLOCK_MONOTONIC ms) */
    uint64_t files;   /* written so far: the next file's sequence number */
    bool warned;      /* a file could not be written: said once */
};

/* What the stream keeps of one image: where its last interval ended, and per
 * stack the calls and bytes already shipped. */
struct stream_image;

/* The directory exists or is made, and is writable; else -1 with a reason. */
int stream_prepare_dir(const char *dir, char *err, size_t errlen);
/* Every image followed gets its file when the interval is due. */
void stream_tick(struct run_stream *rs, struct run_procs *procs, uint64_t now_ms);
/* An image that ended (read to its end): its last file. */
void stream_image_end(struct run_stream *rs, struct run_proc *p);
/* Its symbols and its counts go, before its follower is closed. */
void stream_image_free(struct run_proc *p);

#endif
