/* bigheap.c - a large live heap, for leak checks at scale (tests) and their
 * timing (bench/leakcheck): MIB mebibytes in blocks of BLOCK bytes (1024),
 * each block's first word pointing to the next. Half hang from a global list
 * (still reachable), half form chains of 2048 whose heads are dropped (one
 * definitely lost block each, the rest indirectly lost). Known figures for
 * 64 MiB: definitely lost 16384 B in 16 blocks, indirectly lost 33538048 B in
 * 32752 blocks, still reachable 33554432 B in 32768 blocks.
 * Usage: bigheap MIB [BLOCK] */
#include <stdlib.h>
#include <string.h>

void *kept_head;

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    size_t block = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
    size_t n = mib * 1024 * 1024 / block;
    void *lost_head = NULL;
    for (size_t i = 0; i < n; i++) {
        void **b = malloc(block);
        memset(b, 0x11, block); /* words that point nowhere, like real data */
        if (i % 2) {
            b[0] = kept_head;
            kept_head = b;
        } else {
            b[0] = i % 4096 ? lost_head : NULL; /* a new lost chain every 2048 blocks */
            lost_head = b;
        }
    }
    lost_head = NULL;
    return 0;
}
