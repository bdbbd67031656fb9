/* shim_init.c - the shim's life: settings from the environment, the bootstrap
 * of the real allocator, opening this process's trace, and finishing it.
 *
 * Initialisation runs on the first intercepted call or in our constructor,
 * whichever comes first; that may be long before main, inside another
 * library's constructor, so nothing here may depend on program state. */
#include "shim.h"
#include "../trace/proc_rss.h"
#include "../trace/trace_pack.h"

#include <dlfcn.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct shim_real shim_real;
bool shim_heap_is_glibc;
_Atomic int shim_state;
struct shim_config shim_config = {.frames = 64, .follow = true};
__thread struct shim_thread shim_tls __attribute__((tls_model("initial-exec")));
_Atomic uint32_t shim_generation = 1;

static pid_t shim_pid;
static _Atomic bool shim_packed;

pid_t shim_traced_pid(void) { return shim_pid; }

#ifndef NDEBUG
void shim_assert_fail(const char *expr, const char *file, int line)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "heapsnap: assertion failed: %s (%s:%d)\n", expr, file, line);
    if (n > 0 && write(2, msg, (size_t)n) < 0) { /* dying anyway */
    }
    abort();
}
#endif

static void shim_say(const char *fmt, const char *a, const char *b)
{
    char msg[2048];
    int n = snprintf(msg, sizeof msg, fmt, a, b);
    if (n > 0) shim_tell(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* A setting: from the environment, or under attach from what `heapsnap
 * attach` passed (the same names). */
static const char *setting(const char *name) { return shim_attached ? attach_setting(name) : getenv(name); }

/* glibc's and libstdc++'s end-of-process cleanups (free_runtime_state),
 * resolved at init: dlsym allocates, which at exit would be the program's. */
static void (*cxx_freeres)(void), (*libc_freeres)(void);

/* The function our wrapper of name forwards to. Preloaded, the next
 * definition after ours; attached, the one the process's calls are bound to
 * (RTLD_NEXT must not be asked then: glibc looks for us in a search list we
 * are not in; nor is a program's PLT entry the function: got_patch.c). */
void *shim_next(const char *name) { return shim_attached ? got_real_function(name) : dlsym(RTLD_NEXT, name); }

static void resolve_real(void)
{
#define RESOLVE(f) shim_real.f = (__typeof__(shim_real.f))shim_next(#f)
    /* calloc first: dlsym's own calloc is served by the pool until it is set. */
    RESOLVE(calloc);
    RESOLVE(malloc);
    RESOLVE(free);
    RESOLVE(realloc);
    RESOLVE(posix_memalign);
    RESOLVE(aligned_alloc);
    RESOLVE(memalign);
    RESOLVE(valloc);
    RESOLVE(pvalloc);
    RESOLVE(malloc_usable_size);
#undef RESOLVE
    mmap_resolve_real();
    cxx_freeres = (void (*)(void))dlsym(RTLD_DEFAULT, "_ZN9__gnu_cxx9__freeresEv");
    libc_freeres = (void (*)(void))dlsym(RTLD_DEFAULT, "__libc_freeres");
}

/* Whether the functions we forward to are all libc.so.6's own, not another
 * allocator's (preloaded after us, or a debugging malloc such as
 * libc_malloc_debug.so), not even one of them: only then is every block's
 * header glibc's chunk. dladdr, not dlopen: dlopen allocates, untraced, what
 * a later free would record. */
static bool heap_is_glibc(void)
{
    void *f[] = {
        (void *)shim_real.malloc,         (void *)shim_real.free,
        (void *)shim_real.realloc,        (void *)shim_real.calloc,
        (void *)shim_real.posix_memalign, (void *)shim_real.aligned_alloc,
        (void *)shim_real.memalign,       (void *)shim_real.valloc,
        (void *)shim_real.pvalloc,        (void *)shim_real.malloc_usable_size,
    };
    Dl_info first;
    if (!f[0] || !dladdr(f[0], &first) || !first.dli_fname) return false;
    const char *base = strrchr(first.dli_fname, '/');
    if (strcmp(base ? base + 1 : first.dli_fname, "libc.so.6") != 0) return false;
    for (size_t i = 1; i < sizeof f / sizeof *f; i++) {
        Dl_info d;
        if (!f[i] || !dladdr(f[i], &d) || d.dli_fbase != first.dli_fbase) return false;
    }
    return true;
}

static bool read_config(void)
{
    const char *v = setting("HEAPSNAP_FRAMES");
    if (v && *v) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || *end || n < 1 || n > TRACE_MAX_FRAMES || v[0] == '-') {
            shim_say("heapsnap: HEAPSNAP_FRAMES=%s is not a number from 1 to 65535: not tracing%s\n", v, "");
            return false;
        }
        shim_config.frames = (unsigned)n;
    }
    v = setting("HEAPSNAP_FOLLOW");
    shim_config.follow = !(v && strcmp(v, "0") == 0);
    v = setting("HEAPSNAP_PARENT_PACKS");
    shim_config.parent_packs = v ? (strcmp(v, "all") == 0 ? -1 : (pid_t)atol(v)) : 0;
    v = setting("HEAPSNAP_SESSION");
    shim_config.session = v ? strtoull(v, NULL, 16) : 0;
    v = setting("HEAPSNAP_OUTPUT");
    snprintf(shim_config.output_dir, sizeof shim_config.output_dir, "%s", v && *v ? v : ".");
    v = setting("HEAPSNAP_OUTPUT_FILE");
    snprintf(shim_config.output_file, sizeof shim_config.output_file, "%s", v ? v : "");
    v = setting("HEAPSNAP_SNAPSHOT_SIGNAL");
    shim_config.snapshot_signal = v ? atoi(v) : 0;
    v = setting("HEAPSNAP_SNAPSHOT_INTERVAL");
    shim_config.interval_ns = v ? (uint64_t)(strtod(v, NULL) * 1e9) : 0;
    v = setting("HEAPSNAP_SNAPSHOT_GROWTH");
    shim_config.growth_bytes = v ? strtoull(v, NULL, 10) : 0;
    /* Leak checks are asked of `heapsnap run` through the header; the socket
     * (if this image still has it: a parent may have closed it before exec)
     * rings its bell. */
    v = setting("HEAPSNAP_CONTROL_FD");
    shim_config.checks = v && *v;
    struct stat st;
    if (shim_config.checks && fstat(atoi(v), &st) == 0 && S_ISSOCK(st.st_mode)) fd_adopt(FD_CONTROL, atoi(v), false);
    v = setting("HEAPSNAP_RUN_PID");
    shim_config.run_pid = v ? (pid_t)atol(v) : 0;
    v = setting("HEAPSNAP_LEAK_CHECK_TIMEOUT_MS");
    shim_config.leak_check_timeout_ms = v ? (unsigned)atoi(v) : 120000;
    v = setting("HEAPSNAP_SAMPLE_RATE");
    if (v && *v) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || *end || v[0] == '-' || n > TRACE_MAX_SAMPLE_RATE) {
            shim_say("heapsnap: HEAPSNAP_SAMPLE_RATE=%s is not a number of bytes (0 to 2^40): not tracing%s\n", v, "");
            return false;
        }
        shim_config.sample_rate = n;
    }
    v = setting("HEAPSNAP_SAMPLE_SEED");
    shim_config.sample_seed = v ? strtoull(v, NULL, 10) : 0;
    v = setting("HEAPSNAP_UNWIND");
    if (v && *v && strcmp(v, "full") != 0 && strcmp(v, "fast") != 0 && strcmp(v, "check") != 0) {
        shim_say("heapsnap: HEAPSNAP_UNWIND=%s is not full, fast or check: not tracing%s\n", v, "");
        return false;
    }
    shim_config.unwind = !v || !*v || strcmp(v, "fast") == 0 ? UNWIND_FAST
                         : strcmp(v, "full") == 0            ? UNWIND_FULL
                                                             : UNWIND_CHECK;
    return true;
}

static int try_create(const char *path, const struct trace_header *hdr)
{
    int rc = spool_create(path, hdr);
    if (rc == 0 || rc == -EEXIST) return rc;
    shim_say("heapsnap: cannot create trace %s: %s: not tracing this process\n", path, strerror(-rc));
    return rc;
}

/* The program's name for trace files: the executable's file name, with
 * anything but letters, digits and ._+- replaced. Not argv[0]: servers retitle
 * themselves ("nginx: worker process"), and a '/' there would make the name a
 * path. Computed once per image; fork children inherit it. */
static char program_name[256];

static void name_program(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    size_t k = 0;
    for (; base[k] && k + 1 < sizeof program_name; k++) {
        char c = base[k];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '+' || c == '-';
        program_name[k] = ok ? c : '_';
    }
    program_name[k] = 0;
    if (!k || program_name[0] == '.') snprintf(program_name, sizeof program_name, "program");
}

/* Opens heapsnap.PROGRAM.PID.trace (or the file `run -o` asked for, if no
 * process has claimed it yet). O_EXCL throughout: an exec'd image of the same
 * pid, or a leftover file, gets the next free suffix rather than a clobber.
 * The path is made absolute: if the program closes the descriptor, the file
 * is reopened by it, wherever the program has moved since. */
void shim_open_trace(uint64_t fork_ticks)
{
    struct trace_header hdr = {.version = TRACE_VERSION,
                               .state = TRACE_OPEN,
                               .header_size = TRACE_HEADER_SIZE,
                               .slot_size = TRACE_SLOT_SIZE,
                               .frames = shim_config.frames,
                               .sample_rate = shim_config.sample_rate};
    memcpy(hdr.magic, TRACE_MAGIC, 8);
    shim_pid = getpid();
    hdr.pid = (uint64_t)shim_pid;
    /* A fork child's parent is the process that forked it, not whoever
     * getppid() names by now: the parent may be gone already, the child
     * adopted by a subreaper. The forking thread noted its pid. */
    hdr.ppid = fork_ticks ? (uint64_t)shim_tls.fork_parent : (uint64_t)getppid();
    hdr.session = shim_config.session;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    hdr.start_realtime_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    hdr.fork_ticks = fork_ticks;

    char path[2048], dir[1024];
    if (shim_config.output_dir[0] == '/' || !getcwd(dir, sizeof dir)) snprintf(dir, sizeof dir, "%s", shim_config.output_dir);
    else if (strcmp(shim_config.output_dir, ".") != 0) {
        size_t len = strlen(dir);
        snprintf(dir + len, sizeof dir - len, "/%s", shim_config.output_dir);
    }
    int rc = -EEXIST;
    if (shim_config.output_file[0]) rc = try_create(shim_config.output_file, &hdr);
    if (rc == -EEXIST) {
        if (!program_name[0]) name_program();
        for (int i = 0; i < 1000 && rc == -EEXIST; i++) {
            if (i == 0)
                snprintf(path, sizeof path, "%s/heapsnap.%s.%ld.trace", dir, program_name, (long)shim_pid);
            else
                snprintf(path, sizeof path, "%s/heapsnap.%s.%ld.%d.trace", dir, program_name, (long)shim_pid, i);
            rc = try_create(path, &hdr);
        }
    }
    if (rc != 0) {
        atomic_store(&shim_state, SHIM_OFF);
        return;
    }
    struct shim_thread *t = &shim_tls;
    emit_process_record(t);
    lsan_after_open_trace();
    /* Under `heapsnap run`: be traced with ptrace before the program runs on,
     * so that its end, however it comes, can be stopped and checked. */
    run_request(RUN_REQ_SUPERVISE, 0);
}

/* The program calls the first malloc in the loader's search order: the
 * executable's own, or the first preloaded library's. If that is not ours
 * (LD_PRELOAD=libjemalloc.so:libheapsnap.so, an allocator linked into the
 * program), heapsnap sees none of the program's allocations: say so, in the
 * trace and on stderr, rather than report an empty heap. The test is a call:
 * the address the loader gives for "malloc" may be a stub in the executable
 * (a non-PIE program that takes malloc's address) that leads to ours. While
 * it runs, our malloc forwards through a probe that notes it was reached. */
static _Atomic bool probe_reached;
static void *(*probe_next)(size_t);

static void *probe_malloc(size_t size)
{
    atomic_store(&probe_reached, true);
    return probe_next(size);
}

static void check_allocator_binding(void)
{
    void *(*m)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "malloc");
    void (*f)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "free");
    if (!m || !f) return;
    probe_next = shim_real.malloc;
    shim_real.malloc = probe_malloc;
    f(m(1));
    shim_real.malloc = probe_next;
    if (atomic_load(&probe_reached)) return;
    /* The executable's own: its program headers (AT_PHDR) follow its ELF header. */
    Dl_info bound;
    bool own = dladdr((void *)m, &bound) && (uintptr_t)getauxval(AT_PHDR) - (uintptr_t)bound.dli_fbase < 4096;
    atomic_fetch_or((_Atomic uint32_t *)&spool_header()->flags, TRACE_F_ALLOCATOR_BEFORE);
    if (own)
        shim_say("heapsnap: the program has its own malloc, which the loader binds before any preloaded library's: "
                 "its allocations cannot be traced%s%s\n", "", "");
    else
        shim_say("heapsnap: the program's malloc is %s's, which the loader finds before heapsnap: its allocations "
                 "cannot be traced (preload libheapsnap.so first%s)\n",
                 bound.dli_fname && *bound.dli_fname ? bound.dli_fname : "another library", ", e.g. with heapsnap run");
}

void shim_init(void)
{
    int expected = SHIM_UNINIT;
    if (!atomic_compare_exchange_strong(&shim_state, &expected, SHIM_INITIALIZING)) return;
    shim_tls.in_shim++;
    /* First of all: a sanitizer's runtime may be starting (this may be its
     * first allocation), and must not find us resolving its functions. */
    if (!shim_attached && lsan_refuse_sanitized()) {
        resolve_real();
        atomic_store(&shim_state, SHIM_OFF);
        shim_tls.in_shim--;
        return;
    }
    resolve_real();
    shim_heap_is_glibc = heap_is_glibc();
    fd_init();
    if (!read_config()) {
        atomic_store(&shim_state, SHIM_OFF);
        shim_tls.in_shim--;
        return;
    }
    if (shim_attached) shim_config.follow = false; /* children are not ours to trace: no one supervises them */
    else if (!shim_config.follow) process_strip_preload();
    modules_init();
    stack_init();
    atomic_store(&shim_state, SHIM_ACTIVE); /* records below need an active shim */
    shim_open_trace(0);
    if (atomic_load(&shim_state) == SHIM_ACTIVE) {
        process_install_hooks();
        api_init();
        if (!shim_attached) check_allocator_binding();
    }
    shim_tls.in_shim--;
}

/* Attached again after a detach: a new trace, in which every stack and
 * module is new (the generation), from the settings just given. */
void shim_reattach(void)
{
    shim_tls.in_shim++;
    atomic_store(&shim_state, SHIM_INITIALIZING);
    if (!read_config()) {
        atomic_store(&shim_state, SHIM_OFF);
        shim_tls.in_shim--;
        return;
    }
    shim_config.follow = false;
    atomic_fetch_add(&shim_generation, 1);
    atomic_store(&shim_packed, false);
    modules_reset();
    sample_forget();
    atomic_store(&shim_state, SHIM_ACTIVE);
    shim_open_trace(0);
    if (atomic_load(&shim_state) == SHIM_ACTIVE) api_init();
    shim_tls.in_shim--;
}

/* The state letter of thread tid ('R', 'S', 'Z'...), from its stat file. */
static char thread_state(const char *tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
    int fd = (int)shim_sys(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 'X';
    long n = shim_sys(SYS_read, fd, (long)buf, sizeof buf - 1);
    shim_sys(SYS_close, fd, 0, 0);
    buf[n > 0 ? n : 0] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces and ')' */
    return p && p[1] == ' ' ? p[2] : 'X';
}

/* The threads of this process still running (no allocation). Not the
 * kernel's count: under ptrace, a thread that has exited stays counted, a
 * zombie, until its tracer reaps it. */
static long live_threads(void)
{
    int fd = (int)shim_sys(SYS_openat, AT_FDCWD, (long)"/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[4096];
    long live = 0, n;
    while ((n = shim_sys(SYS_getdents64, fd, (long)buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            const struct linux_dirent64 {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (const void *)(buf + off);
            char st = d->name[0] == '.' ? 'Z' : thread_state(d->name);
            if (st != 'Z' && st != 'X') live++;
            off += d->reclen;
        }
    }
    shim_sys(SYS_close, fd, 0, 0);
    return live;
}

/* glibc and libstdc++ keep one-time allocations to the end (stdio buffers,
 * the emergency exception pool, caches) and free them only when asked, as
 * valgrind does at every exit through exit_group; memcheck's figures leave
 * them out, and so must ours. Their frees are recorded like any. Never from
 * a signal handler: _exit is async-signal-safe, and the handler may have
 * interrupted malloc or stdio with their locks held, which the cleanup
 * takes. Only when no other thread runs (another might hold those locks, or
 * use what they free): if some do, `heapsnap run` holds them still first,
 * each where it holds no lock of the C library, as valgrind's scheduler
 * does; if it cannot, the cleanup is left out.
 * After _exit the cleanup must write nothing: glibc's flushes stdio, which
 * _exit does not (a fork child would print its copy of the parent's
 * buffered output a second time), and syncs input streams (moving a shared
 * descriptor's offset under the parent). So every stream's buffers are
 * dropped first, as _exit drops them. */
extern FILE *_IO_list_all;

_Atomic bool shim_exit_frees_kept;

/* What `heapsnap` reads to know this library's version (report/shim_find.c). */
__attribute__((used)) static const char shim_version_tag[] = SHIM_VERSION_TAG HEAPSNAP_VERSION;

static void free_runtime_state(bool underscore_exit)
{
    uint64_t held = 0;
    if (live_threads() != 1 && !(run_ask(RUN_REQ_FREEZE, 0, &held) && held == 1)) return;
    if (underscore_exit)
        for (FILE *f = _IO_list_all; f; f = f->_chain) __fpurge(f);
    /* Recorded, but not given back: the process is ending, and a free of 64
     * KiB or more (libstdc++'s exception pool) makes glibc merge every small
     * free chunk first, which after a program freed millions of them took a
     * tenth of its run (xmllint). And a destructor running after us that
     * throws still finds its emergency pool. */
    atomic_store_explicit(&shim_exit_frees_kept, true, memory_order_relaxed);
    if (cxx_freeres) cxx_freeres();
    if (libc_freeres) libc_freeres();
}

/* Records how the process ended in the header, then packs the trace unless
 * `heapsnap run` will (it waits for this pid and packs after the real end, so
 * even frees in late destructors are kept). The leak check at the end is not
 * asked for here: `heapsnap run` stops the process at its exit by itself
 * (ptrace), whichever way it leaves; stack_from tells it where the exiting
 * thread's live frames begin after a normal exit. */
void shim_finish(uint32_t how, int code, uintptr_t stack_from, bool pack)
{
    struct trace_header *h = spool_header();
    if (!h || getpid() != shim_pid) return; /* a vfork child shares our memory: not its trace */
    if (atomic_load((_Atomic uint32_t *)&h->end_how) == END_UNKNOWN) {
        h->end_code = code;
        h->end_ticks = shim_ticks();
        h->end_mono_ns = shim_mono_ns();
        h->exit_tid = shim_gettid();
        h->exit_stack_from = stack_from;
        h->exit_ctx = stack_from ? EXIT_CTX_STACK_FROM : EXIT_CTX_NONE;
        h->peak_rss_kib = proc_peak_rss_kib(0);
        atomic_store((_Atomic uint32_t *)&h->end_how, how);
    }
    static _Atomic bool freed;
    /* From a signal handler (an _exit there, or an exit() though it is not
     * async-signal-safe): nothing that takes the C library's locks, the
     * cleanup and packing (which allocates) alike; the trace stays OPEN,
     * whole, for `heapsnap run` or `heapsnap pack`. */
    bool in_handler = how != END_SIGNAL && stack_in_signal_handler();
    if (in_handler) pack = false;
    if (how != END_SIGNAL && !in_handler && !atomic_exchange(&freed, true))
        free_runtime_state(how == END_UNDERSCORE_EXIT);
    bool parent_will = shim_config.parent_packs == shim_pid || shim_config.parent_packs == -1;
    /* ...unless that `heapsnap run` is gone (killed): then no one else will. */
    if (parent_will && shim_config.run_pid > 0 && kill(shim_config.run_pid, 0) != 0 && errno == ESRCH) parent_will = false;
    /* ...or it has stopped waiting for us. */
    if (atomic_load((_Atomic uint32_t *)&h->flags) & TRACE_F_SELF_PACK) parent_will = false;
    if (!pack || parent_will) return;
    if (atomic_exchange(&shim_packed, true)) return;
    shim_tls.in_shim++;
    /* Past a file size limit the packed file is refused (EFBIG), not paid
     * for with the program's life (SIGXFSZ): it is ending, its signal
     * disposition matters no more, but its exit status does. */
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGXFSZ, &ignore, &old);
    char err[1024];
    if (trace_pack(spool_path(), END_UNKNOWN, 0, err, sizeof err) < 0) shim_say("heapsnap: %s%s\n", err, "");
    sigaction(SIGXFSZ, &old, NULL);
    shim_tls.in_shim--;
}

void shim_reset_after_fork(void)
{
    atomic_store(&shim_packed, false);
    atomic_fetch_add(&shim_generation, 1);
    struct shim_thread *t = &shim_tls;
    t->stream = 0;
    t->chunk = NULL;
    t->pos = t->end = NULL;
    modules_reset();
}

__attribute__((constructor)) static void shim_constructor(void)
{
    /* Loaded into a running process by `heapsnap attach`: it starts us. */
    if (atomic_load(&shim_state) == SHIM_UNINIT && !attach_loaded_late()) shim_init();
}

/* Whether the calling thread's call is the program's to record, once the
 * shim is up: our own calls (in_shim) pass through, and a first call before
 * init runs it (or waits for the thread running it). */
SHIM_COLD bool shim_should_record_slow(struct shim_thread *t)
{
    if (t->in_shim) return false; /* our own allocation, or init's dlsym */
    int s = atomic_load(&shim_state);
    if (s == SHIM_UNINIT) {
        shim_init();
        s = atomic_load(&shim_state);
    }
    while (s == SHIM_INITIALIZING) {
        sched_yield();
        s = atomic_load(&shim_state);
    }
    return s == SHIM_ACTIVE;
}
