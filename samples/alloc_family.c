/* alloc_family.c - every function of the malloc family once, all leaked.
 * Known figures: malloc 1 + calloc 2x3 + posix_memalign 100 + aligned_alloc 128
 * + memalign 50 + valloc 10 + pvalloc 20 + reallocarray 4x5 = 335 B in 8 blocks,
 * 8 allocation calls, every one from family(). */
#include <malloc.h>
#include <stdlib.h>

void *keep[8]; /* global: the compiler may not drop the mallocs */

__attribute__((noinline)) static void family(void)
{
    keep[0] = malloc(1);
    keep[1] = calloc(2, 3);
    if (posix_memalign(&keep[2], 64, 100) != 0) keep[2] = NULL;
    keep[3] = aligned_alloc(64, 128);
    keep[4] = memalign(32, 50);
    keep[5] = valloc(10);
    keep[6] = pvalloc(20);
    keep[7] = reallocarray(NULL, 4, 5);
}

int main(void)
{
    family();
    return 0;
}
