/* unwind_rbp.c - a frame whose CFA is its rbp under one that saves rbp and
 * puts something else in it, for comparing stack captures
 * (tests/test_unwind.c): the fast unwinder skips the check of a saved rbp
 * only where no frame further out reads rbp, and this is where one does.
 *
 * via_a() and via_b() (frame pointers) each make room on the stack with
 * alloca and call frame() (frame pointer too), which makes room again and
 * calls pass() (no frame pointer, rbp left as it is), which calls hop(),
 * written in assembly: it saves rbp, loads 1 into it (as code
 * that uses rbp as a plain register does) and calls leaf(), which allocates
 * 24 B (kept). The room is sized so that pass(), hop() and leaf() run at the same
 * stack addresses from either side while frame()'s rbp, and so where its
 * caller's return address is, differ by 64 bytes; via_b()'s room is not
 * written, so the old slot still holds via_a()'s return address. A walk that
 * trusted the frames it remembered beyond hop() without the rbp hop() saved
 * would name via_a() for via_b()'s block. ROUNDS rounds (default 50) of
 * via_a then via_b, then via_b then via_a: 4 x ROUNDS blocks, half of them
 * under each. Prints "via_a 100 via_b 100" (ROUNDS 50). Exit 0. */
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_POINTER __attribute__((noinline, optimize("no-omit-frame-pointer")))

void hop(void);
void *blocks[100000];
int nblocks;

__attribute__((noinline, used)) void leaf(void) { blocks[nblocks++] = malloc(24); }

/* hop: rbp saved at CFA-16 and then not a frame pointer (1), CFA from rsp. */
__asm__(".text\n"
        ".globl hop\n"
        ".type hop, @function\n"
        "hop:\n"
        ".cfi_startproc\n"
        "    pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "    movl $1, %ebp\n"
        "    call leaf\n"
        "    popq %rbp\n"
        ".cfi_def_cfa_offset 8\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size hop, .-hop\n");

static volatile size_t sink;

/* No frame pointer, rbp untouched: the rbp hop() saves is frame()'s. */
__attribute__((noinline, optimize("omit-frame-pointer"))) static void pass(void)
{
    hop();
    sink = 3; /* not a tail call */
}

FRAME_POINTER static void frame(size_t room)
{
    char *p = alloca(room);
    sink = (size_t)p;
    pass();
    sink = 0;
}

/* Room in the callers: 192 + 64 and 256 + 0 bytes, the same in all, so
 * hop() sees one stack address either way. */
FRAME_POINTER static void via_a(void)
{
    char *p = alloca(192);
    memset(p, 0, 16);
    sink = (size_t)p;
    frame(64);
    sink = 1;
}

FRAME_POINTER static void via_b(void)
{
    char *p = alloca(256); /* not written: it keeps what was there */
    sink = (size_t)p;
    frame(0);
    sink = 2;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 50;
    for (int r = 0; r < rounds; r++) {
        via_a();
        via_b();
    }
    for (int r = 0; r < rounds; r++) {
        via_b();
        via_a();
    }
    printf("via_a %d via_b %d\n", 2 * rounds, 2 * rounds);
    for (int i = 0; i < nblocks; i++)
        free(blocks[i]);
    return 0;
}
