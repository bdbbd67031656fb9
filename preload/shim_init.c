/* shim_init.c - the shim's life: settings from the environment, the bootstrap
 * of the real allocator, opening this process's trace, and finishing it.
 *
 * Initialisation runs on the first intercepted call or in our constructor,
 * whichever comes first; that may be long before main, inside another
 * library's constructor, so nothing here may depend on program state. */
#include "shim.h"
#include "../trace/trace_pack.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

struct shim_real shim_real;
_Atomic int shim_state;
struct shim_config shim_config = {.frames = 64, .follow = true, .control_fd = -1};
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
    if (n > 0 && write(2, msg, (size_t)n) < 0) { /* stderr is gone: nothing to do */
    }
}

static void resolve_real(void)
{
#define RESOLVE(f) shim_real.f = (__typeof__(shim_real.f))dlsym(RTLD_NEXT, #f)
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
}

static bool read_config(void)
{
    const char *v = getenv("HEAPSNAP_FRAMES");
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
    v = getenv("HEAPSNAP_FOLLOW");
    shim_config.follow = !(v && strcmp(v, "0") == 0);
    v = getenv("HEAPSNAP_PARENT_PACKS");
    shim_config.parent_packs = v ? (strcmp(v, "all") == 0 ? -1 : (pid_t)atol(v)) : 0;
    v = getenv("HEAPSNAP_SESSION");
    shim_config.session = v ? strtoull(v, NULL, 16) : 0;
    v = getenv("HEAPSNAP_OUTPUT");
    snprintf(shim_config.output_dir, sizeof shim_config.output_dir, "%s", v && *v ? v : ".");
    v = getenv("HEAPSNAP_OUTPUT_FILE");
    snprintf(shim_config.output_file, sizeof shim_config.output_file, "%s", v ? v : "");
    v = getenv("HEAPSNAP_SNAPSHOT_SIGNAL");
    shim_config.snapshot_signal = v ? atoi(v) : 0;
    v = getenv("HEAPSNAP_SNAPSHOT_INTERVAL");
    shim_config.interval_ns = v ? (uint64_t)(strtod(v, NULL) * 1e9) : 0;
    v = getenv("HEAPSNAP_SNAPSHOT_GROWTH");
    shim_config.growth_bytes = v ? strtoull(v, NULL, 10) : 0;
    v = getenv("HEAPSNAP_CONTROL_FD");
    shim_config.control_fd = v && *v ? atoi(v) : -1;
    if (shim_config.control_fd >= 0 && fcntl(shim_config.control_fd, F_GETFD) < 0) shim_config.control_fd = -1;
    v = getenv("HEAPSNAP_RUN_PID");
    shim_config.run_pid = v ? (pid_t)atol(v) : 0;
    v = getenv("HEAPSNAP_LEAK_CHECK_TIMEOUT_MS");
    shim_config.leak_check_timeout_ms = v ? (unsigned)atoi(v) : 120000;
    return true;
}

static int try_create(const char *path, const struct trace_header *hdr)
{
    int rc = spool_create(path, hdr);
    if (rc == 0 || rc == -EEXIST) return rc;
    shim_say("heapsnap: cannot create trace %s: %s: not tracing this process\n", path, strerror(-rc));
    return rc;
}

/* Opens heapsnap.PROGRAM.PID.trace (or the file `run -o` asked for, if no
 * process has claimed it yet). O_EXCL throughout: an exec'd image of the same
 * pid, or a leftover file, gets the next free suffix rather than a clobber. */
void shim_open_trace(void)
{
    struct trace_header hdr = {.version = TRACE_VERSION,
                               .state = TRACE_OPEN,
                               .header_size = TRACE_HEADER_SIZE,
                               .slot_size = TRACE_SLOT_SIZE,
                               .frames = shim_config.frames};
    memcpy(hdr.magic, TRACE_MAGIC, 8);
    shim_pid = getpid();
    hdr.pid = (uint64_t)shim_pid;
    hdr.ppid = (uint64_t)getppid();
    hdr.session = shim_config.session;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    hdr.start_realtime_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;

    char path[2048];
    int rc = -EEXIST;
    if (shim_config.output_file[0]) rc = try_create(shim_config.output_file, &hdr);
    if (rc == -EEXIST) {
        const char *prog = program_invocation_short_name;
        if (!prog || !*prog) prog = "program";
        for (int i = 0; i < 1000 && rc == -EEXIST; i++) {
            if (i == 0)
                snprintf(path, sizeof path, "%s/heapsnap.%s.%ld.trace", shim_config.output_dir, prog, (long)shim_pid);
            else
                snprintf(path, sizeof path, "%s/heapsnap.%s.%ld.%d.trace", shim_config.output_dir, prog, (long)shim_pid, i);
            rc = try_create(path, &hdr);
        }
    }
    if (rc != 0) {
        atomic_store(&shim_state, SHIM_OFF);
        return;
    }
    struct shim_thread *t = &shim_tls;
    emit_process_record(t);
}

void shim_init(void)
{
    int expected = SHIM_UNINIT;
    if (!atomic_compare_exchange_strong(&shim_state, &expected, SHIM_INITIALIZING)) return;
    shim_tls.in_shim++;
    resolve_real();
    if (!read_config()) {
        atomic_store(&shim_state, SHIM_OFF);
        shim_tls.in_shim--;
        return;
    }
    if (!shim_config.follow) process_strip_preload();
    modules_init();
    stack_init();
    atomic_store(&shim_state, SHIM_ACTIVE); /* records below need an active shim */
    shim_open_trace();
    if (atomic_load(&shim_state) == SHIM_ACTIVE) {
        process_install_hooks();
        api_init();
    }
    shim_tls.in_shim--;
}

/* Records how the process ended in the header, then packs the trace unless
 * `heapsnap run` will (it waits for this pid and packs after the real end, so
 * even frees in late destructors are kept). */
void shim_finish(uint32_t how, int code, bool pack)
{
    struct trace_header *h = spool_header();
    if (!h || getpid() != shim_pid) return; /* a vfork child shares our memory: not its trace */
    if (atomic_load((_Atomic uint32_t *)&h->end_how) == END_UNKNOWN) {
        h->end_code = code;
        h->end_ticks = shim_ticks();
        h->end_mono_ns = shim_mono_ns();
        atomic_store((_Atomic uint32_t *)&h->end_how, how);
    }
    /* Every way out (exit, _exit, fatal signals) ends with a leak check, after
     * the end is recorded: the scan is not the program's time. */
    static _Atomic bool checked;
    if (!atomic_exchange(&checked, true)) shim_leak_check("end");
    bool parent_will = shim_config.parent_packs == shim_pid || shim_config.parent_packs == -1;
    /* ...unless that `heapsnap run` is gone (killed): then no one else will. */
    if (parent_will && shim_config.run_pid > 0 && kill(shim_config.run_pid, 0) != 0 && errno == ESRCH) parent_will = false;
    if (!pack || parent_will) return;
    if (atomic_exchange(&shim_packed, true)) return;
    shim_tls.in_shim++;
    char err[1024];
    if (trace_pack(spool_path(), END_UNKNOWN, 0, err, sizeof err) < 0) shim_say("heapsnap: %s%s\n", err, "");
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
    if (atomic_load(&shim_state) == SHIM_UNINIT) shim_init();
}
