/* symtab.c - see symtab.h. As dwfl_module_addrinfo does: functions and
 * objects with an address; an address inside a sized symbol is that
 * symbol's, past its end it is nobody's; of symbols at one address a global
 * one is preferred, then a sized one. Names are libdw's: the module files
 * they come from stay open to the end (symbols.c). */
#include "symtab.h"
#include "util.h"

#include <gelf.h>
#include <stdlib.h>

struct sym_entry {
    uint64_t lo, size;
    const char *name;
    int rank; /* higher wins at equal addresses */
};

struct symtab {
    struct sym_entry *v;
    size_t n;
};

static int by_address(const void *a, const void *b)
{
    const struct sym_entry *x = a, *y = b;
    if (x->lo != y->lo) return x->lo < y->lo ? -1 : 1;
    return y->rank - x->rank; /* the preferred one first */
}

struct symtab *symtab_build(Dwfl_Module *mod)
{
    int count = mod ? dwfl_module_getsymtab(mod) : -1;
    if (count <= 1) return NULL;
    struct symtab *t = xcalloc(1, sizeof *t);
    t->v = xmalloc((size_t)count * sizeof *t->v);
    for (int i = 1; i < count; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info);
        if (!name || !*name || sym.st_shndx == SHN_UNDEF || addr == 0) continue;
        if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT && type != STT_NOTYPE) continue;
        int rank = (GELF_ST_BIND(sym.st_info) == STB_GLOBAL) * 2 + (sym.st_size > 0);
        t->v[t->n++] = (struct sym_entry){.lo = addr, .size = sym.st_size, .name = name, .rank = rank};
    }
    qsort(t->v, t->n, sizeof *t->v, by_address);
    /* one entry per address: the preferred one */
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (!k || t->v[k - 1].lo != t->v[i].lo) t->v[k++] = t->v[i];
    t->n = k;
    return t;
}

const char *symtab_find(const struct symtab *t, uint64_t addr)
{
    if (!t || !t->n || addr < t->v[0].lo) return NULL;
    size_t lo = 0, hi = t->n; /* the last entry at or below addr */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (t->v[mid].lo <= addr)
            lo = mid;
        else
            hi = mid;
    }
    const struct sym_entry *e = &t->v[lo];
    if (e->size && addr >= e->lo + e->size) return NULL;
    return e->name;
}
