/* unit_seeds.c - seeds for fuzz_unit.c: every unit of the traces given, its
 * streams decompressed and stored as they are (docs/FORMAT.md, "Units"), one
 * file per unit in the directory given first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "../../trace/trace_read.h"

static uint8_t *put(uint8_t *w, uint64_t v) { return varint_put(w, v); }

/* The payload p (len bytes) again, each stream stored as it is; its length. */
static size_t unpack(const uint8_t *p, size_t len, uint8_t *out)
{
    size_t members = (size_t)p[0] | (size_t)p[1] << 8, table = 4 + 16 * members, ns = 0;
    struct varint_cursor c = {.p = p + table, .end = p + len};
    uint64_t slen[64], sst[64];
    int planes_at[64] = {0};
    uint64_t planes[64];
    for (int col = 0; col < 3 + 6 + 1; col++) {
        uint64_t np = col >= 3 && col < 9 ? varint_get(&c) : 0;
        planes_at[ns] = col >= 3 && col < 9;
        planes[ns] = np;
        for (uint64_t k = 0; k <= np; k++) {
            slen[ns] = varint_get(&c);
            sst[ns++] = varint_get(&c);
        }
    }
    if (c.bad) return 0;
    memcpy(out, p, table);
    uint8_t *w = out + table;
    for (size_t i = 0; i < ns; i++) {
        if (planes_at[i]) w = put(w, planes[i]);
        w = put(w, slen[i]);
        w = put(w, slen[i] * 2);
    }
    const uint8_t *data = c.p;
    for (size_t i = 0; i < ns; i++) {
        size_t stored = sst[i] / 2;
        if (sst[i] & 1) {
            if (ZSTD_isError(ZSTD_decompress(w, slen[i], data, stored))) return 0;
        } else {
            memcpy(w, data, stored);
        }
        w += slen[i];
        data += stored;
    }
    return (size_t)(w - out);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: unit_seeds DIR TRACE...\n");
        return 2;
    }
    int made = 0;
    uint8_t *in = malloc(UNIT_MAX_STORED), *out = malloc(64u << 20);
    for (int a = 2; a < argc; a++) {
        struct trace_file tf;
        char err[512];
        if (trace_open(&tf, argv[a], err, sizeof err) < 0) continue;
        for (size_t i = 0; i < tf.nchunks; i++) {
            const struct trace_chunk *ch = &tf.chunks[i];
            if (!(ch->flags & CHUNK_UNIT) || ch->member != 0) continue;
            if (pread(tf.fd, in, ch->stored_len, (off_t)ch->offset) != (ssize_t)ch->stored_len) continue;
            size_t n = unpack(in, ch->stored_len, out);
            char path[4200];
            snprintf(path, sizeof path, "%s/unit-%d", argv[1], made++);
            FILE *f = n ? fopen(path, "wb") : NULL;
            if (f) {
                fwrite(out, 1, n, f);
                fclose(f);
            }
        }
        trace_close(&tf);
    }
    printf("%d seeds\n", made);
    return 0;
}
