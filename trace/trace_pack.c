/* trace_pack.c - OPEN -> PACKED. Reads the slot file read-only, compresses each
 * used slot as one zstd frame and renames the result over the original, so a
 * reader never sees a half-packed trace. Reads every slot bound-checked: the
 * file may be the remains of a crash. */
#include "trace_pack.h"
#include "trace_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define PACK_LEVEL 3

static bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool pack_chunk(int out, ZSTD_CCtx *cctx, void *zbuf, size_t zcap, const struct chunk_header *in,
                       const void *records, uint32_t raw_len)
{
    size_t z = ZSTD_compressCCtx(cctx, zbuf, zcap, records, raw_len, PACK_LEVEL);
    if (ZSTD_isError(z)) return false;
    struct chunk_header h = *in;
    h.magic = TRACE_CHUNK_MAGIC;
    h.flags = CHUNK_ZSTD;
    h.raw_len = raw_len;
    h.stored_len = (uint32_t)z;
    return write_all(out, &h, sizeof h) && write_all(out, zbuf, z);
}

int trace_pack(const char *path, uint32_t end_how, int32_t end_code, char *err, size_t errlen)
{
    int rc = -1, in = -1, out = -1;
    void *map = MAP_FAILED, *zbuf = NULL;
    size_t size = 0;
    ZSTD_CCtx *cctx = NULL;
    char tmp[4096];

    in = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (in < 0 || fstat(in, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    size = (size_t)st.st_size;
    if (size < TRACE_HEADER_SIZE) {
        snprintf(err, errlen, "%s: not a heapsnap trace (too short)", path);
        goto done;
    }
    map = mmap(NULL, size, PROT_READ, MAP_SHARED, in, 0);
    if (map == MAP_FAILED) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    struct trace_header hdr;
    memcpy(&hdr, map, sizeof hdr);
    if (memcmp(hdr.magic, TRACE_MAGIC, 8) != 0) {
        snprintf(err, errlen, "%s: not a heapsnap trace", path);
        goto done;
    }
    if (hdr.version != TRACE_VERSION) {
        snprintf(err, errlen, "%s: trace format version %u, this heapsnap reads version %u", path, hdr.version,
                 TRACE_VERSION);
        goto done;
    }
    if (hdr.state == TRACE_PACKED) {
        rc = 1;
        goto done;
    }
    if (hdr.state != TRACE_OPEN || hdr.header_size != TRACE_HEADER_SIZE || hdr.slot_size != TRACE_SLOT_SIZE) {
        snprintf(err, errlen, "%s: corrupt trace header", path);
        goto done;
    }

    snprintf(tmp, sizeof tmp, "%s.%ld.packing", path, (long)getpid());
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    size_t zcap = ZSTD_compressBound(TRACE_SLOT_SIZE);
    zbuf = malloc(zcap);
    cctx = ZSTD_createCCtx();
    if (!zbuf || !cctx) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    struct trace_header packed = hdr;
    packed.state = TRACE_PACKED;
    if (packed.end_how == END_UNKNOWN && end_how != END_UNKNOWN) {
        packed.end_how = end_how;
        packed.end_code = end_code;
    }
    char page[TRACE_HEADER_SIZE];
    memcpy(page, map, TRACE_HEADER_SIZE);
    memcpy(page, &packed, sizeof packed);
    if (!write_all(out, page, sizeof page)) goto write_failed;

    const size_t hsize = sizeof(struct chunk_header);
    for (size_t off = TRACE_HEADER_SIZE; off + TRACE_SLOT_SIZE <= size; off += TRACE_SLOT_SIZE) {
        const struct chunk_header *ch = (const void *)((const char *)map + off);
        /* The writer publishes raw_len with a release store; read it once. */
        uint32_t raw_len = atomic_load_explicit((_Atomic uint32_t *)&ch->raw_len, memory_order_acquire);
        if (ch->magic != TRACE_CHUNK_MAGIC || raw_len == 0) continue;
        if (raw_len > TRACE_SLOT_SIZE - hsize) raw_len = TRACE_SLOT_SIZE - hsize;
        if (!pack_chunk(out, cctx, zbuf, zcap, ch, (const char *)ch + hsize, raw_len)) goto write_failed;
    }
    if (close(out) != 0) {
        out = -1;
        goto write_failed;
    }
    out = -1;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    rc = 0;
    goto done;

write_failed:
    snprintf(err, errlen, "%s: cannot write the packed trace: %s", tmp, errno ? strerror(errno) : "error");
    unlink(tmp);
done:
    if (cctx) ZSTD_freeCCtx(cctx);
    free(zbuf);
    if (map != MAP_FAILED) munmap(map, size);
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return rc;
}
