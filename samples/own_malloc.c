/* own_malloc.c - a program that brings its own malloc (here a thin one over
 * glibc's): the loader binds every malloc call to the executable's, before
 * any preloaded library, so heapsnap sees none of them and must say so.
 * Known figures: 10 x 24 B kept, all invisible to heapsnap. */
#include <stddef.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);

void *malloc(size_t n) { return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }

void *volatile kept[10];

int main(void)
{
    for (int i = 0; i < 10; i++) kept[i] = malloc(24);
    return 0;
}
