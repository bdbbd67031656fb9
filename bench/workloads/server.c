/* server.c - a server's allocation pattern on THREADS workers: each request
 * reads a header into a buffer, splits it into fields (strdup), builds a
 * response with a growing buffer (realloc), keeps some sessions in a shared
 * cache (under a lock, evicting the oldest) and frees the rest, a dozen
 * frames below the worker's loop. Usage: server THREADS REQUESTS */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE 4096

static void *cache[CACHE];
static long cache_next;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static long requests;

struct request {
    char *buf;
    char *fields[8];
    int nfields;
};

__attribute__((noinline)) static void parse(struct request *r, long id)
{
    r->buf = malloc(256);
    snprintf(r->buf, 256, "GET /item/%ld HTTP/1.1 host=example user=u%ld lang=en accept=*", id, id % 977);
    r->nfields = 0;
    for (char *save = NULL, *f = strtok_r(r->buf, " ", &save); f && r->nfields < 8; f = strtok_r(NULL, " ", &save))
        r->fields[r->nfields++] = strdup(f);
}

__attribute__((noinline)) static char *respond(const struct request *r)
{
    size_t cap = 32, len = 0;
    char *out = malloc(cap);
    for (int i = 0; i < r->nfields; i++) {
        size_t n = strlen(r->fields[i]);
        while (len + n + 2 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, r->fields[i], n);
        len += n;
        out[len++] = ';';
    }
    out[len] = 0;
    return out;
}

__attribute__((noinline)) static void remember(long id, const char *response)
{
    if (id % 8) return;
    char *s = strdup(response);
    pthread_mutex_lock(&cache_lock);
    long i = cache_next++ % CACHE;
    free(cache[i]);
    cache[i] = s;
    pthread_mutex_unlock(&cache_lock);
}

__attribute__((noinline)) static void handle(long id, int depth)
{
    if (depth > 0) {
        handle(id, depth - 1);
        __asm__ volatile("" ::: "memory"); /* not a tail call: each level keeps its frame */
        return;
    }
    struct request r;
    parse(&r, id);
    char *out = respond(&r);
    remember(id, out);
    free(out);
    for (int i = 0; i < r.nfields; i++)
        free(r.fields[i]);
    free(r.buf);
}

static void *worker(void *arg)
{
    long first = (long)(intptr_t)arg;
    for (long id = first; id < first + requests; id++)
        handle(id, 6 + (int)(id & 3));
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    requests = argc > 2 ? atol(argv[2]) : 100000;
    pthread_t t[64];
    for (int i = 0; i < threads && i < 64; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)((long)i * requests));
    for (int i = 0; i < threads && i < 64; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < CACHE; i++)
        free(cache[i]);
    return 0;
}
