/* realloc_chain.c - a realloc chain that is freed, and one that leaks.
 * Known figures: malloc(16) grown by realloc to 32, 64, 128, 256 and freed;
 * realloc(NULL, 10) grown to 20 and leaked from leaky_chain(); realloc(p, 0)
 * frees a 5 B block. Calls: 1 malloc + 4 realloc + 2 realloc + 1 malloc = 8
 * allocation calls, 5 of them reallocs of an existing block (realloc(NULL, n)
 * is an allocation), 2 frees (free + realloc(p, 0)).
 * Leaked: 20 B in 1 block. Peak: 256 B. */
#include <stdlib.h>

void *volatile sink;

__attribute__((noinline)) static void chain(void)
{
    char *p = malloc(16);
    for (size_t n = 32; n <= 256; n *= 2) p = realloc(p, n);
    free(p);
}

__attribute__((noinline)) void *leaky_chain(void)
{
    char *q = realloc(NULL, 10);
    return realloc(q, 20);
}

int main(void)
{
    chain();
    sink = leaky_chain();
    sink = NULL;
    void *z = malloc(5);
    z = realloc(z, 0); /* glibc frees and returns NULL */
    return z != NULL;
}
