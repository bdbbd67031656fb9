/* leak.c - one plain leak among freed temporaries.
 * Known figures: 11 allocation calls, 10 frees; 100 B in 1 block leaked from
 * plain_leak() <- main(); peak 164 B (the leak plus one 64 B temporary). */
#include <stdlib.h>

void *volatile sink;

__attribute__((noinline)) void *plain_leak(void) { return malloc(100); }

__attribute__((noinline)) void temporaries(void)
{
    for (int i = 0; i < 10; i++) {
        volatile char *p = malloc(64);
        p[0] = 1;
        free((void *)p);
    }
}

int main(void)
{
    sink = plain_leak();
    sink = NULL; /* the only pointer is gone: a real leak */
    temporaries();
    return 0;
}
