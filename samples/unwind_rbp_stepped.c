/* unwind_rbp_stepped.c - a remembered frame whose rbp nobody checked, where
 * the stack beyond it has changed to a caller that bases its CFA on rbp, for
 * comparing stack captures (tests/test_unwind.c): when the fast unwinder
 * steps out from the frames it kept, it must step with the rbp they have
 * now, not the one it remembered.
 *
 * via_gpr() and via_fp() (both in assembly) run at the same stack address,
 * save rbp and make 64 bytes of room, and call pass() (no frame pointer,
 * rbp left as it is) from the same stack address, which calls hop()
 * (assembly: saves rbp, puts 1 in it), which calls leaf(), which allocates
 * 24 B (kept). via_gpr() uses rbp as a plain register and leaves its room's
 * address in it; via_fp() keeps a frame pointer (CFA = rbp + 16) and zeroes
 * its room. After via_gpr()'s capture no remembered frame uses rbp, so
 * via_fp()'s capture finds leaf, hop and pass again without the rbp hop()
 * saved; pass's caller has changed, and stepping to it with the remembered
 * rbp (via_gpr's room) reads a zero return address from via_fp's room: the
 * stack would end at via_fp, without main. ROUNDS rounds (default 50) of
 * via_gpr then via_fp: 2 x ROUNDS blocks, half under each. Prints "via_gpr 50
 * via_fp 50" (ROUNDS 50). Exit 0. */
#include <stdio.h>
#include <stdlib.h>

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

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 50;
    if (rounds < 0 || rounds > 50000) rounds = 50;
    for (int r = 0; r < rounds; r++) {
        via_gpr();
        via_fp();
    }
    printf("via_gpr %d via_fp %d\n", rounds, rounds);
    for (int i = 0; i < nblocks; i++)
        free(blocks[i]);
    return 0;
}
