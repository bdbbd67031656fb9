/* symbols.h - instruction pointers to function, file:line and module, with
 * inlined frames expanded, from the module files named in the trace (elfutils
 * libdw). Falls back to the ELF symbol tables, then to module+offset. */
#ifndef HEAPSNAP_SYMBOLS_H
#define HEAPSNAP_SYMBOLS_H

#include "snap.h"

struct sym_frame {
    const char *function; /* demangled; never NULL ("??" when unknown) */
    const char *file;     /* NULL when unknown */
    int line;
    const char *module;   /* file name of the module, NULL when unknown */
    uint64_t ip;
    bool inlined;         /* an inlined call inside the next frame */
};

/* A stack's frames, innermost first, with allocator frames removed from the
 * top (heapsnap's own, the malloc family, operator new/new[]). The array is
 * owned by the cache and lives until symbols_end(). */
const struct sym_frame *symbols_stack(const struct snap *s, const struct snap_stack *st, size_t *n);
/* Forgets s's stacks (its modules' files stay known, for the next snap). */
void symbols_end(struct snap *s);
/* Forgets s's stacks only: a snap still growing (a followed process) asks
 * again once its stacks may name modules it had not read yet. */
void symbols_forget_stacks(const struct snap *s);
/* {"function", "file", "line", "module"}: a frame as every JSON output writes it. */
void symbols_frame_json(struct strbuf *b, const struct sym_frame *f);

#endif
