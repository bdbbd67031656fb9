/* prodcons.c - blocks allocated on one thread and freed on another, as a
 * pipeline passes messages: the producer allocates a message (16-512 B) and
 * hands it over through a bounded ring, the consumer reads and frees it. With
 * THREADS 1 the same messages are made and freed on one thread, batch by
 * batch: the one-thread twin of the same calls. The two threads publish
 * their positions every BATCH messages, not at each: ring counters written
 * per message would cost more than the malloc each message carries.
 * Usage: prodcons THREADS MESSAGES */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RING 1024
#define BATCH 64

static void *ring[RING];
static _Atomic long head, tail; /* produced, consumed */
static long total;
static volatile uint64_t checksum;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    return x ^ (x >> 33);
}

__attribute__((noinline)) static void *make_message(long i)
{
    size_t size = 16 + mix((uint64_t)i) % 497;
    char *m = malloc(size);
    memset(m, (int)i, size < 32 ? size : 32);
    m[0] = (char)size;
    return m;
}

__attribute__((noinline)) static void take_message(void *m)
{
    checksum += (unsigned char)((char *)m)[0];
    free(m);
}

static void *producer(void *arg)
{
    (void)arg;
    for (long i = 0; i < total; i++) {
        while (i - atomic_load_explicit(&tail, memory_order_acquire) >= RING)
            sched_yield(); /* as a real queue would wait */
        ring[i % RING] = make_message(i);
        if ((i + 1) % BATCH == 0 || i + 1 == total) atomic_store_explicit(&head, i + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (long i = 0; i < total; i++) {
        while (atomic_load_explicit(&head, memory_order_acquire) <= i)
            sched_yield();
        take_message(ring[i % RING]);
        if ((i + 1) % BATCH == 0 || i + 1 == total) atomic_store_explicit(&tail, i + 1, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    total = argc > 2 ? atol(argv[2]) : 1000000;
    if (threads == 1) {
        for (long i = 0; i < total; i += RING) {
            long n = total - i < RING ? total - i : RING;
            for (long k = 0; k < n; k++)
                ring[k] = make_message(i + k);
            for (long k = 0; k < n; k++)
                take_message(ring[k]);
        }
        return 0;
    }
    pthread_t p, c;
    pthread_create(&c, NULL, consumer, NULL);
    pthread_create(&p, NULL, producer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    return 0;
}
