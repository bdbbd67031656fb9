/* run_rss.c - see run_rss.h. statm, not smaps_rollup: it is one line the
 * kernel makes from counters, where smaps_rollup walks every mapping under
 * the process's mmap lock, which its own mmap calls then wait for. */
#include "run_rss.h"
#include "../trace/trace_ticks.h"
#include "../trace/varint.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static long page_size(void)
{
    static long page;
    if (!page) page = sysconf(_SC_PAGESIZE);
    return page > 0 ? page : 4096;
}

static void rss_open(struct run_proc *p)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)p->pid);
    p->rss_fd = open(path, O_RDONLY | O_CLOEXEC);
    p->rss_state = p->rss_fd >= 0 ? RSS_OPEN : RSS_OFF; /* gone already, or not ours to read */
}

void rss_sample(struct run_proc *p)
{
    if (p->rss_state == RSS_NONE) rss_open(p);
    if (p->rss_state != RSS_OPEN) return;
    char buf[256];
    ssize_t n = pread(p->rss_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return; /* ended between two looks: its exit stop had the last sample */
    buf[n] = 0;
    /* size resident shared text lib data dt, in pages; shared counts the
     * resident file-backed and shared-memory pages. */
    unsigned long long size, resident, shared;
    if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3) return;
    uint64_t page = (uint64_t)page_size();
    uint8_t rec[1 + 3 * VARINT_MAX], *w = rec;
    *w++ = REC_RSS;
    w = varint_put(w, trace_ticks_now()); /* the shim's clock, on the same machine */
    w = varint_put(w, resident * page);
    w = varint_put(w, (shared < resident ? shared : resident) * page);
    rec_chunks_add(&p->rss_out, rec, (size_t)(w - rec));
}

void rss_tick(struct run_procs *ps, unsigned interval_ms, uint64_t now_ms)
{
    if (!interval_ms) return;
    for (size_t i = 0; i < ps->n; i++) {
        struct run_proc *p = ps->v[i];
        if (p->state != PROC_RUNNING || now_ms < p->rss_next_ms) continue;
        rss_sample(p);
        p->rss_next_ms = now_ms + interval_ms;
    }
}

void rss_stop(struct run_proc *p)
{
    if (p->rss_state == RSS_OPEN) close(p->rss_fd);
    p->rss_state = RSS_OFF;
}
