/* util.h - the reporter's small shared helpers: allocation that never returns
 * NULL, fatal errors as one line on stderr, and uthash wired to them. */
#ifndef HEAPSNAP_UTIL_H
#define HEAPSNAP_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrndup(const char *s, size_t n);
/* Grows the array p of *cap elements (doubling) so index is valid; new
 * elements are zero. Returns the array. */
void *xgrow_zeroed(void *p, size_t *cap, size_t index, size_t elem);
void xfree(void *p);

/* Prints "heapsnap: MESSAGE" and exits with status 1 (2 for usage errors). */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* The command whose options are being read ("run"): a usage error names it. */
extern const char *usage_command;
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Pointer-sized keys (the live-block table, tens of millions of lookups per
 * report) get a multiplicative hash; other keys uthash's default. */
#define HASH_FUNCTION(keyptr, keylen, hashv)                                                                      \
    do {                                                                                                          \
        if ((keylen) == 8) {                                                                                      \
            uint64_t k_;                                                                                          \
            memcpy(&k_, (keyptr), 8);                                                                             \
            k_ *= 0x9e3779b97f4a7c15ull;                                                                          \
            (hashv) = (unsigned)(k_ >> 32);                                                                       \
        } else {                                                                                                  \
            HASH_JEN((keyptr), (keylen), (hashv));                                                                \
        }                                                                                                         \
    } while (0)
#include <string.h>
#define uthash_malloc(sz) xmalloc(sz)
#define uthash_free(ptr, sz) xfree(ptr)
#define uthash_nonfatal_oom(obj) die("out of memory")
#include <uthash.h>

/* data as path's whole content, or the file as it was: written beside it and
 * renamed over it ("-": standard output). -1 with a reason in err. */
int write_whole_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* A growable byte buffer for building output. */
struct strbuf {
    char *s;
    size_t len, cap;
};
void sb_add(struct strbuf *b, const char *s, size_t n);
void sb_puts(struct strbuf *b, const char *s);
void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(struct strbuf *b);

#endif
