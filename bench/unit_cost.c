/* unit_cost.c - what the unit coder (trace/trace_unit.c) costs per event,
 * offline: takes an OPEN trace (a program run with the shim preloaded and
 * HEAPSNAP_PARENT_PACKS=all, so that nobody packs it), forms each stream's
 * units as the packer does (UNIT_MAX_MEMBERS consecutive chunks), codes them
 * ROUNDS times and decodes them once, checking every byte comes back.
 * Prints the best round's coding time, the decoding time and, given the
 * trace's events (allocations, frees and reallocs: `heapsnap report`'s
 * totals), each per event. Not a test.
 *
 * usage: unit_cost TRACE [ROUNDS] [EVENTS] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trace_format.h"
#include "trace_unit.h"

struct slot_ref {
    uint32_t stream, seq;
    const struct chunk_header *c;
};

static int by_stream_seq(const void *a, const void *b)
{
    const struct slot_ref *x = a, *y = b;
    if (x->stream != y->stream) return x->stream < y->stream ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: unit_cost TRACE [ROUNDS] [EVENTS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    double events = argc > 3 ? atof(argv[3]) : 0;
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[1]);
        return 1;
    }
    const uint8_t *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    size_t nslots = ((size_t)st.st_size - TRACE_HEADER_SIZE) / TRACE_SLOT_SIZE, n = 0;
    struct slot_ref *s = calloc(nslots, sizeof *s);
    size_t raw_bytes = 0;
    for (size_t i = 0; i < nslots; i++) {
        const struct chunk_header *c = (const void *)(base + TRACE_HEADER_SIZE + i * TRACE_SLOT_SIZE);
        if (c->magic != TRACE_CHUNK_MAGIC || c->raw_len > TRACE_SLOT_SIZE - sizeof *c) continue;
        s[n++] = (struct slot_ref){c->stream, c->seq, c};
        raw_bytes += c->raw_len;
    }
    qsort(s, n, sizeof *s, by_stream_seq);
    struct unit_coder *enc = unit_coder_new(), *dec = unit_coder_new();
    uint8_t *buf = malloc(TRACE_MAX_CHUNK_RAW);
    double best = 1e30, stored = 0, t_dec = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now(), dsum = 0;
        size_t out_bytes = 0;
        for (size_t i = 0; i < n;) {
            size_t k = 0;
            struct unit_member m[UNIT_MAX_MEMBERS];
            const uint8_t *raw[UNIT_MAX_MEMBERS];
            while (i + k < n && k < UNIT_MAX_MEMBERS && s[i + k].stream == s[i].stream) {
                const struct chunk_header *c = s[i + k].c;
                m[k] = (struct unit_member){c->seq, c->tid, c->raw_len, 0};
                raw[k] = (const uint8_t *)(c + 1);
                k++;
            }
            const uint8_t *out;
            size_t len;
            if (unit_encode(enc, m, raw, k, UNIT_LEVEL, &out, &len) != 0) {
                for (size_t j = 0; j < k; j++)
                    out_bytes += m[j].raw_len; /* stored as they are */
            } else {
                out_bytes += len;
                if (r == 0) { /* decode once, checking each chunk's bytes */
                    double d0 = now();
                    if (unit_decode_begin(dec, out, len) != 0) {
                        fprintf(stderr, "unit_cost: a unit does not decode\n");
                        return 1;
                    }
                    for (size_t j = 0; j < k; j++) {
                        long got = unit_decode_next(dec, buf);
                        if (got != (long)m[j].raw_len || memcmp(buf, raw[j], m[j].raw_len) != 0) {
                            fprintf(stderr, "unit_cost: chunk %zu of a unit differs\n", j);
                            return 1;
                        }
                    }
                    unit_decode_end(dec);
                    dsum += now() - d0;
                }
            }
            i += k;
        }
        double t = now() - t0 - dsum;
        if (r == 0) t_dec = dsum;
        if (t < best) best = t;
        stored = (double)out_bytes;
    }
    printf("chunks %zu, raw %.1f MB, stored %.1f MB", n, raw_bytes / 1e6, stored / 1e6);
    if (events > 0)
        printf(", coding %.1f ns/event, decoding %.1f ns/event, %.3f bytes/event\n", best / events * 1e9,
               t_dec / events * 1e9, stored / events);
    else
        printf(", coding %.3f s, decoding %.3f s\n", best, t_dec);
    unit_coder_free(enc);
    unit_coder_free(dec);
    return 0;
}
