/* attach_hazards.c - what a process may be doing when heapsnap attaches or
 * detaches, each for about 3 s, then exit 0 (3 if it saw a fault of ours).
 * Prints "ready" once it is doing it.
 *   vector   the main thread keeps values in xmm0/xmm1 across a long loop:
 *            a held thread's vector registers must come back as they were
 *   fork     the main thread forks (and reaps) in a loop while another thread
 *            sleeps: fork holds malloc's locks across the clone, so a thread
 *            held there is no place to call dlopen
 *   signals  a 200 us timer interrupts a busy main thread: signals arrive
 *            while threads are held, and must all still arrive (a thread that
 *            never leaves the C library's code cannot be held for a call:
 *            that one heapsnap refuses) */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int vector(double until)
{
    while (seconds() < until) {
        double a, b, one_and_a_half = 1.5;
        __asm__ volatile("movsd %2, %%xmm0\n\t"
                         "movsd %2, %%xmm1\n\t"
                         "mov $20000000, %%rcx\n"
                         "1:\n\t"
                         "addsd %%xmm1, %%xmm0\n\t"
                         "subsd %%xmm1, %%xmm0\n\t"
                         "dec %%rcx\n\t"
                         "jnz 1b\n\t"
                         "movsd %%xmm0, %0\n\t"
                         "movsd %%xmm1, %1\n\t"
                         : "=m"(a), "=m"(b)
                         : "m"(one_and_a_half)
                         : "rcx", "xmm0", "xmm1");
        if (a != 1.5 || b != 1.5) {
            printf("xmm0/xmm1 changed under the program: %a %a\n", a, b);
            return 3;
        }
    }
    return 0;
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static int forks(double until)
{
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    while (seconds() < until) {
        pid_t c = fork();
        if (c == 0) _exit(0);
        if (c > 0) waitpid(c, NULL, 0);
    }
    return 0;
}

static _Atomic unsigned long ticks;
static void on_tick(int sig)
{
    (void)sig;
    ticks++;
}

static int signals(double until)
{
    struct sigaction sa = {.sa_handler = on_tick, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    static volatile char buf[1 << 16];
    while (seconds() < until)
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (char)ticks; /* the program's own code, not libc's */
    return ticks > 0 ? 0 : 3;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "vector";
    double until = seconds() + (argc > 2 ? atof(argv[2]) : 3.0);
    printf("ready\n");
    fflush(stdout);
    int rc = strcmp(mode, "fork") == 0 ? forks(until) : strcmp(mode, "signals") == 0 ? signals(until) : vector(until);
    fflush(stdout);
    return rc;
}
