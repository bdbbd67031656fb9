/* worker.c - all allocation happens in a second thread: 400 rounds of 50
 * malloc/free pairs of 16 B, a millisecond apart (about half a second).
 * Known figures: 20,000 allocations by work(), all freed, plus one by glibc
 * (pthread_create's DTV for the thread, still live at the end); interval
 * snapshots must come from this thread, not only the one that started the
 * process. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

void *volatile sink;

static void *work(void *arg)
{
    (void)arg;
    struct timespec ms = {0, 1000 * 1000};
    for (int i = 0; i < 400; i++) {
        for (int k = 0; k < 50; k++) {
            sink = malloc(16);
            free(sink);
        }
        nanosleep(&ms, NULL);
    }
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    pthread_join(t, NULL);
    return 0;
}
