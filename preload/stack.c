/* stack.c - stack capture and the table that stores each distinct stack once.
 *
 * Capture is libunwind's unw_backtrace, whose x86_64 fast path keeps a
 * per-thread cache of how to step each instruction pointer: that cache is where
 * capture speed comes from (docs/DESIGN.md has the figures). Our own frames are
 * cut off here, so a stack starts at the allocator entry point the program
 * called.
 *
 * The table is a fixed array of lock-free chains. A lookup only reads shared
 * memory; a new stack is pushed with one CAS and written to the trace by the
 * thread that found it. Two threads meeting the same new stack at once may both
 * insert it under two ids: harmless, the reporter merges equal stacks.
 *
 * Locks: a capture runs inside the program's allocation, so it must not wait
 * for anything while holding a lock that a thread holding the loader's lock
 * could want (docs/DESIGN.md, "Locks"). unw_backtrace's per-thread cache takes
 * no lock; a miss in it looks up unwind info through dl_iterate_phdr, i.e.
 * under the loader's lock. libunwind's second-level cache of register rules
 * would be taken *around* that call, and Debian's libunwind has no per-thread
 * variant of it (UNW_CACHE_PER_THREAD silently becomes the global, locked
 * cache), so two threads could wait for each other: one in a dl_iterate_phdr
 * callback (loader lock held) missing its cache, one holding that lock while
 * waiting for the loader's. We turn that cache off: a miss then costs one DWARF
 * lookup, once per thread and return address. */
#include "shim.h"
#include "../trace/varint.h"
#include "unwind.h"

#define UNW_LOCAL_ONLY /* _UL symbols: unwinding our own process only */
#include <libunwind.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#define STACK_BUCKETS (1u << 16)
#define STACK_ON_C_STACK 256u /* frames captured into a local array; more use deep_buf */
#define STACK_OWN_SLACK ((unsigned)UNWIND_OWN_SLACK) /* our own frames on top of the program's */
#define STACK_FRAMES_PER_RECORD 1024u

struct stack_node {
    struct stack_node *next;
    uint64_t hash;
    uint32_t id;
    uint32_t nframes;
    _Atomic uint32_t written_generation; /* written to this generation's trace */
    uintptr_t ips[];
};

static _Atomic(struct stack_node *) stack_buckets[STACK_BUCKETS];
static _Atomic uint32_t stack_next_id;

/* One capture now, inside the shim, so that libunwind sets itself up before
 * the program runs: its thread-specific key is then among the first (glibc
 * keeps keys below 32 in each thread's descriptor, but makes a calloc'd
 * array for the others at their first use, which would be our untraced
 * allocation holding the program's values), and its pipe is ours from the
 * start (shim_fd.c). The cache policy: see the top of this file. */
void stack_init(void)
{
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
    void *ips[4];
    unw_backtrace(ips, 4);
    if (shim_config.unwind != UNWIND_FULL) memo_init();
}

/* Whether the calling thread runs a signal handler: a signal frame is on
 * its stack (its return address is the kernel's sigreturn trampoline). */
bool stack_in_signal_handler(void)
{
    unw_context_t ctx;
    unw_cursor_t c;
    if (unw_getcontext(&ctx) != 0 || unw_init_local(&c, &ctx) != 0) return false;
    for (int depth = 0; depth < 1024; depth++) {
        if (unw_is_signal_frame(&c) > 0) return true;
        if (unw_step(&c) <= 0) return false;
    }
    return false;
}

/* Four independent lanes, mixed at the end: one multiply chain over 64
 * frames was a tenth of a capture (each step waited for the one before). */
static SHIM_HOT uint64_t stack_hash(const uintptr_t *ips, unsigned n)
{
    const uint64_t k = 0xff51afd7ed558ccdull;
    uint64_t a = 0x9e3779b97f4a7c15ull ^ n, b = 0xc2b2ae3d27d4eb4full, c = 0x165667b19e3779f9ull, d = 0x27d4eb2f165667c5ull;
    unsigned i = 0;
    for (; i + 4 <= n; i += 4) {
        a = (a ^ ips[i]) * k;
        b = (b ^ ips[i + 1]) * k;
        c = (c ^ ips[i + 2]) * k;
        d = (d ^ ips[i + 3]) * k;
    }
    for (; i < n; i++)
        a = (a ^ ips[i]) * k;
    uint64_t h = a ^ (b << 17 | b >> 47) ^ (c << 31 | c >> 33) ^ (d << 47 | d >> 17);
    h ^= h >> 33; /* murmur3's finalizer: every input bit reaches the bucket bits */
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static void stack_write(struct shim_thread *t, const struct stack_node *s)
{
    unsigned done = 0;
    do {
        unsigned n = s->nframes - done;
        if (n > STACK_FRAMES_PER_RECORD) n = STACK_FRAMES_PER_RECORD;
        if (!emit_prepare(t, 1 + 3 * VARINT_MAX + (size_t)n * VARINT_MAX)) return;
        uint8_t *p = t->pos;
        *p++ = done == 0 ? REC_STACK : REC_STACK_MORE;
        p = varint_put(p, s->id);
        if (done == 0) p = varint_put(p, s->nframes);
        p = varint_put(p, n);
        uintptr_t prev = 0;
        for (unsigned i = done; i < done + n; i++) {
            p = varint_put_signed(p, (int64_t)(s->ips[i] - prev));
            prev = s->ips[i];
        }
        emit_commit(t, p);
        done += n;
    } while (done < s->nframes);
}

SHIM_COLD static struct stack_node *stack_insert(struct shim_thread *t, _Atomic(struct stack_node *) *bucket,
                                                 const uintptr_t *ips, unsigned n, uint64_t h)
{
    /* A stack we have never seen may run through a module the trace has not
     * seen yet: keep the module map ahead of the stacks that need it. */
    modules_note_stack(t, ips, n);
    struct stack_node *s = arena_alloc(sizeof *s + n * sizeof(uintptr_t));
    if (!s) return NULL;
    s->hash = h;
    s->nframes = n;
    s->id = atomic_fetch_add_explicit(&stack_next_id, 1, memory_order_relaxed) + 1;
    memcpy(s->ips, ips, n * sizeof(uintptr_t));
    atomic_store_explicit(&s->written_generation, atomic_load(&shim_generation), memory_order_relaxed);
    stack_write(t, s);
    struct stack_node *head = atomic_load_explicit(bucket, memory_order_relaxed);
    do {
        s->next = head;
    } while (!atomic_compare_exchange_weak_explicit(bucket, &head, s, memory_order_release, memory_order_relaxed));
    return s;
}

/* HEAPSNAP_UNWIND=check: the fast unwinder's stack against libunwind's,
 * frame by frame, for every capture; a difference is said on stderr (the
 * first few) and counted. A test knob, several times slower than full. */
static _Atomic unsigned stack_check_differences;

SHIM_COLD static void stack_check_fast(void *const *fast, int nfast)
{
    void *full[STACK_ON_C_STACK + STACK_OWN_SLACK];
    int cap = shim_config.frames < STACK_ON_C_STACK ? (int)shim_config.frames : (int)STACK_ON_C_STACK;
    int n = unw_backtrace(full, cap + (int)STACK_OWN_SLACK), skip = 0;
    while (skip < n && modules_is_own_ip((uintptr_t)full[skip])) skip++;
    n -= skip;
    if (n > cap) n = cap; /* deeper stacks are compared on their first frames */
    int m = nfast < cap ? nfast : cap;
    int at = 0;
    while (at < n && at < m && full[skip + at] == fast[at]) at++;
    if (at == n && at == m) return;
    unsigned seen = atomic_fetch_add(&stack_check_differences, 1);
    if (seen >= 5) return;
    char msg[200];
    int len = snprintf(msg, sizeof msg, "heapsnap: unwind check: frame %d differs: fast %p (of %d), full %p (of %d)\n",
                       at, at < m ? fast[at] : NULL, m, at < n ? full[skip + at] : NULL, n);
    if (len > 0) shim_sys(SYS_write, 2, (long)msg, len);
}

uint32_t stack_capture(struct shim_thread *t)
{
    void *local[STACK_ON_C_STACK + STACK_OWN_SLACK];
    void **buf = local;
    unsigned want = shim_config.frames + STACK_OWN_SLACK;
    if (want > STACK_ON_C_STACK + STACK_OWN_SLACK) {
        if (!t->deep_buf) t->deep_buf = arena_alloc((TRACE_MAX_FRAMES + STACK_OWN_SLACK) * sizeof(void *));
        if (t->deep_buf) buf = t->deep_buf;
        else want = STACK_ON_C_STACK + STACK_OWN_SLACK;
    }
    int got = shim_config.unwind == UNWIND_FULL ? unw_backtrace(buf, (int)want)
                                                : memo_backtrace(buf, (int)(want - STACK_OWN_SLACK));
    if (unlikely(shim_config.unwind == UNWIND_CHECK)) stack_check_fast(buf, got);
    unsigned skip = 0, n = got > 0 ? (unsigned)got : 0;
    while (skip < n && modules_is_own_ip((uintptr_t)buf[skip])) skip++;
    n -= skip;
    if (n > shim_config.frames) n = shim_config.frames;
    const uintptr_t *ips = (const uintptr_t *)(buf + skip);

    uint64_t h = stack_hash(ips, n);
    _Atomic(struct stack_node *) *bucket = &stack_buckets[h & (STACK_BUCKETS - 1)];
    struct stack_node *s = atomic_load_explicit(bucket, memory_order_acquire);
    for (; s; s = s->next)
        if (s->hash == h && s->nframes == n && memcmp(s->ips, ips, n * sizeof *ips) == 0) break;
    if (unlikely(!s)) {
        s = stack_insert(t, bucket, ips, n, h);
        return s ? s->id : 0;
    }
    uint32_t gen = atomic_load_explicit(&shim_generation, memory_order_relaxed);
    if (unlikely(atomic_load_explicit(&s->written_generation, memory_order_relaxed) != gen)) {
        /* Known from before a fork: the child's trace has not seen it yet,
         * nor its modules. */
        atomic_store_explicit(&s->written_generation, gen, memory_order_relaxed);
        modules_note_stack(t, s->ips, s->nframes);
        stack_write(t, s);
    }
    return s->id;
}
