/* trace_read.c - open, index and decode traces. Nothing read from the file is
 * trusted: sizes are checked before use, a chunk that claims more than its slot
 * or its file is refused, and a record that runs past its chunk is corruption.
 * A trace cut short (a crash, a full disk, a copy that stopped) still opens:
 * OPEN traces are read slot by slot, and a slot the end of the file goes
 * through gives its records up to the last whole one. */
#include "trace_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

static int fail(char *err, size_t errlen, const char *path, const char *why)
{
    snprintf(err, errlen, "%s: %s", path, why);
    return -1;
}

static bool push_chunk(struct trace_file *tf, size_t *cap, const struct chunk_header *h, uint64_t off)
{
    if (tf->nchunks == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        void *n = realloc(tf->chunks, ncap * sizeof *tf->chunks);
        if (!n) return false;
        tf->chunks = n;
        *cap = ncap;
    }
    tf->chunks[tf->nchunks++] = (struct trace_chunk){.offset = off,
                                                     .flags = h->flags,
                                                     .stream = h->stream,
                                                     .seq = h->seq,
                                                     .tid = h->tid,
                                                     .raw_len = h->raw_len,
                                                     .stored_len = h->stored_len};
    return true;
}

int trace_open(struct trace_file *tf, const char *path, char *err, size_t errlen)
{
    memset(tf, 0, sizeof *tf);
    tf->path = path;
    tf->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(err, errlen, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return fail(err, errlen, path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, path, "not a regular file");
    }
    if ((size_t)st.st_size < sizeof(struct trace_header)) {
        close(fd);
        return fail(err, errlen, path, "not a heapsnap trace (too short)");
    }
    tf->size = (size_t)st.st_size;
    tf->fd = fd;
    if (pread(fd, &tf->hdr, sizeof tf->hdr, 0) != (ssize_t)sizeof tf->hdr) {
        trace_close(tf);
        return fail(err, errlen, path, strerror(errno ? errno : EIO));
    }
    const struct trace_header *h = &tf->hdr;
    if (memcmp(h->magic, TRACE_MAGIC, 8) != 0) {
        trace_close(tf);
        return fail(err, errlen, path, "not a heapsnap trace");
    }
    if (h->version > TRACE_VERSION) {
        char why[128];
        snprintf(why, sizeof why, "trace format version %u is newer than this heapsnap reads (%u): upgrade heapsnap",
                 h->version, TRACE_VERSION);
        trace_close(tf);
        return fail(err, errlen, path, why);
    }
    if (tf->size < TRACE_HEADER_SIZE && h->version >= TRACE_VERSION_MIN && h->version <= TRACE_VERSION) {
        trace_close(tf);
        return fail(err, errlen, path, "truncated trace (the file ends inside its header)");
    }
    if (h->version < TRACE_VERSION_MIN || h->header_size != TRACE_HEADER_SIZE ||
        (h->state != TRACE_OPEN && h->state != TRACE_PACKED) ||
        (h->state == TRACE_OPEN && h->slot_size != TRACE_SLOT_SIZE)) {
        trace_close(tf);
        return fail(err, errlen, path, "corrupt trace header");
    }

    if (h->state == TRACE_OPEN && (h->flags & TRACE_F_PUNCHED)) {
        trace_close(tf);
        return fail(err, errlen, path,
                    "part of its records are in a .packing or .left file beside it (heapsnap run packs a trace "
                    "while the program runs): read it once the run has ended, or, if that run was killed, put "
                    "it together with heapsnap pack");
    }
    size_t cap = 0;
    const size_t hs = sizeof(struct chunk_header);
    tf->hdr.flags &= ~TRACE_F_CUT; /* the reader's to set, whatever the file says */
    if (h->state == TRACE_OPEN) {
        /* The shim grows the file by whole slots: anything else was cut. */
        if ((tf->size - TRACE_HEADER_SIZE) % TRACE_SLOT_SIZE != 0) tf->hdr.flags |= TRACE_F_CUT;
        for (uint64_t off = TRACE_HEADER_SIZE; off + hs <= tf->size; off += TRACE_SLOT_SIZE) {
            struct chunk_header ch;
            if (pread(tf->fd, &ch, hs, (off_t)off) != (ssize_t)hs) break;
            if (ch.magic != TRACE_CHUNK_MAGIC || ch.raw_len == 0) continue;
            if (ch.raw_len > TRACE_SLOT_SIZE - hs) ch.raw_len = TRACE_SLOT_SIZE - hs;
            ch.flags = 0;
            if (ch.raw_len > tf->size - off - hs) { /* committed, but the file ends before them */
                ch.raw_len = (uint32_t)(tf->size - off - hs);
                ch.flags = TRACE_CHUNK_CUT;
                if (ch.raw_len == 0) continue;
            }
            ch.stored_len = ch.raw_len;
            if (!push_chunk(tf, &cap, &ch, off + hs)) goto oom;
        }
    } else {
        uint64_t off = TRACE_HEADER_SIZE;
        while (off < tf->size) {
            struct chunk_header ch;
            if (tf->size - off < hs) {
                trace_close(tf);
                return fail(err, errlen, path, "truncated trace (a chunk header is cut off)");
            }
            if (pread(tf->fd, &ch, hs, (off_t)off) != (ssize_t)hs) {
                trace_close(tf);
                return fail(err, errlen, path, "read error");
            }
            if (ch.magic != TRACE_CHUNK_MAGIC || ch.raw_len > TRACE_MAX_CHUNK_RAW || (ch.flags & ~CHUNK_ZSTD) ||
                (!(ch.flags & CHUNK_ZSTD) && ch.stored_len != ch.raw_len)) {
                trace_close(tf);
                return fail(err, errlen, path, "corrupt trace (bad chunk header)");
            }
            if (ch.stored_len > tf->size - off - hs) {
                trace_close(tf);
                return fail(err, errlen, path, "truncated trace (a chunk is cut off)");
            }
            if (!push_chunk(tf, &cap, &ch, off + hs)) goto oom;
            off += hs + ch.stored_len;
        }
    }
    tf->dctx = ZSTD_createDCtx();
    tf->zbuf = malloc(ZSTD_compressBound(TRACE_MAX_CHUNK_RAW));
    if (!tf->dctx || !tf->zbuf) goto oom;
    return 0;
oom:
    trace_close(tf);
    return fail(err, errlen, path, "out of memory");
}

void trace_close(struct trace_file *tf)
{
    if (tf->fd >= 0) close(tf->fd);
    free(tf->chunks);
    free(tf->zbuf);
    if (tf->dctx) ZSTD_freeDCtx(tf->dctx);
    memset(tf, 0, sizeof *tf);
    tf->fd = -1;
}

/* The records of a cut chunk that are whole: its last one may have lost its
 * tail with the file. What lies before is intact (each record was committed
 * before the next was written), so a record that does not decode here is
 * the cut, not corruption. */
static long cut_to_whole_records(const uint8_t *buf, uint32_t len)
{
    struct rec_decoder d;
    struct trace_rec r;
    rec_decoder_init(&d, buf, len);
    const uint8_t *whole = buf;
    while (rec_next(&d, &r) > 0) whole = d.c.p;
    return (long)(whole - buf);
}

long trace_chunk_load(struct trace_file *tf, size_t i, uint8_t *buf, char *err, size_t errlen)
{
    const struct trace_chunk *c = &tf->chunks[i];
    bool zstd = (c->flags & CHUNK_ZSTD) != 0;
    uint8_t *dst = zstd ? tf->zbuf : buf;
    if (c->stored_len > ZSTD_compressBound(TRACE_MAX_CHUNK_RAW) ||
        pread(tf->fd, dst, c->stored_len, (off_t)c->offset) != (ssize_t)c->stored_len) {
        fail(err, errlen, tf->path, "truncated trace (a chunk cannot be read)");
        return -1;
    }
    if (c->flags & TRACE_CHUNK_CUT) return cut_to_whole_records(buf, c->raw_len);
    if (!zstd) return c->raw_len;
    size_t n = ZSTD_decompressDCtx(tf->dctx, buf, TRACE_MAX_CHUNK_RAW, tf->zbuf, c->stored_len);
    if (ZSTD_isError(n) || n != c->raw_len) {
        fail(err, errlen, tf->path, "corrupt trace (a chunk does not decompress)");
        return -1;
    }
    return (long)n;
}

void rec_decoder_init(struct rec_decoder *d, const uint8_t *buf, size_t len)
{
    d->c = (struct varint_cursor){.p = buf, .end = buf + len};
    d->ticks = 0;
    d->ptr = 0;
}

static void get_string(struct varint_cursor *c, const uint8_t **s, uint64_t *len)
{
    *len = varint_get(c);
    if (*len > TRACE_MAX_STRING) c->bad = true;
    *s = varint_get_bytes(c, *len);
}

static void timed(struct rec_decoder *d, struct trace_rec *r)
{
    d->ticks += varint_get(&d->c);
    r->ticks = d->ticks;
}

int rec_next(struct rec_decoder *d, struct trace_rec *r)
{
    struct varint_cursor *c = &d->c;
    if (c->p >= c->end) return 0;
    /* Only the fields of the record's own type are set: clearing the whole
     * struct per record was a quarter of a report's time. */
    r->type = *c->p++;
    switch (r->type) {
    case REC_ALLOC:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        r->fn = varint_get(c);
        break;
    case REC_FREE:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        break;
    case REC_REALLOC:
        timed(d, r);
        r->ptr = d->ptr + (uint64_t)varint_get_signed(c);
        d->ticks += varint_get(c);
        r->ticks2 = d->ticks;
        r->ptr2 = r->ptr + (uint64_t)varint_get_signed(c);
        d->ptr = r->ptr2;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        break;
    case REC_STACK:
    case REC_STACK_MORE:
        r->ips.bad = false;
        r->id = varint_get(c);
        r->total = r->type == REC_STACK ? varint_get(c) : 0;
        r->n = varint_get(c);
        if (r->total > TRACE_MAX_FRAMES || r->n > TRACE_MAX_FRAMES) return -1;
        r->ips = *c;
        for (uint64_t i = 0; i < r->n && !c->bad; i++) varint_get(c);
        r->ips.end = c->p;
        break;
    case REC_MODULE:
        timed(d, r);
        r->id = varint_get(c);
        r->bias = varint_get(c);
        r->lo = varint_get(c);
        r->hi = varint_get(c);
        get_string(c, &r->s1, &r->l1);
        get_string(c, &r->s2, &r->l2);
        break;
    case REC_UNLOAD:
        timed(d, r);
        r->id = varint_get(c);
        break;
    case REC_PROCESS:
        get_string(c, &r->s1, &r->l1);
        get_string(c, &r->s2, &r->l2);
        get_string(c, &r->s3, &r->l3);
        break;
    case REC_MARKER:
    case REC_EXEC:
        timed(d, r);
        get_string(c, &r->s1, &r->l1);
        break;
    case REC_CLOCK:
        r->ticks = varint_get(c);
        r->mono = varint_get(c);
        break;
    case REC_IGNORE:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        break;
    case REC_ROOT:
        timed(d, r);
        r->ptr = varint_get(c);
        r->size = varint_get(c);
        r->fn = varint_get(c);
        break;
    case REC_LEAK_CHECK:
        d->ptr = 0; /* each check's pointer deltas start from 0 */
        r->ticks = varint_get(c);
        r->id = varint_get(c);    /* seq */
        r->fn = varint_get(c);    /* status */
        r->total = varint_get(c); /* lost blocks that follow */
        break;
    case REC_LEAK:
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->fn = varint_get(c);   /* kind */
        r->size = varint_get(c); /* indirect bytes */
        break;
    case REC_FORK:
        timed(d, r);
        break;
    case REC_INHERIT:
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        r->fn = varint_get(c); /* flags */
        break;
    case REC_CHECK_NOTE:
        r->id = varint_get(c); /* seq */
        get_string(c, &r->s1, &r->l1);
        break;
    case REC_MMAP:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        r->fn = varint_get(c); /* kind */
        r->lo = varint_get(c); /* prot */
        r->hi = varint_get(c); /* flags */
        if (r->fn > MAP_KIND_BRK || r->ptr + r->size < r->ptr) return -1;
        break;
    case REC_MUNMAP:
        timed(d, r);
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        if (r->ptr + r->size < r->ptr) return -1;
        break;
    case REC_MREMAP: /* as REALLOC: two stamps, the unmapping half and the mapping half */
        timed(d, r);
        r->ptr = d->ptr + (uint64_t)varint_get_signed(c);
        r->total = varint_get(c); /* old_len */
        d->ticks += varint_get(c);
        r->ticks2 = d->ticks;
        r->ptr2 = r->ptr + (uint64_t)varint_get_signed(c);
        d->ptr = r->ptr2;
        r->size = varint_get(c);
        r->fn = varint_get(c); /* flags */
        r->stack = varint_get(c);
        if (r->ptr + r->total < r->ptr || r->ptr2 + r->size < r->ptr2) return -1;
        break;
    case REC_RSS:
        r->ticks = varint_get(c);
        r->size = varint_get(c);  /* resident */
        r->total = varint_get(c); /* file-backed or shared */
        if (r->total > r->size) return -1;
        break;
    case REC_POOL:
        timed(d, r);
        r->fn = varint_get(c); /* op */
        r->id = varint_get(c); /* pool */
        d->ptr += (uint64_t)varint_get_signed(c);
        r->ptr = d->ptr;
        r->size = varint_get(c);
        r->stack = varint_get(c);
        /* An object keyed with POOL_KEY_BIT set must not collide with itself
         * untagged, nor a pool be named by a kernel address. */
        if (r->fn < POOL_ALLOC || r->fn > POOL_DESTROY || (r->ptr & POOL_KEY_BIT)) return -1;
        break;
    case REC_SUPPRESSIONS:
        r->fn = varint_get(c); /* origin */
        get_string(c, &r->s1, &r->l1);
        if (r->fn < SUPP_FROM_DEFAULT_SUPPRESSIONS || r->fn > SUPP_FROM_LSAN_OPTIONS) return -1;
        break;
    default:
        return -1;
    }
    return c->bad ? -1 : 1;
}
