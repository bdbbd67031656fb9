/* util.c - see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die("out of memory");
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void *xgrow_zeroed(void *p, size_t *cap, size_t index, size_t elem)
{
    if (index < *cap) return p;
    size_t n = *cap ? *cap : 64;
    while (n <= index) n *= 2;
    p = xrealloc(p, n * elem);
    memset((char *)p + *cap * elem, 0, (n - *cap) * elem);
    *cap = n;
    return p;
}

void xfree(void *p) { free(p); }

static void vsay(const char *fmt, va_list ap)
{
    fflush(stdout);
    fputs("heapsnap: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    exit(1);
}

const char *usage_command;

void die_usage(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (usage_command) fprintf(stderr, "heapsnap: %s: %s\n", usage_command, msg);
    else fprintf(stderr, "heapsnap: %s\n", msg);
    exit(2);
}

void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

void sb_add(struct strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void sb_puts(struct strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

void sb_free(struct strbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

int write_whole_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    if (strcmp(path, "-") == 0) {
        bool ok = (!len || fwrite(data, 1, len, stdout) == len) && fflush(stdout) == 0;
        if (!ok) snprintf(err, errlen, "standard output: %s", strerror(errno ? errno : EIO));
        return ok ? 0 : -1;
    }
    /* Beside the target, so the rename stays on one file system; both
     * named from the directory held open, so a directory renamed meanwhile
     * still gets the whole file and never a stray temporary. */
    char dir[4096], tmp[4096];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    if ((size_t)snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".") >=
            sizeof dir ||
        (size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%d", base, (int)getpid()) >= sizeof tmp) {
        snprintf(err, errlen, "%s: the name is too long", path);
        return -1;
    }
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = dfd < 0 ? -1 : openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (dfd >= 0) close(dfd);
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        p += n;
        left -= (size_t)n;
    }
    int saved = left ? (errno ? errno : ENOSPC) : 0;
    if (close(fd) != 0 && !saved) saved = errno;
    if (!saved && renameat(dfd, tmp, dfd, base) != 0) saved = errno;
    if (saved) unlinkat(dfd, tmp, 0);
    close(dfd);
    if (saved) {
        snprintf(err, errlen, "%s: %s", path, strerror(saved));
        return -1;
    }
    return 0;
}
