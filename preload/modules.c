/* modules.c - the module map: which file is mapped where, written to the
 * trace so the reporter can symbolize offline, after the program is gone.
 *
 * We do not interpose dlopen: glibc resolves a bare name against the RUNPATH of
 * dlopen's *caller*, and a wrapper would make that caller us. Instead the map is
 * refreshed whenever a stack never seen before appears (the only time a new
 * module can matter) and only when the loader's load/unload counters moved. */
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

uintptr_t shim_own_lo, shim_own_hi;

struct module {
    struct module *next;
    uint32_t id;
    bool seen;
    uintptr_t bias, lo, hi;
    char name[];
};

static struct module *modules;
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long modules_adds, modules_subs;
static uint32_t modules_next_id;

struct counters {
    unsigned long long adds, subs;
};

static int read_counters(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct counters *c = data;
    c->adds = info->dlpi_adds;
    c->subs = info->dlpi_subs;
    return 1; /* the counters are the same in every entry: one is enough */
}

static void module_range(struct dl_phdr_info *info, bool exec_only, uintptr_t *lo, uintptr_t *hi)
{
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (exec_only && !(ph->p_flags & PF_X))) continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        if (a < *lo) *lo = a;
        if (b > *hi) *hi = b;
    }
}

static size_t module_build_id(struct dl_phdr_info *info, const uint8_t **id)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const void *)p;
            size_t name = (n->n_namesz + 3) & ~3u, desc = (n->n_descsz + 3) & ~3u;
            const uint8_t *d = p + sizeof *n + name;
            if (d + desc > end) break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(p + sizeof *n, "GNU", 4) == 0) {
                *id = d;
                return n->n_descsz;
            }
            p = d + desc;
        }
    }
    return 0;
}

static void module_emit(struct shim_thread *t, struct dl_phdr_info *info, const struct module *m)
{
    const uint8_t *bid = NULL;
    size_t bidlen = module_build_id(info, &bid);
    if (bidlen > 64) bidlen = 64;
    size_t plen = strlen(m->name);
    if (!emit_prepare(t, 1 + 8 * VARINT_MAX + bidlen + plen)) return;
    uint8_t *p = t->pos;
    *p++ = REC_MODULE;
    uint64_t now = shim_ticks();
    p = varint_put(p, now - t->last_ticks);
    t->last_ticks = now;
    p = varint_put(p, m->id);
    p = varint_put(p, m->bias);
    p = varint_put(p, m->lo);
    p = varint_put(p, m->hi);
    p = varint_put(p, bidlen);
    memcpy(p, bid, bidlen);
    p += bidlen;
    p = varint_put(p, plen);
    memcpy(p, m->name, plen);
    emit_commit(t, p + plen);
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct shim_thread *t = data;
    char path[PATH_MAX];
    const char *name = info->dlpi_name;
    if (!name || !*name) {
        /* The main program has no name here: ask the kernel. */
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        path[n > 0 ? n : 0] = 0;
        name = path;
    } else if (name[0] != '/' && realpath(name, path)) {
        name = path; /* dlopen("./plugin.so") must resolve from the reporter's cwd too */
    }
    for (struct module *m = modules; m; m = m->next) {
        if (m->bias == info->dlpi_addr && strcmp(m->name, name) == 0) {
            m->seen = true;
            return 0;
        }
    }
    size_t len = strlen(name);
    struct module *m = arena_alloc(sizeof *m + len + 1);
    if (!m) return 0;
    memcpy(m->name, name, len + 1);
    m->id = ++modules_next_id;
    m->bias = info->dlpi_addr;
    module_range(info, false, &m->lo, &m->hi);
    m->seen = true;
    m->next = modules;
    modules = m;
    module_emit(t, info, m);
    return 0;
}

static void emit_unload(struct shim_thread *t, uint32_t id)
{
    if (!emit_prepare(t, 1 + 2 * VARINT_MAX)) return;
    uint8_t *p = t->pos;
    *p++ = REC_UNLOAD;
    uint64_t now = shim_ticks();
    p = varint_put(p, now - t->last_ticks);
    t->last_ticks = now;
    p = varint_put(p, id);
    emit_commit(t, p);
}

void modules_refresh(struct shim_thread *t, bool force)
{
    struct counters c;
    dl_iterate_phdr(read_counters, &c);
    if (!force && c.adds == modules_adds && c.subs == modules_subs) return;
    pthread_mutex_lock(&modules_lock);
    for (struct module *m = modules; m; m = m->next) m->seen = false;
    dl_iterate_phdr(scan_one, t);
    for (struct module **pm = &modules; *pm;) {
        if (!(*pm)->seen) {
            emit_unload(t, (*pm)->id);
            *pm = (*pm)->next; /* arena memory: simply dropped */
        } else {
            pm = &(*pm)->next;
        }
    }
    modules_adds = c.adds;
    modules_subs = c.subs;
    pthread_mutex_unlock(&modules_lock);
}

static int find_own(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t base = (uintptr_t)data;
    if (info->dlpi_addr != base) return 0;
    module_range(info, true, &shim_own_lo, &shim_own_hi);
    return 1;
}

void modules_init(void)
{
    Dl_info self;
    if (dladdr((void *)modules_init, &self) && self.dli_fbase) {
        /* dli_fbase is the ELF header's address; the bias differs when the
         * first PT_LOAD has a non-zero vaddr, so match on both. */
        dl_iterate_phdr(find_own, self.dli_fbase);
    }
    if (shim_own_hi == 0) {
        shim_own_lo = (uintptr_t)modules_init;
        shim_own_hi = shim_own_lo + 1;
    }
}

/* In a fork child the map is the same, but the child's trace has none of it. */
void modules_reset(void)
{
    modules = NULL;
    modules_adds = modules_subs = 0;
    pthread_mutex_init(&modules_lock, NULL);
}
