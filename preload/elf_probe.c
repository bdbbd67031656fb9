/* elf_probe.c - see elf_probe.h. The file is mapped read-only and
 * every offset read from it is checked against its size: it is whatever
 * the program is, not trusted. */
#include "elf_probe.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct image {
    const uint8_t *p;
    uint64_t size;
};

static bool in_file(const struct image *im, uint64_t off, uint64_t len)
{
    return off <= im->size && len <= im->size - off;
}

/* A NUL-terminated string at off, or NULL if it runs past the file. */
static const char *string_at(const struct image *im, uint64_t off)
{
    if (off >= im->size) return NULL;
    const char *s = (const char *)im->p + off;
    return memchr(s, 0, im->size - off) ? s : NULL;
}

static bool is_runtime_library(const char *name)
{
    static const char *const prefixes[] = {"libasan.so", "liblsan.so", "libclang_rt.asan", "libclang_rt.lsan"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) return true;
    return false;
}

static void say(char *what, size_t cap, const char *name)
{
    if (cap) snprintf(what, cap, "%s", name);
}

/* A virtual address of the file's image to its file offset, by its PT_LOAD segments. */
static bool vaddr_offset(const struct image *im, const Elf64_Ehdr *eh, uint64_t vaddr, uint64_t *off)
{
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = (const void *)(im->p + eh->e_phoff + (uint64_t)i * eh->e_phentsize);
        if (ph->p_type == PT_LOAD && vaddr >= ph->p_vaddr && vaddr - ph->p_vaddr < ph->p_filesz) {
            *off = ph->p_offset + (vaddr - ph->p_vaddr);
            return true;
        }
    }
    return false;
}

/* DT_NEEDED, through the program headers: they are there even when the
 * section headers were stripped. */
static bool needs_runtime(const struct image *im, const Elf64_Ehdr *eh, char *what, size_t cap)
{
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || !in_file(im, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
        return false;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = (const void *)(im->p + eh->e_phoff + (uint64_t)i * sizeof(Elf64_Phdr));
        if (ph->p_type != PT_DYNAMIC || !in_file(im, ph->p_offset, ph->p_filesz)) continue;
        const Elf64_Dyn *dyn = (const void *)(im->p + ph->p_offset);
        size_t n = ph->p_filesz / sizeof *dyn;
        uint64_t strtab = 0;
        for (size_t k = 0; k < n && dyn[k].d_tag != DT_NULL; k++)
            if (dyn[k].d_tag == DT_STRTAB) strtab = dyn[k].d_un.d_ptr;
        uint64_t stroff;
        if (!strtab || !vaddr_offset(im, eh, strtab, &stroff)) return false;
        for (size_t k = 0; k < n && dyn[k].d_tag != DT_NULL; k++) {
            if (dyn[k].d_tag != DT_NEEDED) continue;
            const char *name = string_at(im, stroff + dyn[k].d_un.d_val);
            if (name && is_runtime_library(name)) {
                say(what, cap, name);
                return true;
            }
        }
    }
    return false;
}

/* Calls fn on every defined, named symbol of the file's symbol tables
 * (.symtab and .dynsym, in section order) until it returns true. */
typedef bool (*symbol_fn)(const char *name, const Elf64_Sym *sym, void *ctx);

static bool each_symbol(const struct image *im, const Elf64_Ehdr *eh, symbol_fn fn, void *ctx)
{
    if (!eh->e_shoff || eh->e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(im, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
        return false;
    const Elf64_Shdr *sh = (const void *)(im->p + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if ((sh[i].sh_type != SHT_SYMTAB && sh[i].sh_type != SHT_DYNSYM) || sh[i].sh_link >= eh->e_shnum) continue;
        const Elf64_Shdr *str = &sh[sh[i].sh_link];
        if (!in_file(im, sh[i].sh_offset, sh[i].sh_size) || !in_file(im, str->sh_offset, str->sh_size)) continue;
        const Elf64_Sym *sym = (const void *)(im->p + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof *sym;
        for (size_t k = 0; k < n; k++) {
            if (sym[k].st_shndx == SHN_UNDEF || sym[k].st_name >= str->sh_size) continue;
            const char *name = (const char *)im->p + str->sh_offset + sym[k].st_name;
            if (!memchr(name, 0, str->sh_size - sym[k].st_name)) continue;
            if (fn(name, &sym[k], ctx)) return true;
        }
    }
    return false;
}

struct runtime_found {
    char *what;
    size_t cap;
};

static bool is_runtime_init(const char *name, const Elf64_Sym *sym, void *ctx)
{
    (void)sym;
    struct runtime_found *f = ctx;
    if (name[0] != '_' || name[1] != '_') return false; /* most symbols are passed over here */
    if (strcmp(name, "__asan_init") != 0 && strcmp(name, "__lsan_init") != 0) return false;
    say(f->what, f->cap, name);
    return true;
}

/* Maps the ELF file at path and calls probe on it; false if it is not a
 * readable 64-bit ELF file. */
static bool with_image(const char *path, bool (*probe)(const struct image *, const Elf64_Ehdr *, void *), void *ctx)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    bool result = false;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size >= sizeof(Elf64_Ehdr)) {
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            struct image im = {map, (uint64_t)st.st_size};
            const Elf64_Ehdr *eh = map;
            if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64)
                result = probe(&im, eh, ctx);
            munmap(map, (size_t)st.st_size);
        }
    }
    close(fd);
    return result;
}

static bool probe_runtime(const struct image *im, const Elf64_Ehdr *eh, void *ctx)
{
    struct runtime_found *f = ctx;
    return needs_runtime(im, eh, f->what, f->cap) || each_symbol(im, eh, is_runtime_init, ctx);
}

bool sanitizer_runtime_in(const char *path, char *what, size_t cap)
{
    struct runtime_found f = {what, cap};
    return with_image(path, probe_runtime, &f);
}

const char *sanitizer_name(const char *what) { return strstr(what, "lsan") ? "LeakSanitizer" : "AddressSanitizer"; }

struct wanted {
    const char *const *names;
    uint64_t *values;
    size_t n;
};

static bool note_function(const char *name, const Elf64_Sym *sym, void *ctx)
{
    struct wanted *w = ctx;
    if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC) return false;
    for (size_t i = 0; i < w->n; i++)
        if (!w->values[i] && name[0] == w->names[i][0] && strcmp(name, w->names[i]) == 0) w->values[i] = sym->st_value;
    return false;
}

static bool probe_functions(const struct image *im, const Elf64_Ehdr *eh, void *ctx)
{
    return each_symbol(im, eh, note_function, ctx);
}

void elf_defined_functions(const char *path, const char *const *names, uint64_t *values, size_t n)
{
    struct wanted w = {names, values, n};
    memset(values, 0, n * sizeof *values);
    with_image(path, probe_functions, &w);
}
