/* modules.c - the module map: which file is mapped where, written to the
 * trace so the reporter can symbolize offline, after the program is gone.
 *
 * A module is written when the first new stack that runs through it appears,
 * before that stack. The lookup is glibc's _dl_find_object, which takes no
 * lock (it exists for unwinders), and what a module is made of (name, bias,
 * segments, build id) is read from the loaded image: its link_map and the ELF
 * header at the start of its mapping. So this file never calls the loader's
 * locked functions (dl_iterate_phdr, dladdr): it runs inside allocations,
 * whose caller may hold the loader's lock (dlopen allocates under it, and so do
 * dl_iterate_phdr callbacks) or any of its own. Our one lock, modules_lock,
 * is a leaf: nothing that waits for another lock happens while it is held.
 * docs/DESIGN.md ("Locks") has the whole argument.
 *
 * We do not interpose dlopen: glibc resolves a bare name against the RUNPATH of
 * dlopen's *caller*, and a wrapper would make that caller us. Unloads are seen
 * when a module appears where one we wrote was: that one is written unloaded
 * then, which is all the reporter needs to tell the two apart. */
#include "shim.h"
#include "../trace/varint.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODULE_BUILD_ID_MAX 64

uintptr_t shim_own_lo, shim_own_hi;

struct module {
    _Atomic(struct module *) next;
    /* One load of one file, as _dl_find_object reports it: a file loaded
     * again, even at the same address, may come back as another link_map. */
    const void *map_start, *map_end;
    const struct link_map *link_map;
    const char *loader_name; /* l_name as the loader has it */
    uint32_t id;
    uint32_t build_id_len;
    uintptr_t bias, lo, hi;
    uint8_t build_id[MODULE_BUILD_ID_MAX];
    char name[]; /* what the reporter opens: an absolute path where we can tell */
};

/* Read without a lock (a node is published complete with a release store and
 * arena memory is never reused, so a reader on an unlinked node still walks a
 * valid list); changed only under modules_lock. */
static _Atomic(struct module *) modules;
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t modules_next_id;

/* What the loader's link_map and the image's ELF header tell about one module.
 * Built without modules_lock: resolving a path makes system calls. */
struct module_facts {
    uintptr_t bias, lo, hi;
    const uint8_t *build_id;
    size_t build_id_len;
    const char *name;
    char path[PATH_MAX];
};

/* The program headers of the module mapped at fo, if the start of its mapping
 * holds its ELF header (it does for anything a normal link produced). */
static const ElfW(Phdr) * module_phdrs(const struct dl_find_object *fo, unsigned *count)
{
    const uint8_t *start = fo->dlfo_map_start, *end = fo->dlfo_map_end;
    const ElfW(Ehdr) *eh = (const void *)start;
    if ((size_t)(end - start) < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) return NULL;
    if (eh->e_phentsize != sizeof(ElfW(Phdr)) || eh->e_phoff > (size_t)(end - start) ||
        eh->e_phnum > ((size_t)(end - start) - eh->e_phoff) / sizeof(ElfW(Phdr)))
        return NULL;
    *count = eh->e_phnum;
    return (const void *)(start + eh->e_phoff);
}

static void module_range(const ElfW(Phdr) * ph, unsigned n, uintptr_t bias, bool exec_only, uintptr_t *lo,
                         uintptr_t *hi)
{
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (unsigned i = 0; i < n; i++) {
        if (ph[i].p_type != PT_LOAD || (exec_only && !(ph[i].p_flags & PF_X))) continue;
        uintptr_t a = bias + ph[i].p_vaddr, b = a + ph[i].p_memsz;
        if (a < *lo) *lo = a;
        if (b > *hi) *hi = b;
    }
}

static size_t module_build_id(const ElfW(Phdr) * ph, unsigned n, uintptr_t bias, const struct dl_find_object *fo,
                              const uint8_t **id)
{
    for (unsigned i = 0; i < n; i++) {
        if (ph[i].p_type != PT_NOTE) continue;
        const uint8_t *p = (const uint8_t *)(bias + ph[i].p_vaddr), *end = p + ph[i].p_memsz;
        if (p < (const uint8_t *)fo->dlfo_map_start || end > (const uint8_t *)fo->dlfo_map_end) continue;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const void *)p;
            size_t name = (nh->n_namesz + 3) & ~3u, desc = (nh->n_descsz + 3) & ~3u;
            const uint8_t *d = p + sizeof *nh + name;
            if (d + desc > end) break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(p + sizeof *nh, "GNU", 4) == 0) {
                *id = d;
                return nh->n_descsz;
            }
            p = d + desc;
        }
    }
    return 0;
}

static void module_facts(const struct dl_find_object *fo, struct module_facts *f)
{
    const struct link_map *lm = fo->dlfo_link_map;
    f->bias = lm->l_addr;
    f->build_id = NULL;
    f->build_id_len = 0;
    unsigned n = 0;
    const ElfW(Phdr) *ph = module_phdrs(fo, &n);
    if (ph) module_range(ph, n, f->bias, false, &f->lo, &f->hi);
    if (!ph || f->lo >= f->hi) {
        f->lo = (uintptr_t)fo->dlfo_map_start;
        f->hi = (uintptr_t)fo->dlfo_map_end;
    }
    if (ph) f->build_id_len = module_build_id(ph, n, f->bias, fo, &f->build_id);
    const char *name = lm->l_name;
    if (!name || !*name) {
        /* The main program has no name here: ask the kernel. */
        ssize_t len = readlink("/proc/self/exe", f->path, sizeof f->path - 1);
        f->path[len > 0 ? len : 0] = 0;
        name = f->path;
    } else if (name[0] != '/' && realpath(name, f->path)) {
        name = f->path; /* dlopen("./plugin.so") must resolve from the reporter's cwd too */
    }
    f->name = name;
}

static bool module_is(const struct module *m, const struct dl_find_object *fo)
{
    const struct link_map *lm = fo->dlfo_link_map;
    return m->map_start == fo->dlfo_map_start && m->map_end == fo->dlfo_map_end && m->link_map == lm &&
           m->bias == lm->l_addr && strcmp(m->loader_name, lm->l_name ? lm->l_name : "") == 0;
}

static struct module *module_find(const struct dl_find_object *fo)
{
    for (struct module *m = atomic_load_explicit(&modules, memory_order_acquire); m;
         m = atomic_load_explicit(&m->next, memory_order_acquire))
        if (module_is(m, fo)) return m;
    return NULL;
}

static void module_emit(struct shim_thread *t, const struct module *m)
{
    size_t plen = strlen(m->name);
    if (!emit_prepare(t, 1 + 8 * VARINT_MAX + m->build_id_len + plen)) return;
    uint8_t *p = t->pos;
    *p++ = REC_MODULE;
    p = emit_stamp(t, p, shim_ticks());
    p = varint_put(p, m->id);
    p = varint_put(p, m->bias);
    p = varint_put(p, m->lo);
    p = varint_put(p, m->hi);
    p = varint_put(p, m->build_id_len);
    memcpy(p, m->build_id, m->build_id_len);
    p += m->build_id_len;
    p = varint_put(p, plen);
    memcpy(p, m->name, plen);
    emit_commit(t, p + plen);
}

static void emit_unload(struct shim_thread *t, uint32_t id)
{
    if (!emit_prepare(t, 1 + 2 * VARINT_MAX)) return;
    uint8_t *p = t->pos;
    *p++ = REC_UNLOAD;
    p = emit_stamp(t, p, shim_ticks());
    p = varint_put(p, id);
    emit_commit(t, p);
}

/* Writes the module found at fo, and the unload of every module written
 * before at the addresses it now occupies. */
SHIM_COLD static struct module *module_add(struct shim_thread *t, const struct dl_find_object *fo)
{
    struct module_facts f;
    module_facts(fo, &f);
    const char *loader_name = fo->dlfo_link_map->l_name ? fo->dlfo_link_map->l_name : "";
    size_t name_len = strlen(f.name), loader_len = strlen(loader_name);
    struct module *m = arena_alloc(sizeof *m + name_len + 1 + loader_len + 1);
    if (!m) return NULL;
    m->map_start = fo->dlfo_map_start;
    m->map_end = fo->dlfo_map_end;
    m->link_map = fo->dlfo_link_map;
    m->bias = f.bias;
    m->lo = f.lo;
    m->hi = f.hi;
    m->build_id_len = f.build_id_len < MODULE_BUILD_ID_MAX ? (uint32_t)f.build_id_len : MODULE_BUILD_ID_MAX;
    memcpy(m->build_id, f.build_id, m->build_id_len);
    memcpy(m->name, f.name, name_len + 1);
    char *copy = m->name + name_len + 1;
    memcpy(copy, loader_name, loader_len + 1);
    m->loader_name = copy;

    /* Leaf section: list work and records into our own chunk, no other lock. */
    pthread_mutex_lock(&modules_lock);
    struct module *known = module_find(fo); /* another thread may have written it meanwhile */
    if (known) {
        pthread_mutex_unlock(&modules_lock);
        return known; /* m stays unused in the arena: rare, and small */
    }
    _Atomic(struct module *) *link = &modules;
    for (struct module *old; (old = atomic_load_explicit(link, memory_order_relaxed));) {
        if (old->lo < m->hi && m->lo < old->hi) {
            emit_unload(t, old->id);
            atomic_store_explicit(link, atomic_load_explicit(&old->next, memory_order_relaxed), memory_order_release);
        } else {
            link = &old->next;
        }
    }
    m->id = ++modules_next_id;
    module_emit(t, m);
    atomic_store_explicit(&m->next, atomic_load_explicit(&modules, memory_order_relaxed), memory_order_relaxed);
    atomic_store_explicit(&modules, m, memory_order_release);
    pthread_mutex_unlock(&modules_lock);
    return m;
}

void modules_note_stack(struct shim_thread *t, const uintptr_t *ips, unsigned n)
{
    const struct module *last = NULL;
    for (unsigned i = 0; i < n; i++) {
        uintptr_t ip = ips[i] - 1; /* a return address: the call is just before it */
        /* Frames of one module usually come in runs; a module with frames on
         * this stack cannot have been unloaded since we looked it up. */
        if (last && ip - last->lo < last->hi - last->lo) continue;
        struct dl_find_object fo;
        if (_dl_find_object((void *)ip, &fo) != 0) { /* no module: generated code */
            last = NULL;
            continue;
        }
        last = module_find(&fo);
        if (!last) last = module_add(t, &fo);
    }
}

void modules_init(void)
{
    struct dl_find_object fo;
    unsigned n = 0;
    const ElfW(Phdr) *ph = NULL;
    if (_dl_find_object((void *)modules_init, &fo) == 0) ph = module_phdrs(&fo, &n);
    if (ph) module_range(ph, n, fo.dlfo_link_map->l_addr, true, &shim_own_lo, &shim_own_hi);
    if (shim_own_hi <= shim_own_lo) {
        shim_own_lo = (uintptr_t)modules_init;
        shim_own_hi = shim_own_lo + 1;
    }
}

/* In a fork child the map is the same, but the child's trace has none of it.
 * The child has one thread: whoever held modules_lock at the fork is gone. */
void modules_reset(void)
{
    atomic_store(&modules, NULL);
    pthread_mutex_init(&modules_lock, NULL);
}
