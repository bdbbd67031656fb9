/* unwind_signals.c - signal handlers that allocate while the interrupted code
 * is deep in frames that allocated, for comparing stack captures
 * (tests/test_unwind.c). Handlers that allocate run where the signal arrives
 * at a known instruction (sigsuspend, raise), so their stacks are the same
 * in every run.
 *
 * timer: main goes 50 levels deep through descend(), allocating at each level
 *   (down_alloc, 50 blocks of 40 B kept until the way back up); at the bottom
 *   it arms a one-shot 1 ms ITIMER_REAL and waits in sigsuspend; the SIGALRM
 *   handler recurses 10 levels allocating at each (handler_alloc, 10 x 64 B,
 *   freed), then main allocates at the bottom (bottom_alloc, 1 x 80 B) and at
 *   every level on the way up (up_alloc, 50 x 56 B), freeing as it goes.
 * altstack: SIGUSR2 with SA_ONSTACK, raised 30 levels deep in descend() (down,
 *   bottom and up allocations as above: 30, 1, 30); its handler runs on a
 *   sigaltstack of 64 KiB (checked: the address of a local is inside it) and
 *   recurses 20 levels allocating at each (alt_alloc, 20 x 72 B); main then
 *   goes 60 levels deep the same way with no signal (60, 1, 60).
 * async: a 500 us ITIMER_REAL interval timer interrupts 400 rounds of
 *   recursion (round i: i % 40 levels, rounds_alloc at the bottom, 400 x
 *   16 B); this handler only counts (where it lands varies from run to run,
 *   so it must not allocate: its stacks would differ). The program waits
 *   until at least one tick arrived before it stops the timer.
 * Prints a line per phase with checksums. Exit 0. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define NOINLINE __attribute__((noinline))

void *volatile keep; /* every block escapes through it: GCC drops a malloc/free pair it can see whole */
static volatile sig_atomic_t alarms, ticks;
static unsigned long handler_sum, alt_sum;
static char *alt_base;
static int on_alt_stack;

static NOINLINE unsigned long handler_alloc(int level)
{
    unsigned char *p = malloc(64);
    keep = p;
    p[0] = (unsigned char)level;
    unsigned long v = p[0];
    free(p);
    return v;
}

static NOINLINE unsigned long in_handler(int level, int depth)
{
    unsigned long sum = handler_alloc(level);
    if (level < depth) sum += in_handler(level + 1, depth) * 2;
    return sum;
}

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
    handler_sum = in_handler(0, 9);
}

static NOINLINE unsigned long alt_alloc(int level)
{
    unsigned char *p = malloc(72);
    keep = p;
    p[0] = (unsigned char)(level + 1);
    unsigned long v = p[0];
    free(p);
    return v;
}

static NOINLINE unsigned long on_alt(int level, int depth)
{
    unsigned long sum = alt_alloc(level);
    if (level < depth) sum += on_alt(level + 1, depth) * 3;
    return sum;
}

static void on_usr2(int sig)
{
    (void)sig;
    char here;
    on_alt_stack = &here > alt_base && &here < alt_base + 65536;
    alt_sum = on_alt(0, 19);
}

static void on_tick(int sig)
{
    (void)sig;
    ticks++;
}

static NOINLINE void *down_alloc(int level)
{
    unsigned char *p = malloc(40);
    keep = p;
    p[0] = (unsigned char)level;
    return p;
}

static NOINLINE unsigned long up_alloc(int level)
{
    unsigned char *p = malloc(56);
    keep = p;
    p[0] = (unsigned char)(level * 5);
    unsigned long v = p[0];
    free(p);
    return v;
}

static NOINLINE unsigned long bottom_alloc(void)
{
    char *p = malloc(80);
    keep = p;
    strcpy(p, "bottom");
    unsigned long v = strlen(p);
    free(p);
    return v;
}

static NOINLINE void wait_for_alarm(void)
{
    sigset_t unblocked;
    sigprocmask(SIG_BLOCK, NULL, &unblocked);
    sigdelset(&unblocked, SIGALRM);
    struct itimerval once = {.it_value = {0, 1000}};
    setitimer(ITIMER_REAL, &once, NULL);
    while (!alarms)
        sigsuspend(&unblocked);
}

/* how: 0 waits for the timer at the bottom, 1 raises SIGUSR2 there, 2 neither */
static NOINLINE unsigned long descend(int level, int depth, int how)
{
    unsigned char *mine = down_alloc(level);
    unsigned long sum = mine[0];
    if (level < depth) {
        sum += descend(level + 1, depth, how);
    } else {
        if (how == 0) wait_for_alarm();
        if (how == 1) raise(SIGUSR2);
        sum += bottom_alloc();
    }
    free(mine);
    return sum + up_alloc(level);
}

static NOINLINE unsigned long rounds_alloc(int i)
{
    unsigned char *p = malloc(16);
    keep = p;
    p[0] = (unsigned char)i;
    unsigned long v = p[0];
    free(p);
    return v;
}

static NOINLINE unsigned long round_trip(int level, int depth, int i)
{
    if (level < depth) return round_trip(level + 1, depth, i) + 1;
    return rounds_alloc(i);
}

int main(void)
{
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigprocmask(SIG_BLOCK, &alrm, NULL);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    unsigned long s = descend(0, 49, 0);
    printf("timer: %d alarm, handler checksum %lu, main checksum %lu\n", (int)alarms, handler_sum, s);

    static char alt[65536];
    alt_base = alt;
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    sigaltstack(&ss, NULL);
    struct sigaction su = {.sa_handler = on_usr2, .sa_flags = SA_ONSTACK};
    sigemptyset(&su.sa_mask);
    sigaction(SIGUSR2, &su, NULL);
    s = descend(0, 29, 1);
    printf("altstack: on the alternate stack: %s, handler checksum %lu, main checksum %lu\n",
           on_alt_stack ? "yes" : "no", alt_sum, s);
    s = descend(0, 59, 2);
    printf("after altstack: checksum %lu\n", s);

    struct sigaction st = {.sa_handler = on_tick, .sa_flags = SA_RESTART};
    sigemptyset(&st.sa_mask);
    sigaction(SIGALRM, &st, NULL);
    sigprocmask(SIG_UNBLOCK, &alrm, NULL);
    struct itimerval every = {.it_interval = {0, 500}, .it_value = {0, 500}};
    setitimer(ITIMER_REAL, &every, NULL);
    unsigned long sum = 0;
    for (int i = 0; i < 400; i++)
        sum += round_trip(0, i % 40, i);
    while (!ticks) {
    }
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("async: 400 rounds, checksum %lu, ticks arrived: %s\n", sum, ticks ? "yes" : "no");
    return 0;
}
