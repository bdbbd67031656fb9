/* roots.c - which memory memcheck scans as roots: dead stack frames at a crash,
 * stacks and TLS of threads that exited, glibc's thread-specific data, glibc's
 * one-time allocations, malloc(0). Each argv word is a mode, run in order; the
 * last may end the process. Without printf nothing here uses stdio, so no
 * other block is live at the end.
 *
 * valgrind 3.19 `--leak-check=full`, default options otherwise (glibc 2.36,
 * x86-64), as kind bytes/blocks; kinds not named are 0/0. "All freed" is
 * memcheck's "All heap blocks were freed -- no leaks are possible", printed
 * instead of a LEAK SUMMARY. 288 B blocks are thread DTVs (their size follows
 * the modules loaded; memcheck calls a live thread's DTV possibly lost).
 *
 * Dead frames at a crash. memcheck scans a stack word only if it is
 * addressable and defined: below the stack pointer is inaccessible, and every
 * call and return marks the 128 B red zone below the new stack pointer
 * undefined, so a stale slot never counts, whether below the crash's stack
 * pointer or inside a live frame that never wrote it.
 *   dead_shallow abort|segv|segv_handler   definite 110/1  (slot 24 B below the caller's SP)
 *   dead_4k abort|segv|segv_handler        definite 150/1  (slot 4112 B below the caller's SP)
 *   dead_4k abort_over                     definite 150/1  (slot inside abort_over's live frame)
 *   dead_shallow, dead_4k (normal return)  definite 110/1, 150/1
 *   live abort|segv|segv_handler           reachable 140/1 (a live frame's local: the control)
 * Threads that exited and were joined. Their locals were below their last
 * stack pointer. At exit memcheck runs __libc_freeres, which unmaps glibc's
 * cache of dead threads' stacks (their TLS with them) and frees their DTVs.
 *   thread_local                definite 200/1  (its only pointer: a local of the thread)
 *   thread_local reuse          definite 200/1  (a later thread ran on the cached stack, exited)
 *   thread_local reuse_live     definite 200/1, possible 288/1 (that later thread still runs)
 *   thread_tls                  definite 300/1  (its only pointer: a __thread variable)
 *   thread_tls reuse            definite 300/1  (the later thread's TLS init cleared it)
 *   thread_tls reuse_live       definite 300/1, possible 288/1
 *   With --run-libc-freeres=no every case has possible 288/1 (one DTV: the dead
 *   thread's, which a later thread reuses), and thread_tls is reachable 300/1.
 * Thread-specific data: 40 keys, then a block stored under key 35, past glibc's
 * 32 first-level slots, so in the 512 B second-level array calloc'd at the
 * thread's first pthread_setspecific of a key >= 32, which the thread
 * descriptor points at. The same with --run-libc-freeres=no.
 *   specific_main               reachable 912/2 (400 B block + 512 B array)
 *   specific_thread             reachable 922/2 (410 + 512, in a live thread), possible 288/1
 * glibc's one-time allocations: stdout's buffer, 4096 B when stdout is not a
 * terminal (1024 B on a tty). __libc_freeres runs when the process exits by
 * exit_group (return from main, exit, _exit, exit in another thread, _exit in
 * a signal handler), not at a fatal signal.
 *   printf, printf exit|_exit|segv_handler   all freed
 *   printf abort|segv           reachable 4096/1
 *   printf thread_exit          possible 288/1 (the DTV of the thread that called exit)
 *   thread_exit                 possible 288/1
 *   With --run-libc-freeres=no every printf case is reachable 4096/1 (thread_exit:
 *   and possible 288/1).
 * malloc(0):
 *   zero                        definite 0/1: "0 bytes in 1 blocks are definitely lost";
 *                               --errors-for-leak-kinds=definite --error-exitcode=N exits N
 *   zero_kept                   reachable 0/1 (kept in a global)
 * Exit status: abort and abort_over 134, segv 139 (killed by the signal),
 * segv_handler 3, an unknown mode 2, else 0. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) static void *make(size_t n) { return malloc(n); }

/* Registers are roots, and malloc leaves copies of addresses in the
 * caller-saved ones: an ending clears them first, so the only copy of a
 * pointer is the one the mode put in memory. */
#if defined(__x86_64__)
#define CLEAR_CALLER_SAVED                                                                                             \
    "xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\txor %%esi, %%esi\n\txor %%edi, %%edi\n\t"             \
    "xor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d\n\t"
#define CALLER_SAVED "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"
#else
#error "roots.c clears x86-64 registers"
#endif

__attribute__((noinline)) static void clear_registers(void)
{
    __asm__ volatile(CLEAR_CALLER_SAVED ::: CALLER_SAVED, "memory");
}

/* A leaf without a frame: it faults with the caller's stack pointer (less the
 * return address) and no register holding anything of the program's. */
__attribute__((noinline)) static void crash_segv(void)
{
    __asm__ volatile(CLEAR_CALLER_SAVED "movl $1, (%%rax)\n\t" ::: CALLER_SAVED, "memory");
}

__attribute__((noinline)) static void crash_abort(void)
{
    clear_registers();
    abort();
}

/* ---- dead frames ------------------------------------------------------- */

/* Once it returns, the only pointer lies 24 B below the caller's stack
 * pointer: in the red zone of whatever the caller calls next. */
__attribute__((noinline)) static void dead_shallow(void) { void *volatile slot __attribute__((unused)) = make(110); }

enum { DEEP_SLOTS = 512 };

/* Once it returns, the only pointer lies 4 KiB below the caller's stack
 * pointer: below the frames abort() uses. */
__attribute__((noinline)) static void dead_4k(void)
{
    void *volatile slots[DEEP_SLOTS] __attribute__((unused));
    slots[0] = make(150);
}

/* A live frame over dead_4k's slot that never writes it. */
__attribute__((noinline)) static void abort_over(void)
{
    char pad[DEEP_SLOTS * sizeof(void *) + 64];
    __asm__ volatile("" ::"r"(pad) : "memory");
    crash_abort();
}

static void run_modes(int from, int argc, char **argv);

/* The rest of the modes run with a pointer in this live frame. */
__attribute__((noinline)) static void live(int from, int argc, char **argv)
{
    void *volatile keep = make(140);
    run_modes(from, argc, argv);
    (void)keep;
}

static void on_segv(int sig) { _exit(sig == SIGSEGV ? 3 : 4); }

static void segv_handler(void)
{
    struct sigaction sa = {.sa_handler = on_segv};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    crash_segv();
}

/* ---- threads ----------------------------------------------------------- */

__thread void *tls_keep; /* extern: a store to an unread static would be dropped */

static void *keep_in_local(void *arg)
{
    void *volatile mine __attribute__((unused)) = make(200);
    return arg;
}

static void *keep_in_tls(void *arg)
{
    tls_keep = make(300);
    return arg;
}

static void *idle(void *arg) { return arg; }

static int blocker[2], ready[2];

/* Tells main it is set up, then blocks until the process ends. */
static void *block(void *arg)
{
    char c = 0;
    if (write(ready[1], &c, 1) != 1) abort();
    while (read(blocker[0], &c, 1) < 0) {
    }
    return arg;
}

static void run_joined(void *(*fn)(void *))
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0 || pthread_join(t, NULL) != 0) abort();
}

/* Starts fn, which ends in block(), and waits until it has set up. */
static void run_live(void *(*fn)(void *))
{
    if (!ready[1] && (pipe(blocker) != 0 || pipe(ready) != 0)) abort();
    pthread_t t;
    char c;
    if (pthread_create(&t, NULL, fn, NULL) != 0 || read(ready[0], &c, 1) != 1) abort();
}

static void *exit_from_thread(void *arg)
{
    (void)arg;
    exit(0);
}

static pthread_key_t keys[40];
static bool keys_made;

/* Key 35 is past glibc's first-level array of 32. Made before any allocation,
 * as a program does at startup. */
static void make_keys(void)
{
    for (int i = 0; !keys_made && i < 40; i++)
        if (pthread_key_create(&keys[i], NULL) != 0) abort();
    keys_made = true;
}

static void *specific_in_thread(void *arg)
{
    pthread_setspecific(keys[35], make(410));
    return block(arg);
}

/* ---- the rest ---------------------------------------------------------- */

void *kept_zero; /* extern, like tls_keep */

static void do_exit(void) { exit(0); }
static void do_underscore_exit(void) { _exit(0); }
static void thread_exit(void) { run_joined(exit_from_thread); }
static void thread_local(void) { run_joined(keep_in_local); }
static void thread_tls(void) { run_joined(keep_in_tls); }
static void reuse(void) { run_joined(idle); }
static void reuse_live(void) { run_live(block); }
static void specific_main(void) { make_keys(), pthread_setspecific(keys[35], make(400)); }
static void specific_thread(void) { make_keys(), run_live(specific_in_thread); }
static void print_line(void) { printf("roots\n"); }
static void zero(void) { (void)make(0); }
static void zero_kept(void) { kept_zero = make(0); }

static void run_modes(int from, int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } modes[] = {{"dead_shallow", dead_shallow},
                 {"dead_4k", dead_4k},
                 {"abort", crash_abort},
                 {"abort_over", abort_over},
                 {"segv", crash_segv},
                 {"segv_handler", segv_handler},
                 {"exit", do_exit},
                 {"_exit", do_underscore_exit},
                 {"thread_exit", thread_exit},
                 {"thread_local", thread_local},
                 {"thread_tls", thread_tls},
                 {"reuse", reuse},
                 {"reuse_live", reuse_live},
                 {"specific_main", specific_main},
                 {"specific_thread", specific_thread},
                 {"printf", print_line},
                 {"zero", zero},
                 {"zero_kept", zero_kept}};
    for (int i = from; i < argc; i++) {
        if (strcmp(argv[i], "live") == 0) {
            live(i + 1, argc, argv);
            return;
        }
        size_t k = 0;
        while (k < sizeof modes / sizeof *modes && strcmp(argv[i], modes[k].name) != 0)
            k++;
        if (k == sizeof modes / sizeof *modes) {
            fprintf(stderr, "roots: unknown mode '%s'\n", argv[i]);
            exit(2);
        }
        modes[k].fn();
    }
}

int main(int argc, char **argv)
{
    run_modes(1, argc, argv);
    return 0;
}
