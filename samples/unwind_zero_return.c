/* unwind_zero_return.c - a walk that ends where a return address reads 0,
 * then the same frames with a real caller there, for comparing stack
 * captures (tests/test_unwind.c): a remembered walk's end must be read again,
 * not trusted.
 *
 * enter_ended() (assembly) pushes 0 where a return address goes and jumps to
 * work(), so work() has no caller: a walk from it ends there. work() calls
 * leaf(), which allocates 24 B (kept), and, entered so, leaves by longjmp.
 * Then enter_called() (assembly, no frame of its own) calls work() from the
 * same stack address, so work() and leaf() run at the same addresses, now
 * with enter_called() and main() beyond: their blocks must say so. ROUNDS
 * rounds (default 50) of both. Prints "ended 50 called 50" (ROUNDS 50).
 * Exit 0. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

void enter_ended(void (*fn)(void));
void enter_called(void (*fn)(void));
void *blocks[100000];
int nblocks;
static jmp_buf back;
static volatile int ended;

__attribute__((noinline, used)) void leaf(void) { blocks[nblocks++] = malloc(24); }

__attribute__((noinline)) static void work(void)
{
    leaf();
    if (ended) longjmp(back, 1); /* no caller to return to */
    __asm__ volatile("" ::: "memory");
}

/* enter_ended: 8 bytes of room (the ABI's alignment at a call), a 0 where
 * work()'s return address goes, and a jump: work() starts as if called, from
 * nowhere (it never returns). enter_called: the same room and a call. Both
 * are entered by a call, so work() runs at one stack address either way. */
__asm__(".text\n"
        ".globl enter_ended\n"
        ".type enter_ended, @function\n"
        "enter_ended:\n"
        ".cfi_startproc\n"
        "    subq $8, %rsp\n"
        ".cfi_def_cfa_offset 16\n"
        "    pushq $0\n"
        ".cfi_def_cfa_offset 24\n"
        "    jmp *%rdi\n"
        ".cfi_endproc\n"
        ".size enter_ended, .-enter_ended\n"
        "\n"
        ".globl enter_called\n"
        ".type enter_called, @function\n"
        "enter_called:\n"
        ".cfi_startproc\n"
        "    subq $8, %rsp\n"
        ".cfi_def_cfa_offset 16\n"
        "    call *%rdi\n"
        "    addq $8, %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size enter_called, .-enter_called\n");

int main(int argc, char **argv)
{
    volatile int rounds = argc > 1 ? atoi(argv[1]) : 50; /* volatile: live across setjmp */
    if (rounds < 0 || rounds > 20000) rounds = 50;
    for (volatile int r = 0; r < rounds; r++) {
        ended = 1;
        if (setjmp(back) == 0) enter_ended(work);
        ended = 0;
        enter_called(work);
    }
    printf("ended %d called %d\n", rounds, rounds);
    for (int i = 0; i < nblocks; i++)
        free(blocks[i]);
    return 0;
}
