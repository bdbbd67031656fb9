/* test_units.c - packed traces of version 3, whose chunks go in units
 * (trace/trace_unit.c, docs/FORMAT.md "Units"): packing gives back every
 * record the shim wrote, byte for byte, in fewer bytes than before; version 2
 * traces read as they did; a unit that does not add up is refused in one
 * line. */
#include "harness.h"

#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "../trace/trace_read.h"

/* The program's OPEN trace, as its threads wrote it: a bare preload told
 * that a parent packs it (which none does). */
static char *open_trace_of(const char *dir, const char *const *argv, const char *frames)
{
    char out[4200], pre[4200], fr[64];
    snprintf(out, sizeof out, "HEAPSNAP_OUTPUT=%s", dir);
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim_path());
    snprintf(fr, sizeof fr, "HEAPSNAP_FRAMES=%s", frames);
    const char *env[] = {out, pre, fr, "HEAPSNAP_PARENT_PACKS=all", NULL};
    struct run_result r = run_in(dir, env, argv);
    cr_assert_eq(r.exit_code, 0, "%s: %s", argv[0], r.err);
    run_free(&r);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    return names[0];
}

static char *copy_file(const char *from, const char *to)
{
    size_t len;
    char *data = file_contents(from, &len);
    FILE *f = fopen(to, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    free(data);
    return strdup(to);
}

static void pack(const char *dir, const char *trace)
{
    struct run_result r = run_in(dir, NULL, (const char *[]){heapsnap_bin(), "pack", trace, NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
}

struct stream_bytes {
    uint32_t stream, seq;
    uint8_t *data; /* every chunk of the stream, in sequence order */
    size_t len, cap;
};

static int by_stream_seq(const void *a, const void *b)
{
    const struct trace_chunk *x = a, *y = b;
    if (x->stream != y->stream) return x->stream < y->stream ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Each stream's records, the chunks of a stream joined; *units: chunks that are members of a unit. */
static size_t streams_of(const char *path, struct stream_bytes **out, size_t *units)
{
    struct trace_file tf;
    char err[512];
    cr_assert_eq(trace_open(&tf, path, err, sizeof err), 0, "%s", err);
    struct trace_chunk *order = malloc(tf.nchunks * sizeof *order);
    size_t *index = malloc(tf.nchunks * sizeof *index);
    memcpy(order, tf.chunks, tf.nchunks * sizeof *order);
    /* Sorted copies carry their offsets, not their index: find each again. */
    qsort(order, tf.nchunks, sizeof *order, by_stream_seq);
    for (size_t k = 0; k < tf.nchunks; k++)
        for (size_t i = 0; i < tf.nchunks; i++)
            if (tf.chunks[i].stream == order[k].stream && tf.chunks[i].seq == order[k].seq) index[k] = i;
    struct stream_bytes *s = NULL;
    size_t n = 0;
    uint8_t *buf = malloc(TRACE_MAX_CHUNK_RAW);
    *units = 0;
    for (size_t k = 0; k < tf.nchunks; k++) {
        if (!n || s[n - 1].stream != order[k].stream) {
            s = realloc(s, (n + 1) * sizeof *s);
            s[n++] = (struct stream_bytes){.stream = order[k].stream};
        }
        long len = trace_chunk_load(&tf, index[k], buf, err, sizeof err);
        cr_assert_geq(len, 0, "%s", err);
        struct stream_bytes *b = &s[n - 1];
        b->data = realloc(b->data, b->len + (size_t)len + 1);
        memcpy(b->data + b->len, buf, (size_t)len);
        b->len += (size_t)len;
        b->seq = order[k].seq;
        *units += (tf.chunks[index[k]].flags & CHUNK_UNIT) != 0;
    }
    free(buf);
    free(order);
    free(index);
    trace_close(&tf);
    *out = s;
    return n;
}

/* Packs a copy of the program's OPEN trace and reads both: the same streams,
 * the same bytes. Returns the packed copy. */
static char *expect_packed_as_written(const char *const *argv, const char *frames, size_t min_units)
{
    char *dir = temp_dir();
    char *open = open_trace_of(dir, argv, frames);
    char *packed = copy_file(open, path_join(dir, "packed.trace"));
    pack(dir, packed);
    struct stream_bytes *a, *b;
    size_t units_a, units_b;
    size_t na = streams_of(open, &a, &units_a), nb = streams_of(packed, &b, &units_b);
    cr_assert_eq(units_a, 0);
    cr_expect_geq(units_b, min_units, "%s: %zu chunks in units", argv[0], units_b);
    cr_assert_eq(na, nb, "%s: %zu streams written, %zu packed", argv[0], na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_eq(a[i].stream, b[i].stream);
        cr_assert_eq(a[i].seq, b[i].seq, "stream %u", a[i].stream);
        cr_assert_eq(a[i].len, b[i].len, "%s: stream %u: %zu bytes written, %zu packed", argv[0], a[i].stream, a[i].len,
                     b[i].len);
        size_t at = 0;
        while (at < a[i].len && a[i].data[at] == b[i].data[at])
            at++;
        cr_assert_eq(at, a[i].len, "%s: stream %u differs at byte %zu", argv[0], a[i].stream, at);
    }
    return packed;
}

Test(units, every_record_back_byte_for_byte, .timeout = 240)
{
    char churn[4200], server[4200], plugin[4200];
    snprintf(churn, sizeof churn, "%s/bench/churn", BUILD_DIR);
    snprintf(server, sizeof server, "%s/bench/server", BUILD_DIR);
    snprintf(plugin, sizeof plugin, "%s/libhsplugin.so", SAMPLES_DIR);
    /* Every kind of record: all the allocating functions, realloc chains,
     * threads that free what others allocated, markers, modules loaded and
     * unloaded, stacks longer than a record holds; and units of many
     * chunks, where the models have history. */
    expect_packed_as_written((const char *[]){sample("alloc_family"), NULL}, "64", 1);
    expect_packed_as_written((const char *[]){sample("realloc_chain"), NULL}, "64", 1);
    expect_packed_as_written((const char *[]){sample("threads"), NULL}, "64", 8);
    expect_packed_as_written((const char *[]){sample("phases"), "ticks", NULL}, "64", 1);
    expect_packed_as_written((const char *[]){sample("deep_recursion"), "1500", NULL}, "2000", 1);
    expect_packed_as_written((const char *[]){sample("dlopen_stress"), plugin, "3", NULL}, "64", 1);
    /* mappings (pointer deltas of their own kind, read with the chunk's bases),
     * pool objects, the program's LSan suppressions */
    expect_packed_as_written((const char *[]){sample("mappings"), NULL}, "64", 1);
    expect_packed_as_written((const char *[]){sample("pools"), NULL}, "64", 1);
    expect_packed_as_written((const char *[]){sample("lsan_api"), "clean", NULL}, "64", 1);
    expect_packed_as_written((const char *[]){churn, "1", "300000", NULL}, "64", 16);
    expect_packed_as_written((const char *[]){server, "2", "30000", NULL}, "64", 16);
}

/* churn's records: random sizes, random frees among 4096 blocks, each event
 * stamped. Packed, a call took 8.8 bytes in version 2; its entropy (the
 * block freed, the size asked for) is about 2.5. */
Test(units, smaller_than_plain_chunks, .timeout = 120)
{
    char churn[4200];
    snprintf(churn, sizeof churn, "%s/bench/churn", BUILD_DIR);
    char *packed = expect_packed_as_written((const char *[]){churn, "1", "500000", NULL}, "64", 16);
    struct stat st;
    cr_assert_eq(stat(packed, &st), 0);
    double per_call = (double)st.st_size / 500000.0;
    cr_expect_lt(per_call, 4.5, "%.2f bytes per call", per_call);
}

/* A version 2 trace: each chunk one zstd frame, as heapsnap packed before units. */
static char *version2_copy(const char *dir, const char *open_trace)
{
    size_t len;
    char *data = file_contents(open_trace, &len);
    struct trace_header h;
    memcpy(&h, data, sizeof h);
    h.version = 2;
    h.state = TRACE_PACKED;
    char *path = path_join(dir, "v2.trace");
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    char page[TRACE_HEADER_SIZE] = {0};
    memcpy(page, &h, sizeof h);
    cr_assert_eq(fwrite(page, 1, sizeof page, f), sizeof page);
    size_t cap = ZSTD_compressBound(TRACE_SLOT_SIZE);
    void *z = malloc(cap);
    for (size_t off = TRACE_HEADER_SIZE; off + TRACE_SLOT_SIZE <= len; off += TRACE_SLOT_SIZE) {
        struct chunk_header ch;
        memcpy(&ch, data + off, sizeof ch);
        if (ch.magic != TRACE_CHUNK_MAGIC || ch.raw_len == 0) continue;
        size_t n = ZSTD_compress(z, cap, data + off + sizeof ch, ch.raw_len, 1);
        cr_assert(!ZSTD_isError(n));
        ch.flags = CHUNK_ZSTD;
        ch.stored_len = (uint32_t)n;
        ch.slot = (uint32_t)((off - TRACE_HEADER_SIZE) / TRACE_SLOT_SIZE + 1);
        cr_assert_eq(fwrite(&ch, 1, sizeof ch, f), sizeof ch);
        cr_assert_eq(fwrite(z, 1, n, f), n);
    }
    fclose(f);
    free(z);
    free(data);
    return path;
}

static char *report_of(const char *dir, const char *trace)
{
    return heapsnap_out(dir, (const char *[]){"report", "--format", "json", "--top", "50", trace, NULL});
}

Test(units, version_2_traces_read_as_before, .timeout = 120)
{
    char *dir = temp_dir();
    char *open = open_trace_of(dir, (const char *[]){sample("threads"), NULL}, "64");
    char *v2 = version2_copy(dir, open);
    pack(dir, open); /* version 3, in units */
    struct trace_file tf;
    char err[512];
    cr_assert_eq(trace_open(&tf, v2, err, sizeof err), 0, "%s", err);
    cr_expect_eq(tf.hdr.version, 2);
    trace_close(&tf);
    /* The same report from either (the name of the file aside). */
    char *a = report_of(dir, v2), *b = report_of(dir, open);
    char *pa = strstr(a, "v2.trace"), *pb = strstr(b, strrchr(open, '/') + 1);
    cr_assert(pa && pb);
    cr_expect_eq(pa - a, pb - b);
    cr_expect_str_eq(pa + strlen("v2.trace"), pb + strlen(strrchr(open, '/') + 1));
    cr_expect(strncmp(a, b, (size_t)(pa - a)) == 0);
}

/* The offset of the first unit's payload in a packed trace, and its header. */
static size_t first_unit(const char *data, size_t len, struct chunk_header *ch)
{
    for (size_t off = TRACE_HEADER_SIZE; off + sizeof *ch <= len; off += sizeof *ch + ch->stored_len) {
        memcpy(ch, data + off, sizeof *ch);
        if (ch->flags == CHUNK_UNIT) return off + sizeof *ch;
    }
    cr_assert_fail("no unit in the trace");
    return 0;
}

/* The largest zstd stream of a unit's payload (docs/FORMAT.md, "Units"): its offset in it and its length. */
static size_t largest_zstd_stream(const uint8_t *p, size_t len, size_t *n)
{
    size_t members = p[0] | (size_t)p[1] << 8, nstreams = 0;
    struct varint_cursor c = {.p = p + 4 + 16 * members, .end = p + len};
    uint64_t stored[64];
    bool z[64];
    for (int col = 0; col < 3 + 6 + 1; col++) {
        uint64_t planes = col >= 3 && col < 9 ? varint_get(&c) : 0;
        for (uint64_t k = 0; k <= planes; k++) {
            varint_get(&c);
            uint64_t st = varint_get(&c);
            stored[nstreams] = st / 2;
            z[nstreams++] = st & 1;
        }
    }
    cr_assert(!c.bad);
    size_t off = (size_t)(c.p - p), best = 0;
    *n = 0;
    for (size_t i = 0; i < nstreams; i++) {
        if (z[i] && stored[i] > *n) {
            *n = stored[i];
            best = off;
        }
        off += stored[i];
    }
    cr_assert_eq(off, len);
    cr_assert_gt(*n, 64);
    return best;
}

static void expect_refused(const char *dir, const char *name, const char *data, size_t len, const char *needle)
{
    char *p = path_join(dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    expect_one_line_error(dir, (const char *[]){"report", p, NULL}, 1, needle);
}

Test(units, a_unit_that_does_not_add_up_is_refused, .timeout = 120)
{
    char *dir = temp_dir();
    char churn[4200];
    snprintf(churn, sizeof churn, "%s/bench/churn", BUILD_DIR);
    char *trace = expect_packed_as_written((const char *[]){churn, "1", "100000", NULL}, "64", 16);
    size_t len;
    char *data = file_contents(trace, &len);
    struct chunk_header ch;
    size_t at = first_unit(data, len, &ch);
    char *bad = malloc(len);
    /* A member's length that is not the unit's share. */
    memcpy(bad, data, len);
    bad[at + 4 + 8] ^= 0x10;
    expect_refused(dir, "length.trace", bad, len, "corrupt trace (bad unit)");
    /* A member count past the limit. */
    memcpy(bad, data, len);
    bad[at] = (char)(UNIT_MAX_MEMBERS + 1);
    expect_refused(dir, "count.trace", bad, len, "corrupt trace (bad unit)");
    /* A column: bytes flipped in the middle of its zstd frame. */
    memcpy(bad, data, len);
    size_t n, col = at + largest_zstd_stream((const uint8_t *)data + at, ch.stored_len, &n);
    for (size_t i = col + n / 2; i < col + n / 2 + 16; i++)
        bad[i] ^= 0x5a;
    expect_refused(dir, "columns.trace", bad, len, "corrupt trace (a unit does not decode)");
    /* A unit in a version 2 trace, which has none. */
    memcpy(bad, data, len);
    ((struct trace_header *)bad)->version = 2;
    expect_refused(dir, "v2unit.trace", bad, len, "corrupt trace (bad chunk header)");
    free(bad);
    free(data);
}

/* Chunks of a packed trace that are members of a unit, and those that are not. */
static void count_units(const char *path, size_t *in_units, size_t *alone)
{
    struct trace_file tf;
    char err[512];
    cr_assert_eq(trace_open(&tf, path, err, sizeof err), 0, "%s", err);
    *in_units = *alone = 0;
    for (size_t i = 0; i < tf.nchunks; i++) {
        if (tf.chunks[i].stream >= TRACE_STREAM_RSS) continue; /* written by heapsnap run, not the program */
        if (tf.chunks[i].flags & CHUNK_UNIT) ++*in_units;
        else ++*alone;
    }
    trace_close(&tf);
}

/* churn on one thread under `heapsnap run` (about half a second), the whole
 * run on one CPU when pinned: the program and the packing thread then take
 * turns on it. */
static char *churn_run(const char *dir, const char *name, const char *pack_mode, bool pinned)
{
    char churn[4200], env[64], cpu[16];
    snprintf(churn, sizeof churn, "%s/bench/churn", BUILD_DIR);
    snprintf(env, sizeof env, "HEAPSNAP_PACK=%s", pack_mode);
    /* One of the CPUs this test may use (a cpuset may leave out CPU 0). */
    cpu_set_t mine;
    cr_assert_eq(sched_getaffinity(0, sizeof mine, &mine), 0);
    int first = 0;
    while (first < CPU_SETSIZE && !CPU_ISSET(first, &mine))
        first++;
    snprintf(cpu, sizeof cpu, "%d", first);
    char *trace = path_join(dir, name);
    const char *argv[] = {"/usr/bin/taskset", "-c", cpu, heapsnap_bin(), "run", "-q", "--no-leak-check", "-o", trace,
                          churn, "1", "2000000", NULL};
    struct run_result r = run_in(dir, (const char *[]){env, NULL}, pinned ? argv : argv + 3);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    return trace;
}

/* While the program runs, the packing thread codes units only when it has a
 * CPU to itself: when it must wait for one, a unit's CPU would be the
 * program's, and it packs each chunk alone (HEAPSNAP_PACK=auto, the
 * default). HEAPSNAP_PACK=units and chunks say which, always. Either way
 * every record is there. */
Test(units, a_packer_that_waits_for_a_cpu_packs_chunks_alone, .timeout = 240)
{
    char *dir = temp_dir();
    size_t in_units, alone;
    char *units = churn_run(dir, "units.trace", "units", true);
    count_units(units, &in_units, &alone);
    cr_expect_eq(alone, 0, "HEAPSNAP_PACK=units: %zu chunks alone, %zu in units", alone, in_units);
    cr_expect_geq(in_units, 16);

    char *chunks = churn_run(dir, "chunks.trace", "chunks", false);
    count_units(chunks, &in_units, &alone);
    cr_expect_eq(in_units, 0, "HEAPSNAP_PACK=chunks: %zu chunks in units", in_units);
    cr_expect_geq(alone, 16);

    /* Pinned, the packing thread waits for the CPU as long as the program
     * runs: the slots it packs meanwhile go alone (the last ones, after the
     * end, in units). */
    char *pinned = churn_run(dir, "auto.trace", "auto", true);
    count_units(pinned, &in_units, &alone);
    cr_expect_geq(alone, 16, "pinned: %zu chunks alone, %zu in units", alone, in_units);

    struct json *a = report_json_of(units), *b = report_json_of(chunks), *c = report_json_of(pinned);
    /* The steps, churn's state and its thread's. */
    cr_expect_eq(json_int(a, "totals.allocations"), 2000002);
    cr_expect_eq(json_int(a, "totals.frees"), 2000002);
    const char *same[] = {"totals.allocations", "totals.frees", "totals.peak_bytes", "totals.peak_blocks",
                          "totals.temporary", "totals.leaked_bytes", "totals.lost_events"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        cr_expect_eq(json_int(b, same[i]), json_int(a, same[i]), "%s", same[i]);
        cr_expect_eq(json_int(c, same[i]), json_int(a, same[i]), "%s", same[i]);
    }
    json_free(a);
    json_free(b);
    json_free(c);

    struct run_result r = run_in(dir, (const char *[]){"HEAPSNAP_PACK=small", NULL},
                                 (const char *[]){heapsnap_bin(), "run", "-q", "true", NULL});
    cr_expect_eq(r.exit_code, 1);
    cr_expect_str_eq(r.err, "heapsnap: HEAPSNAP_PACK takes auto, units or chunks, not 'small'\n");
    run_free(&r);
}
