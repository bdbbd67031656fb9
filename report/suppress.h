/* suppress.h - leak suppressions: LSan's `leak:PATTERN` lines (also read by
 * heaptrack), valgrind's `{ ... Memcheck:Leak ... }` blocks, and `file.c:LINE`
 * patterns LSan cannot express; plus heapsnap's built-in list for the one-time
 * allocations of glibc, the loader and libstdc++. */
#ifndef HEAPSNAP_SUPPRESS_H
#define HEAPSNAP_SUPPRESS_H

#include "symbols.h"

struct supp {
    char *name;     /* as printed in "suppressions used" */
    bool valgrind;  /* a frame sequence, else an LSan pattern */
    char *pattern;  /* LSan: fnmatch form, anchors resolved */
    char *file;     /* LSan file:LINE form */
    int line;
    char **frames;  /* valgrind: "fun:P", "obj:P", "..." */
    size_t nframes;
    unsigned kinds; /* valgrind match-leak-kinds: bit (1 << enum leak_kind); 0 = all */
    bool builtin;
    const char *origin; /* the program's own: where it said it (__lsan_default_suppressions...); else NULL */
    uint64_t used_records, used_blocks, used_bytes;
};

struct supp_list {
    struct supp *v;
    size_t n;
};

/* Appends the suppressions of a file; -1 with a reason on a bad file. */
int supp_load(struct supp_list *l, const char *path, char *err, size_t errlen);
/* The same from text in memory; name is what messages call it. */
int supp_load_text(struct supp_list *l, const char *text, size_t len, const char *name, char *err, size_t errlen);
void supp_add_builtin(struct supp_list *l);
/* The suppression that covers a leak of this kind allocated at these frames, or NULL. */
struct supp *supp_match(struct supp_list *l, const struct sym_frame *f, size_t n, unsigned kind);
void supp_free(struct supp_list *l);

#endif
