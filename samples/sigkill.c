/* sigkill.c - 500 blocks of 24 B from hold(), then SIGKILL to itself: no
 * handler runs, and every allocation must still be in the trace.
 * Known figures: 500 allocation calls, 12000 B in 500 blocks live. */
#include <signal.h>
#include <stdlib.h>

void *held[500]; /* global: the compiler may not drop the mallocs */

__attribute__((noinline)) static void hold(int i) { held[i] = malloc(24); }

int main(void)
{
    for (int i = 0; i < 500; i++) hold(i);
    raise(SIGKILL);
    return 0;
}
