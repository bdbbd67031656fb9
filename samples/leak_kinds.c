/* leak_kinds.c - one edge case of leak classification (docs/LEAKS.md) per mode
 * (argv[1]); what memcheck and heapsnap must say is in each comment. Nothing
 * here uses stdio, so no other block is live at the end. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heapsnap.h"

void *global;             /* a root */
uintptr_t global_word;    /* a root holding a disguised pointer */
char global_bytes[64];    /* a root holding a pointer at an unaligned offset */
__thread void *tls_slot;  /* the main thread's static TLS */

struct node {
    struct node *next;
    char pad[24];
};

__attribute__((noinline)) static void *make(size_t n) { return calloc(1, n); }

/* Stores the compiler cannot prove dead (it would drop links between blocks
 * that never escape, and then there would be no cycle to find). */
__attribute__((noipa)) static void link_to(struct node *from, void *to) { from->next = to; }

/* definitely lost: 100 B in 1 block */
__attribute__((noinline)) static void plain(void) { global = make(100), global = NULL; }

/* a cycle with no outside reference: memcheck's "64 (32 direct, 32 indirect)
 * bytes in 1 blocks are definitely lost": definite 32/1, indirect 32/1 */
__attribute__((noinline)) static void cycle(void)
{
    struct node *a = make(sizeof *a), *b = make(sizeof *b);
    link_to(a, b);
    link_to(b, a);
}

/* a lost block holding the only pointer to another: definite 32/1, indirect 32/1 */
__attribute__((noinline)) static void chain(void)
{
    struct node *a = make(sizeof *a);
    link_to(a, make(sizeof *a));
}

/* only an interior pointer kept: possibly lost 64/1 */
__attribute__((noinline)) static void interior(void) { global = (char *)make(64) + 16; }

/* low-bit tagged: possibly lost 64/1 */
__attribute__((noinline)) static void tag_low(void) { global_word = (uintptr_t)make(64) | 1; }

/* high-bit tagged: definitely lost 64/1 */
__attribute__((noinline)) static void tag_high(void) { global_word = (uintptr_t)make(64) | (1ull << 62); }

/* XOR-hidden: definitely lost 64/1 */
__attribute__((noinline)) static void xored(void) { global_word = (uintptr_t)make(64) ^ 0x5a5a5a5a5a5aull; }

/* one past the end: definitely lost 64/1 */
__attribute__((noinline)) static void past_end(void) { global = (char *)make(64) + 64; }

/* stored unaligned: definitely lost 64/1 */
__attribute__((noinline)) static void unaligned(void)
{
    void *p = make(64);
    memcpy(global_bytes + 3, &p, sizeof p);
}

/* in a global: still reachable 64/1; and a block reached from it only by an
 * interior pointer: possibly lost 32/1 */
__attribute__((noinline)) static void reachable(void)
{
    struct node *a = make(sizeof *a);
    link_to(a, (char *)make(sizeof *a) + 8);
    global = a;
}

/* only in the main thread's TLS: still reachable 48/1 */
__attribute__((noinline)) static void tls(void) { tls_slot = make(48); }

/* only in an anonymous mmap region: still reachable (memcheck) 48/1 */
__attribute__((noinline)) static void mapped(void)
{
    void **region = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    region[7] = make(48);
}

/* only on the stack of a live thread, blocked: still reachable 48/1 */
static int blocker[2];
static void *hold(void *arg)
{
    (void)arg;
    void *volatile mine = make(48);
    char c;
    while (read(blocker[0], &c, 1) < 0) {
    }
    return mine;
}
__attribute__((noinline)) static void thread(void)
{
    if (pipe(blocker) != 0) return;
    pthread_t t;
    pthread_create(&t, NULL, hold, NULL);
    usleep(100 * 1000); /* it has allocated and blocked */
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } modes[] = {{"plain", plain},     {"cycle", cycle},         {"chain", chain},         {"interior", interior},
                 {"tag_low", tag_low}, {"tag_high", tag_high},   {"xor", xored},           {"past_end", past_end},
                 {"unaligned", unaligned}, {"reachable", reachable}, {"tls", tls},         {"mapped", mapped},
                 {"thread", thread}};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "_exit") == 0) _exit(0);
        if (strcmp(argv[i], "check") == 0) heapsnap_leak_check(); /* TRACE@leak-check:1 */
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++)
            if (strcmp(argv[i], modes[k].name) == 0) modes[k].fn();
    }
    return 0;
}
