/* aborts.c - 1000 blocks of 16 B allocated by keep(), then abort().
 * Known figures: 1000 allocation calls, 16000 B in 1000 blocks live, killed by
 * SIGABRT (heapsnap run exits 134). */
#include <stdlib.h>

void *kept[1000]; /* global: the compiler may not drop the mallocs */

__attribute__((noinline)) static void keep(int i) { kept[i] = malloc(16); }

int main(void)
{
    for (int i = 0; i < 1000; i++) keep(i);
    abort();
}
