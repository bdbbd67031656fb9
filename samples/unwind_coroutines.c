/* unwind_coroutines.c - ucontext coroutines that allocate on their own stacks
 * and switch back to main at different depths, main allocating at other
 * depths in between, for comparing stack captures (tests/test_unwind.c).
 *
 * Two coroutines (alpha, beta; 128 KiB stacks from malloc), each a recursion
 * that allocates at every level on the way down (co_alloc, 24 B, kept until
 * the way back up) and yields to main at the levels in its list: alpha at 5,
 * 15, 2 and 30, beta at 8, 1 and 20; a resumed coroutine allocates once more
 * where it stands (co_alloc: alpha 6 + 10 + 28 + 4 resumes, beta 9 + 19 + 3:
 * 79 blocks). main resumes them in turn, alternating, each time from a
 * different depth of its own (main_descend: 3, 12, 1, 25, 7, 0, 18, 4, 9),
 * allocating at each level on the way down and once after the switch back
 * (main_alloc, 40 B, freed at once: 79 + 9 + 9 = 97). A coroutine that ends
 * returns to main through uc_link. Every switch is printed with the depth it
 * happens at, and checksums at the end; exit 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#define NOINLINE __attribute__((noinline))

void *volatile keep; /* every block escapes through it: GCC drops a malloc/free pair it can see whole */
#define STACK_BYTES (128 * 1024)

struct coro {
    const char *name;
    const int *yields; /* levels to yield at, in order, ending with -1 */
    int next;
    int done;
    unsigned long sum;
    ucontext_t ctx;
    void *stack;
};

static ucontext_t main_ctx;
static struct coro *current;

static NOINLINE void *co_alloc(int level)
{
    unsigned char *p = malloc(24);
    keep = p;
    p[0] = (unsigned char)level;
    return p;
}

/* Goes down to the next yield level, yields, and carries on from there: up
 * when the next level is shallower, all the way up after the last. A resumed
 * coroutine allocates once more where it stands (co_alloc's second site). */
static NOINLINE unsigned long co_descend(struct coro *c, int level)
{
    unsigned char *mine = co_alloc(level);
    unsigned long sum = mine[0];
    for (;;) {
        int target = c->yields[c->next];
        if (target == level) {
            printf("  %s yields at depth %d\n", c->name, level);
            c->next++;
            swapcontext(&c->ctx, &main_ctx);
            printf("  %s resumed at depth %d\n", c->name, level);
            free(co_alloc(level));
        } else if (target > level) {
            sum += co_descend(c, level + 1) * 2;
        } else {
            break;
        }
    }
    free(mine);
    return sum;
}

static void co_main(void)
{
    struct coro *c = current;
    unsigned long sum = co_descend(c, 0);
    c->sum = sum;
    c->done = 1;
    printf("  %s ends, checksum %lu\n", c->name, sum);
}

static NOINLINE unsigned long main_alloc(int level)
{
    unsigned char *p = malloc(40);
    keep = p;
    p[0] = (unsigned char)(level + 50);
    unsigned long v = p[0];
    free(p);
    return v;
}

static NOINLINE unsigned long main_descend(int level, int depth, struct coro *c)
{
    unsigned long sum = main_alloc(level);
    if (level < depth) {
        sum += main_descend(level + 1, depth, c);
    } else {
        printf("main at depth %d resumes %s\n", depth, c->name);
        current = c;
        swapcontext(&main_ctx, &c->ctx);
        sum += main_alloc(level);
    }
    return sum;
}

static void coro_init(struct coro *c, const char *name, const int *yields)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->yields = yields;
    c->stack = malloc(STACK_BYTES);
    getcontext(&c->ctx);
    c->ctx.uc_stack.ss_sp = c->stack;
    c->ctx.uc_stack.ss_size = STACK_BYTES;
    c->ctx.uc_link = &main_ctx;
    makecontext(&c->ctx, co_main, 0);
}

int main(void)
{
    static const int alpha_yields[] = {5, 15, 2, 30, -1};
    static const int beta_yields[] = {8, 1, 20, -1};
    static const int main_depths[] = {3, 12, 1, 25, 7, 0, 18, 4, 9};
    struct coro alpha, beta;
    coro_init(&alpha, "alpha", alpha_yields);
    coro_init(&beta, "beta", beta_yields);
    unsigned long sum = 0;
    for (int i = 0; !(alpha.done && beta.done); i++) {
        struct coro *c = (i % 2 == 0 && !alpha.done) || beta.done ? &alpha : &beta;
        sum = sum * 3 + main_descend(0, main_depths[i % 9], c);
    }
    printf("main: checksum %lu, alpha %lu, beta %lu\n", sum, alpha.sum, beta.sum);
    free(alpha.stack);
    free(beta.stack);
    return 0;
}
