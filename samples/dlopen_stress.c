/* dlopen_stress.c - threads that allocate while other threads are inside the
 * loader: usage `dlopen_stress PLUGIN ROUNDS` (PLUGIN is libhsplugin.so).
 *
 * A loader thread loops on dlopen, plugin_leak() (freed), dlclose until the
 * end. Each round starts fresh threads (empty per-thread unwind caches): two
 * allocators, each making PER_THREAD malloc/free pairs through call paths
 * never used before (so every allocation is a new stack), and one walker
 * that loops on dl_iterate_phdr with a callback that allocates, also through
 * new paths, while it holds the loader's lock. All of that is freed; the one
 * leak is the first plugin_leak() block: 256 B from plugin_leak() in
 * libhsplugin.so (and the loader's own bookkeeping). The exit status is 0 and
 * stdout says "done ROUNDS". */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define PER_THREAD 200
#define STEPS 256 /* distinct functions: more return addresses than libunwind caches */
#define DEPTH 4

void *volatile sink;
static volatile unsigned long frames_left; /* touched after each call: no tail calls */
static atomic_bool stop;
static atomic_uint next_path;

typedef void step_fn(unsigned path, unsigned depth);
static step_fn *const steps[STEPS];

/* The call path spells `path` in base STEPS: a new path is a new stack. */
__attribute__((noinline)) static void path_next(unsigned path, unsigned depth)
{
    if (depth == 0) {
        void *volatile p = malloc(16 + (path & 63)); /* volatile: GCC may drop a malloc/free pair */
        free(p);
        return;
    }
    steps[path % STEPS](path / STEPS, depth - 1);
    frames_left++;
}

#define STEP(n)                                                                                                        \
    __attribute__((noinline)) static void step_##n(unsigned path, unsigned depth)                                      \
    {                                                                                                                  \
        path_next(path, depth);                                                                                        \
        frames_left++;                                                                                                 \
    }
#define STEP16(h)                                                                                                      \
    STEP(h##0) STEP(h##1) STEP(h##2) STEP(h##3) STEP(h##4) STEP(h##5) STEP(h##6) STEP(h##7) STEP(h##8) STEP(h##9)      \
        STEP(h##a) STEP(h##b) STEP(h##c) STEP(h##d) STEP(h##e) STEP(h##f)
STEP16(0) STEP16(1) STEP16(2) STEP16(3) STEP16(4) STEP16(5) STEP16(6) STEP16(7)
STEP16(8) STEP16(9) STEP16(a) STEP16(b) STEP16(c) STEP16(d) STEP16(e) STEP16(f)

#define REF16(h)                                                                                                       \
    step_##h##0, step_##h##1, step_##h##2, step_##h##3, step_##h##4, step_##h##5, step_##h##6, step_##h##7,            \
        step_##h##8, step_##h##9, step_##h##a, step_##h##b, step_##h##c, step_##h##d, step_##h##e, step_##h##f
static step_fn *const steps[STEPS] = {REF16(0), REF16(1), REF16(2), REF16(3), REF16(4), REF16(5), REF16(6), REF16(7),
                                      REF16(8), REF16(9), REF16(a), REF16(b), REF16(c), REF16(d), REF16(e), REF16(f)};

static void allocate_new_stacks(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned path = atomic_fetch_add(&next_path, 7919); /* a prime: every level moves */
        path_next(path, DEPTH);
    }
}

static void *allocator(void *arg)
{
    (void)arg;
    allocate_new_stacks(PER_THREAD);
    return NULL;
}

static int walk_one(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)info;
    (void)size;
    (void)data;
    allocate_new_stacks(1); /* with the loader's lock held */
    return 0;
}

static void *walker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) dl_iterate_phdr(walk_one, NULL);
    return NULL;
}

static void *loader(void *arg)
{
    const char *plugin = arg;
    bool first = true;
    while (!atomic_load(&stop)) {
        void *h = dlopen(plugin, RTLD_NOW);
        if (!h) {
            fprintf(stderr, "%s\n", dlerror());
            exit(1);
        }
        void *(*leak)(void) = (void *(*)(void))dlsym(h, "plugin_leak");
        if (leak) {
            void *p = leak();
            if (first) sink = p; /* stays: its module must still be known after dlclose */
            else free(p);
        }
        first = false;
        dlclose(h);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    int rounds = atoi(argv[2]);
    pthread_t load;
    if (pthread_create(&load, NULL, loader, argv[1]) != 0) return 1;
    for (int r = 0; r < rounds; r++) {
        pthread_t t[3];
        pthread_create(&t[0], NULL, allocator, NULL);
        pthread_create(&t[1], NULL, allocator, NULL);
        pthread_create(&t[2], NULL, walker, NULL);
        for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    }
    atomic_store(&stop, true);
    pthread_join(load, NULL);
    printf("done %d\n", rounds);
    return 0;
}
