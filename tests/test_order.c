/* test_order.c - the order of events across threads. Stamps from two cores
 * may disagree; the readers must still apply what the allocator orders (a
 * free before the reuse of its address) in that order. Synthetic traces put
 * the stamps the wrong way round on purpose; a real program hands addresses
 * between threads thousands of times per run, many runs over. */
#include "harness.h"
#include "../trace/trace_format.h"
#include "../trace/varint.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- synthetic OPEN traces ------------------------------------------------ */

struct event {
    uint32_t stream;
    uint8_t type; /* REC_ALLOC or REC_FREE */
    uint64_t ticks, ptr, size, stack;
};

/* One sealed chunk per stream, holding that stream's events in the order given. */
static char *write_trace(const char *name, const struct event *ev, size_t n, uint32_t streams)
{
    char *path = path_join(temp_dir(), name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    struct trace_header h = {.version = TRACE_VERSION,
                             .state = TRACE_OPEN,
                             .header_size = TRACE_HEADER_SIZE,
                             .slot_size = TRACE_SLOT_SIZE,
                             .pid = 4242,
                             .frames = 64};
    memcpy(h.magic, TRACE_MAGIC, 8);
    cr_assert(ftruncate(fd, TRACE_HEADER_SIZE + (off_t)streams * TRACE_SLOT_SIZE) == 0);
    cr_assert(pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
    for (uint32_t s = 1; s <= streams; s++) {
        uint8_t buf[4096], *p = buf;
        uint64_t ticks = 0, ptr = 0;
        for (size_t i = 0; i < n; i++) {
            if (ev[i].stream != s) continue;
            *p++ = ev[i].type;
            p = varint_put(p, ev[i].ticks - ticks);
            p = varint_put_signed(p, (int64_t)(ev[i].ptr - ptr));
            ticks = ev[i].ticks;
            ptr = ev[i].ptr;
            if (ev[i].type == REC_ALLOC) {
                p = varint_put(p, ev[i].size);
                p = varint_put(p, ev[i].stack);
                p = varint_put(p, 0); /* malloc */
            }
        }
        struct chunk_header c = {.magic = TRACE_CHUNK_MAGIC,
                                 .flags = CHUNK_SEALED,
                                 .stream = s,
                                 .seq = 0,
                                 .tid = 100 + s,
                                 .raw_len = (uint32_t)(p - buf)};
        off_t off = TRACE_HEADER_SIZE + (off_t)(s - 1) * TRACE_SLOT_SIZE;
        cr_assert(pwrite(fd, &c, sizeof c, off) == (ssize_t)sizeof c);
        cr_assert(pwrite(fd, buf, (size_t)(p - buf), off + (off_t)sizeof c) == p - buf);
    }
    close(fd);
    return path;
}

#define P 0x5000010ull

/* T3 receives the address T2 frees, but T3's clock runs behind: its
 * allocation is stamped before the free. The block at the end is T3's. */
Test(order, reuse_stamped_before_the_free)
{
    const struct event ev[] = {
        {1, REC_ALLOC, 1000, P, 10, 1},
        {2, REC_FREE, 2000, P, 0, 0},
        {3, REC_ALLOC, 1990, P, 20, 2},
    };
    struct json *j = report_json_of(write_trace("skew.trace", ev, 3, 3));
    cr_expect_eq(json_int(j, "totals.unmatched_frees"), 0);
    cr_expect_eq(json_int(j, "totals.allocations"), 2);
    cr_expect_eq(json_int(j, "totals.frees"), 1);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 20);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 1);
    json_free(j);
}

/* A free stamped before the allocation it frees (the block crossed to a
 * thread whose clock runs behind): nothing is left, nothing unmatched. */
Test(order, free_stamped_before_its_allocation)
{
    const struct event ev[] = {
        {1, REC_ALLOC, 1000, P, 32, 1},
        {2, REC_FREE, 995, P, 0, 0},
        {2, REC_ALLOC, 1100, P + 64, 8, 2},
    };
    struct json *j = report_json_of(write_trace("early_free.trace", ev, 3, 2));
    cr_expect_eq(json_int(j, "totals.unmatched_frees"), 0);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 8);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 1);
    json_free(j);
}

/* A corrupt record: an allocation at address 0 is no block, and the reports
 * that count calls and temporary allocations per stack must not trip on it. */
Test(order, allocation_at_address_zero)
{
    const struct event ev[] = {
        {1, REC_ALLOC, 1000, 0, 16, 1},
        {1, REC_FREE, 1010, 0, 0, 0},
        {1, REC_ALLOC, 1100, P, 8, 2},
    };
    char *trace = write_trace("zero.trace", ev, 3, 1);
    struct json *j = report_json_of(trace);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 8);
    json_free(j);
    char *page = path_join(temp_dir(), "zero.html");
    struct run_result r = run_in("/", NULL, (const char *const[]){heapsnap_bin(), "html", trace, "-o", page, NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    free(page);
    free(trace);
}

/* A chain through three threads, each hand-over stamped before the event it
 * follows, and a free whose block was allocated before tracing began (its
 * thread waits behind it until the merge is well past it): that free, and
 * only that one, is unmatched; the block at the end is the last one. */
Test(order, chain_and_a_true_stranger)
{
    const struct event ev[] = {
        {1, REC_FREE, 500, P + 4096, 0, 0}, /* never allocated in the trace */
        {1, REC_ALLOC, 100000, P, 16, 1},   {2, REC_FREE, 100500, P, 0, 0},
        {3, REC_ALLOC, 100495, P, 24, 2},   {1, REC_FREE, 100490, P, 0, 0},
        {2, REC_ALLOC, 100600, P, 40, 3},
    };
    struct json *j = report_json_of(write_trace("chain.trace", ev, 6, 3));
    cr_expect_eq(json_int(j, "totals.unmatched_frees"), 1);
    cr_expect_eq(json_int(j, "totals.allocations"), 3);
    cr_expect_eq(json_int(j, "totals.frees"), 3);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 40);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 1);
    json_free(j);
}

/* ---- the real thing, many times ------------------------------------------- */

/* samples/threads: 80,000 blocks handed from 4 producers to 4 consumers and
 * their addresses reused at once, with the live blocks followed while it
 * runs (the leak check) and then replayed from the trace (the report): 25
 * runs, not one unmatched free, exactly the producers' 4 leaked blocks (the
 * last one still in `sink`, reachable). */
Test(order, threads_many_runs, .timeout = 300)
{
    char *dir = temp_dir();
    for (int run = 0; run < 25; run++) {
        char name[64];
        snprintf(name, sizeof name, "t%d.trace", run);
        char *trace = path_join(dir, name);
        const char *argv[] = {heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("threads"), NULL};
        struct run_result r = run_in(dir, NULL, argv);
        cr_assert_eq(r.exit_code, 0, "run %d: %s", run, r.err);
        run_free(&r);
        struct json *j = report_json_of(trace);
        cr_expect_eq(json_int(j, "totals.unmatched_frees"), 0, "run %d", run);
        cr_expect_eq(group_int(j, "leaks", "producer_leak", "blocks"), 4, "run %d", run);
        cr_expect_eq(find_group(j, "leaks", "produce"), -1, "run %d", run);
        json_free(j);
        struct json *l = leaks_json_in(dir, trace, NULL);
        cr_expect_eq(leak_bytes(l, "definitely_lost"), 3000, "run %d", run);
        cr_expect_eq(leak_blocks(l, "definitely_lost"), 3, "run %d", run);
        cr_expect_eq(leak_bytes(l, "still_reachable"), 1000, "run %d", run);
        json_free(l);
        unlink(trace);
    }
}
