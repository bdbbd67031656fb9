/* sampling.c - known figures for sampled traces (docs/SAMPLING.md).
 *
 * Live at exit, each site's blocks never freed:
 *   small_blocks   40,000 blocks of 48 B     =  1,920,000 B
 *   medium_blocks   4,000 blocks of 1,000 B  =  4,000,000 B
 *   large_blocks       20 blocks of 200,000 B =  4,000,000 B
 * Gone by exit:
 *   churn          100,000 calls of 100 B, each freed at once (10,000,000 B allocated)
 *   resized         10,000 blocks of 64 B realloc'd to 640 B, then freed
 * Every block is written, and kept in a global array, so nothing is optimized away. */
#include <stdlib.h>
#include <string.h>

#define SMALL 40000
#define MEDIUM 4000
#define LARGE 20

static void *small[SMALL], *medium[MEDIUM], *large[LARGE];
static void *volatile sink;

__attribute__((noinline)) static void small_blocks(void)
{
    for (int i = 0; i < SMALL; i++) memset(small[i] = malloc(48), 1, 48);
}

__attribute__((noinline)) static void medium_blocks(void)
{
    for (int i = 0; i < MEDIUM; i++) memset(medium[i] = malloc(1000), 2, 1000);
}

__attribute__((noinline)) static void large_blocks(void)
{
    for (int i = 0; i < LARGE; i++) memset(large[i] = malloc(200000), 3, 200000);
}

__attribute__((noinline)) static void churn(void)
{
    for (int i = 0; i < 100000; i++) {
        sink = malloc(100);
        memset(sink, 4, 100);
        free(sink);
    }
}

__attribute__((noinline)) static void resized(void)
{
    for (int i = 0; i < 10000; i++) {
        void *p = malloc(64);
        memset(p, 5, 64);
        p = realloc(p, 640);
        sink = p;
        free(p);
    }
}

int main(void)
{
    small_blocks();
    churn();
    medium_blocks();
    resized();
    large_blocks();
    return 0;
}
