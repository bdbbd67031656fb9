/* shim_lsan.c - LeakSanitizer's interface, for programs annotated for it:
 * its entry points, mapped onto heapsnap's own (shim_api.c); the program's
 * LSan hooks, called where it defines them; LSAN_OPTIONS; and the refusal
 * of programs that carry a sanitizer runtime, which has a leak checker of
 * its own.
 *
 * The hooks are the program's functions, found by name as LSan's runtime
 * finds them (its weak definitions yield to the program's), in the symbol
 * tables of the executable and its libraries: the executable's own table
 * too, since an executable exports nothing that no shared library it links
 * against uses. They are read once, when main starts (after every
 * constructor, so a text a constructor builds is there) or at the
 * program's first check if that comes before; what they say goes into the
 * trace:
 * - __lsan_default_suppressions and the file LSAN_OPTIONS' suppressions=
 *   names: REC_SUPPRESSIONS records, which `heapsnap run` and `heapsnap
 *   leaks` apply after their own suppressions;
 * - __lsan_is_turned_off: the header flag TRACE_F_LEAK_CHECK_OFF (no check
 *   at the end; LSan's in-process checks do nothing);
 * - __lsan_default_options, then LSAN_OPTIONS: suppressions= and exitcode=
 *   (what __lsan_do_leak_check exits with when it finds leaks); every other
 *   LSan option is ignored. */
#include "shim.h"
#include "elf_probe.h"
#include "../trace/varint.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LSAN_EXITCODE 23 /* LeakSanitizer's own default */
#define SUPP_TEXT_MAX TRACE_MAX_STRING
#define SUPP_PIECE (16u * 1024) /* per record: a record must fit half a chunk */

enum { HOOKS_UNREAD, HOOKS_READING, HOOKS_READ };

static struct {
    _Atomic int state;
    bool turned_off;
    int exitcode;
    char supp_path[1024];
    const char *text[2]; /* by enum supp_origin - 1, in heapsnap's own memory */
    size_t len[2];
} lsan = {.exitcode = LSAN_EXITCODE};

static _Atomic bool final_check_done;
/* Set when the program carries a sanitizer runtime: LSan's entry points are
 * then its, not ours (we are only here if starting it again failed). */
static bool runtime_present;

static void say(const char *fmt, const char *a, const char *b, const char *c)
{
    char msg[2048];
    int n = snprintf(msg, sizeof msg, fmt, a, b, c);
    if (n > 0) shim_tell(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* ---- programs with a sanitizer runtime ---------------------------------- */

/* A runtime preloaded ahead of us (LD_PRELOAD=libasan.so:...): its name. */
static bool runtime_preloaded(char *what, size_t cap)
{
    const char *v = getenv("LD_PRELOAD");
    while (v && *v) {
        size_t len = strcspn(v, ": ");
        const char *slash = memrchr(v, '/', len);
        const char *name = slash ? slash + 1 : v;
        size_t nlen = (size_t)(v + len - name);
        if ((nlen > 10 && strncmp(name, "libasan.so", 10) == 0) ||
            (nlen > 10 && strncmp(name, "liblsan.so", 10) == 0)) {
            snprintf(what, cap, "%.*s", (int)nlen, name);
            return true;
        }
        v += len;
        while (*v == ':' || *v == ' ')
            v++;
    }
    return false;
}

/* A NUL-separated /proc file read into buf, split into a NULL-terminated
 * array placed after it: the array, or NULL. */
static char **proc_strings(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t len = 0, half = cap / 2;
    ssize_t n;
    while (len < half - 1 && (n = read(fd, buf + len, half - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (len >= half - 1) return NULL; /* more than we can hold: no half measures */
    buf[len] = 0;
    char **v = (char **)(buf + half);
    size_t k = 0, max = half / sizeof *v - 1;
    for (size_t i = 0; i < len && k < max; i += strlen(buf + i) + 1)
        v[k++] = buf + i;
    v[k] = NULL;
    return v;
}

/* Starts this program again, as it was started, without heapsnap in
 * LD_PRELOAD: nothing of it has run yet but the loader and the runtime's
 * first steps, which would fail with heapsnap loaded (ASan insists on being
 * first, LSan's own allocator must not be entered while it starts). This
 * may run before the C library is set up (from the runtime's first
 * allocation, in the executable's preinit functions): no environ yet, and
 * the exec is a raw system call (ours is interposed). Returns only if it
 * could not. */
static void start_again_without_us(void)
{
    size_t cap = 8u << 20; /* the arguments and the environment: ARG_MAX's usual bound each, with their arrays */
    char *buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return;
    char **argv = proc_strings("/proc/self/cmdline", buf, cap / 2);
    char **envp = proc_strings("/proc/self/environ", buf + cap / 2, cap / 2);
    if (argv && argv[0] && envp) {
        process_strip_preload_in(envp);
        shim_sys(SYS_execve, (long)"/proc/self/exe", (long)argv, (long)envp);
    }
    munmap(buf, cap);
}

bool lsan_refuse_sanitized(void)
{
    char what[256] = "", exe[4096];
    if (!runtime_preloaded(what, sizeof what) && !sanitizer_runtime_in("/proc/self/exe", what, sizeof what))
        return false;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    say("heapsnap: %s carries %s's runtime (%s), a leak checker of its own that cannot share a process with "
        "heapsnap: it runs untraced\n",
        exe, sanitizer_name(what), what);
    runtime_present = true;
    start_again_without_us();
    return true;
}

/* ---- the program's hooks -------------------------------------------------- */

static const char *const hook_names[] = {"__lsan_default_options", "__lsan_is_turned_off",
                                         "__lsan_default_suppressions"};
enum { HOOK_OPTIONS, HOOK_TURNED_OFF, HOOK_SUPPRESSIONS, HOOK_COUNT };

/* Each loaded module's symbol tables, read from its file, in the loader's
 * order (the executable first), as a lookup in the global scope would go:
 * the first definition wins. Not dlsym: a name it does not find costs an
 * allocation (the error message, and the thread's dlerror state, which
 * would then be heapsnap's untraced block holding the program's later
 * messages), and an executable's functions are not in its dynamic table. */
static void find_hooks(void *fn[HOOK_COUNT])
{
    memset(fn, 0, HOOK_COUNT * sizeof *fn);
    for (const struct link_map *m = _r_debug.r_map; m; m = m->l_next) {
        const char *path = m == _r_debug.r_map ? "/proc/self/exe" : m->l_name;
        if (!path || path[0] != '/') continue; /* the vDSO: no file */
        uint64_t values[HOOK_COUNT];
        elf_defined_functions(path, hook_names, values, HOOK_COUNT);
        bool missing = false;
        for (size_t i = 0; i < HOOK_COUNT; i++) {
            if (!fn[i] && values[i]) fn[i] = (void *)(m->l_addr + values[i]);
            missing |= !fn[i];
        }
        if (!missing) return;
    }
}

/* LSan's flag syntax: name=value pairs separated by spaces, commas, colons
 * or newlines; a value may be quoted. */
static void parse_options(const char *text)
{
    while (text && *text) {
        text += strspn(text, " ,:\t\r\n");
        size_t nlen = strcspn(text, "= ,:\t\r\n");
        if (!nlen) break;
        const char *name = text;
        text += nlen;
        if (*text != '=') continue;
        text++;
        const char *value = text;
        size_t vlen;
        if (*text == '"' || *text == '\'') {
            const char *close = strchr(text + 1, *text);
            value = text + 1;
            vlen = close ? (size_t)(close - value) : strlen(value);
            text = close ? close + 1 : value + vlen;
        } else {
            vlen = strcspn(text, " ,:\t\r\n");
            text += vlen;
        }
        if (nlen == 8 && strncmp(name, "exitcode", 8) == 0) {
            char num[32];
            snprintf(num, sizeof num, "%.*s", (int)(vlen < 31 ? vlen : 31), value);
            lsan.exitcode = atoi(num);
        } else if (nlen == 12 && strncmp(name, "suppressions", 12) == 0) {
            snprintf(lsan.supp_path, sizeof lsan.supp_path, "%.*s", (int)vlen, value);
        }
    }
}

static const char *keep_text(const char *s, size_t len)
{
    char *copy = arena_alloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, s, len);
    copy[len] = 0;
    return copy;
}

/* The file suppressions= names: as given, and if relative and not there,
 * beside the executable (LSan looks in both). */
static void read_suppressions_file(void)
{
    if (!lsan.supp_path[0]) return;
    char path[4096];
    snprintf(path, sizeof path, "%s", lsan.supp_path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && path[0] != '/') {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, sizeof path, "%s/%s", exe, lsan.supp_path);
            fd = open(path, O_RDONLY | O_CLOEXEC);
        }
    }
    if (fd < 0) {
        say("heapsnap: LSAN_OPTIONS suppressions=%s: %s: the program's suppressions file is not used%s\n",
            lsan.supp_path, strerror(errno), "");
        return;
    }
    char *buf = arena_alloc(SUPP_TEXT_MAX);
    size_t len = 0;
    ssize_t n;
    while (buf && len < SUPP_TEXT_MAX && (n = read(fd, buf + len, SUPP_TEXT_MAX - len)) > 0)
        len += (size_t)n;
    close(fd);
    lsan.text[SUPP_FROM_LSAN_OPTIONS - 1] = buf;
    lsan.len[SUPP_FROM_LSAN_OPTIONS - 1] = buf ? len : 0;
}

/* What the hooks said, into the current trace: suppressions in pieces of
 * whole lines (a reader joins them), the turned-off flag in the header. */
static void write_into_trace(void)
{
    struct trace_header *h = spool_header();
    if (atomic_load(&shim_state) != SHIM_ACTIVE || !h) return;
    if (lsan.turned_off) atomic_fetch_or((_Atomic uint32_t *)&h->flags, TRACE_F_LEAK_CHECK_OFF);
    struct shim_thread *t = &shim_tls;
    t->in_shim++;
    for (int o = 0; o < 2; o++) {
        const char *s = lsan.text[o];
        size_t left = lsan.len[o];
        while (s && left) {
            size_t piece = left;
            if (piece > SUPP_PIECE) {
                piece = SUPP_PIECE;
                const char *nl = memrchr(s, '\n', piece);
                if (nl) piece = (size_t)(nl - s) + 1;
            }
            if (!emit_prepare(t, 1 + 3 * VARINT_MAX + piece)) break;
            uint8_t *w = t->pos;
            *w++ = REC_SUPPRESSIONS;
            w = varint_put(w, (uint64_t)o + 1);
            w = varint_put(w, piece);
            memcpy(w, s, piece);
            emit_commit(t, w + piece);
            s += piece;
            left -= piece;
        }
    }
    t->in_shim--;
}

void lsan_program_ready(void)
{
    int expected = HOOKS_UNREAD;
    if (atomic_load(&shim_state) != SHIM_ACTIVE ||
        !atomic_compare_exchange_strong(&lsan.state, &expected, HOOKS_READING))
        return;
    void *fn[HOOK_COUNT];
    /* Our own reading (the symbol tables mapped, the suppressions file) is
     * not the program's: no allocation or mapping of it is recorded. The
     * program's hooks are called as the program's code. */
    struct shim_thread *t = &shim_tls;
    t->in_shim++;
    find_hooks(fn);
    t->in_shim--;
    if (fn[HOOK_OPTIONS]) parse_options(((const char *(*)(void))fn[HOOK_OPTIONS])());
    parse_options(getenv("LSAN_OPTIONS")); /* after the program's: LSan lets the environment override them */
    lsan.turned_off = fn[HOOK_TURNED_OFF] && ((int (*)(void))fn[HOOK_TURNED_OFF])() != 0;
    const char *text = fn[HOOK_SUPPRESSIONS] ? ((const char *(*)(void))fn[HOOK_SUPPRESSIONS])() : NULL;
    t->in_shim++;
    if (text) {
        size_t len = strnlen(text, SUPP_TEXT_MAX);
        lsan.text[SUPP_FROM_DEFAULT_SUPPRESSIONS - 1] = keep_text(text, len);
        lsan.len[SUPP_FROM_DEFAULT_SUPPRESSIONS - 1] = len;
    }
    read_suppressions_file();
    t->in_shim--;
    write_into_trace();
    atomic_store(&lsan.state, HOOKS_READ);
}

void lsan_after_open_trace(void)
{
    if (atomic_load(&lsan.state) == HOOKS_READ) write_into_trace();
}

/* ---- LeakSanitizer's entry points --------------------------------------- */

/* The real runtime's, when the program has one and we could not stay out of its way. */
#define LSAN_FORWARD(name, args)                                                                                       \
    do {                                                                                                               \
        if (runtime_present) {                                                                                         \
            __typeof__(name) *real = (__typeof__(name) *)shim_next(#name);                                      \
            if (real) real args;                                                                                       \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

SHIM_EXPORT void __lsan_ignore_object(const void *p);
SHIM_EXPORT void __lsan_disable(void);
SHIM_EXPORT void __lsan_enable(void);
SHIM_EXPORT void __lsan_register_root_region(const void *p, size_t size);
SHIM_EXPORT void __lsan_unregister_root_region(const void *p, size_t size);
SHIM_EXPORT void __lsan_do_leak_check(void);
SHIM_EXPORT int __lsan_do_recoverable_leak_check(void);

SHIM_EXPORT void __lsan_ignore_object(const void *p)
{
    LSAN_FORWARD(__lsan_ignore_object, (p));
    heapsnap_shim_ignore(p);
}

SHIM_EXPORT void __lsan_disable(void)
{
    LSAN_FORWARD(__lsan_disable, ());
    heapsnap_shim_disable();
}

SHIM_EXPORT void __lsan_enable(void)
{
    LSAN_FORWARD(__lsan_enable, ());
    heapsnap_shim_enable();
}

SHIM_EXPORT void __lsan_register_root_region(const void *p, size_t size)
{
    LSAN_FORWARD(__lsan_register_root_region, (p, size));
    heapsnap_shim_register_root(p, size);
}

SHIM_EXPORT void __lsan_unregister_root_region(const void *p, size_t size)
{
    LSAN_FORWARD(__lsan_unregister_root_region, (p, size));
    heapsnap_shim_unregister_root(p, size);
}

/* LSan's check at the end, moved here: made once; later calls, and the
 * check at the end, do nothing (`heapsnap run` makes none at the end when
 * this one found no leak). Leaks found, the process exits at once with
 * LSan's exitcode, as LSan's Die does (no atexit handlers, no stdio flush).
 * The caller's stack counts from this frame up, as heapsnap_leak_check's. */
SHIM_EXPORT __attribute__((noinline)) void __lsan_do_leak_check(void)
{
    LSAN_FORWARD(__lsan_do_leak_check, ());
    __builtin_unwind_init();
    uintptr_t from = (uintptr_t)__builtin_frame_address(0) - 64;
    lsan_program_ready();
    if (atomic_exchange(&final_check_done, true) || lsan.turned_off) return;
    if (shim_leak_check_from(from, RUN_REQ_FINAL_CHECK) && lsan.exitcode) _exit(lsan.exitcode);
}

SHIM_EXPORT __attribute__((noinline)) int __lsan_do_recoverable_leak_check(void)
{
    if (runtime_present) {
        int (*real)(void) = (int (*)(void))shim_next("__lsan_do_recoverable_leak_check");
        return real ? real() : 0;
    }
    __builtin_unwind_init();
    uintptr_t from = (uintptr_t)__builtin_frame_address(0) - 64;
    lsan_program_ready();
    if (lsan.turned_off) return 0;
    return shim_leak_check_from(from, RUN_REQ_LEAK_CHECK) ? 1 : 0;
}
