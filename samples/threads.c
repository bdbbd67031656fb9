/* threads.c - 4 producer threads allocate blocks that 4 consumer threads free,
 * so addresses freed on one thread are reused on another all the time.
 * Known figures: 4 x 20000 allocations of 48 B from produce(), every one freed;
 * one 1000 B block per producer leaked from producer_leak(): 4000 B, 4 blocks. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

void *volatile sink;

#define PER_PRODUCER 20000
#define THREADS 4
#define QUEUE 1024

static void *_Atomic queue[QUEUE];

__attribute__((noinline)) static void *produce(void) { return malloc(48); }
__attribute__((noinline)) static void *producer_leak(void) { return malloc(1000); }

static void *producer(void *arg)
{
    unsigned slot = (unsigned)(size_t)arg;
    sink = producer_leak();
    for (int i = 0; i < PER_PRODUCER; i++) {
        void *p = produce();
        for (;;) { /* hand it to any consumer through a free queue slot */
            void *expected = NULL;
            if (atomic_compare_exchange_weak(&queue[slot % QUEUE], &expected, p)) break;
            slot++;
        }
        slot += 7;
    }
    return NULL;
}

static _Atomic int consumed;

static void *consumer(void *arg)
{
    unsigned slot = (unsigned)(size_t)arg;
    while (atomic_load(&consumed) < THREADS * PER_PRODUCER) {
        void *p = atomic_exchange(&queue[slot++ % QUEUE], NULL);
        if (p) {
            free(p);
            atomic_fetch_add(&consumed, 1);
        }
    }
    return NULL;
}

int main(void)
{
    pthread_t t[2 * THREADS];
    for (size_t i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, consumer, (void *)(i * 97));
    for (size_t i = 0; i < THREADS; i++) pthread_create(&t[THREADS + i], NULL, producer, (void *)(i * 131));
    for (int i = 0; i < 2 * THREADS; i++) pthread_join(t[i], NULL);
    return 0;
}
