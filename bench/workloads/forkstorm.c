/* forkstorm.c - forks from a busy multi-threaded process: THREADS threads
 * allocate and free without pause while the main thread forks FORKS children
 * that _exit(0) at once, one after another. Prints, on stderr, one line per
 * fork with how long the parent waited for its child ("wait MS"): under
 * heapsnap that is the child's supervision and the check at its end, so it
 * must not grow from one fork to the next. Usage: forkstorm THREADS FORKS */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;
void *volatile sink;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *churn(void *arg)
{
    (void)arg;
    void *keep[64] = {0};
    for (unsigned i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
        unsigned k = i % 64;
        free(keep[k]);
        keep[k] = malloc(32 + k * 8);
        sink = keep[k];
    }
    for (int k = 0; k < 64; k++) free(keep[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 8, forks = argc > 2 ? atoi(argv[2]) : 50;
    pthread_t t[64];
    if (threads > 64) threads = 64;
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, churn, NULL);
    for (int i = 0; i < forks; i++) {
        pid_t p = fork();
        if (p == 0) _exit(0);
        double t0 = now_ms();
        int st;
        waitpid(p, &st, 0);
        fprintf(stderr, "wait %.1f\n", now_ms() - t0);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    return 0;
}
