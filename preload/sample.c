/* sample.c - sampling mode (HEAPSNAP_SAMPLE_RATE): which allocations are
 * recorded, and which frees belong to them.
 *
 * Each allocated byte is sampled with probability 1/rate, as tcmalloc,
 * jemalloc and heapprofd do: per thread, the bytes to allocate before the
 * next sample are drawn from an exponential distribution of mean rate, and an
 * allocation that reaches the next sample is recorded, with its stack. The
 * gaps are memoryless, so an allocation of size bytes is recorded with
 * probability 1 - exp(-size/rate) whatever came before it: the reader weighs
 * it by the inverse (docs/SAMPLING.md).
 *
 * A free is recorded only when its block was: the set of sampled live blocks
 * is an open-addressing table that a free reads without a lock (one probe,
 * most often an empty slot). Only sampled allocations and their frees write
 * it, under a spin lock: one in rate bytes allocated. The table grows by
 * doubling into a new one; the old stays readable (arena memory is never
 * reused), so a reader that loaded it finishes its probe safely. */
#include "shim.h"

#include <math.h>
#include <string.h>

#define SET_FIRST_BITS 10u

_Atomic(struct sample_set *) sample_set_current;
static atomic_flag sample_lock = ATOMIC_FLAG_INIT;


static struct sample_set *set_new(unsigned bits)
{
    struct sample_set *s = arena_alloc(sizeof *s);
    size_t n = (size_t)1 << bits;
    if (!s) return NULL;
    s->keys = arena_alloc(n * sizeof *s->keys);
    s->weighed = arena_alloc(n * sizeof *s->weighed);
    if (!s->keys || !s->weighed) return NULL;
    s->bits = bits;
    s->used = s->gone = 0; /* arena memory is zero: every slot empty */
    return s;
}

/* Under sample_lock. The key goes in after its weight: a reader that sees
 * the key (the freeing thread: after the allocation, by the program's own
 * ordering) sees the weight. */
static void set_put(struct sample_set *s, uintptr_t p, int64_t w)
{
    size_t mask = ((size_t)1 << s->bits) - 1;
    size_t i = set_slot(s, p);
    while (atomic_load_explicit(&s->keys[i], memory_order_relaxed) > SET_GONE) i = (i + 1) & mask;
    if (atomic_load_explicit(&s->keys[i], memory_order_relaxed) == SET_GONE) s->gone--;
    s->weighed[i] = w;
    atomic_store_explicit(&s->keys[i], p, memory_order_release);
    s->used++;
}

static void lock(void)
{
    while (atomic_flag_test_and_set_explicit(&sample_lock, memory_order_acquire)) {}
}
static void unlock(void) { atomic_flag_clear_explicit(&sample_lock, memory_order_release); }

int64_t sample_note(uintptr_t p, size_t size) { return sample_keep(p, sample_weigh(size)); }

/* A new trace (attached again): no block sampled before belongs to it. The
 * old table stays readable for a probe already in it (arena memory). */
void sample_forget(void)
{
    lock();
    atomic_store_explicit(&sample_set_current, NULL, memory_order_release);
    unlock();
}

int64_t sample_keep(uintptr_t p, int64_t w)
{
    lock();
    struct sample_set *s = atomic_load_explicit(&sample_set_current, memory_order_relaxed);
    if (!s || (s->used + s->gone + 1) * 2 > ((size_t)1 << s->bits)) {
        /* Grown (or rebuilt without tombstones) into a new table. */
        unsigned bits = s ? s->bits : SET_FIRST_BITS;
        while (s && (s->used + 1) * 4 > ((size_t)1 << bits)) bits++;
        struct sample_set *n = set_new(bits);
        if (!n) {
            unlock();
            return 0; /* out of memory: its free will not be recorded, a block left live */
        }
        for (size_t i = 0; s && i < ((size_t)1 << s->bits); i++) {
            uintptr_t k = atomic_load_explicit(&s->keys[i], memory_order_relaxed);
            if (k > SET_GONE) set_put(n, k, s->weighed[i]);
        }
        atomic_store_explicit(&sample_set_current, n, memory_order_release);
        s = n;
    }
    set_put(s, p, w);
    unlock();
    return w;
}

bool sample_take_slow(uintptr_t p, int64_t *weighed)
{
    bool found = false;
    lock();
    struct sample_set *s = atomic_load_explicit(&sample_set_current, memory_order_relaxed);
    size_t mask = s ? ((size_t)1 << s->bits) - 1 : 0;
    for (size_t i = s ? set_slot(s, p) : 0; s;) {
        uintptr_t k = atomic_load_explicit(&s->keys[i], memory_order_relaxed);
        if (k == SET_EMPTY) break;
        if (k == p) {
            *weighed = s->weighed[i];
            atomic_store_explicit(&s->keys[i], SET_GONE, memory_order_relaxed);
            s->used--;
            s->gone++;
            found = true;
            break;
        }
        i = (i + 1) & mask;
    }
    unlock();
    return found;
}

int64_t sample_weigh(size_t size)
{
    double rate = (double)shim_config.sample_rate;
    double p = -expm1(-(double)(size ? size : 1) / rate);
    return (int64_t)llround((double)size / p);
}

/* xorshift64*: a thread's own generator, seeded once. */
static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545f4914f6cdd1dull;
}

static int64_t gap(struct shim_thread *t)
{
    /* u in (0, 1]: 53 random bits, never 0 (log would be infinite). */
    double u = ((double)(rng_next(&t->sample_rng) >> 11) + 1.0) / 9007199254740992.0;
    double g = -log(u) * (double)shim_config.sample_rate;
    return g < 1.0 ? 1 : g > 9e18 ? INT64_MAX : (int64_t)g;
}

/* The countdown reached zero: t->sample_left <= 0 after this allocation. */
bool sample_draw(struct shim_thread *t)
{
    if (t->sample_rng == 0) {
        /* The thread's first allocation: its first gap is not drawn yet.
         * A seed (tests) makes runs repeat; each thread gets its own. */
        static _Atomic uint64_t threads_seeded;
        uint64_t nth = atomic_fetch_add_explicit(&threads_seeded, 1, memory_order_relaxed) + 1;
        uint64_t seed = shim_config.sample_seed ? shim_config.sample_seed : trace_ticks_now() ^ (uintptr_t)t;
        /* splitmix64 of (seed, thread): nearby seeds give unrelated streams */
        uint64_t z = seed + nth * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        t->sample_rng = (z ^ (z >> 31)) | 1;
        t->sample_left += gap(t);
        if (t->sample_left > 0) return false;
    }
    t->sample_left = gap(t);
    return true;
}
