/* test_trace_pages.c - what a trace file costs in resident memory while it
 * is written and followed: the program keeps in its page tables only the
 * chunk each thread writes now, and `heapsnap run`'s follower
 * (trace/trace_tail.c) only the chunk each stream reads now. Everything
 * else is in the page cache, in no one's RSS, until the packer frees it. */
#include "harness.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../trace/trace_read.h"
#include "../trace/trace_tail.h"

/* Pages of [p, p + len) mapped in our page tables (/proc/self/pagemap). */
static size_t present_pages(const void *p, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t n = len / (size_t)page;
    uint64_t *v = malloc(n * sizeof *v);
    int fd = open("/proc/self/pagemap", O_RDONLY);
    cr_assert(fd >= 0 && v);
    cr_assert_eq(pread(fd, v, n * sizeof *v, (off_t)((uintptr_t)p / (uintptr_t)page * sizeof *v)),
                 (ssize_t)(n * sizeof *v));
    close(fd);
    size_t present = 0;
    for (size_t i = 0; i < n; i++) present += v[i] >> 63;
    free(v);
    return present;
}

Test(trace_pages, program_holds_only_its_open_chunk)
{
    char *dir = temp_dir();
    struct run_result r = run_in(dir, bare_preload_env(dir), (const char *[]){sample("trace_pages"), NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    long kib = -1;
    cr_assert_eq(sscanf(r.out, "trace-rss-kib %ld", &kib), 1, "%s", r.out);
    /* Its one thread's open chunk and the header pages (the spool's and the
     * file's first): not the hundred chunks it sealed (over 5 MiB before). */
    cr_expect_leq(kib, TRACE_SLOT_SIZE / 1024 + 8, "%ld KiB of the trace resident in the program", kib);
    run_free(&r);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);
    struct json *j = report_json_of(names[0]);
    cr_expect_eq(json_int(j, "totals.allocations"), 600003); /* the records are all there */
    json_free(j);
}

Test(trace_pages, follower_holds_only_the_chunks_it_reads)
{
    char *dir = temp_dir();
    char out[4200], pre[4200];
    snprintf(out, sizeof out, "HEAPSNAP_OUTPUT=%s", dir);
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim_path());
    /* Left OPEN, as `heapsnap run` follows it: a bare preload told that a parent packs it. */
    const char *env[] = {out, pre, "HEAPSNAP_PARENT_PACKS=all", NULL};
    struct run_result r = run_in(dir, env, (const char *[]){sample("trace_pages"), NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    char **names;
    cr_assert_eq(list_traces(dir, &names), 1);

    struct trace_file tf;
    char err[512];
    cr_assert_eq(trace_open(&tf, names[0], err, sizeof err), 0, "%s", err);
    uint64_t written = 0;
    for (size_t i = 0; i < tf.nchunks; i++) written += tf.chunks[i].raw_len;
    size_t nchunks = tf.nchunks;
    trace_close(&tf);
    cr_assert_gt(nchunks, 50, "only %zu chunks", nchunks);

    struct trace_tail t;
    cr_assert_eq(tail_open(&t, names[0], err, sizeof err), 0, "%s", err);
    uint64_t read = 0;
    for (bool more = true; more;) {
        more = false;
        cr_assert_eq(tail_refresh(&t, err, sizeof err), 0, "%s", err);
        for (size_t k = 0; k < t.nstreams; k++) {
            const uint8_t *p;
            size_t len;
            bool fresh;
            while (tail_next(&t, &t.streams[k], &p, &len, &fresh)) {
                read += len;
                more = true;
            }
        }
    }
    cr_expect_eq(read, written, "read %llu bytes of records, %llu written", (unsigned long long)read,
                 (unsigned long long)written);
    /* Each stream's last chunk (never sealed: its thread ended in it) and
     * the file's header: not the chunks read whole before them. */
    size_t pages = present_pages(t.map, t.mapped), page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bound = 1 + t.nstreams * (TRACE_SLOT_SIZE / page);
    cr_expect_leq(pages, bound, "%zu pages of %zu chunks mapped, at most %zu expected", pages, nchunks, bound);
    tail_close(&t);
}
