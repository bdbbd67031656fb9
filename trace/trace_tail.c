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
    if (t->fd >= 0) close(t->fd);
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

/* Takes slot i's pages out of our page tables: the next read of it maps them
 * again, from the page cache, so this is never wrong, only slower if early.
 * Reading one page of a slot maps its neighbours that are cached too (the
 * kernel's fault-around): a slot only looked at is dropped whole. */
static void slot_drop(const struct trace_tail *t, size_t i)
{
    madvise((void *)slot_header(t, i), TRACE_SLOT_SIZE, MADV_DONTNEED);
}

static struct tail_stream *stream_of(struct trace_tail *t, uint32_t id)
{
    for (size_t i = 0; i < t->nstreams; i++)
        if (t->streams[i].stream == id) return &t->streams[i];
    struct tail_stream *v = realloc(t->streams, (t->nstreams + 1) * sizeof *v);
    if (!v) return NULL;
    t->streams = v;
    struct tail_stream *s = &t->streams[t->nstreams++];
    *s = (struct tail_stream){.stream = id, .slot = -1, .limit_slot = -1};
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
        struct tail_queued *q = realloc(s->queue, cap * sizeof *q);
        if (!q) return false;
        s->queue = q;
        s->capqueue = cap;
    }
    size_t k = s->nqueue++;
    while (k > 0 && s->queue[k - 1].seq > seq) {
        s->queue[k] = s->queue[k - 1];
        k--;
    }
    s->queue[k] = (struct tail_queued){.slot = i, .seq = seq};
    slot_drop(t, i); /* read when its turn comes */
    return true;
}

/* The file's first len bytes, mapped where each slot fills one aligned
 * TRACE_SLOT_SIZE of addresses. A read fault maps the page's cached
 * neighbours in an aligned window (the kernel's fault-around, 64 KiB): so
 * aligned, reading a slot maps pages of that slot only, never the start of
 * the next one (which we may have dropped, see slot_drop). */
static void *map_slot_aligned(int fd, size_t len)
{
    size_t span = len + TRACE_SLOT_SIZE;
    uint8_t *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return MAP_FAILED;
    uintptr_t first_slot = ((uintptr_t)r + TRACE_HEADER_SIZE + TRACE_SLOT_SIZE - 1) & ~(uintptr_t)(TRACE_SLOT_SIZE - 1);
    uint8_t *at = (uint8_t *)(first_slot - TRACE_HEADER_SIZE);
    void *m = mmap(at, len, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    if (m == MAP_FAILED) {
        munmap(r, span);
        return MAP_FAILED;
    }
    if (at > r) munmap(r, (size_t)(at - r));
    if (at + len < r + span) munmap(at + len, (size_t)(r + span - (at + len)));
    /* Read a page at a time: readahead would fill the page cache ahead of
     * the writer, and fault-around then map those pages of untaken slots. */
    madvise(m, len, MADV_RANDOM);
    return m;
}

int tail_refresh(struct trace_tail *t, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(t->fd, &st) != 0) return fail(err, errlen, strerror(errno));
    size_t size = (size_t)st.st_size;
    size_t nslots = size > TRACE_HEADER_SIZE ? (size - TRACE_HEADER_SIZE) / TRACE_SLOT_SIZE : 0;
    if (nslots > TRACE_MAX_SLOTS) nslots = TRACE_MAX_SLOTS;
    /* The file only grows: a smaller one was cut under us, and pages of the
     * mapping past its end would fault (SIGBUS). */
    if (nslots < t->nslots) return fail(err, errlen, "the trace file was cut short while it was read");
    size_t want = TRACE_HEADER_SIZE + nslots * (size_t)TRACE_SLOT_SIZE;
    if (want > t->mapped) {
        void *m = t->map ? mremap(t->map, t->mapped, want, 0) : MAP_FAILED; /* in place keeps the alignment */
        if (m == MAP_FAILED) {
            m = map_slot_aligned(t->fd, want);
            if (m == MAP_FAILED) return fail(err, errlen, strerror(errno));
            if (t->map) munmap(t->map, t->mapped);
        }
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
        /* Not taken yet, most likely: asked of the file, not of the mapping,
         * where a fault would map the slot's pages already cached (readahead
         * of the file fills them ahead of the writer). */
        uint32_t magic;
        if (pread(t->fd, &magic, sizeof magic, (off_t)((const uint8_t *)slot_header(t, i) - t->map)) !=
                (ssize_t)sizeof magic ||
            magic != TRACE_CHUNK_MAGIC) {
            all_seen = false;
            continue;
        }
        const struct chunk_header *c = slot_header(t, i);
        /* The writer fills the header, then publishes magic (release). */
        if (atomic_load_explicit((const _Atomic uint32_t *)&c->magic, memory_order_acquire) != TRACE_CHUNK_MAGIC) {
            all_seen = false;
            continue;
        }
        uint32_t stream = c->stream, seq = c->seq, tid = c->tid; /* stream_add_slot may drop the page */
        struct tail_stream *s = stream_of(t, stream);
        if (!s || !stream_add_slot(s, t, i, seq)) return fail(err, errlen, "out of memory");
        s->tid = tid;
        t->slot_state[i] = SLOT_INDEXED;
        if (all_seen) t->scan_from = i + 1;
    }
    for (size_t k = 0; k < t->nstreams; k++) {
        struct tail_stream *s = &t->streams[k];
        int64_t last = s->nqueue ? (int64_t)s->queue[s->nqueue - 1].slot : s->slot;
        if (last < 0) continue; /* nothing new to read: the old limit stands */
        /* The newest slot before it waits in the queue now: read when its turn comes. */
        if (s->limit_slot >= 0 && s->limit_slot != last && s->limit_slot != s->slot &&
            t->slot_state[s->limit_slot] == SLOT_INDEXED)
            slot_drop(t, (size_t)s->limit_slot);
        s->limit_slot = last;
        const struct chunk_header *c = slot_header(t, (size_t)last);
        s->limit_seq = s->nqueue ? s->queue[s->nqueue - 1].seq : c->seq;
        s->limit_len = atomic_load_explicit((const _Atomic uint32_t *)&c->raw_len, memory_order_acquire);
    }
    return 0;
}

bool tail_next(struct trace_tail *t, struct tail_stream *s, const uint8_t **p, size_t *len, bool *fresh)
{
    for (;;) {
        if (s->slot < 0) {
            /* A chunk number seen twice (a corrupt trace): the second is dropped. */
            while (s->nqueue && s->queue[0].seq < s->next_seq)
                memmove(s->queue, s->queue + 1, --s->nqueue * sizeof *s->queue);
            if (s->nqueue == 0 || s->queue[0].seq != s->next_seq) return false;
            s->slot = (int64_t)s->queue[0].slot;
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
        slot_drop(t, (size_t)s->slot); /* never read again */
        if (t->done_map) atomic_store_explicit(&t->done_map[s->slot], 1, memory_order_release);
        s->slot = -1;
        s->next_seq++;
    }
}


