/* unwind_rbp.c - frames that save rbp and put something else in it, under
 * frames whose CFA is their rbp, for comparing stack captures
 * (tests/test_unwind.c). The fast unwinder trusts a remembered frame beyond
 * a saved rbp without reading that rbp again only where no frame further out
 * uses rbp; these are the two ways that could go wrong.
 *
 * Part one, "checked": via_a() and via_b() (frame pointers) each make room on
 * the stack with alloca and call frame() (frame pointer too), which makes
 * room again and calls pass() (no frame pointer, rbp left as it is), which
 * calls hop(), written in assembly: it saves rbp, loads 1 into it (as code
 * that uses rbp as a plain register does) and calls leaf(), which allocates
 * 24 B (kept). The room is sized so that pass(), hop() and leaf() run at the
 * same stack addresses from either side while frame()'s rbp, and so where
 * its caller's return address is, differ by 64 bytes; via_b()'s room is not
 * written, so the old slot still holds via_a()'s return address. A walk that
 * trusted the frames it remembered beyond hop() without the rbp hop() saved
 * would name via_a() for via_b()'s blocks. ROUNDS rounds (default 50) of
 * via_a then via_b, then via_b then via_a.
 *
 * Part two, "stepped": via_gpr() and via_fp() (assembly) run at the same
 * stack address, save rbp, make 64 bytes of room and call pass() from the
 * same stack address. via_gpr() uses rbp as a plain register and leaves its
 * room's address in it; via_fp() keeps a frame pointer (CFA = rbp + 16) and
 * zeroes its room. After via_gpr()'s capture no remembered frame uses rbp,
 * so via_fp()'s capture finds leaf, hop and pass again without the rbp hop()
 * saved; pass's caller has changed, and stepping to it with the remembered
 * rbp (via_gpr's room) would read a zero return address from via_fp's room:
 * the stack would end at via_fp, without main. ROUNDS rounds of via_gpr then
 * via_fp.
 *
 * Prints "via_a 100 via_b 100" and "via_gpr 50 via_fp 50" (ROUNDS 50). Exit 0. */
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_POINTER __attribute__((noinline, optimize("no-omit-frame-pointer")))

void hop(void);
void via_gpr(void);
void via_fp(void);
void *blocks[100000];
int nblocks;

__attribute__((noinline, used)) void leaf(void) { blocks[nblocks++] = malloc(24); }

/* No frame pointer, rbp untouched: the rbp hop() saves is its caller's. */
__attribute__((noinline, used, optimize("omit-frame-pointer"))) void pass(void)
{
    hop();
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

/* hop: rbp saved at CFA-16 and then not a frame pointer (1), CFA from rsp.
 * via_gpr: rbp saved at CFA-16, CFA from rsp, rbp = its room (CFA-80).
 * via_fp: rbp saved at CFA-16, CFA = rbp + 16, its room (CFA-80) zeroed. */
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
        ".size hop, .-hop\n"
        "\n"
        ".globl via_gpr\n"
        ".type via_gpr, @function\n"
        "via_gpr:\n"
        ".cfi_startproc\n"
        "    pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "    subq $64, %rsp\n"
        ".cfi_def_cfa_offset 80\n"
        "    movq %rsp, %rbp\n"
        "    call pass\n"
        "    addq $64, %rsp\n"
        ".cfi_def_cfa_offset 16\n"
        "    popq %rbp\n"
        ".cfi_def_cfa_offset 8\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size via_gpr, .-via_gpr\n"
        "\n"
        ".globl via_fp\n"
        ".type via_fp, @function\n"
        "via_fp:\n"
        ".cfi_startproc\n"
        "    pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "    movq %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "    subq $64, %rsp\n"
        "    pxor %xmm0, %xmm0\n"
        "    movups %xmm0, 0(%rsp)\n"
        "    movups %xmm0, 16(%rsp)\n"
        "    movups %xmm0, 32(%rsp)\n"
        "    movups %xmm0, 48(%rsp)\n"
        "    call pass\n"
        "    leave\n"
        ".cfi_def_cfa %rsp, 8\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size via_fp, .-via_fp\n");

static volatile size_t sink;

FRAME_POINTER static void frame(size_t room)
{
    char *p = alloca(room);
    sink = (size_t)p;
    pass();
    sink = 0; /* not a tail call */
}

/* Room in the callers: 192 + 64 and 256 + 0 bytes, the same in all, so
 * pass() sees one stack address either way. */
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
    if (rounds < 0 || rounds > 20000) rounds = 50;
    for (int r = 0; r < rounds; r++) {
        via_a();
        via_b();
    }
    for (int r = 0; r < rounds; r++) {
        via_b();
        via_a();
    }
    printf("via_a %d via_b %d\n", 2 * rounds, 2 * rounds);
    for (int r = 0; r < rounds; r++) {
        via_gpr();
        via_fp();
    }
    printf("via_gpr %d via_fp %d\n", rounds, rounds);
    for (int i = 0; i < nblocks; i++)
        free(blocks[i]);
    return 0;
}
