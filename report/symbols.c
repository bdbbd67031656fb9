/* symbols.c - see symbols.h. One Dwfl per module file, created on first use
 * and kept to the end, so modules that reused one address range over time
 * (dlclose, dlopen) never shadow each other, and the processes of one run
 * (heapsnap run follows them all, each module at its own address) open a
 * library's debug information once. A module file is looked up at its own
 * addresses (the traced address less the module's load bias), and results
 * are cached per (module file, address): a report asks for the same frames
 * many times. */
#include "symbols.h"
#include "symtab.h"
#include "fmt.h"

#include <assert.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

struct module_syms {
    Dwfl *dwfl;
    Dwfl_Module *mod;
    const char *short_name;
    struct symtab *symtab; /* built on first need: most frames are named by DWARF */
    bool symtab_built;
    char *key; /* the file: path, build ID, and inode, size and time when it is there */
    size_t keylen;
    UT_hash_handle hh;
};

struct frame_cache {
    struct {
        uint64_t ip;
        const void *module;
    } key;
    struct sym_frame *frames;
    size_t n;
    UT_hash_handle hh;
};

struct stack_cache {
    const struct snap_stack *stack;
    struct sym_frame *frames;
    size_t n;
    UT_hash_handle hh;
};

static struct module_syms *module_files;
static struct frame_cache *frames_cache;
static struct stack_cache *stacks_cache;
static char *debuginfo_path;

static const Dwfl_Callbacks dwfl_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static char *demangle(const char *name)
{
    if (!name) return NULL;
    /* glibc's internal aliases (__GI___strdup): show the name programs call. */
    if (strncmp(name, "__GI_", 5) == 0 && name[5]) name += 5;
    if (name[0] == '_' && name[1] == 'Z') {
        int status = 0;
        char *d = __cxa_demangle(name, NULL, NULL, &status);
        if (d && status == 0) return d;
        free(d);
    }
    return xstrndup(name, strlen(name));
}

static struct module_syms *module_syms(struct snap_module *m)
{
    if (m->sym) return m->sym;
    /* The path comes from the trace, which is untrusted: only a regular file
     * is opened (a FIFO or a device would hang or flood the reporter). */
    struct stat st;
    bool regular = m->path[0] == '/' && stat(m->path, &st) == 0 && S_ISREG(st.st_mode);
    struct strbuf key = {0};
    sb_add(&key, m->path, strlen(m->path) + 1);
    sb_add(&key, (const char *)m->build_id, m->build_id_len);
    if (regular) sb_printf(&key, "|%llu:%llu:%lld:%lld.%ld", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                           (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct module_syms *ms;
    HASH_FIND(hh, module_files, key.s, key.len, ms);
    if (ms) {
        sb_free(&key);
        return m->sym = ms;
    }
    ms = xcalloc(1, sizeof *ms);
    ms->key = key.s;
    ms->keylen = key.len;
    const char *slash = strrchr(ms->key, '/');
    ms->short_name = slash ? slash + 1 : ms->key;
    ms->dwfl = dwfl_begin(&dwfl_callbacks);
    if (ms->dwfl && regular) { /* at its own addresses (base 0): any process's, less its load bias */
        ms->mod = dwfl_report_elf(ms->dwfl, ms->short_name, m->path, -1, 0, false);
        dwfl_report_end(ms->dwfl, NULL, NULL);
    }
    HASH_ADD_KEYPTR(hh, module_files, ms->key, ms->keylen, ms);
    return m->sym = ms;
}

static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *name = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        name = dwarf_formstring(&attr);
    if (!name) name = dwarf_diename(die);
    if (!name && dwarf_attr_integrate(die, DW_AT_name, &attr)) name = dwarf_formstring(&attr);
    return name;
}

static const char *call_file(Dwarf_Die *cu, Dwarf_Die *inl)
{
    Dwarf_Attribute attr;
    Dwarf_Word idx;
    Dwarf_Files *files;
    size_t nfiles;
    if (!dwarf_attr(inl, DW_AT_call_file, &attr) || dwarf_formudata(&attr, &idx) != 0) return NULL;
    if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || idx >= nfiles) return NULL;
    return dwarf_filesrc(files, idx, NULL, NULL);
}

static int call_line(Dwarf_Die *inl)
{
    Dwarf_Attribute attr;
    Dwarf_Word line;
    if (!dwarf_attr(inl, DW_AT_call_line, &attr) || dwarf_formudata(&attr, &line) != 0) return 0;
    return (int)line;
}

static void push(struct sym_frame **v, size_t *n, size_t *cap, struct sym_frame f)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = f;
}


/* Line tables name files relative to the compilation directory: make them
 * absolute and drop "." and ".." so a report can open the source and two
 * spellings of one file group together. */
static char *absolute_file(const char *file, const char *comp_dir)
{
    if (!file) return NULL;
    char joined[8192];
    if (file[0] == '/' || !comp_dir || comp_dir[0] != '/') snprintf(joined, sizeof joined, "%s", file);
    else snprintf(joined, sizeof joined, "%s/%s", comp_dir, file);
    if (joined[0] != '/') return xstrndup(joined, strlen(joined));
    char out[8192];
    size_t len = 0;
    for (char *seg = strtok(joined, "/"); seg; seg = strtok(NULL, "/")) {
        if (strcmp(seg, ".") == 0) continue;
        if (strcmp(seg, "..") == 0) {
            while (len > 0 && out[--len] != '/') {
            }
            continue;
        }
        len += (size_t)snprintf(out + len, sizeof out - len, "/%s", seg);
        if (len >= sizeof out) return xstrndup(file, strlen(file));
    }
    if (len == 0) out[len++] = '/';
    return xstrndup(out, len);
}

/* The chain of scopes from the innermost one holding pc out to its compile
 * unit, through the concrete tree. dwarf_getscopes alone is not enough: once
 * pc is inside an inlined subroutine it continues with the scopes around the
 * inlined function's abstract definition (the compile unit, for a static
 * inline function), not with the function the code was inlined into. Returns
 * the count, 0 when nothing holds pc; *scopes is malloc'd. */
static int concrete_scopes(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die **scopes)
{
    *scopes = NULL;
    Dwarf_Die *found = NULL;
    int n = dwarf_getscopes(cu, pc, &found);
    if (n <= 0) {
        free(found);
        return 0;
    }
    bool in_inlined = false;
    for (int i = 0; i < n && !in_inlined; i++) in_inlined = dwarf_tag(&found[i]) == DW_TAG_inlined_subroutine;
    if (!in_inlined) { /* already the concrete chain: spare a second walk of the unit */
        *scopes = found;
        return n;
    }
    Dwarf_Die innermost = found[0];
    free(found);
    n = dwarf_getscopes_die(&innermost, scopes);
    if (n <= 0) {
        free(*scopes);
        *scopes = NULL;
        return 0;
    }
    return n;
}

/* Resolves one return address (looked up at ip-1, inside the call). An
 * address in inlined code gives several frames, innermost first: each inlined
 * function at its own line, then every function it was inlined into at the
 * line of the inlined call (DW_AT_call_file/DW_AT_call_line), ending with the
 * out-of-line function the code belongs to. */
static void resolve(struct snap_module *m, uint64_t ip, struct sym_frame **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    uint64_t pc = (m ? ip - m->bias : ip) - 1; /* the file's own address */
    struct module_syms *ms = m ? module_syms(m) : NULL;
    const char *modname = ms ? ms->short_name : NULL;
    const char *file = NULL;
    int line = 0;
    if (ms && ms->mod) {
        Dwfl_Line *dl = dwfl_module_getsrc(ms->mod, pc);
        if (dl) file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
        Dwarf_Addr bias;
        Dwarf_Die *cu = dwfl_module_addrdie(ms->mod, pc, &bias);
        Dwarf_Attribute cd;
        const char *comp_dir = cu && dwarf_attr(cu, DW_AT_comp_dir, &cd) ? dwarf_formstring(&cd) : NULL;
        Dwarf_Die *scopes = NULL;
        int ns = cu ? concrete_scopes(cu, pc - bias, &scopes) : 0;
        bool reached_function = false;
        for (int i = 0; i < ns && !reached_function; i++) {
            int tag = dwarf_tag(&scopes[i]);
            if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
            reached_function = tag == DW_TAG_subprogram;
            push(out, n, &cap,
                 (struct sym_frame){.function = demangle(die_name(&scopes[i])),
                                    .file = absolute_file(file, comp_dir),
                                    .line = line,
                                    .module = modname,
                                    .ip = ip,
                                    .inlined = !reached_function});
            file = call_file(cu, &scopes[i]);
            line = call_line(&scopes[i]);
        }
        free(scopes);
        /* Inlined frames with no function around them in the DWARF (broken or
         * partial debug info): the symbol table still names the function the
         * code sits in ("??" if not), at the line of the outermost inlined
         * call. With no scope at all this is the plain symbol-table fallback. */
        if (!reached_function) {
            if (!ms->symtab_built) {
                ms->symtab = symtab_build(ms->mod);
                ms->symtab_built = true;
            }
            const char *name = symtab_find(ms->symtab, pc);
            if (name || *n > 0)
                push(out, n, &cap,
                     (struct sym_frame){.function = demangle(name),
                                        .file = absolute_file(file, comp_dir),
                                        .line = line,
                                        .module = modname,
                                        .ip = ip});
        }
    }
    if (*n == 0) {
        char buf[600];
        if (m) snprintf(buf, sizeof buf, "%s+0x%llx", modname, (unsigned long long)(ip - m->bias));
        else snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)ip);
        push(out, n, &cap, (struct sym_frame){.function = xstrndup(buf, strlen(buf)), .module = modname, .ip = ip});
    }
    for (size_t i = 0; i < *n; i++)
        if (!(*out)[i].function) (*out)[i].function = xstrndup("??", 2);
    assert(*n > 0 && !(*out)[*n - 1].inlined); /* an inlined frame always has a caller frame after it */
}

static const struct sym_frame *frames_for(const struct snap *s, uint64_t ip, uint64_t when, size_t *n)
{
    struct snap_module *m = snap_module_for(s, ip, when);
    struct frame_cache key = {0}, *fc;
    key.key.ip = m ? ip - m->bias : ip;
    key.key.module = m ? module_syms(m) : NULL;
    HASH_FIND(hh, frames_cache, &key.key, sizeof key.key, fc);
    if (!fc) {
        fc = xcalloc(1, sizeof *fc);
        fc->key = key.key;
        resolve(m, ip, &fc->frames, &fc->n);
        HASH_ADD(hh, frames_cache, key, sizeof fc->key, fc);
    }
    *n = fc->n;
    return fc->frames;
}

static bool is_own(const struct sym_frame *f) { return f->module && strncmp(f->module, "libheapsnap", 11) == 0; }

static bool is_allocator(const struct sym_frame *f)
{
    static const char *const names[] = {"malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign",
                                        "aligned_alloc", "memalign", "valloc", "pvalloc", "__libc_malloc",
                                        "__libc_calloc", "__libc_realloc", "__libc_memalign"};
    const char *fn = f->function;
    if (strncmp(fn, "operator new", 12) == 0) return true;
    /* heapsnap.h's inline wrappers, where the compiler kept them out of line:
     * a pool object's stack starts at the pool's own allocation function. */
    if (strncmp(fn, "heapsnap_pool_", 14) == 0) return true;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(fn, names[i]) == 0) return true;
    return false;
}

const struct sym_frame *symbols_stack(const struct snap *s, const struct snap_stack *st, size_t *n)
{
    struct stack_cache *sc;
    HASH_FIND_PTR(stacks_cache, &st, sc);
    if (sc) {
        *n = sc->n;
        return sc->frames;
    }
    sc = xcalloc(1, sizeof *sc);
    sc->stack = st;
    size_t cap = 0;
    bool top = true;
    for (uint32_t i = 0; i < st->nframes; i++) {
        size_t k;
        const struct sym_frame *f = frames_for(s, st->key[1 + i], st->seen_ticks, &k);
        for (size_t j = 0; j < k; j++) {
            if (is_own(&f[j])) continue; /* e.g. the shim's main wrapper, mid-stack */
            if (top && is_allocator(&f[j])) continue;
            top = false;
            struct sym_frame here = f[j];
            here.ip = st->key[1 + i]; /* the cache's frames are any process's: the address is this one's */
            push(&sc->frames, &sc->n, &cap, here);
        }
    }
    HASH_ADD_PTR(stacks_cache, stack, sc);
    *n = sc->n;
    return sc->frames;
}

void symbols_forget_stacks(const struct snap *s)
{
    for (const struct snap_stack *st = s->stacks; st; st = st->hh.next) {
        struct stack_cache *sc;
        HASH_FIND_PTR(stacks_cache, &st, sc);
        if (!sc) continue;
        HASH_DEL(stacks_cache, sc);
        free(sc->frames);
        free(sc);
    }
}

/* Only s's stacks go: a stack freed with its snap must not be found by a
 * later one allocated at its address. Module files and their frames stay
 * for the next snap (bounded by the distinct files and addresses met). */
void symbols_end(struct snap *s)
{
    symbols_forget_stacks(s);
    for (struct snap_module *m = s->modules; m; m = m->next)
        m->sym = NULL;
}

void symbols_frame_json(struct strbuf *b, const struct sym_frame *f)
{
    sb_puts(b, "{\"function\": ");
    fmt_json_string(b, f->function);
    sb_puts(b, ", \"file\": ");
    fmt_json_string(b, f->file);
    sb_printf(b, ", \"line\": %d, \"module\": ", f->line);
    fmt_json_string(b, f->module);
    sb_puts(b, "}");
}
