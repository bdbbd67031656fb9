/* controls.c - LeakSanitizer's in-program controls through heapsnap.h.
 * Known figures, all would be definitely lost without the controls:
 *   ignore:   40 B from ignored(), heapsnap_ignore()'d           -> suppressed
 *   disable:  50 B from under_disable() (nested disable, one enable) and the
 *             60 B block it points to                            -> suppressed / reachable
 *   after:    70 B from after_enable(), back to normal           -> definitely lost
 *   root:     80 B from rooted(), its pointer only in read-only memory
 *             registered as a root                               -> still reachable
 * So: definitely lost 70 B in 1 block; still reachable 140 B in 2 blocks (60
 * and 80); suppressed 90 B in 2 blocks (40 and 50). Without heapsnap the same
 * calls do nothing. */
#include <stdlib.h>
#include <sys/mman.h>

#include "heapsnap.h"

void *volatile sink;

__attribute__((noipa)) static void drop(void *p) { sink = p, sink = NULL; }

__attribute__((noinline)) static void ignored(void)
{
    void *p = malloc(40);
    heapsnap_ignore(p);
    drop(p);
}

__attribute__((noinline)) static void under_disable(void)
{
    heapsnap_disable();
    heapsnap_disable();
    void **p = malloc(50);
    heapsnap_enable();
    heapsnap_enable();
    p[0] = malloc(60); /* allocated after: reachable from the ignored block */
    drop(p);
}

__attribute__((noinline)) static void after_enable(void) { drop(malloc(70)); }

__attribute__((noinline)) static void rooted(void)
{
    void **page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[3] = malloc(80);
    mprotect(page, 4096, PROT_READ); /* read-only: not a root by itself */
    heapsnap_register_root(page, 4096);
}

int main(void)
{
    ignored();
    under_disable();
    after_enable();
    rooted();
    return 0;
}
