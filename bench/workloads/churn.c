/* churn.c - an allocation-dense workload: each thread keeps a window of live
 * blocks and replaces one per step, allocating from a few call sites at a
 * realistic depth (12 frames; DEPTH more below the worker, default 8, for
 * bench/run's stack-depth sweep). Usage: churn THREADS STEPS [DEPTH] */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define WINDOW 4096

struct state {
    void *slots[WINDOW];
    uint64_t rng;
    long steps;
    int depth;
};

static uint64_t next(struct state *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

__attribute__((noinline)) static void step(struct state *s, int depth)
{
    if (depth > 0) {
        step(s, depth - 1);
        __asm__ volatile("" ::: "memory"); /* not a tail call: each level keeps its frame */
        return;
    }
    uint64_t r = next(s);
    size_t i = r % WINDOW;
    free(s->slots[i]);
    s->slots[i] = malloc(16 + (r >> 32) % 240);
}

static void *worker(void *arg)
{
    struct state *s = arg;
    for (long k = 0; k < s->steps; k++) step(s, s->depth + (int)(k & 3));
    for (int i = 0; i < WINDOW; i++) free(s->slots[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    long steps = argc > 2 ? atol(argv[2]) : 1000000;
    int depth = argc > 3 ? atoi(argv[3]) : 8;
    pthread_t t[64];
    struct state *st = calloc((size_t)threads, sizeof *st);
    for (int i = 0; i < threads && i < 64; i++) {
        st[i].rng = 88172645463325252ull + (uint64_t)i;
        st[i].steps = steps;
        st[i].depth = depth;
        pthread_create(&t[i], NULL, worker, &st[i]);
    }
    for (int i = 0; i < threads && i < 64; i++) pthread_join(t[i], NULL);
    free(st);
    return 0;
}
