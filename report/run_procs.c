/* run_procs.c - see run_procs.h. */
#include "run_procs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
        if (ps->v[i]->pid == pid && ps->v[i]->state == PROC_RUNNING) ps->v[i]->state = PROC_REPLACED;
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
        if (p->following) follow_close(&p->follow);
        if (p->packing) packer_abort(&p->packer);
        rec_chunks_free(&p->checks_out);
        rec_chunks_free(&p->inherited);
        if (p->hdr) munmap(p->hdr, TRACE_HEADER_SIZE);
        free(p->why_unsupervised);
        free(p->dead_sps);
        free(p->final.note);
        free(p->final_leaks);
        if (p->kept) snap_free(p->kept);
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
    ps->forks = xrealloc(ps->forks, (ps->nforks + 1) * sizeof *ps->forks);
    fork_snapshot_take(&ps->forks[ps->nforks++], s, p->pid, ticks);
}

bool proc_follow(struct run_proc *p, char *err, size_t errlen)
{
    if (p->following) return true;
    if (follow_open(&p->follow, p->path, err, errlen) < 0) return false;
    p->follow.s.fork_hook = on_fork;
    p->follow.s.fork_ctx = p;
    p->following = true;
    return true;
}

void proc_publish_read(struct run_proc *p)
{
    size_t below = p->following ? tail_done_below(&p->follow.tail) : 0;
    atomic_store_explicit(&p->punch_below, below, memory_order_release);
}

void proc_release(struct run_proc *p)
{
    if (p->following) follow_close(&p->follow);
    p->following = false;
    if (p->hdr) munmap(p->hdr, TRACE_HEADER_SIZE);
    p->hdr = NULL;
}
