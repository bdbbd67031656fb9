/* loader_lock.c - an allocation made while the loader's lock is held, racing
 * a thread whose allocation needs that lock, in a fixed order.
 *
 * main enters dl_iterate_phdr (which holds the loader's list lock for the
 * whole walk). Inside the callback it releases a fresh thread and waits until
 * that thread is blocked in its first malloc: under heapsnap, that thread's
 * first stack capture finds its unwind cache empty and asks the loader for
 * unwind info, so it waits for the lock main holds. Then main allocates too,
 * from a call site never unwound before. Whatever the helper thread holds
 * while it waits, main's allocation must not need it.
 *
 * Known figures: 100 B leaked from helper_alloc() (the helper thread), 200 B
 * from locked_alloc() (inside the callback); exit status 0, stdout "ok". */
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { HELPER_WAITING, HELPER_ALLOCATING, HELPER_DONE };

static atomic_int helper_state;
static atomic_int helper_tid;
static atomic_bool helper_go;
void *volatile sink;

__attribute__((noinline)) static void *helper_alloc(void) { return malloc(100); }
__attribute__((noinline)) static void *locked_alloc(void) { return malloc(200); }

static void *helper(void *arg)
{
    (void)arg;
    atomic_store(&helper_tid, gettid());
    while (!atomic_load(&helper_go)) sched_yield(); /* no malloc before the one that matters */
    atomic_store(&helper_state, HELPER_ALLOCATING);
    sink = helper_alloc();
    atomic_store(&helper_state, HELPER_DONE);
    return NULL;
}

/* The helper's scheduler state from /proc, read without allocating: 'S' is
 * asleep, i.e. waiting for a lock inside its malloc. */
static char helper_sched_state(void)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", atomic_load(&helper_tid));
    int fd = open(path, O_RDONLY);
    if (fd < 0) return '?';
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return '?';
    buf[n] = 0;
    char *end_of_name = strrchr(buf, ')');
    return end_of_name && end_of_name[1] == ' ' ? end_of_name[2] : '?';
}

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000};
    nanosleep(&ts, NULL);
}

/* Returns once the helper has finished its malloc, or has been asleep inside
 * it for 50 ms in a row (blocked, not just scheduled out), or after 5 s. */
static void wait_for_helper_blocked(void)
{
    int asleep_ms = 0;
    for (int waited_ms = 0; waited_ms < 5000 && asleep_ms < 50; waited_ms++) {
        if (atomic_load(&helper_state) == HELPER_DONE) return;
        bool asleep = atomic_load(&helper_state) == HELPER_ALLOCATING && helper_sched_state() == 'S';
        asleep_ms = asleep ? asleep_ms + 1 : 0;
        pause_ms(1);
    }
}

static int with_loader_lock(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)info;
    (void)size;
    (void)data;
    atomic_store(&helper_go, true);
    wait_for_helper_blocked();
    void *p = locked_alloc();
    sink = p;
    return 1; /* one callback is enough */
}

int main(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, helper, NULL) != 0) return 1;
    while (atomic_load(&helper_tid) == 0) sched_yield();
    dl_iterate_phdr(with_loader_lock, NULL);
    pthread_join(t, NULL);
    sink = NULL;
    puts("ok");
    return 0;
}
