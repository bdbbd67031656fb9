/* symtab.h - a module's symbols sorted by address, for the name of the
 * function an address is in when there is no debug information for it.
 * libdw's dwfl_module_addrinfo scans the whole symbol table for every
 * address: on a large stripped program (GCC's cc1plus) a report that names
 * every stack spent seconds there. Built once per module file. */
#ifndef HEAPSNAP_SYMTAB_H
#define HEAPSNAP_SYMTAB_H

#include <elfutils/libdwfl.h>
#include <stdint.h>

struct symtab;

/* NULL when the module has no symbols. */
struct symtab *symtab_build(Dwfl_Module *mod);
/* The (mangled) name of the symbol addr falls in, or NULL; addr as the
 * module was reported (its own addresses: heapsnap reports modules at 0). */
const char *symtab_find(const struct symtab *t, uint64_t addr);

#endif
