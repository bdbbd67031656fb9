/* lsan_api.c - a program annotated for LeakSanitizer, unchanged: its calls to
 * LSan's interface are weak (they do nothing where no runtime defines them),
 * and it defines LSan's hooks. Built twice: plain (run under heapsnap) and
 * with -fsanitize=leak (LSan's own runtime); both must say the same.
 *
 * Blocks (nothing else is live: no stdio before the check, a write(2) after):
 *   direct():    48 B, definitely lost                    (LSan: direct leak)
 *   tree():      32 B node -> 16 B child, both lost       (direct 32, indirect 16)
 *   ignored():   64 B, __lsan_ignore_object(p + 8): an interior address names it
 *   disabled():  100 B allocated between __lsan_disable and __lsan_enable
 *   rooted():    24 B, pointed to only from read-only memory registered as a root region
 *   unrooted():  56 B, the same, unregistered again: lost
 *   suppressed_by_program(): 40 B, lost, suppressed by this program's
 *                __lsan_default_suppressions ("leak:suppressed_by_program")
 * Leaked: 48 + 32 + 16 + 56 = 152 B in 4 blocks (3 direct, 1 indirect).
 *
 * Modes (argv[1]):
 *   final      (default) the blocks above, then __lsan_do_recoverable_leak_check
 *              (writes "recoverable 1"), then __lsan_do_leak_check: leaks, so
 *              the process exits with LSan's exitcode (23) there; "after" is
 *              never written.
 *   clean      no leak at all (the ignored, disabled, rooted and suppressed
 *              blocks only): "recoverable 0", __lsan_do_leak_check finds nothing
 *              and the process goes on; it then leaks 200 B from after_final(),
 *              which LSan no longer checks (it made its check), writes
 *              "after" and exits 0.
 *   twice      the blocks above, "recoverable 1"; then they are freed:
 *              "recoverable 0" (a recoverable check may run again and again).
 * Variants built with -DTURNED_OFF (__lsan_is_turned_off returns 1: no check,
 * "recoverable 0", exit 0) and -DEXITCODE_OPTION (__lsan_default_options says
 * exitcode=42). */
#include <sanitizer/lsan_interface.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* What a program that may run without a sanitizer does: weak references. */
#pragma weak __lsan_ignore_object
#pragma weak __lsan_disable
#pragma weak __lsan_enable
#pragma weak __lsan_register_root_region
#pragma weak __lsan_unregister_root_region
#pragma weak __lsan_do_leak_check
#pragma weak __lsan_do_recoverable_leak_check

__attribute__((used)) const char *__lsan_default_suppressions(void)
{
    return "# this program's own\nleak:suppressed_by_program\n";
}

#ifdef TURNED_OFF
__attribute__((used)) int __lsan_is_turned_off(void) { return 1; }
#endif
#ifdef EXITCODE_OPTION
__attribute__((used)) const char *__lsan_default_options(void) { return "verbosity=0:exitcode=42"; }
#endif

void *volatile sink;
struct node {
    void *child;
    char pad[24];
};

static void *kept[8]; /* what "twice" frees later, and what "clean" frees */
static size_t nkept;

__attribute__((noipa)) static void *make(size_t n)
{
    void *p = malloc(n);
    memset(p, 0, n);
    return p;
}

__attribute__((noipa)) static void keep(void *p)
{
    if (nkept < 8) kept[nkept++] = p;
}

__attribute__((noipa)) static void drop(void *p)
{
    keep(p);
    sink = p, sink = NULL;
}

/* kept[] is a root: its pointers are disguised so that only the program knows them */
#define DISGUISE(p) ((void *)((uintptr_t)(p) ^ 0x5a5a5a5a5a5a5a5aull))

__attribute__((noipa)) static void hide_kept(void)
{
    for (size_t i = 0; i < nkept; i++)
        kept[i] = DISGUISE(kept[i]);
}

__attribute__((noipa)) static void free_kept(void)
{
    for (size_t i = 0; i < nkept; i++)
        free(DISGUISE(kept[i]));
    nkept = 0;
}

__attribute__((noipa)) static void direct(void) { drop(make(48)); }

__attribute__((noipa)) static void tree(void)
{
    struct node *n = make(sizeof *n);
    n->child = make(16);
    keep(n->child);
    drop(n);
}

__attribute__((noipa)) static void ignored(void)
{
    char *p = make(64);
    if (__lsan_ignore_object) __lsan_ignore_object(p + 8);
    sink = p, sink = NULL;
}

__attribute__((noipa)) static void disabled(void)
{
    if (__lsan_disable) __lsan_disable();
    sink = make(100), sink = NULL;
    if (__lsan_enable) __lsan_enable();
}

/* A pointer kept only in read-only mapped memory, which neither LSan nor
 * heapsnap reads unless it is registered. */
__attribute__((noipa)) static void **read_only_slot(void *p)
{
    void **page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[0] = p;
    mprotect(page, 4096, PROT_READ);
    return page;
}

__attribute__((noipa)) static void rooted(void)
{
    void **page = read_only_slot(make(24));
    if (__lsan_register_root_region) __lsan_register_root_region(page, 4096);
}

__attribute__((noipa)) static void unrooted(void)
{
    void *p = make(56);
    void **page = read_only_slot(p);
    keep(p);
    if (__lsan_register_root_region) __lsan_register_root_region(page, 4096);
    if (__lsan_unregister_root_region) __lsan_unregister_root_region(page, 4096);
}

__attribute__((noipa)) void suppressed_by_program(void) { sink = make(40), sink = NULL; }

__attribute__((noipa)) static void after_final(void) { sink = make(200), sink = NULL; }

static void say(const char *s) { (void)!write(1, s, strlen(s)); }

__attribute__((noipa)) static void recoverable(void)
{
    int found = __lsan_do_recoverable_leak_check ? __lsan_do_recoverable_leak_check() : 0;
    say(found ? "recoverable 1\n" : "recoverable 0\n");
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "final";
    bool clean = strcmp(mode, "clean") == 0;
    if (!clean) {
        direct();
        tree();
        unrooted();
    }
    ignored();
    disabled();
    rooted();
    suppressed_by_program();
    hide_kept();
    recoverable();
    if (strcmp(mode, "twice") == 0) {
        free_kept();
        recoverable();
        return 0;
    }
    if (__lsan_do_leak_check) __lsan_do_leak_check();
    if (clean) after_final();
    say("after\n");
    return 0;
}
