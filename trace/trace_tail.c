/* trace_tail.c - see trace_tail.h. */
#include "trace_tail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SLOT_UNSEEN = 0, SLOT_INDEXED = 1, SLOT_DONE = 2 };

static const size_t chunk_hs = sizeof(struct chunk_header);

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

int tail_open(struct trace_tail *t, const char *path, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (t->fd < 0) return fail(err, errlen, strerror(errno));
    struct trace_header h;
    if (pread(t->fd, &h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h.magic, TRACE_MAGIC, 8) != 0 ||
        h.state != TRACE_OPEN || h.slot_size != TRACE_SLOT_SIZE || h.header_size != TRACE_HEADER_SIZE) {
        tail_close(t);
        return fail(err, errlen, "not an open heapsnap trace");
    }
    return tail_refresh(t, err, errlen);
}

void tail_close(struct trace_tail *t)
{
    if (t->map) munmap(t->map, t->mapped);
    if (t->fd > 0) close(t->fd);
    for (size_t i = 0; i < t->nstreams; i++) free(t->streams[i].queue);
    free(t->streams);
    free(t->slot_state);
    memset(t, 0, sizeof *t);
    t->fd = -1;
}

static const struct chunk_header *slot_header(const struct trace_tail *t, size_t i)
{
    return (const struct chunk_header *)(t->map + TRACE_HEADER_SIZE + i * (size_t)TRACE_SLOT_SIZE);
}

static struct tail_stream *stream_of(struct trace_tail *t, uint32_t id)
{
    for (size_t i = 0; i < t->nstreams; i++)
        if (t->streams[i].stream == id) return &t->streams[i];
    struct tail_stream *v = realloc(t->streams, (t->nstreams + 1) * sizeof *v);
    if (!v) return NULL;
    t->streams = v;
    struct tail_stream *s = &t->streams[t->nstreams++];
    *s = (struct tail_stream){.stream = id, .slot = -1};
    return s;
}

/* Slot i holds chunk seq of s: current if it is the one s waits for, else
 * queued in seq order (slots are indexed in the order their headers become
 * visible, which need not be the order the thread took them). */
static bool stream_add_slot(struct tail_stream *s, const struct trace_tail *t, size_t i, uint32_t seq)
{
    if (seq < s->next_seq) return true; /* a chunk we are past: corrupt, ignore */
    if (seq == s->next_seq && s->slot < 0) {
        s->slot = (int64_t)i;
        s->consumed = 0;
        return true;
    }
    if (s->nqueue == s->capqueue) {
        size_t cap = s->capqueue ? s->capqueue * 2 : 8;
        uint64_t *q = realloc(s->queue, cap * sizeof *q);
        if (!q) return false;
        s->queue = q;
        s->capqueue = cap;
    }
    size_t k = s->nqueue++;
    while (k > 0 && slot_header(t, s->queue[k - 1])->seq > seq) {
        s->queue[k] = s->queue[k - 1];
        k--;
    }
    s->queue[k] = i;
    return true;
}

int tail_refresh(struct trace_tail *t, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(t->fd, &st) != 0) return fail(err, errlen, strerror(errno));
    size_t size = (size_t)st.st_size;
    size_t nslots = size > TRACE_HEADER_SIZE ? (size - TRACE_HEADER_SIZE) / TRACE_SLOT_SIZE : 0;
    size_t want = TRACE_HEADER_SIZE + nslots * (size_t)TRACE_SLOT_SIZE;
    if (want > t->mapped) {
        void *m = t->map ? mremap(t->map, t->mapped, want, MREMAP_MAYMOVE)
                         : mmap(NULL, want, PROT_READ, MAP_SHARED, t->fd, 0);
        if (m == MAP_FAILED) return fail(err, errlen, strerror(errno));
        t->map = m;
        t->mapped = want;
    }
    if (nslots > t->slot_cap) {
        uint8_t *v = realloc(t->slot_state, nslots);
        if (!v) return fail(err, errlen, "out of memory");
        memset(v + t->slot_cap, 0, nslots - t->slot_cap);
        t->slot_state = v;
        t->slot_cap = nslots;
    }
    t->nslots = nslots;
    bool all_seen = true;
    for (size_t i = t->scan_from; i < nslots; i++) {
        if (t->slot_state[i] != SLOT_UNSEEN) {
            if (all_seen) t->scan_from = i + 1;
            continue;
        }
        const struct chunk_header *c = slot_header(t, i);
        /* The writer fills the header, then publishes magic (release). */
        if (atomic_load_explicit((const _Atomic uint32_t *)&c->magic, memory_order_acquire) != TRACE_CHUNK_MAGIC) {
            all_seen = false;
            continue;
        }
        struct tail_stream *s = stream_of(t, c->stream);
        if (!s || !stream_add_slot(s, t, i, c->seq)) return fail(err, errlen, "out of memory");
        s->tid = c->tid;
        t->slot_state[i] = SLOT_INDEXED;
        if (all_seen) t->scan_from = i + 1;
    }
    for (size_t k = 0; k < t->nstreams; k++) {
        struct tail_stream *s = &t->streams[k];
        int64_t last = s->nqueue ? (int64_t)s->queue[s->nqueue - 1] : s->slot;
        if (last < 0) continue; /* nothing new to read: the old limit stands */
        const struct chunk_header *c = slot_header(t, (size_t)last);
        s->limit_seq = c->seq;
        s->limit_len = atomic_load_explicit((const _Atomic uint32_t *)&c->raw_len, memory_order_acquire);
    }
    return 0;
}

bool tail_next(struct trace_tail *t, struct tail_stream *s, const uint8_t **p, size_t *len, bool *fresh)
{
    for (;;) {
        if (s->slot < 0) {
            if (s->nqueue == 0 || slot_header(t, s->queue[0])->seq != s->next_seq) return false;
            s->slot = (int64_t)s->queue[0];
            memmove(s->queue, s->queue + 1, --s->nqueue * sizeof *s->queue);
            s->consumed = 0;
        }
        const struct chunk_header *c = slot_header(t, (size_t)s->slot);
        if (c->seq > s->limit_seq) return false; /* begun after this round did */
        /* flags before raw_len: once SEALED is seen, the length read after it is final. */
        uint32_t flags = atomic_load_explicit((const _Atomic uint32_t *)&c->flags, memory_order_acquire);
        uint32_t raw = atomic_load_explicit((const _Atomic uint32_t *)&c->raw_len, memory_order_acquire);
        if (c->seq == s->limit_seq && raw > s->limit_len) raw = s->limit_len;
        if (raw > TRACE_SLOT_SIZE - chunk_hs) raw = (uint32_t)(TRACE_SLOT_SIZE - chunk_hs);
        if (raw > s->consumed) {
            *fresh = s->consumed == 0;
            *p = (const uint8_t *)(c + 1) + s->consumed;
            *len = raw - s->consumed;
            s->consumed = raw;
            return true;
        }
        if (!(flags & CHUNK_SEALED) || c->seq == s->limit_seq) return false;
        t->slot_state[s->slot] = SLOT_DONE;
        while (t->done_below < t->nslots && t->slot_state[t->done_below] == SLOT_DONE) t->done_below++;
        s->slot = -1;
        s->next_seq++;
    }
}

size_t tail_done_below(const struct trace_tail *t) { return t->done_below; }
