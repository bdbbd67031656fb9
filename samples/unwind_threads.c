/* unwind_threads.c - threads allocating at different depths and ending in
 * different ways, for comparing stack captures (tests/test_unwind.c).
 *
 * first: one thread goes 3 levels deep (work_alloc: 40, 41, 42 B, kept) and
 *   calls pthread_exit(5); main joins it. glibc loads libgcc_s at a process's
 *   first pthread_exit, allocating: this thread does it, alone, so the
 *   workers' exits below allocate nothing and no race decides whose stack
 *   that load is in.
 * workers: four, worker k going 10 + 7k levels deep through work(),
 *   allocating at each level on the way down (work_alloc, 32 + k B, freed on
 *   the way up) and 50 times at the bottom (bottom_alloc, 64 B, freed);
 *   workers 0 and 2 return their checksum from the thread function, 1 and 3
 *   call pthread_exit with it from the bottom (their work_alloc blocks stay
 *   live). main starts worker k from k levels deep (spawn_from); worker 3
 *   first starts a fifth thread (nested: 5 levels, returns). All five are
 *   started before any is joined (a barrier): a joined thread's stack is
 *   reused by the next pthread_create, which then allocates less, so joins
 *   racing creations would make the stacks differ from run to run.
 * main joins them in order and prints each result. Exit 0. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

/* first_exit's recursion ends in pthread_exit, which GCC's check for
 * recursion without an end does not count as one. */
#pragma GCC diagnostic ignored "-Winfinite-recursion"

void *volatile keep; /* every block escapes through it: GCC drops a malloc/free pair it can see whole */

struct job {
    int k;
    pthread_t thread;
};

static NOINLINE void *work_alloc(int k)
{
    unsigned char *p = malloc(32 + (size_t)k);
    keep = p;
    p[0] = (unsigned char)k;
    return p;
}

static NOINLINE uintptr_t bottom_alloc(int level)
{
    uintptr_t sum = 0;
    for (int i = 0; i < 50; i++) {
        unsigned char *p = malloc(64);
        keep = p;
        p[0] = (unsigned char)(level + i);
        sum += p[0];
        free(p);
    }
    return sum;
}

static NOINLINE uintptr_t work(int k, int level, int depth)
{
    unsigned char *mine = work_alloc(k);
    uintptr_t sum = mine[0] + (uintptr_t)level;
    if (level < depth) {
        sum += work(k, level + 1, depth);
    } else {
        sum += bottom_alloc(level);
        if (k % 2 == 1) pthread_exit((void *)sum);
    }
    free(mine);
    return sum;
}

static pthread_barrier_t started;

static NOINLINE void first_exit(int level)
{
    work_alloc(8 + level);
    if (level < 2)
        first_exit(level + 1);
    else
        pthread_exit((void *)5);
}

static void *first(void *arg)
{
    (void)arg;
    first_exit(0);
    return NULL;
}

static void *nested(void *arg)
{
    (void)arg;
    return (void *)work(9, 0, 4);
}

static void *worker(void *arg)
{
    struct job *j = arg;
    pthread_t inner;
    void *inner_result = NULL;
    if (j->k == 3) {
        pthread_create(&inner, NULL, nested, NULL);
    }
    pthread_barrier_wait(&started);
    if (j->k == 3) pthread_join(inner, &inner_result);
    return (void *)(work(j->k, 0, 9 + 7 * j->k) + (uintptr_t)inner_result);
}

static NOINLINE void spawn_from(int level, struct job *j)
{
    if (level > 0)
        spawn_from(level - 1, j);
    else
        pthread_create(&j->thread, NULL, worker, j);
}

int main(void)
{
    pthread_t t;
    void *result;
    pthread_create(&t, NULL, first, NULL);
    pthread_join(t, &result);
    printf("first: pthread_exit, %lu\n", (unsigned long)(uintptr_t)result);
    struct job jobs[4];
    pthread_barrier_init(&started, NULL, 5);
    for (int k = 0; k < 4; k++) {
        jobs[k].k = k;
        spawn_from(k, &jobs[k]);
    }
    pthread_barrier_wait(&started);
    for (int k = 0; k < 4; k++) {
        pthread_join(jobs[k].thread, &result);
        printf("worker %d: %s, checksum %lu\n", k, k % 2 ? "pthread_exit" : "returned",
               (unsigned long)(uintptr_t)result);
    }
    return 0;
}
