/* arena.c - heapsnap's own memory inside the traced process: stack table
 * nodes, module entries. Bump allocation from mmap'd blocks; nothing is ever
 * freed, because what lives here (distinct stacks, modules) is kept until exit.
 * Never the intercepted allocator: that would trace ourselves, and may not be
 * ready yet. */
#include "shim.h"

#include <sys/mman.h>

#define ARENA_BLOCK (1u << 20)

static _Atomic(uintptr_t) arena_cur, arena_end;
static atomic_flag arena_lock = ATOMIC_FLAG_INIT;

static void *arena_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *arena_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size > ARENA_BLOCK / 4) return arena_map(size);
    for (;;) {
        uintptr_t cur = atomic_load_explicit(&arena_cur, memory_order_acquire);
        uintptr_t end = atomic_load_explicit(&arena_end, memory_order_acquire);
        if (cur && cur + size <= end) {
            if (atomic_compare_exchange_weak(&arena_cur, &cur, cur + size)) return (void *)cur;
            continue;
        }
        /* Slow path, once per MiB: whoever holds the flag maps the next block. */
        if (atomic_flag_test_and_set_explicit(&arena_lock, memory_order_acquire)) continue;
        if (atomic_load(&arena_cur) == cur) {
            void *block = arena_map(ARENA_BLOCK);
            if (!block) {
                atomic_flag_clear_explicit(&arena_lock, memory_order_release);
                return NULL;
            }
            atomic_store(&arena_end, 0); /* no one bumps into a block half published */
            atomic_store(&arena_cur, (uintptr_t)block);
            atomic_store(&arena_end, (uintptr_t)block + ARENA_BLOCK);
        }
        atomic_flag_clear_explicit(&arena_lock, memory_order_release);
    }
}

/* A fork child has only the thread that forked: a lock another thread held
 * at that moment would stay held forever. Our locks guard short, simple
 * steps whose half-done state the next holder copes with. */
void arena_after_fork(void) { atomic_flag_clear(&arena_lock); }
