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

static bool push_chunk(struct trace_file *tf, size_t *cap, const struct chunk_header *h, uint64_t off, uint32_t member,
                       uint32_t members)
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
                                                     .stored_len = h->stored_len,
                                                     .member = member,
                                                     .members = members};
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
        h->sample_rate > TRACE_MAX_SAMPLE_RATE || (h->state != TRACE_OPEN && h->state != TRACE_PACKED) ||
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
            if (!push_chunk(tf, &cap, &ch, off + hs, 0, 1)) goto oom;
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
            bool unit = ch.flags == CHUNK_UNIT && h->version >= 3;
            if (ch.magic != TRACE_CHUNK_MAGIC || (!unit && ch.raw_len > TRACE_MAX_CHUNK_RAW) ||
                (!unit && (ch.flags & ~CHUNK_ZSTD)) || (!(ch.flags & CHUNK_ZSTD) && !unit && ch.stored_len != ch.raw_len) ||
                (unit && ch.stored_len > UNIT_MAX_STORED)) {
                trace_close(tf);
                return fail(err, errlen, path, "corrupt trace (bad chunk header)");
            }
            if (ch.stored_len > tf->size - off - hs) {
                trace_close(tf);
                return fail(err, errlen, path, "truncated trace (a chunk is cut off)");
            }
            if (unit) {
                /* Its members, from the table at its start. */
                uint8_t table[UNIT_TABLE_MAX];
                struct unit_member m[UNIT_MAX_MEMBERS];
                size_t tl = ch.stored_len < sizeof table ? ch.stored_len : sizeof table, n;
                uint64_t total = 0;
                if (pread(tf->fd, table, tl, (off_t)(off + hs)) != (ssize_t)tl || !(n = unit_members(table, tl, m))) {
                    trace_close(tf);
                    return fail(err, errlen, path, "corrupt trace (bad unit)");
                }
                for (size_t i = 0; i < n; i++) total += m[i].raw_len;
                if (total != ch.raw_len) {
                    trace_close(tf);
                    return fail(err, errlen, path, "corrupt trace (bad unit)");
                }
                for (size_t i = 0; i < n; i++) {
                    struct chunk_header mh = ch;
                    mh.seq = m[i].seq;
                    mh.tid = m[i].tid;
                    mh.raw_len = m[i].raw_len;
                    if (!push_chunk(tf, &cap, &mh, off + hs, (uint32_t)i, (uint32_t)n)) goto oom;
                }
            } else if (!push_chunk(tf, &cap, &ch, off + hs, 0, 1)) {
                goto oom;
            }
            off += hs + ch.stored_len;
        }
    }
    tf->dctx = ZSTD_createDCtx();
    tf->zbuf = malloc(ZSTD_compressBound(TRACE_MAX_CHUNK_RAW));
    if (!tf->dctx || !tf->zbuf) goto oom;
    if (h->state == TRACE_PACKED && h->version >= 3) {
        tf->ubuf = malloc(UNIT_MAX_STORED);
        tf->skip = malloc(TRACE_MAX_CHUNK_RAW);
        if (!tf->ubuf || !tf->skip) goto oom;
    }
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
    for (size_t i = 0; i < tf->nunits; i++) unit_coder_free(tf->units[i].coder);
    unit_coder_free(tf->idle);
    free(tf->units);
    free(tf->ubuf);
    free(tf->skip);
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

/* The unit's cursor, positioned on c's member: decoding restarts if the
 * member was passed already. NULL if the unit is corrupt. */
static struct trace_unit_cursor *unit_at(struct trace_file *tf, const struct trace_chunk *c)
{
    struct trace_unit_cursor *u = NULL;
    for (size_t k = 0; k < tf->nunits && !u; k++)
        if (tf->units[k].offset == c->offset) u = &tf->units[k];
    if (!u) {
        if (tf->nunits == tf->units_cap) {
            size_t cap = tf->units_cap ? tf->units_cap * 2 : 8;
            struct trace_unit_cursor *v = realloc(tf->units, cap * sizeof *v);
            if (!v) return NULL;
            tf->units = v;
            tf->units_cap = cap;
        }
        struct unit_coder *coder = tf->idle ? tf->idle : unit_coder_new();
        tf->idle = NULL;
        if (!coder) return NULL;
        u = &tf->units[tf->nunits++];
        *u = (struct trace_unit_cursor){.offset = c->offset, .coder = coder};
    }
    if (unit_decoded(u->coder) == 0 || unit_decoded(u->coder) > c->member) {
        if (pread(tf->fd, tf->ubuf, c->stored_len, (off_t)c->offset) != (ssize_t)c->stored_len ||
            unit_decode_begin(u->coder, tf->ubuf, c->stored_len) < 0)
            return NULL;
    }
    while (unit_decoded(u->coder) < c->member)
        if (unit_decode_next(u->coder, tf->skip) < 0) return NULL;
    return u;
}

static long unit_chunk_load(struct trace_file *tf, const struct trace_chunk *c, uint8_t *buf, char *err, size_t errlen)
{
    struct trace_unit_cursor *u = unit_at(tf, c);
    long n = u ? unit_decode_next(u->coder, buf) : -1;
    if (n < 0 || (uint32_t)n != c->raw_len) {
        fail(err, errlen, tf->path, "corrupt trace (a unit does not decode)");
        n = -1;
    }
    if (u && (n < 0 || unit_decoded(u->coder) == c->members)) { /* done with it */
        unit_decode_end(u->coder);
        if (tf->idle) unit_coder_free(tf->idle);
        tf->idle = u->coder;
        *u = tf->units[--tf->nunits];
    }
    return n;
}

long trace_chunk_load(struct trace_file *tf, size_t i, uint8_t *buf, char *err, size_t errlen)
{
    const struct trace_chunk *c = &tf->chunks[i];
    if (c->flags & CHUNK_UNIT) return unit_chunk_load(tf, c, buf, err, errlen);
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
