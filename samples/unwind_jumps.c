/* unwind_jumps.c - non-local exits out of deep frames that allocated, then
 * allocations at shallower and deeper depths than the frames jumped over,
 * for comparing stack captures (tests/test_unwind.c).
 *
 * longjmp: plain_jump(), under 3 hold() frames, setjmps and goes 60 levels
 *   deeper through dive(), allocating a kept block at each (dive_alloc, 60
 *   blocks of 48 B), and longjmps back from the bottom; then after_jump()
 *   goes 0, 20 and 80 levels below plain_jump allocating at each (after_alloc:
 *   1 + 21 + 81 = 103 blocks of 24 B, freed at once), and the 60 kept blocks
 *   are freed.
 * siglongjmp: the same through sigsetjmp(env, 1) with SIGUSR2 blocked at the
 *   jump: 40 levels, 10 and 70 after; the mask is restored (SIGUSR2 not
 *   blocked afterwards).
 * from a handler: SIGUSR1 raised 40 levels deep (raise is synchronous); the
 *   handler allocates (handler_alloc, 1 block of 77 B, freed) and siglongjmps
 *   out of the handler and the 40 frames; SIGUSR1 is unblocked again; then
 *   allocations 5 and 90 levels deep.
 * Each landing prints the value passed to the jump and a checksum. Exit 0. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static jmp_buf plain_env;
static sigjmp_buf sig_env, handler_env;
static void *kept[100];
static int nkept;
void *volatile keep; /* every block escapes through it: GCC drops a malloc/free pair it can see whole */

static NOINLINE void dive_alloc(int level)
{
    kept[nkept] = malloc(48);
    memset(kept[nkept], level, 48);
    nkept++;
}

static NOINLINE void dive(int level, int depth, int how)
{
    dive_alloc(level);
    if (level < depth) {
        dive(level + 1, depth, how);
    } else if (how == 0) {
        longjmp(plain_env, depth);
    } else if (how == 1) {
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGUSR2);
        sigprocmask(SIG_BLOCK, &block, NULL);
        siglongjmp(sig_env, depth + 1000);
    } else {
        raise(SIGUSR1);
    }
    keep = kept[0]; /* not a tail call */
}

static NOINLINE unsigned long after_alloc(int level)
{
    unsigned char *p = malloc(24);
    keep = p;
    p[0] = (unsigned char)level;
    unsigned long v = p[0];
    free(p);
    return v;
}

static NOINLINE unsigned long after_jump(int level, int depth)
{
    unsigned long sum = after_alloc(level);
    if (level < depth) sum += after_jump(level + 1, depth);
    return sum + 1;
}

static void free_kept(void)
{
    unsigned long sum = 0;
    for (int i = 0; i < nkept; i++) {
        sum += ((unsigned char *)kept[i])[0];
        free(kept[i]);
    }
    printf("  kept %d blocks, checksum %lu\n", nkept, sum);
    nkept = 0;
}

static NOINLINE void plain_jump(void)
{
    int v = setjmp(plain_env);
    if (v == 0) {
        dive(0, 59, 0);
        printf("longjmp: not reached\n");
        return;
    }
    printf("longjmp: landed with %d\n", v);
    unsigned long s = after_jump(0, 0);
    s = s * 7 + after_jump(0, 20);
    s = s * 7 + after_jump(0, 80);
    printf("  after: checksum %lu\n", s);
    free_kept();
}

static int blocked(int sig)
{
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    return sigismember(&now, sig);
}

static NOINLINE void sig_jump(void)
{
    int v = sigsetjmp(sig_env, 1);
    if (v == 0) {
        dive(0, 39, 1);
        printf("siglongjmp: not reached\n");
        return;
    }
    printf("siglongjmp: landed with %d, SIGUSR2 blocked: %s\n", v, blocked(SIGUSR2) ? "yes" : "no");
    unsigned long s = after_jump(0, 10);
    s = s * 7 + after_jump(0, 70);
    printf("  after: checksum %lu\n", s);
    free_kept();
}

static NOINLINE void handler_alloc(int sig)
{
    char *p = malloc(77);
    keep = p;
    snprintf(p, 77, "signal %d", sig);
    keep = p;
    free(p);
}

static void on_usr1(int sig)
{
    handler_alloc(sig);
    siglongjmp(handler_env, 7);
}

static NOINLINE void handler_jump(void)
{
    struct sigaction sa = {.sa_handler = on_usr1};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    int v = sigsetjmp(handler_env, 1);
    if (v == 0) {
        dive(0, 39, 2);
        printf("handler jump: not reached\n");
        return;
    }
    printf("handler jump: landed with %d, SIGUSR1 blocked: %s\n", v, blocked(SIGUSR1) ? "yes" : "no");
    unsigned long s = after_jump(0, 5);
    s = s * 7 + after_jump(0, 90);
    printf("  after: checksum %lu\n", s);
    free_kept();
}

static NOINLINE void hold(int level)
{
    if (level > 0) {
        hold(level - 1);
    } else {
        plain_jump();
        sig_jump();
        handler_jump();
    }
    keep = NULL;
}

int main(void)
{
    hold(2);
    return 0;
}
