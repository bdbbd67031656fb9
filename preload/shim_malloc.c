/* shim_malloc.c - the interposed malloc family: the hot path.
 *
 * Per call: the real allocator, one stack capture, one record appended to the
 * calling thread's own chunk. No lock, no syscall, no shared write, no
 * allocation. Frees are stamped and recorded *before* the real free, and
 * allocations after the real call returns, so when a freed address is reused on
 * another thread the free always sorts first (docs/DESIGN.md, "ordering").
 *
 * Until the real functions are resolved (dlsym may itself call calloc), calls
 * are served from a small static pool that is never freed. */
#include "shim.h"
#include "../trace/varint.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---- bootstrap pool ---------------------------------------------------- */

#define BOOT_POOL_SIZE (256u * 1024u)
static _Alignas(64) uint8_t boot_pool[BOOT_POOL_SIZE];
static _Atomic size_t boot_used;

struct boot_header {
    size_t size;
    size_t pad;
};

static void *boot_alloc(size_t size, size_t align)
{
    if (align < 16) align = 16;
    size_t need = sizeof(struct boot_header) + size + align;
    size_t off = atomic_fetch_add(&boot_used, need);
    if (off + need > BOOT_POOL_SIZE) return NULL;
    uintptr_t p = (uintptr_t)boot_pool + off + sizeof(struct boot_header);
    p = (p + align - 1) & ~(uintptr_t)(align - 1);
    ((struct boot_header *)p)[-1].size = size;
    return (void *)p; /* the pool is zero and never reused: calloc-ready */
}

static SHIM_HOT bool boot_owns(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot_pool < BOOT_POOL_SIZE;
}

/* ---- records ----------------------------------------------------------- */

/* A block's usable size: what the live counters count, the same at its
 * allocation and at its free. glibc's malloc_usable_size reads the chunk's
 * size word (the word before the block) and, to tell a block in use, the
 * next chunk's: a cache miss the free of a random block paid on every call
 * (3-6% of the shim's time on churn, measured). A block the program allocates or
 * frees is in use, so the size word alone gives the same figure: the chunk's
 * size (low three bits are flags) less its 8-byte header, or 16 for a chunk
 * mapped on its own (flag 2). A double or invalid free reads what glibc's
 * free reads next. */
static SHIM_HOT size_t usable(void *p)
{
    if (likely(shim_heap_is_glibc)) {
        size_t word = ((const size_t *)p)[-1];
        return (word & ~(size_t)7) - ((word & 2) ? 16 : 8);
    }
    return shim_real.malloc_usable_size ? shim_real.malloc_usable_size(p) : 0;
}

/* Whether this allocation is recorded: all are, unless sampling. */
static SHIM_HOT bool sampled_alloc(struct shim_thread *t, size_t size)
{
    return likely(!shim_config.sample_rate) || sample_alloc(t, size);
}

/* What a block recorded now adds to the live counters: its usable size, or
 * when sampling the bytes it stands for (and it joins the sampled set). */
static SHIM_HOT int64_t alloc_weight(void *p, size_t size)
{
    return likely(!shim_config.sample_rate) ? (int64_t)usable(p) : sample_note((uintptr_t)p, size);
}

/* Whether the free of p is recorded, and what it takes from the live
 * counters: every block, or when sampling a sampled one (it leaves the set). */
static SHIM_HOT bool sampled_free(void *p, int64_t *weight)
{
    if (likely(!shim_config.sample_rate)) {
        *weight = (int64_t)usable(p); /* before the real free: p is still ours */
        return true;
    }
    return sample_contains((uintptr_t)p) && sample_take_slow((uintptr_t)p, weight);
}

static SHIM_HOT void record_alloc(struct shim_thread *t, void *p, size_t size, enum alloc_fn fn)
{
    if (unlikely(atomic_load_explicit(&shim_paused, memory_order_relaxed)) || !record_begin(t)) return;
    uint32_t stack = stack_capture(t);
    if (likely(emit_prepare(t, 1 + 5 * VARINT_MAX))) {
        uint8_t *w = t->pos;
        *w++ = REC_ALLOC;
        w = emit_stamp(t, w, shim_ticks());
        w = varint_put_signed(w, (int64_t)((uintptr_t)p - ptr_last(t)));
        ptr_hide(t, (uintptr_t)p);
        w = varint_put(w, size);
        w = varint_put(w, stack);
        w = varint_put(w, fn);
        emit_commit(t, w);
    }
    if (unlikely(t->leak_disabled)) api_ignore(t, (uintptr_t)p);
    api_after_event(t, alloc_weight(p, size));
    t->in_shim--;
}

static SHIM_HOT void record_free(struct shim_thread *t, void *p, uint64_t stamp, int64_t weight)
{
    if (!record_begin(t)) return;
    if (likely(emit_prepare(t, 1 + 2 * VARINT_MAX))) {
        uint8_t *w = t->pos;
        *w++ = REC_FREE;
        w = emit_stamp(t, w, stamp);
        w = varint_put_signed(w, (int64_t)((uintptr_t)p - ptr_last(t)));
        ptr_hide(t, (uintptr_t)p);
        emit_commit(t, w);
    }
    api_after_event(t, -weight);
    t->in_shim--;
}

/* A successful realloc is one record with two stamps: the free half taken
 * before the call, the allocation half after it. */
static void record_realloc(struct shim_thread *t, uint64_t before, int64_t old_weight, void *old, void *p, size_t size)
{
    if (!record_begin(t)) return;
    uint32_t stack = stack_capture(t);
    if (likely(emit_prepare(t, 1 + 6 * VARINT_MAX))) {
        uint8_t *w = t->pos;
        *w++ = REC_REALLOC;
        before = shim_ticks_after(t, before);
        uint64_t after = shim_ticks();
        if (after < before) after = before;
        w = varint_put(w, before - t->last_ticks);
        w = varint_put_signed(w, (int64_t)((uintptr_t)old - ptr_last(t)));
        w = varint_put(w, after - before);
        w = varint_put_signed(w, (int64_t)((uintptr_t)p - (uintptr_t)old));
        w = varint_put(w, size);
        w = varint_put(w, stack);
        t->last_ticks = after;
        ptr_hide(t, (uintptr_t)p);
        emit_commit(t, w);
    }
    if (unlikely(t->leak_disabled)) api_ignore(t, (uintptr_t)p);
    api_after_event(t, alloc_weight(p, size) - old_weight);
    t->in_shim--;
}

/* ---- the interposed functions ------------------------------------------ */

SHIM_EXPORT void *malloc(size_t size)
{
    struct shim_thread *t = &shim_tls;
    bool rec = shim_should_record(t);
    if (unlikely(!shim_real.malloc)) return boot_alloc(size, 16);
    void *p = shim_real.malloc(size);
    if (rec && likely(p) && sampled_alloc(t, size)) record_alloc(t, p, size, FN_MALLOC);
    return p;
}

SHIM_EXPORT void free(void *p)
{
    if (!p || unlikely(boot_owns(p))) return;
    struct shim_thread *t = &shim_tls;
    int64_t weight;
    if (shim_should_record(t) && sampled_free(p, &weight)) record_free(t, p, shim_ticks(), weight);
    if (unlikely(atomic_load_explicit(&shim_exit_frees_kept, memory_order_relaxed))) return;
    if (likely(shim_real.free)) shim_real.free(p);
}

SHIM_EXPORT void *calloc(size_t n, size_t size)
{
    struct shim_thread *t = &shim_tls;
    bool rec = shim_should_record(t);
    size_t total;
    if (unlikely(!shim_real.calloc)) {
        if (__builtin_mul_overflow(n, size, &total)) return NULL;
        return boot_alloc(total, 16);
    }
    void *p = shim_real.calloc(n, size);
    if (rec && likely(p) && sampled_alloc(t, n * size)) record_alloc(t, p, n * size, FN_CALLOC);
    return p;
}

static void *realloc_common(void *old, size_t size, enum alloc_fn fn)
{
    struct shim_thread *t = &shim_tls;
    if (unlikely(boot_owns(old))) {
        /* Moving out of the bootstrap pool: a fresh, recorded allocation. */
        void *p = malloc(size);
        size_t had = ((struct boot_header *)old)[-1].size;
        if (p) memcpy(p, old, had < size ? had : size);
        return p;
    }
    bool rec = shim_should_record(t);
    if (unlikely(!shim_real.realloc)) return boot_alloc(size, 16);
    uint64_t before = rec ? shim_ticks() : 0;
    /* Taken before the real realloc, when old is still ours: its usable size,
     * or (sampling) whether it was sampled, which takes it out of the set. */
    int64_t old_weight = 0;
    bool old_rec = rec && old && sampled_free(old, &old_weight);
    void *p = shim_real.realloc(old, size);
    if (!rec) return p;
    if (p) {
        bool new_rec = sampled_alloc(t, size);
        if (old_rec && (!new_rec || atomic_load_explicit(&shim_paused, memory_order_relaxed)))
            record_free(t, old, before, old_weight);
        else if (old_rec) record_realloc(t, before, old_weight, old, p, size);
        else if (new_rec) record_alloc(t, p, size, fn);
    } else if (old_rec && size == 0) {
        record_free(t, old, before, old_weight); /* glibc: realloc(p, 0) frees p */
    } else if (old_rec && shim_config.sample_rate) {
        sample_keep((uintptr_t)old, old_weight); /* it failed: old stays, and stays sampled */
    }
    return p;
}

SHIM_EXPORT void *realloc(void *old, size_t size) { return realloc_common(old, size, FN_REALLOC); }

/* Served by the real realloc, not the real reallocarray: glibc's calls realloc
 * through the PLT, which would record the call twice. */
SHIM_EXPORT void *reallocarray(void *old, size_t n, size_t elem)
{
    size_t size;
    if (__builtin_mul_overflow(n, elem, &size)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc_common(old, size, FN_REALLOCARRAY);
}

SHIM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    struct shim_thread *t = &shim_tls;
    bool rec = shim_should_record(t);
    if (unlikely(!shim_real.posix_memalign)) {
        *out = boot_alloc(size, align);
        return *out ? 0 : ENOMEM;
    }
    int rc = shim_real.posix_memalign(out, align, size);
    if (rec && rc == 0 && sampled_alloc(t, size)) record_alloc(t, *out, size, FN_POSIX_MEMALIGN);
    return rc;
}

/* The aligned family shares one shape: (alignment, size) or (size). */
#define SHIM_ALIGNED(name, fn, params, args, align_expr, size_expr)                                                \
    SHIM_EXPORT void *name params                                                                                 \
    {                                                                                                             \
        struct shim_thread *t = &shim_tls;                                                                        \
        bool rec = shim_should_record(t);                                                                              \
        if (unlikely(!shim_real.name)) return boot_alloc(size_expr, align_expr);                                  \
        void *p = shim_real.name args;                                                                            \
        if (rec && likely(p) && sampled_alloc(t, size_expr)) record_alloc(t, p, size_expr, fn);                   \
        return p;                                                                                                 \
    }

SHIM_ALIGNED(aligned_alloc, FN_ALIGNED_ALLOC, (size_t align, size_t size), (align, size), align, size)
SHIM_ALIGNED(memalign, FN_MEMALIGN, (size_t align, size_t size), (align, size), align, size)
SHIM_ALIGNED(valloc, FN_VALLOC, (size_t size), (size), 4096, size)
SHIM_ALIGNED(pvalloc, FN_PVALLOC, (size_t size), (size), 4096, size)
