/* malloc_pointer.c - takes malloc's address and calls through it. Built
 * without PIE, the address the loader gives for "malloc" is then a stub in
 * the executable, which still leads to the first library's malloc: heapsnap's
 * when it is preloaded. Known figures: 1 block of 100 B, freed; prints "ok". */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) void *call(void *(*fn)(size_t), size_t n) { return fn(n); }

int main(void)
{
    void *p = call(malloc, 100);
    puts(p ? "ok" : "no");
    free(p);
    return 0;
}
