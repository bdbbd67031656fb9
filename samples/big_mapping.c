/* big_mapping.c - a large address space with little in it, for the leak
 * check's page skipping. Maps 2 GiB anonymous (MAP_NORESERVE) and never
 * touches it; mallocs one 4 MiB block (malloc's own mmap), writes only its
 * first page and keeps it in a global (still reachable, 4 MiB); leaks 64 B in
 * one block from leak_64(). Known figures at the end: definitely lost 64 B in
 * 1 block from leak_64() <- main(); still reachable 4194304 B in 1 block.
 *
 * A leak check that read every page would read 2 GiB of zeros: the kernel
 * would map its zero page at each of the 524288 pages, one minor fault each
 * (counted to the reader), while the reader's RSS stays the same (it reads
 * through one buffer). The mapping is MADV_NOHUGEPAGE so that this holds
 * with transparent huge pages "always" too (a huge zero page would take one
 * fault per 2 MiB). No stdio: nothing else is live. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BIG_MAPPING (2ull << 30)
#define BIG_BLOCK (4u << 20)

void *volatile sink;
char *volatile mapping;
char *volatile big_block;

__attribute__((noinline)) void *leak_64(void) { return malloc(64); }

int main(void)
{
    void *m = mmap(NULL, BIG_MAPPING, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return 1;
    madvise(m, BIG_MAPPING, MADV_NOHUGEPAGE);
    mapping = m;
    big_block = malloc(BIG_BLOCK);
    if (!big_block) return 1;
    memset(big_block, 1, 4096);
    sink = leak_64();
    sink = NULL;
    return 0;
}
