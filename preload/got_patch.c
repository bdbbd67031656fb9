/* got_patch.c - redirecting a running process's calls to the shim
 * (`heapsnap attach`, docs/ATTACH.md).
 *
 * A process started without the shim bound its malloc calls long ago: each
 * module calls through a slot of its own (a PLT jump slot, or a GOT entry
 * when the address is taken or the module was built with -fno-plt) that the
 * loader filled with libc's function. Redirecting a call is writing the
 * shim's function into that slot; detaching is writing the old value back.
 * An aligned 8-byte store is atomic, so threads that call meanwhile get one
 * function or the other, never a torn pointer.
 *
 * Rules that keep it safe:
 * - A slot is taken only while it holds what the loader bound the name to in
 *   the global scope (the function the shim forwards to), or, for a lazy
 *   jump slot not called yet, the module's own PLT stub. A slot bound to
 *   anything else (the program's own allocator, a DEEPBIND library's) is left
 *   alone: our wrapper would forward its calls to the wrong allocator. Before
 *   its relocation a slot holds neither, so a module still being loaded by
 *   another thread's dlopen is not touched too early.
 * - Relocations under RELRO are read-only once the loader is done: such a
 *   page is made writable for the store and read-only again. A RELRO page
 *   that is still writable belongs to a module being relocated right now:
 *   the module is skipped, a later pass takes it.
 * - Every patched slot is remembered with its module's base; restoring checks
 *   with _dl_find_object (lock-free) that the module is still there and the
 *   slot still holds ours. */
#include "shim.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>

struct got_slot {
    _Atomic(void *) *slot;
    void *old, *ours;
    uintptr_t module_base;
    bool keep; /* left pointing at us after detach (heapsnap.h's entry points) */
};

static struct got_slot *slots;
static size_t nslots, capslots;
static atomic_flag got_lock = ATOMIC_FLAG_INIT;

struct patch_pass {
    const struct got_target *targets;
    size_t ntargets;
    void **bound;       /* per target: what the global scope binds the name to */
    uintptr_t own_base; /* the shim's: its slots stay as they are */
    unsigned patched, busy;
};

static bool remember(_Atomic(void *) *slot, void *old, void *ours, uintptr_t base, bool keep)
{
    if (nslots == capslots) {
        size_t cap = capslots ? capslots * 2 : 1024;
        struct got_slot *v = arena_alloc(cap * sizeof *v); /* the old array stays in the arena: a few KiB */
        if (!v) return false;
        if (nslots) memcpy(v, slots, nslots * sizeof *v);
        slots = v;
        capslots = cap;
    }
    slots[nslots++] = (struct got_slot){slot, old, ours, base, keep};
    return true;
}

/* Stores v into slot, making its page writable for the store if it is a
 * read-only (RELRO) one. */
static struct maps_range last_range; /* the last mapping looked up: slots come in runs */
static bool last_range_valid;

static bool store_slot(_Atomic(void *) *slot, void *v)
{
    struct maps_range r = last_range;
    if (!last_range_valid || (uintptr_t)slot < r.lo || (uintptr_t)slot >= r.hi) {
        if (!maps_find((uintptr_t)slot, &r)) return false;
        last_range = r; /* still right after the store below: the page is given its protection back */
        last_range_valid = true;
    }
    if (r.writable) {
        atomic_store_explicit(slot, v, memory_order_release);
        return true;
    }
    uintptr_t page = (uintptr_t)slot & ~(uintptr_t)4095;
    if (mprotect((void *)page, 4096, PROT_READ | PROT_WRITE) != 0) return false;
    atomic_store_explicit(slot, v, memory_order_release);
    mprotect((void *)page, 4096, r.readable ? PROT_READ : PROT_NONE);
    return true;
}

static uintptr_t dyn_ptr(uintptr_t base, uintptr_t v)
{
    /* glibc relocates most of a module's dynamic entries in place; the
     * vDSO's (read-only) and some loaders' are left as link-time values. */
    return v < base ? base + v : v;
}

/* Whether a jump slot not called yet still holds its own lazy PLT entry:
 * the push of its index (after an endbr64 where the module has IBT), inside
 * the module's code. Anything else there is a binding to something. */
static bool lazy_entry(uintptr_t at, size_t index, uintptr_t code_lo, uintptr_t code_hi)
{
    if (at < code_lo || at + 9 > code_hi) return false;
    const uint8_t *b = (const uint8_t *)at;
    if (b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa) b += 4;
    uint32_t imm;
    memcpy(&imm, b + 1, sizeof imm);
    return b[0] == 0x68 && imm == index;
}

static void patch_relocs(struct patch_pass *pp, const struct dl_phdr_info *info, const ElfW(Rela) * rel, size_t n,
                         const ElfW(Sym) * symtab, const char *strtab, uintptr_t lo, uintptr_t hi)
{
    uintptr_t base = info->dlpi_addr;
    for (size_t i = 0; i < n; i++) {
        unsigned type = ELF64_R_TYPE(rel[i].r_info);
        if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
        const char *name = strtab + symtab[ELF64_R_SYM(rel[i].r_info)].st_name;
        for (size_t k = 0; k < pp->ntargets; k++) {
            if (strcmp(name, pp->targets[k].name) != 0) continue;
            _Atomic(void *) *slot = (_Atomic(void *) *)(base + rel[i].r_offset);
            void *now = atomic_load_explicit(slot, memory_order_acquire);
            void *ours = pp->targets[k].ours;
            bool lazy_stub = type == R_X86_64_JUMP_SLOT && lazy_entry((uintptr_t)now, i, lo, hi);
            if (now == ours || (now != pp->bound[k] && !lazy_stub)) break;
            if (store_slot(slot, ours)) {
                if (remember(slot, lazy_stub ? pp->bound[k] : now, ours, base, pp->targets[k].keep))
                    pp->patched++;
                else
                    store_slot(slot, now);
            }
            break;
        }
    }
}

/* What a module's program headers and dynamic section say about its
 * relocations. */
struct module_relocs {
    uintptr_t lo, hi, relro_lo, relro_hi;
    uintptr_t code_lo, code_hi; /* the executable segment (the PLT is in it) */
    const ElfW(Sym) * syms;
    const char *strtab;
    const ElfW(Rela) * rela, *jmprel;
    size_t nrela, njmprel;
};

static bool module_relocs(const struct dl_phdr_info *info, struct module_relocs *m)
{
    *m = (struct module_relocs){.lo = UINTPTR_MAX};
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)a;
        if (ph->p_type == PT_LOAD) {
            if (a < m->lo) m->lo = a;
            if (a + ph->p_memsz > m->hi) m->hi = a + ph->p_memsz;
        }
        if (ph->p_type == PT_GNU_RELRO) m->relro_lo = a, m->relro_hi = a + ph->p_memsz;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && !m->code_hi) m->code_lo = a, m->code_hi = a + ph->p_memsz;
    }
    if (!dyn) return false;
    uintptr_t base = info->dlpi_addr;
    long pltrel = DT_RELA;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: m->syms = (const ElfW(Sym) *)dyn_ptr(base, d->d_un.d_ptr); break;
        case DT_STRTAB: m->strtab = (const char *)dyn_ptr(base, d->d_un.d_ptr); break;
        case DT_RELA: m->rela = (const ElfW(Rela) *)dyn_ptr(base, d->d_un.d_ptr); break;
        case DT_RELASZ: m->nrela = d->d_un.d_val / sizeof(ElfW(Rela)); break;
        case DT_JMPREL: m->jmprel = (const ElfW(Rela) *)dyn_ptr(base, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: m->njmprel = d->d_un.d_val / sizeof(ElfW(Rela)); break;
        case DT_PLTREL: pltrel = (long)d->d_un.d_val; break;
        default: break;
        }
    }
    if (pltrel != DT_RELA) m->jmprel = NULL;
    if (!m->rela) m->nrela = 0;
    if (!m->jmprel) m->njmprel = 0;
    return m->syms && m->strtab;
}

static int patch_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct patch_pass *pp = arg;
    struct module_relocs m;
    if (info->dlpi_addr == pp->own_base || !module_relocs(info, &m)) return 0;
    /* A module whose RELRO pages are still writable is being relocated: later. */
    struct maps_range r;
    if (m.relro_lo < m.relro_hi && maps_find(m.relro_lo, &r) && r.writable) {
        pp->busy++;
        return 0;
    }
    patch_relocs(pp, info, m.rela, m.nrela, m.syms, m.strtab, 0, 0); /* no lazy entry there */
    patch_relocs(pp, info, m.jmprel, m.njmprel, m.syms, m.strtab, m.code_lo, m.code_hi);
    return 0;
}

/* ---- the function behind a name ---------------------------------------- */

struct main_slot {
    const char *name;
    void *value; /* what the program's own jump slot for name holds */
    uintptr_t lo, hi;
    bool seen;
};

static int find_main_slot(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct main_slot *ms = arg;
    struct module_relocs m;
    if (!module_relocs(info, &m)) return 1; /* the first module is the program */
    ms->lo = m.lo, ms->hi = m.hi;
    for (size_t i = 0; i < m.njmprel; i++) {
        if (ELF64_R_TYPE(m.jmprel[i].r_info) != R_X86_64_JUMP_SLOT) continue;
        if (strcmp(m.strtab + m.syms[ELF64_R_SYM(m.jmprel[i].r_info)].st_name, ms->name) != 0) continue;
        ms->value =
            atomic_load_explicit((_Atomic(void *) *)(info->dlpi_addr + m.jmprel[i].r_offset), memory_order_acquire);
        ms->seen = true;
    }
    return 1;
}

/* The function the process's calls of name reach. Not always what dlsym
 * says: a program linked without -pie that takes malloc's address makes its
 * own PLT entry the address of "malloc" for everyone (pointer equality), and
 * that entry jumps through the program's own slot; our wrapper calling it
 * would call itself once that slot is ours. The real function is then what
 * the loader bound that slot to, or (not called yet) the C library's. */
void *got_real_function(const char *name)
{
    void *p = dlsym(RTLD_DEFAULT, name);
    struct main_slot ms = {.name = name};
    dl_iterate_phdr(find_main_slot, &ms);
    if (!p || (uintptr_t)p < ms.lo || (uintptr_t)p >= ms.hi || !ms.seen) return p; /* not the program's PLT */
    if ((uintptr_t)ms.value < ms.lo || (uintptr_t)ms.value >= ms.hi) return ms.value;
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *q = libc ? dlsym(libc, name) : NULL;
    if (libc) dlclose(libc);
    return q;
}

int got_patch_all(const struct got_target *targets, size_t n, unsigned *busy)
{
    void *bound[64];
    shim_assert(n <= sizeof bound / sizeof *bound);
    for (size_t k = 0; k < n; k++)
        bound[k] = targets[k].keep ? NULL : got_real_function(targets[k].name);
    struct dl_find_object fo;
    struct patch_pass pp = {.targets = targets, .ntargets = n, .bound = bound};
    if (_dl_find_object((void *)got_patch_all, &fo) == 0) pp.own_base = fo.dlfo_link_map->l_addr;
    while (atomic_flag_test_and_set_explicit(&got_lock, memory_order_acquire)) {
    }
    last_range_valid = false;
    dl_iterate_phdr(patch_module, &pp);
    atomic_flag_clear_explicit(&got_lock, memory_order_release);
    if (busy) *busy = pp.busy;
    return (int)pp.patched;
}

/* A fork child: the lock may have been held by a thread it does not have. */
void got_after_fork(void) { atomic_flag_clear(&got_lock); }

unsigned got_restore_all(void)
{
    unsigned restored = 0;
    while (atomic_flag_test_and_set_explicit(&got_lock, memory_order_acquire)) {
    }
    last_range_valid = false;
    size_t kept = 0;
    for (size_t i = 0; i < nslots; i++) {
        struct got_slot *s = &slots[i];
        struct dl_find_object fo;
        bool there = _dl_find_object((void *)s->slot, &fo) == 0 && fo.dlfo_link_map->l_addr == s->module_base;
        if (there && s->keep) {
            slots[kept++] = *s;
            continue;
        }
        if (there && atomic_load_explicit(s->slot, memory_order_acquire) == s->ours && store_slot(s->slot, s->old))
            restored++;
    }
    nslots = kept;
    atomic_flag_clear_explicit(&got_lock, memory_order_release);
    return restored;
}
