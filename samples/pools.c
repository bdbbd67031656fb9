/* pools.c - custom allocators annotated twice: for heapsnap (heapsnap.h's
 * heapsnap_pool_*) and for valgrind (memcheck's mempool client requests),
 * each annotation next to its twin. Without either tool every call does
 * nothing. Nothing here uses stdio: no other block is live at the end.
 *
 * arena: a bump allocator carving one 4096 B malloc'd chunk, reachable from
 * the global `arena` (its start is also the first object's):
 *   first:   40 B at the chunk's first byte, reached only through arena.base -> still reachable
 *   kept:    64 B, pointed to by the global `kept`                             -> still reachable
 *   lost:    32 B, no pointer to it (the chunk around it is reachable)         -> definitely lost
 *   parent:  48 B, lost, pointing to child (16 B, an object too)               -> definite 48, indirect 16
 *   freed:   24 B, heapsnap_pool_free'd                                        -> not live
 *   held:    20 B malloc'd block, pointed to only from `lost_holder` (8 B, a
 *            lost object)                                                      -> indirectly lost
 * slab: objects in an mmap'd region (a root, but not around its objects):
 *   slab_kept: 56 B pointed to by the global `slab_ref`                        -> still reachable
 *   slab_lost: 72 B, pointing to a malloc'd block of 28 B                      -> definite 72, indirect 28
 * scratch: a second bump allocator on its own 1024 B chunk, its objects (30 B
 *   and 50 B, both lost) destroyed with the pool, the chunk then freed         -> nothing live
 * malloclike: 36 B handed out from a static buffer by an allocator with no
 *   pool, pointer dropped                                                      -> definitely lost
 *   and 12 B more, given back (freelike)                                      -> not live
 *
 * heapsnap: definitely lost 32 + 48 + 8 + 72 + 36 = 196 B in 5 blocks;
 * indirectly lost 16 + 20 + 28 = 64 B in 3; still reachable 40 + 64 + 56 +
 * the arena's chunk 4096 = 4256 B in 4.
 * memcheck differs in two ways: it leaves a chunk holding pool objects out
 * of its check (no 4096 B), and it reads the slab's mapping as a root,
 * objects and all, so the 28 B block slab_lost points to is reachable there:
 * definitely lost 196 B in 5, indirectly lost 36 B in 2, still reachable
 * 40 + 64 + 56 + 28 = 188 B in 4.
 *
 * Mode "fork" (argv[1]): the arena only, then a fork child destroys the
 * arena (objects it had from its parent) and frees its chunk: the child
 * ends with the 20 B block alone, definitely lost; the parent waits for it
 * and ends as the arena part above. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

#include "heapsnap.h"

struct bump {
    char *base;
    size_t used, size;
};

struct bump arena, scratch;
void *kept;
void *slab_ref;
void *volatile sink;
static _Alignas(16) char static_buffer[256];

__attribute__((noipa)) static void bump_init(struct bump *b, size_t size)
{
    b->base = malloc(size);
    b->used = 0;
    b->size = size;
    VALGRIND_CREATE_MEMPOOL(b, 0, 0);
}

/* The allocation function: the stack of every object starts here. */
__attribute__((noipa)) static void *bump_alloc(struct bump *b, size_t n)
{
    char *p = b->base + b->used;
    b->used += (n + 15) & ~(size_t)15;
    VALGRIND_MEMPOOL_ALLOC(b, p, n);
    heapsnap_pool_alloc(b, p, n);
    memset(p, 0, n);
    return p;
}

__attribute__((noipa)) static void bump_free(struct bump *b, void *p)
{
    VALGRIND_MEMPOOL_FREE(b, p);
    heapsnap_pool_free(b, p);
}

__attribute__((noipa)) static void bump_destroy(struct bump *b)
{
    VALGRIND_DESTROY_MEMPOOL(b);
    heapsnap_pool_destroy(b);
    free(b->base);
    b->base = NULL;
}

/* A slab in mapped memory: a pool of its own, objects at fixed offsets. */
static char *slab;

__attribute__((noipa)) static void *slab_alloc(size_t offset, size_t n)
{
    char *p = slab + offset;
    VALGRIND_MEMPOOL_ALLOC(&slab, p, n);
    heapsnap_pool_alloc(&slab, p, n);
    memset(p, 0, n);
    return p;
}

/* An allocator with no pool: malloc-like blocks from a static buffer. */
__attribute__((noipa)) static void *static_alloc(size_t offset, size_t n)
{
    char *p = static_buffer + offset;
    VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, 1);
    heapsnap_pool_malloclike(p, n);
    return p;
}

__attribute__((noipa)) static void static_free(void *p)
{
    VALGRIND_FREELIKE_BLOCK(p, 0);
    heapsnap_pool_freelike(p);
}

__attribute__((noipa)) static void link_to(void *from, void *to) { *(void **)from = to; }

__attribute__((noipa)) static void drop(void *p) { sink = p, sink = NULL; }

__attribute__((noipa)) static void arena_objects(void)
{
    bump_init(&arena, 4096);
    drop(bump_alloc(&arena, 40)); /* first: at arena.base */
    kept = bump_alloc(&arena, 64);
    drop(bump_alloc(&arena, 32)); /* lost */
    void *parent = bump_alloc(&arena, 48);
    link_to(parent, bump_alloc(&arena, 16));
    drop(parent);
    void *freed = bump_alloc(&arena, 24);
    bump_free(&arena, freed);
    void *holder = bump_alloc(&arena, 8);
    link_to(holder, malloc(20));
    drop(holder);
}

__attribute__((noipa)) static void slab_objects(void)
{
    slab = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    VALGRIND_CREATE_MEMPOOL(&slab, 0, 0);
    slab_ref = slab_alloc(0, 56);
    void *lost = slab_alloc(64, 72);
    link_to(lost, malloc(28));
    drop(lost);
}

__attribute__((noipa)) static void scratch_objects(void)
{
    bump_init(&scratch, 1024);
    drop(bump_alloc(&scratch, 30));
    drop(bump_alloc(&scratch, 50));
    bump_destroy(&scratch);
}

int main(int argc, char **argv)
{
    arena_objects();
    if (argc > 1 && strcmp(argv[1], "fork") == 0) {
        pid_t child = fork();
        if (child == 0) {
            bump_destroy(&arena);
            _exit(0);
        }
        int status;
        waitpid(child, &status, 0);
        return 0;
    }
    slab_objects();
    scratch_objects();
    drop(static_alloc(0, 36));
    static_free(static_alloc(64, 12));
    return 0;
}
