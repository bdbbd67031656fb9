/* unwind_depths.c - allocations whose stack depth changes from one call to the
 * next, for comparing stack captures (tests/test_unwind.c): each consecutive
 * capture shares a different part of its stack with the one before.
 *
 * zigzag: 90 rounds; round i goes (i * 37) % 50 levels deep through
 *   climb(), entered from site_a, site_b or site_c (i % 3), and allocates at
 *   every level on the way down (down_alloc) and on the way back up (up_alloc),
 *   freeing each block before it returns: sum of (depth + 1) * 2 allocations.
 * repeat: 1000 malloc/free pairs of 32 B at one stack (repeat_alloc under 7
 *   nest frames).
 * deep: sink() from level 0 to 1200 (1201 frames; twice: from deep_a and
 *   deep_b), allocating at levels 0, 100 ... 1200 on the way down (sink_down,
 *   1000 + level B), 5 times at the bottom (bottom_one 3, bottom_two 2) and at
 *   levels 1150, 1050 ... 50 on the way up (sink_up, 2000 + level B), all
 *   freed.
 * Prints one line per phase with a checksum of values passed back up the
 * frames, so a return into the wrong place changes the output. Exit 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

void *volatile keep; /* every block escapes through it: GCC drops a malloc/free pair it can see whole */

static NOINLINE unsigned long down_alloc(int level)
{
    unsigned char *p = malloc(16 + (size_t)level);
    keep = p;
    memset(p, level, 16 + (size_t)level);
    unsigned long v = p[level];
    free(p);
    return v;
}

static NOINLINE unsigned long up_alloc(int level)
{
    unsigned char *p = malloc(8 + 2 * (size_t)level);
    keep = p;
    p[0] = (unsigned char)(level * 3);
    unsigned long v = p[0];
    free(p);
    return v;
}

static NOINLINE unsigned long climb(int level, int depth)
{
    unsigned long sum = down_alloc(level);
    if (level < depth) sum += 2 * climb(level + 1, depth);
    sum += up_alloc(level);
    return sum;
}

static NOINLINE unsigned long site_a(int depth) { return climb(0, depth) + 1; }
static NOINLINE unsigned long site_b(int depth) { return climb(0, depth) + 2; }
static NOINLINE unsigned long site_c(int depth) { return climb(0, depth) + 3; }

static NOINLINE unsigned long repeat_alloc(int n)
{
    unsigned long sum = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *p = malloc(32);
        keep = p;
        p[0] = (unsigned char)i;
        sum += p[0];
        free(p);
    }
    return sum;
}

static NOINLINE unsigned long nest(int level, int n)
{
    if (level == 0) return repeat_alloc(n);
    return nest(level - 1, n) + 1;
}

static NOINLINE unsigned long bottom_one(int k)
{
    keep = malloc(100 + (size_t)k);
    free(keep);
    return (unsigned long)k;
}

static NOINLINE unsigned long bottom_two(int k)
{
    keep = malloc(200 + (size_t)k);
    free(keep);
    return (unsigned long)k * 2;
}

static NOINLINE unsigned long sink_down(int level)
{
    keep = malloc(1000 + (size_t)level);
    free(keep);
    return (unsigned long)level;
}

static NOINLINE unsigned long sink_up(int level)
{
    keep = calloc(1, 2000 + (size_t)level);
    free(keep);
    return (unsigned long)level;
}

static NOINLINE unsigned long sink(int level, int depth)
{
    unsigned long sum = 0;
    if (level % 100 == 0) sum += sink_down(level);
    if (level < depth) {
        sum += sink(level + 1, depth);
    } else {
        for (int k = 0; k < 3; k++)
            sum += bottom_one(k);
        for (int k = 0; k < 2; k++)
            sum += bottom_two(k);
    }
    if (level % 100 == 50) sum += sink_up(level);
    return sum + 1;
}

static NOINLINE unsigned long deep_a(void) { return sink(0, 1200); }
static NOINLINE unsigned long deep_b(void) { return sink(0, 1200) * 3; }

int main(void)
{
    unsigned long sum = 0, calls = 0;
    for (int i = 0; i < 90; i++) {
        int depth = (i * 37) % 50;
        switch (i % 3) {
        case 0: sum = sum * 31 + site_a(depth); break;
        case 1: sum = sum * 31 + site_b(depth); break;
        default: sum = sum * 31 + site_c(depth); break;
        }
        calls += 2 * ((unsigned long)depth + 1);
    }
    printf("zigzag: %lu allocations, checksum %lu\n", calls, sum);
    printf("repeat: checksum %lu\n", nest(6, 1000));
    unsigned long a = deep_a();
    unsigned long b = deep_b();
    printf("deep: checksums %lu %lu\n", a, b);
    return 0;
}
