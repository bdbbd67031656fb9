/* server_loop.c - a long-running process to attach to: a line server on
 * 127.0.0.1, two threads allocating and freeing all the time, and a timer.
 *
 * Prints "port N" when it listens. Each request is one line, one answer:
 *   alloc N SIZE  N blocks of SIZE bytes from keep_blocks(), kept (reachable)
 *   leak N SIZE   N blocks of SIZE bytes from drop_blocks(), pointers dropped
 *                 (definitely lost)
 *   free          frees the kept blocks (in free_kept()) and the 10 blocks of
 *                 1000 bytes start_blocks() made before listening
 *   stats         "ticks T churn C": timer ticks and churn rounds so far
 *   ping          "pong";  quit: exit(0)
 * The churn threads' blocks live a few microseconds (a malloc and its free);
 * the timer's handler allocates nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_KEPT 100000
static void *kept[MAX_KEPT];
static size_t nkept;
static void *start[10];
static _Atomic unsigned long ticks, churn_rounds;

static void on_tick(int sig)
{
    (void)sig;
    ticks++;
}

__attribute__((noinline)) static void start_blocks(void)
{
    for (int i = 0; i < 10; i++)
        start[i] = malloc(1000);
}

__attribute__((noinline)) static void keep_blocks(size_t n, size_t size)
{
    for (size_t i = 0; i < n && nkept < MAX_KEPT; i++)
        kept[nkept++] = malloc(size);
}

__attribute__((noinline)) static void drop_blocks(size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        volatile char *p = malloc(size);
        p[0] = 1;
    }
}

__attribute__((noinline)) static void free_kept(void)
{
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    nkept = 0;
    for (int i = 0; i < 10; i++) {
        free(start[i]);
        start[i] = NULL;
    }
}

static void *churn(void *arg)
{
    (void)arg;
    for (;;) {
        for (int i = 0; i < 100; i++) {
            volatile char *p = malloc(64 + (size_t)i);
            p[0] = (char)i;
            free((void *)p);
        }
        churn_rounds++;
        usleep(1000);
    }
    return NULL;
}

static void serve(FILE *in, FILE *out)
{
    char line[256];
    while (fgets(line, sizeof line, in)) {
        size_t n, size;
        if (sscanf(line, "alloc %zu %zu", &n, &size) == 2)
            keep_blocks(n, size), fputs("ok\n", out);
        else if (sscanf(line, "leak %zu %zu", &n, &size) == 2)
            drop_blocks(n, size), fputs("ok\n", out);
        else if (strncmp(line, "free", 4) == 0)
            free_kept(), fputs("ok\n", out);
        else if (strncmp(line, "stats", 5) == 0)
            fprintf(out, "ticks %lu churn %lu\n", ticks, churn_rounds);
        else if (strncmp(line, "ping", 4) == 0)
            fputs("pong\n", out);
        else if (strncmp(line, "quit", 4) == 0)
            exit(0);
        else
            fputs("?\n", out);
        fflush(out);
    }
}

int main(void)
{
    start_blocks();
    struct sigaction sa = {.sa_handler = on_tick, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    setitimer(ITIMER_REAL, &it, NULL);
    pthread_t t;
    for (int i = 0; i < 2; i++)
        pthread_create(&t, NULL, churn, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0) return 1;
    getsockname(s, (struct sockaddr *)&a, &len);
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        FILE *in = fdopen(c, "r"), *out = fdopen(dup(c), "w");
        serve(in, out);
        fclose(in);
        fclose(out);
    }
}
