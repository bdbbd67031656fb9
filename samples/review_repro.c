/* review_repro.c - two programs whose behaviour heapsnap run must not change
 * and whose leaks it must judge as memcheck does.
 *
 * review_repro MODE, MODE one of:
 *   shared_fork    the parent keeps the only pointer to a 100-byte block in a
 *                  1 MiB MAP_SHARED|MAP_ANONYMOUS region, forks; the child
 *                  never touches the region and _exits 0; the parent waits,
 *                  frees the block and exits 0. The region is the child's as
 *                  much as the parent's: memcheck calls the child's copy of
 *                  the block still reachable, and nothing is lost anywhere.
 *   exit_in_signal a second thread sleeps; stdout has a 4096-byte buffer
 *                  ("x" written to a pipe or file); malloc_stats() holds the
 *                  arena lock while it writes to stderr, here a cookie stream
 *                  whose write raises SIGUSR1, whose handler calls _exit(0)
 *                  (async-signal-safe): a signal that lands while malloc
 *                  holds its lock. The program exits 0 at once.
 *   unmatched      two 32-byte blocks allocated with __libc_malloc (which
 *                  the shim does not see, as blocks allocated before tracing)
 *                  are freed; then leak64() drops its only pointer to a
 *                  64-byte block, and main returns 0: definitely lost 64 B
 *                  in 1 block (memcheck agrees).
 *   unmatched1     the same, but the second block is freed with __libc_free
 *                  (unseen too): one unmatched free, same figures. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int shared_fork(void)
{
    void **shared = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return 1;
    shared[1000] = malloc(100);
    pid_t c = fork();
    if (c == 0) _exit(0);
    int st;
    waitpid(c, &st, 0);
    free(shared[1000]);
    return 0;
}

static void on_usr1(int sig)
{
    (void)sig;
    _exit(0);
}

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
    (void)c;
    (void)buf;
    raise(SIGUSR1);
    return (ssize_t)n;
}

static void *sleeper(void *a)
{
    (void)a;
    pause();
    return NULL;
}

static int exit_in_signal(void)
{
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    fputs("x", stdout);
    signal(SIGUSR1, on_usr1);
    FILE *f = fopencookie(NULL, "w", (cookie_io_functions_t){.write = cookie_write});
    if (!f) return 1;
    setvbuf(f, NULL, _IONBF, 0);
    stderr = f;
    malloc_stats();
    return 2;
}

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
void *volatile sink;

__attribute__((noinline)) static void leak64(void)
{
    sink = malloc(64);
    sink = NULL;
}

static int unmatched(int n)
{
    void *a = __libc_malloc(32), *b = __libc_malloc(32);
    free(a);
    if (n > 1) free(b);
    else __libc_free(b);
    leak64();
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "shared_fork") == 0) return shared_fork();
    if (strcmp(mode, "exit_in_signal") == 0) return exit_in_signal();
    if (strcmp(mode, "unmatched") == 0) return unmatched(2);
    if (strcmp(mode, "unmatched1") == 0) return unmatched(1);
    return 64;
}
