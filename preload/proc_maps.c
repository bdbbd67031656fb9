/* proc_maps.c - the mapping that holds an address, read from /proc/self/maps
 * with system calls of our own: no stdio (its locks and buffers are the
 * program's), no allocation, no loader call. Used where a thread's stack
 * bounds are first needed (unwind_memo.c: pthread_getattr_np takes the
 * thread's lock, and the program may be inside it, allocating) and where an
 * attached shim must know whether a page of relocations is writable now
 * (got_patch.c). */
#include "shim.h"

#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>

static bool hexnum(const char **s, uintptr_t *v)
{
    const char *p = *s;
    uintptr_t x = 0;
    for (; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
        x = x << 4 | (uintptr_t)(*p <= '9' ? *p - '0' : *p - 'a' + 10);
    if (p == *s) return false;
    *s = p;
    *v = x;
    return true;
}

/* Fills r from the line of the mapping [lo, hi) that holds addr. */
static bool parse_line(const char *p, uintptr_t addr, struct maps_range *r)
{
    uintptr_t a, b;
    if (!hexnum(&p, &a) || *p++ != '-' || !hexnum(&p, &b) || addr < a || addr >= b) return false;
    r->lo = a, r->hi = b;
    while (*p == ' ')
        p++;
    r->readable = p[0] == 'r';
    r->writable = p[0] && p[1] == 'w';
    r->is_main_stack = strstr(p, "[stack]") != NULL; /* the main thread's: the kernel grows it down */
    return true;
}

bool maps_find(uintptr_t addr, struct maps_range *r)
{
    int fd = (int)shim_sys(SYS_open, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return false;
    char buf[4096];
    size_t have = 0;
    bool found = false;
    for (;;) {
        long got = shim_sys(SYS_read, fd, (long)(buf + have), (long)(sizeof buf - 1 - have));
        if (got <= 0) break;
        have += (size_t)got;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = 0;
            if (parse_line(line, addr, r)) {
                found = true;
                break;
            }
            line = nl + 1;
        }
        if (found) break;
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof buf - 1) have = 0; /* a line longer than the buffer: a long path, not ours */
    }
    shim_sys(SYS_close, fd, 0, 0);
    return found;
}
