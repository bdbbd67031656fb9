/* run_procs.c - see run_procs.h. */
#include "run_procs.h"
#include "run_stream.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FORKS_KEPT 16

struct run_proc *procs_add(struct run_procs *ps, pid_t pid, const char *path)
{
    struct run_proc *p = procs_by_path(ps, path);
    if (p) return p;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return NULL;
    void *h = mmap(NULL, TRACE_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED) return NULL;
    /* A new image of a pid ends the one before: it exec'd (seen here first
     * when we were not tracing it with ptrace). */
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i]->pid == pid && ps->v[i]->state == PROC_RUNNING) {
            ps->v[i]->state = PROC_REPLACED;
            ps->v[i]->exec_ended = true;
        }
    p = xcalloc(1, sizeof *p);
    p->owner = ps;
    p->pid = pid;
    snprintf(p->path, sizeof p->path, "%s", path);
    p->hdr = h;
    ps->v = xrealloc(ps->v, (ps->n + 1) * sizeof *ps->v);
    ps->v[ps->n++] = p;
    return p;
}

struct run_proc *procs_by_path(const struct run_procs *ps, const char *path)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i]->path, path) == 0) return ps->v[i];
    return NULL;
}

struct run_proc *procs_running(const struct run_procs *ps, pid_t pid)
{
    for (size_t i = ps->n; i-- > 0;)
        if (ps->v[i]->pid == pid && ps->v[i]->state == PROC_RUNNING) return ps->v[i];
    return NULL;
}

void procs_free(struct run_procs *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        struct run_proc *p = ps->v[i];
        stream_image_free(p);
        if (p->following) follow_close(&p->follow);
        if (p->packing) packer_abort(&p->packer);
        rec_chunks_free(&p->checks_out);
        rec_chunks_free(&p->inherited);
        rec_chunks_free(&p->rss_out);
        if (p->rss_state == RSS_OPEN) close(p->rss_fd);
        if (p->hdr) munmap(p->hdr, TRACE_HEADER_SIZE);
        free(p->why_unsupervised);
        free(p->dead_sps);
        free(p->final.note);
        free(p->final_leaks);
        if (p->kept) snap_free(p->kept);
        if (p->followed) munmap((void *)p->followed, TRACE_MAX_SLOTS);
        free(p->kept);
        free(p);
    }
    for (size_t i = 0; i < ps->nforks; i++) fork_snapshot_free(&ps->forks[i]);
    free(ps->forks);
    free(ps->v);
    memset(ps, 0, sizeof *ps);
}

bool procs_claim_fork(struct run_procs *ps, pid_t parent, uint64_t ticks, struct fork_snapshot *out)
{
    for (size_t i = 0; i < ps->nforks; i++) {
        if (ps->forks[i].parent != parent || ps->forks[i].ticks != ticks) continue;
        *out = ps->forks[i];
        ps->forks[i] = ps->forks[--ps->nforks];
        return true;
    }
    return false;
}

/* The merge of a process's records reached a fork: its heap now is the one
 * the child starts with, which may ask for it only later (and the parent
 * may have freed it all by then, or be gone). */
static void on_fork(const struct snap *s, uint64_t ticks, void *ctx)
{
    struct run_proc *p = ctx;
    struct run_procs *ps = p->owner;
    /* A child that never asks (it exec'd a static program, or died first)
     * leaves its heap here: a parent keeps its latest FORKS_KEPT only. */
    size_t mine = 0, oldest = SIZE_MAX;
    for (size_t i = 0; i < ps->nforks; i++) {
        if (ps->forks[i].parent != p->pid) continue;
        mine++;
        if (oldest == SIZE_MAX || ps->forks[i].ticks < ps->forks[oldest].ticks) oldest = i;
    }
    if (mine >= FORKS_KEPT) {
        fork_snapshot_free(&ps->forks[oldest]);
        ps->forks[oldest] = ps->forks[--ps->nforks];
    }
    ps->forks = xrealloc(ps->forks, (ps->nforks + 1) * sizeof *ps->forks);
    fork_snapshot_take(&ps->forks[ps->nforks++], s, p->pid, ticks);
}

bool proc_follow(struct run_proc *p, char *err, size_t errlen)
{
    if (p->following) return true;
    if (follow_open(&p->follow, p->path, err, errlen) < 0) return false;
    p->follow.tail.done_map = p->followed;
    p->follow.s.live_only = !p->owner->full_figures;
    if (p->owner->children_followed) {
        p->follow.s.fork_hook = on_fork;
        p->follow.s.fork_ctx = p;
    }
    p->following = true;
    return true;
}

void proc_will_follow(struct run_proc *p)
{
    void *m = mmap(NULL, TRACE_MAX_SLOTS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) die("out of memory");
    p->followed = m;
}

void proc_seal_thread(struct run_proc *p, pid_t tid)
{
    if (!p->following) return;
    const struct tail_stream *last = NULL;
    for (size_t i = 0; i < p->follow.tail.nstreams; i++) {
        const struct tail_stream *s = &p->follow.tail.streams[i];
        if (s->tid == (uint32_t)tid && (!last || s->stream > last->stream)) last = s;
    }
    if (!last) return;
    int64_t slot = last->nqueue ? (int64_t)last->queue[last->nqueue - 1].slot : last->slot;
    if (slot < 0) return;
    int fd = open(p->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    off_t at = (off_t)TRACE_HEADER_SIZE + (off_t)slot * TRACE_SLOT_SIZE;
    struct chunk_header ch;
    if (pread(fd, &ch, sizeof ch, at) == (ssize_t)sizeof ch && ch.magic == TRACE_CHUNK_MAGIC && ch.tid == (uint32_t)tid &&
        !(ch.flags & CHUNK_SEALED)) {
        ch.flags |= CHUNK_SEALED; /* no one writes it now: a plain write is enough (if it fails, packed at the end) */
        ssize_t w = pwrite(fd, &ch.flags, sizeof ch.flags, at + (off_t)offsetof(struct chunk_header, flags));
        (void)w;
    }
    close(fd);
}

void proc_release(struct run_proc *p)
{
    stream_image_free(p);
    if (p->following) follow_close(&p->follow);
    p->following = false;
    if (p->hdr) munmap(p->hdr, TRACE_HEADER_SIZE);
    p->hdr = NULL;
}
