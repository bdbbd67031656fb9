/* usable_sizes.c - heapsnap_traced_memory() counts each live block's usable
 * bytes (malloc_usable_size's figure: a free does not say the size asked for).
 * This program allocates blocks of every size from 0 to 1100 bytes, blocks
 * glibc maps on their own (256 KiB, 1 MiB calloc), aligned ones (memalign 64,
 * aligned_alloc 4096, posix_memalign 256, valloc), then grows some with
 * realloc (in place and moved), frees half, then the rest; after each step
 * the figure must have moved by exactly the usable bytes malloc_usable_size
 * gives for those blocks. Prints "ok" or the first step that differs; without
 * heapsnap, "untraced". Exit status 0 either way, 1 if a step differs. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "heapsnap.h"

#define SMALL 1101
#define N (SMALL + 7)

static void *block[N];

static size_t usable_total(void)
{
    size_t sum = 0;
    for (int i = 0; i < N; i++)
        if (block[i]) sum += malloc_usable_size(block[i]);
    return sum;
}

static size_t traced(void)
{
    size_t current, peak;
    heapsnap_traced_memory(&current, &peak);
    return current;
}

static int check(const char *step, size_t base)
{
    /* Both read before printing: stdio's buffer is a block too. */
    size_t got = traced() - base, want = usable_total();
    if (got == want) return 0;
    printf("%s: traced %zu bytes more than at the start, usable bytes %zu\n", step, got, want);
    return 1;
}

int main(void)
{
    if (!heapsnap_active()) {
        puts("untraced");
        return 0;
    }
    size_t base = traced();
    for (int i = 0; i < SMALL; i++)
        block[i] = malloc((size_t)i);
    block[SMALL] = malloc(256 * 1024);
    block[SMALL + 1] = calloc(1, 1024 * 1024);
    block[SMALL + 2] = memalign(64, 100);
    block[SMALL + 3] = aligned_alloc(4096, 8192);
    if (posix_memalign(&block[SMALL + 4], 256, 1000) != 0) block[SMALL + 4] = NULL;
    block[SMALL + 5] = valloc(300);
    block[SMALL + 6] = malloc(200 * 1024);
    if (check("allocated", base)) return 1;
    for (int i = 0; i < N; i += 7)
        block[i] = realloc(block[i], (size_t)i * 3 + 40);
    block[SMALL + 6] = realloc(block[SMALL + 6], 600 * 1024);
    if (check("reallocated", base)) return 1;
    for (int i = 0; i < N; i += 2) {
        free(block[i]);
        block[i] = NULL;
    }
    if (check("half freed", base)) return 1;
    for (int i = 0; i < N; i++) {
        free(block[i]);
        block[i] = NULL;
    }
    if (check("all freed", base)) return 1;
    puts("ok");
    return 0;
}
