/* leakcheck.c - see leakcheck.h.
 *
 * The world is stopped by the caller (supervise.c holds every thread in a
 * ptrace-stop); the live blocks are those `heapsnap run` has kept current
 * while the process ran (snap_follow.c). Here: the registers, the roots, the
 * marking, the classification.
 *
 * Roots, following memcheck (fewer false alarms than LSan): the registers of
 * every thread; every readable, writable mapping that holds no heap block, so
 * module data and bss, TLS, and the program's own anonymous mappings; a thread's
 * stack only above its stack pointer (below it is dead). Mappings that ever
 * held a heap block (malloc's arenas, brk heap) are not roots: free chunks in
 * them hold stale pointers. The trace's own file is not a root.
 *
 * Marking: an aligned word pointing at a block's first byte is a start
 * pointer, inside it an interior pointer. Reached only through start pointers:
 * still reachable; through at least one interior pointer: possibly lost. The
 * rest are lost: in address order, each lost block not yet claimed leads a
 * clique (definitely lost) and everything it reaches, by any pointer, becomes
 * indirectly lost under it; a leader reached by a later clique joins it. So a
 * lost cycle has one definitely lost block, never only indirect ones.
 *
 * Pool objects (heapsnap_pool_*) are blocks too, and may lie inside another
 * block (the pool's chunk) or in a root (an mmap'd arena, a static buffer).
 * An address inside one is a pointer to it, not to the chunk around it (but
 * the chunk's first byte is that too, when an object starts there); and
 * their bytes are read only when they are reached themselves: the chunk and
 * the roots are scanned around them, so a chunk that is reachable does not
 * make the objects in it reachable, nor what they point to. */
#include "leakcheck.h"
#include "snap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <unistd.h>

#include "../trace/trace_ticks.h"
#include "../trace/varint.h"

enum { ST_UNREACHED = 0, ST_POSSIBLE, ST_REACHABLE, ST_LEADER, ST_INDIRECT };

struct lc_block {
    uint64_t key; /* in snap.live: a pool object's has POOL_KEY_BIT */
    uint64_t start, size, indirect;
    uint8_t state;
    bool ignored, pool;
};

/* Blocks of one sort, by start: malloc's never overlap one another, nor do
 * pool objects; only the two sorts may. */
struct lc_sorted {
    size_t *v, n;
};

struct lc {
    /* Whose memory is read: the thread that asked or is ending the process,
     * held stopped. Not the process id: the main thread may have exited
     * already (exit from another thread), and /proc and process_vm_readv
     * see no memory through a thread that is gone. */
    pid_t mem;
    struct lc_block *b;
    size_t n;
    struct lc_sorted heap, pools; /* indexes into b */
    uint64_t lo, hi; /* the blocks' address range: a quick filter */
    size_t *stack;   /* work list */
    size_t nstack, capstack;
    uint8_t *buf;
    int pagemap; /* /proc/PID/pagemap: pages never touched are not read */
    struct thread {
        pid_t tid;
        uint64_t live_from; /* its stack is live from here up (0: registers not read) */
    } *threads;
    size_t nthreads;
    pid_t exiting_tid;   /* the thread that asked, or that is ending the process */
    uint64_t stack_from; /* if set, its stack counts only above here, and its registers not at all */
    bool ending;         /* exiting_tid is ending the process */
    const uint64_t *dead_sps;
    size_t ndead;
    uint64_t start_brk;   /* where the brk heap begins (0: not known): below it, no heap */
    bool in_libc_data;    /* the words being read are the C library's own (its malloc state among them) */
};

/* ---- blocks and pointers ----------------------------------------------- */

/* glibc's chunk for a request: the next chunk's header lies at
 * start + chunk - 16, inside the last bytes of this block, and malloc's own
 * state (main_arena's top and bins, in the C library's data) points there.
 * That is the allocator's pointer, not the program's: read there, it must not
 * make a block possibly reachable. The program's own pointer to a block's
 * last field lands on the same offset, and counts. */
static bool allocator_metadata(uint64_t offset, uint64_t size)
{
    uint64_t chunk = (size + 8 + 15) & ~15ull;
    if (chunk < 32) chunk = 32;
    return offset == chunk - 16;
}

/* The last of these blocks that starts at or below w: a position in v, or -1. */
static long last_at_or_below(const struct lc *lc, const struct lc_sorted *o, uint64_t w)
{
    size_t l = 0, r = o->n;
    while (l < r) {
        size_t m = (l + r) / 2;
        if (lc->b[o->v[m]].start <= w)
            l = m + 1;
        else r = m;
    }
    return (long)l - 1;
}

/* The block of this sort holding w (*is_start: at its first byte), or -1. */
static long holder(const struct lc *lc, const struct lc_sorted *o, uint64_t w, bool *is_start)
{
    long k = last_at_or_below(lc, o, w);
    if (k < 0) return -1;
    size_t i = o->v[k];
    const struct lc_block *b = &lc->b[i];
    if (w == b->start) {
        *is_start = true;
        return (long)i;
    }
    if (w - b->start < b->size && !(lc->in_libc_data && !b->pool && allocator_metadata(w - b->start, b->size))) {
        *is_start = false;
        return (long)i;
    }
    return -1;
}

/* The block holding address w: its index, or -1. A pool object before the
 * chunk it lies in; *chunk_too is the chunk when w is its first byte as
 * well (a pointer to both), else -1. */
static long find_block(const struct lc *lc, uint64_t w, bool *is_start, long *chunk_too)
{
    *chunk_too = -1;
    if (w < lc->lo || w >= lc->hi) return -1;
    long c = lc->pools.n ? holder(lc, &lc->pools, w, is_start) : -1;
    if (c < 0) return holder(lc, &lc->heap, w, is_start);
    bool chunk_start;
    long h = holder(lc, &lc->heap, w, &chunk_start);
    if (h >= 0 && chunk_start) *chunk_too = h;
    return c;
}

static void push(struct lc *lc, size_t i)
{
    if (lc->nstack == lc->capstack) lc->stack = xrealloc(lc->stack, (lc->capstack = lc->capstack ? lc->capstack * 2 : 1024) * sizeof *lc->stack);
    lc->stack[lc->nstack++] = i;
}

/* What a word found in memory of state `from` does to the block it points at. */
typedef void (*word_fn)(struct lc *lc, uint64_t word, size_t from);

#define SCAN_CHUNK (1u << 20)
#define PAGE 4096u
/* Private ranges this large are first checked page by page in
 * /proc/PID/pagemap: a page neither present nor swapped out was never
 * written (it reads as zeros, or as its file's bytes, which hold no heap
 * address), and reading it would only make the kernel map it. Not shared
 * ones: a fork child has no page-table entries for a shared mapping it has
 * not touched, whose pages hold its parent's data all the same. */
#define SCAN_PAGEMAP_MIN (64u * 1024)
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)

/* From page-aligned addr towards end: the length of the run of pages that
 * hold data (returned), or of pages never touched (in *skip, 0 returned). */
static uint64_t touched_run(const struct lc *lc, uint64_t addr, uint64_t end, uint64_t *skip)
{
    uint64_t entries[SCAN_CHUNK / PAGE];
    uint64_t npages = (end - addr + PAGE - 1) / PAGE;
    if (npages > SCAN_CHUNK / PAGE) npages = SCAN_CHUNK / PAGE;
    ssize_t got = pread(lc->pagemap, entries, npages * 8, (off_t)(addr / PAGE * 8));
    *skip = 0;
    if (got < 8) return end - addr < SCAN_CHUNK ? end - addr : SCAN_CHUNK; /* no pagemap: read it all */
    size_t n = (size_t)got / 8, k = 0;
    bool data = (entries[0] & (PM_PRESENT | PM_SWAPPED)) != 0;
    while (k < n && ((entries[k] & (PM_PRESENT | PM_SWAPPED)) != 0) == data) k++;
    uint64_t run = (uint64_t)k * PAGE;
    if (run > end - addr) run = end - addr;
    if (!data) {
        *skip = run;
        return 0;
    }
    return run;
}

/* Reads [addr, addr+len) of the process, a chunk at a time, page by page
 * where a chunk cannot be read whole, and calls fn on every aligned word.
 * Large private ranges skip the pages that were never touched. */
static void scan_range(struct lc *lc, uint64_t addr, uint64_t len, bool private_mapping, word_fn fn, size_t from)
{
    uint64_t end = addr + len;
    bool sparse = private_mapping && len >= SCAN_PAGEMAP_MIN && lc->pagemap >= 0;
    addr = (addr + 7) & ~7ull;
    while (addr + 8 <= end) {
        size_t want = end - addr < SCAN_CHUNK ? (size_t)(end - addr) : SCAN_CHUNK;
        if (sparse) {
            uint64_t page = addr & ~(uint64_t)(PAGE - 1), skip;
            uint64_t run = touched_run(lc, page, end, &skip);
            if (skip) {
                addr = page + skip;
                continue;
            }
            if (run - (addr - page) < want) want = (size_t)(run - (addr - page));
        }
        struct iovec local = {lc->buf, want}, remote = {(void *)addr, want};
        ssize_t got = process_vm_readv(lc->mem, &local, 1, &remote, 1, 0);
        if (got <= 0) {
            /* Unreadable here: skip to the next page. */
            uint64_t next = (addr | 4095) + 1;
            addr = next;
            continue;
        }
        const uint64_t *w = (const uint64_t *)lc->buf;
        for (size_t i = 0; i < (size_t)got / 8; i++) fn(lc, w[i], from);
        addr += (uint64_t)got & ~7ull;
    }
}

/* Scans [addr, addr+len) but for the pool objects in it: their bytes are
 * read when they are reached themselves. */
static void scan_around_pools(struct lc *lc, uint64_t addr, uint64_t len, bool private_mapping, word_fn fn, size_t from)
{
    uint64_t end = addr + len;
    long k = lc->pools.n ? last_at_or_below(lc, &lc->pools, addr) : -1;
    if (k < 0) k = 0;
    for (size_t j = (size_t)k; j < lc->pools.n && addr < end; j++) {
        const struct lc_block *o = &lc->b[lc->pools.v[j]];
        if (o->start >= end) break;
        if (o->start + o->size <= addr) continue;
        if (o->start > addr) scan_range(lc, addr, o->start - addr, private_mapping, fn, from);
        addr = o->start + o->size;
    }
    if (addr < end) scan_range(lc, addr, end - addr, private_mapping, fn, from);
}

/* A reached block's bytes: a chunk's without the pool objects in it. */
static void scan_block(struct lc *lc, size_t i, word_fn fn)
{
    const struct lc_block *b = &lc->b[i];
    if (b->pool)
        scan_range(lc, b->start, b->size, true, fn, i);
    else
        scan_around_pools(lc, b->start, b->size, true, fn, i);
}

/* Marking from roots (from == SIZE_MAX) and from reached blocks. */
static void mark(struct lc *lc, long c, bool is_start, size_t from)
{
    if (c < 0 || (size_t)c == from) return;
    uint8_t parent = from == SIZE_MAX ? ST_REACHABLE : lc->b[from].state;
    uint8_t want = parent == ST_REACHABLE && is_start ? ST_REACHABLE : ST_POSSIBLE;
    if (lc->b[c].state < want) {
        lc->b[c].state = want;
        push(lc, (size_t)c);
    }
}

static void mark_word(struct lc *lc, uint64_t word, size_t from)
{
    bool is_start = false;
    long chunk;
    long c = find_block(lc, word, &is_start, &chunk); /* before is_start is read */
    mark(lc, c, is_start, from);
    mark(lc, chunk, true, from);
}

static void drain_marks(struct lc *lc)
{
    while (lc->nstack) {
        size_t i = lc->stack[--lc->nstack];
        scan_block(lc, i, mark_word);
    }
}

/* Flooding a clique: anything unreached (or an earlier leader) it points to. */
static size_t clique_leader;

static void clique_join(struct lc *lc, long c)
{
    if (c < 0 || (size_t)c == clique_leader) return;
    struct lc_block *b = &lc->b[c], *leader = &lc->b[clique_leader];
    if (b->state == ST_UNREACHED) {
        b->state = ST_INDIRECT;
        leader->indirect += b->size;
        push(lc, (size_t)c);
    } else if (b->state == ST_LEADER) {
        b->state = ST_INDIRECT; /* an earlier clique joins this one */
        leader->indirect += b->size + b->indirect;
        b->indirect = 0;
    }
}

static void clique_word(struct lc *lc, uint64_t word, size_t from)
{
    (void)from;
    bool is_start = false;
    long chunk;
    long c = find_block(lc, word, &is_start, &chunk);
    clique_join(lc, c);
    clique_join(lc, chunk);
}

static void cliques(struct lc *lc)
{
    for (size_t i = 0; i < lc->n; i++) {
        if (lc->b[i].state != ST_UNREACHED) continue;
        lc->b[i].state = ST_LEADER;
        clique_leader = i;
        push(lc, i);
        while (lc->nstack) {
            size_t k = lc->stack[--lc->nstack];
            scan_block(lc, k, clique_word);
        }
    }
}

/* ---- roots ------------------------------------------------------------- */

/* The parts of the address space that are heap, not roots: the pages of each
 * large block (malloc maps those one by one, and the kernel may merge such a
 * mapping with a neighbour that is a real root, e.g. a pymalloc arena), and
 * the 1 MiB regions any small block ever lived in (an arena whose blocks are
 * all free now still holds stale pointers). Sorted, merged intervals. */
struct interval {
    uint64_t lo, hi;
};

static int by_lo(const void *a, const void *b)
{
    const struct interval *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Field 47 of /proc/PID/stat. */
static uint64_t start_brk_of(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold anything */
    for (int field = 2; p && field < 47; field++) p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static struct interval *heap_intervals(const struct lc *lc, const struct snap *s, size_t *n)
{
    size_t cap = 16, k = 0;
    struct interval *v = xmalloc(cap * sizeof *v);
    for (size_t i = 0; i < lc->n; i++) {
        if (lc->b[i].size < SNAP_SMALL_BLOCK || lc->b[i].pool) continue; /* a pool object: where its pool put it */
        if (k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[k++] = (struct interval){(lc->b[i].start - 16) & ~4095ull, (lc->b[i].start + lc->b[i].size + 4095) & ~4095ull};
    }
    for (size_t i = 0; s->heap_regions.slots && i <= s->heap_regions.mask; i++) {
        uint64_t key = s->heap_regions.slots[i].ptr;
        if (!key) continue;
        if (k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        uint64_t r = (key - 1) << SNAP_HEAP_REGION_SHIFT;
        v[k++] = (struct interval){r, r + (1ull << SNAP_HEAP_REGION_SHIFT)};
    }
    /* Nothing of the heap lies below the brk heap's start: there are the
     * program's own data and bss, roots whatever 1 MiB they share with it. */
    size_t kept = 0;
    for (size_t i = 0; i < k; i++) {
        if (v[i].hi <= lc->start_brk) continue;
        if (v[i].lo < lc->start_brk) v[i].lo = lc->start_brk;
        v[kept++] = v[i];
    }
    k = kept;
    qsort(v, k, sizeof *v, by_lo);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (m && v[i].lo <= v[m - 1].hi) {
            if (v[i].hi > v[m - 1].hi) v[m - 1].hi = v[i].hi;
        } else {
            v[m++] = v[i];
        }
    }
    *n = m;
    return v;
}

/* Scans [lo, hi) as roots, leaving out the heap intervals. */
static void scan_root_range(struct lc *lc, uint64_t lo, uint64_t hi, bool private_mapping, const struct interval *heap,
                            size_t nheap)
{
    for (size_t i = 0; i < nheap && lo < hi; i++) {
        if (heap[i].hi <= lo) continue;
        if (heap[i].lo >= hi) break;
        if (heap[i].lo > lo) scan_around_pools(lc, lo, heap[i].lo - lo, private_mapping, mark_word, SIZE_MAX);
        lo = heap[i].hi;
    }
    if (lo < hi) scan_around_pools(lc, lo, hi - lo, private_mapping, mark_word, SIZE_MAX);
}

static void scan_roots(struct lc *lc, const struct snap *s, const char *trace_path)
{
    char path[64], line[8192];
    snprintf(path, sizeof path, "/proc/%d/maps", lc->mem);
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t nheap;
    struct interval *heap = heap_intervals(lc, s, &nheap);
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        char perms[8] = "", file[4096] = "";
        if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %4095[^\n]", &lo, &hi, perms, file) < 3) continue;
        if (perms[0] != 'r' || perms[1] != 'w') continue;
        if (strcmp(file, "[vvar]") == 0 || strcmp(file, "[vdso]") == 0 || strcmp(file, "[vsyscall]") == 0) continue;
        /* The brk heap's mapping may have merged with the program's bss
         * below it (no address randomization): that part is a root. */
        if (strcmp(file, "[heap]") == 0) {
            if (lc->start_brk <= lo || lc->start_brk >= hi) continue;
            hi = lc->start_brk;
        }
        if (file[0] == '/' && strncmp(file, trace_path, strlen(trace_path)) == 0) continue; /* our own trace */
        /* A thread's stack is live from its stack pointer up. A stack
         * whose thread exited (glibc keeps it for the next one) is dead
         * below where that thread left it, unless a live thread has it now. */
        uint64_t from = lo, dead_from = lo;
        for (size_t i = 0; i < lc->nthreads; i++) {
            uint64_t live = lc->threads[i].live_from;
            if (live >= lo && live < hi && live > from) from = live;
        }
        for (size_t i = 0; from == lo && i < lc->ndead; i++)
            if (lc->dead_sps[i] >= lo && lc->dead_sps[i] < hi && lc->dead_sps[i] > dead_from) dead_from = lc->dead_sps[i];
        if (from == lo) from = dead_from;
        const char *base = strrchr(file, '/');
        lc->in_libc_data = base && strncmp(base + 1, "libc.so", 7) == 0;
        scan_root_range(lc, from, hi, perms[3] == 'p', heap, nheap);
        lc->in_libc_data = false;
        drain_marks(lc);
    }
    fclose(f);
    free(heap);
}

static void scan_registers(struct lc *lc)
{
    for (size_t i = 0; i < lc->nthreads; i++) {
        struct thread *t = &lc->threads[i];
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, t->tid, 0, &regs) != 0) continue;
        /* A thread stopped anywhere may be in a leaf function that keeps data
         * in the 128-byte red zone below its stack pointer. */
        t->live_from = regs.rsp - 128;
        if (t->tid == lc->exiting_tid && lc->stack_from > regs.rsp) {
            /* A normal exit: the program left at stack_from; below it run only
             * exit's and the destructors' frames, whose dead slots hold stale
             * pointers. The program's registers are gone too. */
            t->live_from = lc->stack_from;
            continue;
        }
        /* The thread ending the process is in a system call (exit_group) or
         * was killed where a signal found it: below its stack pointer lie
         * only frames that returned (memcheck marks them undefined). */
        if (t->tid == lc->exiting_tid && lc->ending) t->live_from = regs.rsp;
        const uint64_t *w = (const uint64_t *)&regs;
        for (size_t k = 0; k < sizeof regs / 8; k++) mark_word(lc, w[k], SIZE_MAX);
    }
    drain_marks(lc);
}

/* ---- the check --------------------------------------------------------- */

static int by_start(const void *a, const void *b)
{
    const struct lc_block *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static size_t leak_record(uint8_t *r, uint64_t delta, uint64_t kind, uint64_t indirect)
{
    uint8_t *q = r;
    *q++ = REC_LEAK;
    q = varint_put_signed(q, (int64_t)delta);
    q = varint_put(q, kind);
    q = varint_put(q, indirect);
    return (size_t)(q - r);
}

static void check_record(struct rec_chunks *out, uint64_t ticks, uint32_t seq, uint32_t status, size_t lost)
{
    uint8_t rec[64], *p = rec;
    *p++ = REC_LEAK_CHECK;
    p = varint_put(p, ticks);
    p = varint_put(p, seq);
    p = varint_put(p, status);
    p = varint_put(p, lost);
    rec_chunks_add(out, rec, (size_t)(p - rec));
}

static uint64_t now_ticks(void) { return trace_ticks_now(); } /* the shim's tick: the same clock, on the same machine */

void leakcheck_note(uint32_t seq, const char *text, struct rec_chunks *out)
{
    size_t len = strlen(text);
    if (len > 1024) len = 1024;
    uint8_t rec[1100], *p = rec;
    *p++ = REC_CHECK_NOTE;
    p = varint_put(p, seq);
    p = varint_put(p, len);
    memcpy(p, text, len);
    rec_chunks_add(out, rec, (size_t)(p - rec) + len);
}

void leakcheck_failed(uint32_t seq, const char *why, struct rec_chunks *out)
{
    check_record(out, now_ticks(), seq, CHECK_FAILED, 0);
    leakcheck_note(seq, why, out);
}

void leakcheck_off(uint32_t seq, const char *why, struct rec_chunks *out)
{
    check_record(out, now_ticks(), seq, CHECK_OFF, 0);
    leakcheck_note(seq, why, out);
}

int leakcheck_run(const struct leakcheck_request *rq, struct rec_chunks *out, char *err, size_t errlen)
{
    const struct snap *s = rq->live;
    struct lc lc = {.mem = rq->from_tid > 0 ? rq->from_tid : rq->pid,
                    .exiting_tid = rq->from_tid,
                    .stack_from = rq->stack_from,
                    .ending = rq->ending,
                    .dead_sps = rq->dead_sps,
                    .ndead = rq->ndead};
    uint64_t ticks = now_ticks();
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/pagemap", lc.mem);
    lc.pagemap = open(path, O_RDONLY | O_CLOEXEC);
    lc.start_brk = start_brk_of(lc.mem);
    lc.threads = xcalloc(rq->ntids ? rq->ntids : 1, sizeof *lc.threads);
    for (size_t i = 0; i < rq->ntids; i++) lc.threads[lc.nthreads++] = (struct thread){.tid = rq->tids[i]};
    lc.b = xmalloc((s->live.count ? s->live.count : 1) * sizeof *lc.b);
    for (size_t i = 0; i <= s->live.mask && s->live.slots; i++) {
        const struct blockmap_entry *e = &s->live.slots[i];
        if (e->ptr)
            lc.b[lc.n++] = (struct lc_block){.key = e->ptr,
                                             .start = snap_block_addr(e->ptr),
                                             .size = e->size,
                                             .ignored = e->ignored,
                                             .pool = snap_is_pool_object(e->ptr)};
    }
    qsort(lc.b, lc.n, sizeof *lc.b, by_start);
    lc.heap.v = xmalloc((lc.n ? lc.n : 1) * sizeof *lc.heap.v);
    lc.pools.v = xmalloc((lc.n ? lc.n : 1) * sizeof *lc.pools.v);
    lc.lo = UINT64_MAX;
    for (size_t i = 0; i < lc.n; i++) {
        struct lc_sorted *o = lc.b[i].pool ? &lc.pools : &lc.heap;
        o->v[o->n++] = i;
        uint64_t end = lc.b[i].start + (lc.b[i].size ? lc.b[i].size : 1);
        if (lc.b[i].start < lc.lo) lc.lo = lc.b[i].start;
        if (end > lc.hi) lc.hi = end;
    }
    lc.buf = xmalloc(SCAN_CHUNK);
    /* The program's own roots: ignored blocks, registered regions. */
    for (size_t i = 0; i < lc.n; i++)
        if (lc.b[i].ignored) lc.b[i].state = ST_REACHABLE, push(&lc, i);
    for (size_t i = 0; i < s->nroots; i++) /* the program's own: maybe shared */
        scan_around_pools(&lc, s->roots[i].ptr, s->roots[i].len, false, mark_word, SIZE_MAX);
    drain_marks(&lc);
    scan_registers(&lc);
    scan_roots(&lc, s, rq->trace_path);
    cliques(&lc);

    size_t lost = 0;
    for (size_t i = 0; i < lc.n; i++) lost += lc.b[i].state != ST_REACHABLE;
    check_record(out, ticks, rq->seq, CHECK_DONE, lost);
    if (rq->ticks) *rq->ticks = ticks;
    if (rq->leaks) {
        *rq->leaks = xmalloc((lost ? lost : 1) * sizeof **rq->leaks);
        *rq->nleaks = 0;
    }
    uint64_t prev = 0;
    for (size_t i = 0; i < lc.n; i++) {
        const struct lc_block *b = &lc.b[i];
        if (b->state == ST_REACHABLE) continue;
        uint64_t kind = b->state == ST_POSSIBLE ? LEAK_POSSIBLE : b->state == ST_LEADER ? LEAK_DEFINITE : LEAK_INDIRECT;
        if (rq->leaks)
            (*rq->leaks)[(*rq->nleaks)++] =
                (struct snap_leak){.ptr = b->key, .indirect = b->indirect, .kind = (uint32_t)kind};
        /* Pointers are deltas within a chunk; a record that opens a new chunk
         * is encoded against 0, as the reader starts each chunk. */
        uint8_t r[40];
        size_t len = leak_record(r, b->key - prev, kind, b->indirect);
        if (!rec_chunks_fits(out, len)) len = leak_record(r, b->key, kind, b->indirect);
        rec_chunks_add(out, r, len);
        prev = b->key;
    }
    if (lc.pagemap >= 0) close(lc.pagemap);
    free(lc.b);
    free(lc.heap.v);
    free(lc.pools.v);
    free(lc.buf);
    free(lc.stack);
    free(lc.threads);
    (void)err;
    (void)errlen;
    return 0;
}
