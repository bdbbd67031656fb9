/* lifecycle.c - allocations outside main: a constructor (before main), a
 * signal handler, an atexit handler and a destructor (after main).
 * Known figures: before_main() allocates 10 B that after_main() frees;
 * on_signal() allocates 30 B and at_exit() 20 B, both kept: 3 allocation
 * calls, 1 free, 50 B in 2 blocks live at the end. */
#include <signal.h>
#include <stdlib.h>

void *from_ctor, *from_signal, *from_atexit;

__attribute__((noinline)) static void on_signal(int sig)
{
    (void)sig;
    from_signal = malloc(30);
}

__attribute__((noinline)) static void at_exit(void) { from_atexit = malloc(20); }

__attribute__((constructor, noinline)) static void before_main(void) { from_ctor = malloc(10); }
__attribute__((destructor, noinline)) static void after_main(void) { free(from_ctor); }

int main(void)
{
    signal(SIGUSR1, on_signal);
    raise(SIGUSR1);
    atexit(at_exit);
    return 0;
}
