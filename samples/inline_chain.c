/* inline_chain.c - allocations made inside functions inlined into their callers
 * (built -O2 -g; always_inline makes the inlining certain whatever the
 * optimiser decides, noinline keeps outer() and nested() real functions).
 * Known figures: 2 allocation calls, 0 frees, 160 B in 2 blocks leaked (peak
 * the same). The stacks, innermost first:
 *   64 B, 1 block: make (line 16, inlined) <- outer (line 23) <- main (line 33)
 *   96 B, 1 block: make (line 16, inlined) <- fill (line 27, inlined)
 *                  <- nested (line 29) <- main (line 35) */
#include <stdlib.h>
#include <string.h>

void *volatile sink;

static inline __attribute__((always_inline)) char *make(size_t n)
{
    char *p = malloc(n);
    if (p) memset(p, 'x', n);
    return p;
}

__attribute__((noinline)) void outer(void)
{
    char *p = make(64);
    sink = p;
}

static inline __attribute__((always_inline)) void fill(void) { sink = make(96); }

__attribute__((noinline)) void nested(void) { fill(); }

int main(void)
{
    outer();
    sink = NULL; /* the only pointer is gone: a real leak */
    nested();
    sink = NULL;
    return 0;
}
