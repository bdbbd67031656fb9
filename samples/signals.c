/* signals.c - two snapshot signals with known heaps between them, for
 * markers named by order (TRACE@signal#2). Run it with
 * `heapsnap run --snapshot-signal USR2`; without that, SIGUSR2 would end it.
 *   1000 B kept, SIGUSR2 (signal#1: 1000 B live), 2000 B kept, SIGUSR2
 *   (signal#2: 3000 B live), 4000 B kept. At exit: 7000 B in 3 blocks. */
#include <signal.h>
#include <stdlib.h>

void *kept[3];

int main(void)
{
    kept[0] = malloc(1000);
    raise(SIGUSR2);
    kept[1] = malloc(2000);
    raise(SIGUSR2);
    kept[2] = malloc(4000);
    return 0;
}
