/* elf_probe.h - what an executable's ELF file says, read without loading it:
 * - does it carry a sanitizer runtime with a leak checker of its own
 *   (AddressSanitizer or LeakSanitizer)? `heapsnap run` asks before it starts
 *   the program, the shim before a traced process execs one and at its own
 *   start;
 * - where are functions it defines but does not export (the LSan hooks a
 *   program defines, found in its symbol table by the shim).
 *
 * Shared by the shim and the `heapsnap` command; safe in a vfork child (no
 * allocation, no loader call: open, mmap, munmap, close). */
#ifndef HEAPSNAP_ELF_PROBE_H
#define HEAPSNAP_ELF_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if the ELF file at path links libasan or liblsan (DT_NEEDED), or
 * defines __asan_init or __lsan_init (a runtime linked in statically, as
 * clang does by default). what gets a short name for the reason
 * ("liblsan.so.0", "__asan_init"). False for anything that is not a readable
 * 64-bit ELF file. */
bool sanitizer_runtime_in(const char *path, char *what, size_t cap);

/* The runtime's name for a reason sanitizer_runtime_in gave: "AddressSanitizer"
 * or "LeakSanitizer". */
const char *sanitizer_name(const char *what);

/* The values (link-time addresses) of the functions named, defined in the
 * file's symbol tables (.symtab, then .dynsym); 0 where one is not. */
void elf_defined_functions(const char *path, const char *const *names, uint64_t *values, size_t n);

#endif
