/* cmd_attach.c - `heapsnap attach PID` and `heapsnap detach PID`: trace a
 * process that is already running, then leave it as it was
 * (docs/ATTACH.md).
 *
 * Attach: one thread of the process is held where it holds no lock of the C
 * library (inject.c) and made to dlopen libheapsnap.so and start it with our
 * settings; the shim opens the trace and redirects the process's malloc
 * calls (preload/got_patch.c). The thread runs on; the whole pause is a few
 * milliseconds. While attached this command watches: a module loaded since
 * gets its calls redirected too; the end comes with --duration, Ctrl-C,
 * SIGTERM, `heapsnap detach PID` (through a socket named after PID), or the
 * process's own end.
 *
 * Detach: every thread is held, and let run a moment again until none is
 * inside heapsnap's code; then one of them calls the shim's stop (slots
 * restored, trace unmapped, descriptors closed) and all run on. With
 * --leak-check the held process is checked first, as `heapsnap run` checks
 * one at its end (leakcheck.c). The trace is then packed here. */
#include "cmds.h"
#include "inject.h"
#include "leakcheck.h"
#include "shim_find.h"
#include "supervise.h"
#include "../preload/elf_probe.h"
#include "../trace/trace_pack.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QUIESCE_TRIES 2000 /* 1 ms of running each: a thread inside heapsnap leaves it in microseconds */

struct attach_options {
    pid_t pid;
    const char *output, *html;
    double duration; /* 0: until told */
    bool leak_check, quiet;
    unsigned frames;
    const char *unwind, *interval, *growth;
    uint64_t sample_rate;
    enum report_format format;
    size_t top;
};

/* The shim's entry points in the process, from its symbol table and where it
 * is loaded. */
struct shim_entries {
    uint64_t start, rescan, stop, message, tls_offset;
    uint64_t text_lo, text_hi; /* its code: no thread may be held in it at a detach */
};

static volatile sig_atomic_t stop_asked;
static void on_stop_signal(int sig)
{
    (void)sig;
    stop_asked = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t parse_pid(const char *v)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || !*v || n <= 0 || n > INT_MAX) die_usage("a process id, not '%s'", v);
    return (pid_t)n;
}

/* ---- what may stop an attach, said before anything is touched ------------ */

static void process_name(pid_t pid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    out[0] = 0;
    if (f && fgets(out, (int)cap, f)) out[strcspn(out, "\n")] = 0;
    if (f) fclose(f);
}

static void check_attachable(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) die("no process %d", pid);
    long tracer = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "TracerPid: %ld", &tracer) == 1) break;
    fclose(f);
    if (pid == getpid()) die("heapsnap cannot attach to itself");
    if (tracer > 0) {
        char name[64];
        process_name((pid_t)tracer, name, sizeof name);
        die("%d is traced by process %ld (%s) already: a process has one tracer at a time (detach that one first)", pid,
            tracer, name[0] ? name : "?");
    }
    /* The executable: same architecture, dynamically linked, no sanitizer of its own. */
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == EACCES || errno == EPERM)
            die("cannot read %d's executable: %s (another user's process, or a set-user-ID one: run heapsnap attach as "
                "that user or as root)",
                pid, strerror(errno));
        die("cannot read %d's executable: %s", pid, strerror(errno));
    }
    Elf64_Ehdr eh;
    bool elf = pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0;
    close(fd);
    if (!elf) die("%d's executable is not an ELF file", pid);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
        die("%d is a %s program: heapsnap attaches to x86_64 processes only", pid,
            eh.e_ident[EI_CLASS] != ELFCLASS64 ? "32-bit" : "different architecture's");
    char what[64];
    if (sanitizer_runtime_in(path, what, sizeof what))
        die("%d carries %s (%s), whose leak checker owns its allocator: heapsnap cannot attach to it", pid,
            sanitizer_name(what), what);
}

/* libheapsnap.so as the process sees it must be the file we mean: in a
 * container the process has a filesystem of its own. */
static void check_visible(pid_t pid, const char *what, const char *path, bool dir)
{
    char inside[PATH_MAX + 64];
    snprintf(inside, sizeof inside, "/proc/%d/root%s", pid, path);
    struct stat a, b;
    if (stat(path, &a) != 0) die("%s: %s", path, strerror(errno));
    if (stat(inside, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        die("%s %s is not the same %s inside process %d's filesystem (a container?): %s", what, path,
            dir ? "directory" : "file", pid,
            dir ? "give an -o path both see (a volume mounted in the container)"
                : "copy libheapsnap.so into the container at the same path");
}

/* ---- the shim in the process ------------------------------------------- */

static bool find_entries(pid_t pid, struct shim_entries *e)
{
    uint64_t bias;
    char path[PATH_MAX + 64];
    if (!inject_find_module(pid, "libheapsnap.so", &bias, path, sizeof path, &e->text_lo, &e->text_hi)) return false;
    static const char *const names[] = {"heapsnap_attach_start", "heapsnap_attach_rescan", "heapsnap_attach_stop",
                                        "heapsnap_attach_message", "heapsnap_attach_tls_offset"};
    uint64_t v[5];
    elf_defined_functions(path, names, v, 5);
    for (int i = 0; i < 5; i++)
        if (!v[i]) return false;
    e->start = bias + v[0], e->rescan = bias + v[1], e->stop = bias + v[2], e->message = bias + v[3];
    e->tls_offset = bias + v[4];
    return true;
}

static bool call(struct inject_thread *t, pid_t pid, uint64_t fn, const char *str, const uint64_t *args, int n,
                 uint64_t *ret, char *err, size_t errlen)
{
    return inject_call(t, pid, fn, str, args, n, ret, err, errlen);
}

/* The shim's message (its reason for a refusal, or the trace's path). */
static void shim_message(struct inject_thread *t, pid_t pid, const struct shim_entries *e, char *out, size_t cap)
{
    uint64_t addr = 0;
    char err[256];
    out[0] = 0;
    if (call(t, pid, e->message, NULL, NULL, 0, &addr, err, sizeof err)) inject_read_string(pid, addr, out, cap);
}

/* Holds one thread of pid where it may call into the C library: the main
 * thread, or another if that one cannot be (it has exited, or never leaves
 * the library's code). */
static bool hold_a_thread(struct inject_proc *p, pid_t pid, char *err, size_t errlen)
{
    if (inject_hold_one(p, pid, pid, err, errlen)) return true;
    pid_t *tids;
    size_t n = sup_list_threads(pid, &tids);
    bool held = false;
    for (size_t i = 0; i < n && !held; i++)
        if (tids[i] != pid) held = inject_hold_one(p, pid, tids[i], err, errlen);
    free(tids);
    return held;
}

/* Loads and starts the shim; returns the pause in ms. */
static double inject_shim(const struct attach_options *o, const char *shim, const char *settings,
                          struct shim_entries *e, char *trace, size_t cap, int *slots)
{
    uint64_t libc_bias, lo, hi;
    char libc[PATH_MAX + 64], err[1024];
    if (!inject_find_module(o->pid, "libc.so.", &libc_bias, libc, sizeof libc, &lo, &hi))
        die("%d has no C library loaded (a static program?): heapsnap can only be loaded into a dynamically linked "
            "process",
            o->pid);
    static const char *const names[] = {"dlopen", "dlerror"};
    uint64_t fn[2];
    elf_defined_functions(libc, names, fn, 2);
    if (!fn[0] || !fn[1]) die("%s has no dlopen (glibc 2.34 or later is needed)", libc);
    double t0 = now_s();
    struct inject_proc p;
    if (!hold_a_thread(&p, o->pid, err, sizeof err)) die("%s", err);
    struct inject_thread *t = &p.threads[0];
    uint64_t handle = 0, rc = 0, args[2] = {0, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE}; /* args[0]: the path */
    if (!call(t, o->pid, libc_bias + fn[0], shim, args, 2, &handle, err, sizeof err)) {
        inject_release(&p);
        die("loading %s into %d: %s", shim, o->pid, err);
    }
    if (!handle) {
        uint64_t msg = 0;
        char why[1024] = "";
        if (call(t, o->pid, libc_bias + fn[1], NULL, NULL, 0, &msg, err, sizeof err))
            inject_read_string(o->pid, msg, why, sizeof why);
        inject_release(&p);
        die("%d could not load %s: %s", o->pid, shim, why[0] ? why : "dlopen failed");
    }
    if (!find_entries(o->pid, e)) {
        inject_release(&p);
        die("%s is loaded in %d, but its attach entry points are not found (an older heapsnap?)", shim, o->pid);
    }
    bool ok = call(t, o->pid, e->start, settings, NULL, 1, &rc, err, sizeof err);
    char msg[2048];
    shim_message(t, o->pid, e, msg, sizeof msg);
    inject_release(&p);
    double pause = (now_s() - t0) * 1000;
    if (!ok) die("starting heapsnap in %d: %s", o->pid, err);
    if ((int)rc < 0) die("%d: %s", o->pid, msg[0] ? msg : "heapsnap could not start");
    snprintf(trace, cap, "%s", msg);
    *slots = (int)rc;
    return pause;
}

/* A later pass of the shim over the process's modules (one loaded since). */
static void rescan(pid_t pid, const struct shim_entries *e)
{
    struct inject_proc p;
    char err[1024];
    if (!hold_a_thread(&p, pid, err, sizeof err)) return; /* next time */
    uint64_t rc;
    call(&p.threads[0], pid, e->rescan, NULL, NULL, 0, &rc, err, sizeof err);
    inject_release(&p);
}

/* The executable file mappings of pid, as one number: a change means a
 * module came or went. */
static uint64_t modules_signature(pid_t pid)
{
    char path[64], line[4352];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    uint64_t sig = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long lo;
        char perms[8];
        /* file-backed only: a JIT's anonymous code comes and goes, no module with it */
        if (sscanf(line, "%llx-%*x %7s", &lo, perms) == 2 && perms[2] == 'x' && strchr(line, '/'))
            sig = (sig ^ lo) * 0x100000001b3ull;
    }
    if (f) fclose(f);
    return sig;
}

/* Whether held thread t is out of heapsnap's code: its ip outside our text,
 * and its in_shim count 0. */
static bool quiet_thread(pid_t pid, const struct inject_thread *t, const struct shim_entries *e, long tls_off)
{
    if (t->saved.rip >= e->text_lo && t->saved.rip < e->text_hi) return false;
    int in_shim = 1;
    struct iovec local = {&in_shim, sizeof in_shim},
                 remote = {(void *)(t->saved.fs_base + (uint64_t)tls_off), sizeof in_shim};
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof in_shim) return false;
    return in_shim == 0;
}

/* The live blocks of the held process, classified (leakcheck.c), into out. */
static void leak_check_held(pid_t pid, const struct inject_proc *p, const char *trace, struct rec_chunks *out)
{
    struct snap s;
    char err[1024];
    if (snap_load_opts(&s, trace, NULL, true, err, sizeof err) != 0) {
        leakcheck_failed(1, err, out);
        return;
    }
    pid_t *tids = xcalloc(p->n, sizeof *tids);
    for (size_t i = 0; i < p->n; i++)
        tids[i] = p->threads[i].tid;
    struct leakcheck_request rq = {.pid = pid, .seq = 1, .live = &s, .tids = tids, .ntids = p->n, .trace_path = trace};
    if (leakcheck_run(&rq, out, err, sizeof err) != 0)
        leakcheck_failed(1, err, out);
    else
        leakcheck_note(1,
                       "attached: blocks allocated before the attach are not known, so neither are their leaks, "
                       "nor the blocks they hold",
                       out);
    free(tids);
    snap_free(&s);
}

/* Puts the process back as it was; the checks' records (if asked) in out. */
static bool detach_process(pid_t pid, const struct shim_entries *e, long tls_off, bool leak_check, const char *trace,
                           struct rec_chunks *out, char *said, size_t said_cap, double *pause_ms, char *err,
                           size_t errlen)
{
    double t0 = now_s();
    struct inject_proc p;
    if (!inject_hold_all(&p, pid, err, errlen)) return false;
    size_t quiet_one = 0;
    for (int tries = 0;; tries++) {
        bool all = true;
        for (size_t i = 0; i < p.n && all; i++)
            if (!quiet_thread(pid, &p.threads[i], e, tls_off)) all = false;
        if (all) break;
        if (tries == QUIESCE_TRIES || !inject_breathe(&p, 1, err, errlen)) {
            if (tries == QUIESCE_TRIES) snprintf(err, errlen, "a thread of %d stays inside heapsnap's code", pid);
            inject_release(&p);
            return false;
        }
    }
    if (leak_check) leak_check_held(pid, &p, trace, out);
    uint64_t rc = 0;
    bool ok = call(&p.threads[quiet_one], pid, e->stop, NULL, NULL, 0, &rc, err, errlen);
    if (ok && (int)rc < 0) {
        snprintf(err, errlen, "heapsnap was not attached to %d", pid);
        ok = false;
    }
    if (ok && said) shim_message(&p.threads[quiet_one], pid, e, said, said_cap);
    inject_release(&p);
    *pause_ms = (now_s() - t0) * 1000;
    return ok;
}

/* The trace is packed while attached, as `heapsnap run` packs: sealed slots
 * a few at a time, their disk blocks given back, so a long attach holds its
 * records once. Not with --leak-check: its replay at the detach reads the
 * raw slots. pk->path[0] is 0 until packing has begun. */
#define PACK_SLOTS_PER_TURN 64u

static void pack_some(struct trace_packer *pk, const char *trace, bool *failed)
{
    char err[1024];
    if (*failed) return;
    if (!pk->path[0]) {
        int rc = packer_begin(pk, trace, true, err, sizeof err);
        if (rc != 0) {
            pk->path[0] = 0;
            *failed = true; /* packed at the end, as a whole */
            return;
        }
        pk->step_slots = PACK_SLOTS_PER_TURN;
        packer_beside(pk); /* HEAPSNAP_PACK: checked at the start (run_check_pack_env) */
    }
    if (packer_step(pk, false, err, sizeof err) < 0) {
        packer_abort(pk);
        pk->path[0] = 0;
        *failed = true;
    }
}

/* The rest, with the leak check's records; a packer begun here (pk->path set)
 * goes on, else one starts (and takes over what a dead one left). */
static int pack_rest(struct trace_packer *pk, const char *trace, const struct rec_chunks *checks)
{
    char err[1024];
    int rc = pk->path[0] ? 0 : packer_begin(pk, trace, false, err, sizeof err);
    if (rc == 1) return 0;
    pk->step_slots = 0;
    if (rc == 0) rc = packer_step(pk, true, err, sizeof err);
    if (rc == 0 && checks && checks->n) rc = packer_add_external(pk, checks, TRACE_STREAM_EXTERNAL, err, sizeof err);
    if (rc == 0) rc = packer_commit(pk, END_UNKNOWN, 0, err, sizeof err);
    if (rc < 0) {
        packer_abort(pk);
        warn("%s", err);
        return -1;
    }
    return 0;
}

/* ---- `heapsnap detach PID` reaches the attach through a socket --------- */

static int control_socket(pid_t pid, bool listen_side)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "heapsnap-attach.%d", pid); /* abstract: no file */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if (listen_side ? bind(fd, (struct sockaddr *)&a, len) != 0 || listen(fd, 4) != 0
                    : connect(fd, (struct sockaddr *)&a, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the commands ------------------------------------------------------ */

enum {
    OPT_DURATION = OPT_FIRST_LONG,
    OPT_LEAK_CHECK,
    OPT_FRAMES,
    OPT_UNWIND,
    OPT_SAMPLE_RATE,
    OPT_INTERVAL,
    OPT_GROWTH,
    OPT_FORMAT,
    OPT_TOP,
    OPT_HTML
};

static void parse(int argc, char **argv, struct attach_options *o)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"duration", required_argument, NULL, OPT_DURATION},
                                             {"leak-check", no_argument, NULL, OPT_LEAK_CHECK},
                                             {"frames", required_argument, NULL, OPT_FRAMES},
                                             {"unwind", required_argument, NULL, OPT_UNWIND},
                                             {"sample-rate", required_argument, NULL, OPT_SAMPLE_RATE},
                                             {"snapshot-interval", required_argument, NULL, OPT_INTERVAL},
                                             {"snapshot-growth", required_argument, NULL, OPT_GROWTH},
                                             {"format", required_argument, NULL, OPT_FORMAT},
                                             {"top", required_argument, NULL, OPT_TOP},
                                             {"html", required_argument, NULL, OPT_HTML},
                                             OPTS_HELP,
                                             {0}};
    static char growth[32];
    *o = (struct attach_options){.frames = 64, .unwind = RUN_DEFAULT_UNWIND, .top = 5};
    struct opts p;
    opts_init(&p, "attach", argc, argv, "o:q", longopts);
    const char *v;
    for (int c; (c = opts_next(&p, &v)) != -1;) {
        switch (c) {
        case 'o': o->output = v; break;
        case 'q': o->quiet = true; break;
        case OPT_DURATION: {
            char *end;
            o->duration = strtod(v, &end);
            if (!*v || *end || !(o->duration > 0) || o->duration > 1e9)
                die_usage("--duration takes seconds greater than 0, not '%s'", v);
            break;
        }
        case OPT_LEAK_CHECK: o->leak_check = true; break;
        case OPT_FRAMES: o->frames = run_parse_frames(v); break;
        case OPT_UNWIND: o->unwind = run_parse_unwind(v); break;
        case OPT_SAMPLE_RATE: o->sample_rate = run_parse_sample_rate(v); break;
        case OPT_INTERVAL: o->interval = run_check_seconds(v); break;
        case OPT_GROWTH: o->growth = run_parse_growth(v, growth, sizeof growth); break;
        case OPT_FORMAT: o->format = parse_format(v); break;
        case OPT_TOP: o->top = parse_count("--top", v); break;
        case OPT_HTML: o->html = v; break;
        }
    }
    int n;
    char **ops = opts_operands(&p, &n);
    if (n != 1) die_usage("which process? (heapsnap attach [OPTIONS] PID)");
    o->pid = parse_pid(ops[0]);
    run_check_pack_env();
    if (o->leak_check && o->sample_rate)
        die_usage("--leak-check needs every block, and --sample-rate records a sample of them");
}

/* Where the trace goes: -o FILE, or heapsnap.PROGRAM.PID.trace here. */
static void output_paths(const struct attach_options *o, char *dir, char *file, size_t cap)
{
    char d[PATH_MAX];
    const char *slash = o->output ? strrchr(o->output, '/') : NULL;
    if (slash)
        snprintf(d, sizeof d, "%.*s", (int)(slash - o->output) ? (int)(slash - o->output) : 1, o->output);
    else
        snprintf(d, sizeof d, ".");
    if (!realpath(d, dir)) die("cannot write traces to %s: %s", d, strerror(errno));
    if (access(dir, W_OK | X_OK) != 0) die("cannot write traces to %s: %s", dir, strerror(errno));
    file[0] = 0;
    if (o->output) {
        snprintf(file, cap, "%s/%s", dir, slash ? slash + 1 : o->output);
        struct stat st;
        if (stat(file, &st) == 0 && !S_ISREG(st.st_mode)) die("%s: exists and is not a regular file", file);
        if (access(file, F_OK) == 0 && access(file, W_OK) != 0) die("cannot replace %s: %s", file, strerror(errno));
    }
}

static bool process_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

int cmd_attach(int argc, char **argv)
{
    struct attach_options o;
    parse(argc, argv, &o);
    check_attachable(o.pid);
    char shim[PATH_MAX], err[PATH_MAX * 2 + 200];
    if (shim_find(shim, sizeof shim, err, sizeof err) < 0 || shim_check_version(shim, err, sizeof err) < 0)
        die("%s", err);
    char dir[PATH_MAX], file[PATH_MAX + 2];
    output_paths(&o, dir, file, sizeof file);
    check_visible(o.pid, "heapsnap's library", shim, false);
    check_visible(o.pid, "the trace directory", dir, true);
    int ctl = control_socket(o.pid, true);
    if (ctl < 0) die("another heapsnap attach is attached to %d already (heapsnap detach %d)", o.pid, o.pid);

    char settings[8192];
    snprintf(settings, sizeof settings,
             "HEAPSNAP_OUTPUT=%s\nHEAPSNAP_OUTPUT_FILE=%s\nHEAPSNAP_FRAMES=%u\nHEAPSNAP_UNWIND=%s\n"
             "HEAPSNAP_SAMPLE_RATE=%llu\nHEAPSNAP_RUN_PID=%d\n%s%s%s%s%s%s",
             dir, file, o.frames, o.unwind, (unsigned long long)o.sample_rate, (int)getpid(),
             o.interval ? "HEAPSNAP_SNAPSHOT_INTERVAL=" : "", o.interval ? o.interval : "", o.interval ? "\n" : "",
             o.growth ? "HEAPSNAP_SNAPSHOT_GROWTH=" : "", o.growth ? o.growth : "", o.growth ? "\n" : "");
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct shim_entries e;
    char trace[PATH_MAX + 64], name[64];
    int slots = 0;
    process_name(o.pid, name, sizeof name);
    /* An old trace of that name goes only now, when nothing is left to refuse
     * the attach before the process is touched (the shim creates the file). */
    if (file[0] && unlink(file) != 0 && errno != ENOENT) die("cannot replace %s: %s", file, strerror(errno));
    double pause = inject_shim(&o, shim, settings, &e, trace, sizeof trace, &slots);
    if (!o.quiet)
        fprintf(stderr,
                "heapsnap: attached to %d (%s) in %.1f ms: %d call slots redirected, tracing into %s\n"
                "heapsnap: blocks allocated before now are not known; %s\n",
                o.pid, name, pause, slots, trace,
                o.duration > 0 ? "detaching when the duration is over (or Ctrl-C)"
                               : "Ctrl-C, SIGTERM or heapsnap detach PID detaches");

    /* The shim's per-thread count, found once: the same offset in every thread. */
    long tls_off = 0;
    {
        struct inject_proc p;
        uint64_t off = 0;
        if (hold_a_thread(&p, o.pid, err, sizeof err)) {
            if (call(&p.threads[0], o.pid, e.tls_offset, NULL, NULL, 0, &off, err, sizeof err)) tls_off = (long)off;
            inject_release(&p);
        }
    }
    double until = o.duration > 0 ? now_s() + o.duration : 0;
    uint64_t mods = modules_signature(o.pid);
    double rescan_at = 0;
    int asker = -1;
    bool gone = false;
    struct trace_packer pk;
    pk.path[0] = 0;
    bool pack_failed = o.leak_check;
    while (!stop_asked && !(until && now_s() >= until)) {
        pack_some(&pk, trace, &pack_failed);
        struct pollfd pf = {.fd = ctl, .events = POLLIN};
        if (poll(&pf, 1, 100) > 0 && (asker = accept4(ctl, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
            /* Only our user (or root) may end the attach. */
            struct ucred who;
            socklen_t len = sizeof who;
            if (getsockopt(asker, SOL_SOCKET, SO_PEERCRED, &who, &len) == 0 && (who.uid == geteuid() || who.uid == 0))
                break;
            close(asker);
            asker = -1;
        }
        if (process_gone(o.pid)) {
            gone = true;
            break;
        }
        uint64_t m = modules_signature(o.pid);
        if (m != mods) { /* a module came: take its calls, and again in a moment (it may be mid-load now) */
            mods = m;
            rescan(o.pid, &e);
            rescan_at = now_s() + 0.5;
        } else if (rescan_at && now_s() >= rescan_at) {
            rescan(o.pid, &e);
            rescan_at = 0;
        }
    }
    struct rec_chunks checks = {0};
    int status = 0;
    if (gone) {
        warn("%d ended while heapsnap was attached: its trace ends there", o.pid);
    } else {
        double held = 0;
        char said[2048] = "";
        if (!detach_process(o.pid, &e, tls_off, o.leak_check, trace, &checks, said, sizeof said, &held, err,
                            sizeof err)) {
            warn("detaching from %d: %s; it is still attached (heapsnap detach %d tries again)", o.pid, err, o.pid);
            status = 1;
        } else {
            if (!o.quiet)
                fprintf(stderr, "heapsnap: detached from %d (held %.1f ms): it runs on as it was\n", o.pid, held);
            /* What the shim said while attached, after the trace's path. */
            const char *rest = strchr(said, '\n');
            if (rest && rest[1]) fprintf(stderr, "%s%s", rest + 1, rest[strlen(rest) - 1] == '\n' ? "" : "\n");
        }
    }
    close(ctl);
    /* Still attached after a failed detach: the shim writes on; nothing to pack. */
    if (status == 0 && pack_rest(&pk, trace, &checks) < 0) status = 1;
    rec_chunks_free(&checks);
    if (!o.quiet && status == 0) print_report(stderr, trace, o.format, o.top);
    if (o.html && status == 0) run_write_html(o.html, trace, o.quiet);
    if (o.leak_check && status == 0 && !gone) {
        char *largv[] = {"leaks", trace, NULL};
        cmd_leaks(2, largv);
    }
    if (asker >= 0) {
        char done[PATH_MAX + 80];
        int n = snprintf(done, sizeof done, "%s %s\n", status == 0 ? "detached" : "failed", trace);
        if (write(asker, done, (size_t)n) < 0) { /* the asker is gone: nothing to tell */
        }
        close(asker);
    }
    return status;
}

int cmd_detach(int argc, char **argv)
{
    int n;
    char **ops = opts_operands_only("detach", argc, argv, &n);
    if (n != 1) die_usage("which process? (heapsnap detach PID)");
    pid_t pid = parse_pid(ops[0]);
    int fd = control_socket(pid, false);
    if (fd >= 0) { /* the attach does it, and packs its trace */
        if (write(fd, "detach\n", 7) != 7) die("cannot reach the heapsnap attach of %d: %s", pid, strerror(errno));
        char answer[PATH_MAX + 80];
        ssize_t got = read(fd, answer, sizeof answer - 1);
        close(fd);
        answer[got > 0 ? got : 0] = 0;
        if (strncmp(answer, "detached ", 9) != 0) die("the heapsnap attach of %d could not detach", pid);
        fprintf(stderr, "heapsnap: detached from %d; trace %s", pid, answer + 9);
        return 0;
    }
    /* No attach is left (it was killed): do it here. */
    if (process_gone(pid)) die("no process %d", pid);
    struct shim_entries e;
    if (!find_entries(pid, &e)) die("heapsnap is not loaded in %d", pid);
    struct inject_proc ip;
    char err[1024], trace[PATH_MAX + 64] = "";
    if (!hold_a_thread(&ip, pid, err, sizeof err)) die("%s", err);
    uint64_t off = 0;
    bool ok = call(&ip.threads[0], pid, e.tls_offset, NULL, NULL, 0, &off, err, sizeof err);
    inject_release(&ip);
    if (!ok) die("%s", err);
    double held = 0;
    /* The trace's path: the first line of the shim's message after stop. */
    if (!detach_process(pid, &e, (long)off, false, NULL, NULL, trace, sizeof trace, &held, err, sizeof err))
        die("%s", err);
    trace[strcspn(trace, "\n")] = 0;
    fprintf(stderr, "heapsnap: detached from %d (held %.1f ms)\n", pid, held);
    struct trace_packer pk;
    pk.path[0] = 0;
    if (trace[0] && pack_rest(&pk, trace, NULL) == 0) fprintf(stderr, "heapsnap: trace %s\n", trace);
    return 0;
}
