/* run_stream.c - see run_stream.h. A file is export_pprof's, made from the
 * followed heap (kept with every figure when the stream is on, see
 * proc_follow) rather than from a replay: writing one costs a pass over the
 * image's distinct stacks, not over its events. */
#include "run_stream.h"
#include "export.h"
#include "fmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct shipped {
    uint32_t id;
    uint64_t calls, bytes; /* the stack's allocation figures the files so far hold */
    UT_hash_handle hh;
};

struct stream_image {
    uint64_t from_ns; /* CLOCK_REALTIME: where the next file's interval begins */
    struct shipped *shipped;
    bool ended; /* its last file is written */
};

int stream_prepare_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "--pprof-dir %s: %s", dir, strerror(errno));
        return -1;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "--pprof-dir %s: not a directory", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "--pprof-dir %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct shipped *shipped_of(struct stream_image *im, const struct snap_stack *st)
{
    struct shipped *sh;
    HASH_FIND(hh, im->shipped, &st->id, sizeof st->id, sh);
    if (!sh) {
        sh = xcalloc(1, sizeof *sh);
        sh->id = st->id;
        HASH_ADD(hh, im->shipped, id, sizeof sh->id, sh);
    }
    return sh;
}

/* A stack whose record has not all arrived waits for a later file. */
static bool ready(const struct snap_stack *st) { return st->key && st->filled >= st->nframes; }

static void write_file(struct run_stream *rs, struct run_proc *p)
{
    struct snap *s = &p->follow.s;
    struct stream_image *im = p->stream;
    if (!im) {
        im = p->stream = xcalloc(1, sizeof *im);
        im->from_ns = s->hdr.start_realtime_ns;
    }
    uint64_t until_ns = realtime_ns();
    if (until_ns < im->from_ns) until_ns = im->from_ns;

    /* One trace per stack id with a figure. */
    size_t cap = HASH_COUNT(s->stacks);
    struct symsnap_trace *traces = xcalloc(cap ? cap : 1, sizeof *traces);
    size_t n = 0;
    for (const struct snap_stack *st = s->stacks; st; st = st->hh.next) {
        if (!ready(st)) continue;
        const struct shipped *sh = shipped_of(im, st);
        uint64_t calls = st->calls - sh->calls, bytes = st->bytes_allocated - sh->bytes;
        if (!calls && !st->live_blocks) continue;
        size_t nframes;
        const struct sym_frame *frames = symbols_stack(s, st, &nframes);
        traces[n++] = (struct symsnap_trace){.frames = frames,
                                             .nframes = nframes,
                                             .size = st->live_bytes,
                                             .count = st->live_blocks,
                                             .calls = calls,
                                             .allocated = bytes,
                                             .stack = st};
    }

    double from_s = (double)(im->from_ns - s->hdr.start_realtime_ns) / 1e9;
    double until_s = (double)(until_ns - s->hdr.start_realtime_ns) / 1e9;
    char title[256];
    snprintf(title, sizeof title, "heapsnap run: pid %llu, allocations from %.3f s to %.3f s, heap at %.3f s",
             (unsigned long long)s->hdr.pid, from_s, until_s, until_s);
    struct profile pr = {.has_totals = true, .title = title, .window_s = until_s - from_s};
    pr.ss = (struct symsnap){.source = p->path,
                             .command = s->cmdline,
                             .pid = s->hdr.pid,
                             .time_s = until_s,
                             .traces = traces,
                             .ntraces = n,
                             .snap = s};
    pr.stack_of = xcalloc(n ? n : 1, sizeof *pr.stack_of); /* every trace kept: no filters here */

    struct strbuf out = {0};
    char err[1024], name[PATH_MAX];
    /* Unix seconds, from rounded down and until up: the file covers its interval. */
    snprintf(name, sizeof name, "%s/heap-%llu-%06llu-%llu-%llu.pb.gz", rs->dir, (unsigned long long)s->hdr.pid,
             (unsigned long long)rs->files, (unsigned long long)(im->from_ns / 1000000000u),
             (unsigned long long)((until_ns + 999999999u) / 1000000000u));
    int rc = export_pprof(&out, &pr, VALUE_INUSE, err, sizeof err);
    if (rc == 0) rc = write_whole_file(name, out.s, out.len, err, sizeof err);
    if (rc == 0) {
        /* Shipped only once written: a file that could not be (a full disk)
         * leaves its interval to the next one, so the files still add up. */
        rs->files++;
        for (const struct snap_stack *st = s->stacks; st; st = st->hh.next) {
            if (!ready(st)) continue;
            struct shipped *sh = shipped_of(im, st);
            sh->calls = st->calls;
            sh->bytes = st->bytes_allocated;
        }
        im->from_ns = until_ns;
    } else if (!rs->warned) {
        warn("pprof stream: %s (the next files are tried all the same; said once)", err);
        rs->warned = true;
    }
    sb_free(&out);
    free(pr.stack_of);
    free(traces);
    /* Stacks symbolized now may name modules the follower has yet to read. */
    symbols_forget_stacks(s);
}

void stream_tick(struct run_stream *rs, struct run_procs *procs, uint64_t now_ms)
{
    if (!rs->dir) return;
    if (!rs->next_ms) rs->next_ms = now_ms + rs->every_ms; /* the first interval begins with the run */
    if (now_ms < rs->next_ms) return;
    /* On the beat; a beat missed (a long check) is not made up for with a burst. */
    rs->next_ms = rs->next_ms + rs->every_ms > now_ms ? rs->next_ms + rs->every_ms : now_ms + rs->every_ms;
    for (size_t i = 0; i < procs->n; i++) {
        struct run_proc *p = procs->v[i];
        if (p->state == PROC_RUNNING && p->following) write_file(rs, p);
    }
}

void stream_image_end(struct run_stream *rs, struct run_proc *p)
{
    if (!rs->dir || !p->following || (p->stream && p->stream->ended)) return;
    write_file(rs, p);
    p->stream->ended = true;
}

void stream_image_free(struct run_proc *p)
{
    struct stream_image *im = p->stream;
    if (!im) return;
    struct shipped *sh, *tmp;
    HASH_ITER(hh, im->shipped, sh, tmp)
    {
        HASH_DEL(im->shipped, sh);
        free(sh);
    }
    free(im);
    p->stream = NULL;
    if (p->following) symbols_end(&p->follow.s);
}
