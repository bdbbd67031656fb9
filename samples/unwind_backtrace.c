/* unwind_backtrace.c - programs that read their own stack after allocating
 * deep in a call chain, for comparing stack captures (tests/test_unwind.c):
 * what they read must not depend on how heapsnap unwinds. Built with
 * -rdynamic, and its functions are not static, so backtrace_symbols names
 * them.
 *
 * backtrace: chain() goes 20 levels deep allocating at each level
 *   (chain_alloc, 20 x 40 B, freed on the way up), then backtrace() at the
 *   bottom; then 5 levels (other_chain, 5 x 40 B) and 30 levels (chain) again.
 *   Each call prints the number of frames up to main's and, per frame, the
 *   module's file name and the function+offset that backtrace_symbols gives
 *   (addresses vary from run to run, these do not). Not below main: there,
 *   under heapsnap (whichever unwinder), the shim's wrapper of main, which
 *   takes main's return value, is a frame of its own.
 * return address: ra_descend() goes 1, 12 and 40 levels deep (chain_alloc at
 *   each, 53 x 40 B), where ra_check() reads __builtin_return_address(0),
 *   calls malloc itself (33 B) and reads it again; it prints whether the two
 *   are equal and the function the address is in (dladdr).
 * Exit 0. */
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

void *volatile keep; /* every block escapes through it: GCC drops a malloc/free pair it can see whole */

/* "/path/to/module(function+0x1a) [0x5555...]" -> "module(function+0x1a)" */
void print_symbol(const char *s)
{
    const char *end = strstr(s, " [");
    size_t len = end ? (size_t)(end - s) : strlen(s);
    const char *paren = memchr(s, '(', len);
    const char *base = s;
    for (const char *p = s; p < (paren ? paren : s + len); p++)
        if (*p == '/') base = p + 1;
    printf("    %.*s\n", (int)(len - (size_t)(base - s)), base);
}

NOINLINE void show_backtrace(const char *what)
{
    void *frames[128];
    int n = backtrace(frames, 128);
    char **names = backtrace_symbols(frames, n);
    int upto = 0; /* frames up to main's */
    while (upto < n && !strstr(names[upto], "(main+"))
        upto++;
    printf("%s: %d frames up to main\n", what, upto + 1);
    for (int i = 0; i <= upto && i < n; i++)
        print_symbol(names[i]);
    free(names);
}

NOINLINE void chain_alloc(int level)
{
    char *p = malloc(40);
    keep = p;
    p[0] = (char)level;
    keep = p;
}

NOINLINE void chain(int level, int depth, const char *what)
{
    chain_alloc(level);
    void *mine = keep;
    if (level < depth)
        chain(level + 1, depth, what);
    else
        show_backtrace(what);
    free(mine);
}

NOINLINE void other_chain(int level, int depth, const char *what)
{
    chain_alloc(level);
    void *mine = keep;
    if (level < depth)
        other_chain(level + 1, depth, what);
    else
        show_backtrace(what);
    free(mine);
}

NOINLINE void ra_check(int depth)
{
    void *before = __builtin_return_address(0);
    keep = malloc(33);
    void *after = __builtin_return_address(0);
    free(keep);
    Dl_info info;
    const char *in = dladdr(after, &info) && info.dli_sname ? info.dli_sname : "?";
    printf("return address at depth %d: %s after malloc, in %s\n", depth, before == after ? "unchanged" : "CHANGED",
           in);
}

NOINLINE void ra_descend(int level, int depth)
{
    chain_alloc(level);
    void *mine = keep;
    if (level < depth)
        ra_descend(level + 1, depth);
    else
        ra_check(depth);
    free(mine);
}

int main(void)
{
    chain(0, 19, "after 20 levels");
    other_chain(0, 4, "after 5 levels");
    chain(0, 29, "after 30 levels");
    ra_descend(1, 1);
    ra_descend(1, 12);
    ra_descend(1, 40);
    return 0;
}
