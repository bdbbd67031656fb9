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
        free(p);
    }
    free(ps->v);
    memset(ps, 0, sizeof *ps);
}

static bool slot_read(void *ctx, size_t slot)
{
    const struct run_proc *p = ctx;
    return !p->following || tail_slot_done(&p->follow.tail, slot);
}

bool proc_follow(struct run_proc *p, char *err, size_t errlen)
{
    if (p->following) return true;
    if (follow_open(&p->follow, p->path, err, errlen) < 0) return false;
    p->following = true;
    return true;
}

void proc_pack_step(struct run_proc *p)
{
    char err[1024];
    if (!p->packing) {
        /* Packed slots give their disk blocks back: the follower has read them. */
        if (packer_begin(&p->packer, p->path, true, err, sizeof err) != 0) return;
        p->packer.may_pack = slot_read;
        p->packer.may_pack_ctx = p;
        p->packing = true;
    }
    if (packer_step(&p->packer, false, err, sizeof err) < 0) {
        warn("%s", err);
        packer_abort(&p->packer);
        p->packing = false;
    }
}

void proc_pack_final(struct run_proc *p, uint32_t how, int32_t code)
{
    char err[1024];
    int rc = 0;
    if (!p->packing) {
        rc = packer_begin(&p->packer, p->path, false, err, sizeof err);
        p->packing = rc == 0;
    }
    if (rc == 0) rc = packer_step(&p->packer, true, err, sizeof err);
    if (rc == 0) rc = packer_add_external(&p->packer, &p->inherited, TRACE_STREAM_INHERITED, err, sizeof err);
    if (rc == 0) rc = packer_add_external(&p->packer, &p->checks_out, TRACE_STREAM_EXTERNAL, err, sizeof err);
    if (rc == 0) {
        rc = packer_commit(&p->packer, how, code, err, sizeof err);
        p->packing = false; /* committed or aborted */
    }
    if (rc < 0) {
        if (p->packing) packer_abort(&p->packer);
        p->packing = false;
        warn("%s", err);
    }
    if (p->following) follow_close(&p->follow);
    p->following = false;
    if (p->hdr) munmap(p->hdr, TRACE_HEADER_SIZE);
    p->hdr = NULL;
    p->state = PROC_PACKED;
}
