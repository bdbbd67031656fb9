/* cmd_run.c - `heapsnap run`: check that the program can be traced at all,
 * start it with the shim preloaded, wait, then pack every trace of the run
 * that its process could not pack itself and print the summary.
 *
 * heapsnap run is a subreaper, so descendants orphaned on the way are reaped
 * here and their exit status is known even when no one else waited for them. */
#include "cmds.h"
#include "fmt.h"
#include "../trace/trace_format.h"
#include "../trace/trace_pack.h"
#include "leakcheck.h"
#include "leaks.h"

#include <dirent.h>
#include <poll.h>
#include <stddef.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct run_options {
    const char *output;
    int snapshot_signal;
    const char *snapshot_interval, *snapshot_growth; /* validated, passed on as text */
    unsigned frames;
    bool follow, quiet, leak_check;
    struct leak_gate gate;
    enum report_format format;
    size_t top;
    char **argv;
};

/* ---- can it be traced? -------------------------------------------------- */

static bool find_in_path(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/')) {
        snprintf(out, cap, "%s", name);
        return access(out, F_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; p = strchr(p, ':') + 1) {
        size_t len = strcspn(p, ":");
        snprintf(out, cap, "%.*s/%s", (int)len, len ? p : ".", name);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return true;
        if (!p[len]) return false;
    }
}

/* Refuses what LD_PRELOAD cannot reach, with the reason, instead of running
 * the program untraced (or hanging, as heaptrack does on a static binary). */
static void check_traceable(const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) die("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) die("%s: not a regular file", path);
    if (access(path, X_OK) != 0) die("%s: not executable", path);
    if (st.st_mode & (S_ISUID | S_ISGID))
        die("%s is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD for it, so it cannot be traced", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("%s: %s", path, strerror(errno));
    unsigned char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n >= 2 && buf[0] == '#' && buf[1] == '!') {
        if (depth > 0) return;
        char interp[PATH_MAX];
        size_t i = 2, j = 0;
        while (i < (size_t)n && (buf[i] == ' ' || buf[i] == '\t')) i++;
        while (i < (size_t)n && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && j + 1 < sizeof interp)
            interp[j++] = (char)buf[i++];
        interp[j] = 0;
        if (j) check_traceable(interp, depth + 1);
        return;
    }
    if (n < (ssize_t)sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG) != 0) return; /* exec will say */
    if (buf[EI_CLASS] != ELFCLASS64) return;
    const Elf64_Ehdr *eh = (const void *)buf;
    bool dynamic = false;
    for (unsigned k = 0; k < eh->e_phnum; k++) {
        uint64_t off = eh->e_phoff + (uint64_t)k * eh->e_phentsize;
        if (off + sizeof(Elf64_Phdr) > (uint64_t)n) break;
        const Elf64_Phdr *ph = (const void *)(buf + off);
        if (ph->p_type == PT_INTERP) dynamic = true;
    }
    if (!dynamic)
        die("%s is statically linked: LD_PRELOAD cannot load heapsnap into it (rebuild it dynamically linked)", path);
}

/* ---- where is the shim? ------------------------------------------------- */

static void find_shim(char *out, size_t cap)
{
    const char *env = getenv("HEAPSNAP_LIB");
    if (env && *env) {
        if (access(env, R_OK) != 0) die("HEAPSNAP_LIB=%s: %s", env, strerror(errno));
        snprintf(out, cap, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) *slash = 0;
        /* In the build tree: build/report/heapsnap next to build/preload/. */
        snprintf(out, cap, "%s/../preload/libheapsnap.so", self);
        if (access(out, R_OK) == 0 && realpath(out, self)) {
            snprintf(out, cap, "%s", self);
            return;
        }
    }
    snprintf(out, cap, "%s/libheapsnap.so", HEAPSNAP_LIBDIR);
    if (access(out, R_OK) != 0) die("cannot find libheapsnap.so (looked in %s; set HEAPSNAP_LIB)", HEAPSNAP_LIBDIR);
}

/* ---- after the run ------------------------------------------------------ */

struct reaped {
    pid_t pid;
    int status;
};

struct trace_info {
    char path[PATH_MAX];
    struct trace_header hdr;
};

static bool read_header(const char *path, struct trace_header *h)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = read(fd, h, sizeof *h) == (ssize_t)sizeof *h && memcmp(h->magic, TRACE_MAGIC, 8) == 0;
    close(fd);
    return ok;
}

static size_t find_traces(const char *dir, const char *named, uint64_t session, struct trace_info **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        bool ours = strncmp(e->d_name, "heapsnap.", 9) == 0 && len > 6 && strcmp(e->d_name + len - 6, ".trace") == 0;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!ours && !(named && strcmp(path, named) == 0)) continue;
        struct trace_header h;
        if (!read_header(path, &h) || h.session != session) continue;
        if (n == cap) *out = xrealloc(*out, (cap = cap ? cap * 2 : 8) * sizeof **out);
        snprintf((*out)[n].path, sizeof (*out)[n].path, "%s", path);
        (*out)[n].hdr = h;
        n++;
    }
    if (d) closedir(d);
    return n;
}

static const struct reaped *reaped_find(const struct reaped *r, size_t n, pid_t pid)
{
    for (size_t i = n; i-- > 0;)
        if (r[i].pid == pid) return &r[i];
    return NULL;
}

/* The last image of a pid is the one with the latest start. */
static bool is_last_image(const struct trace_info *t, size_t n, size_t i)
{
    for (size_t j = 0; j < n; j++)
        if (j != i && t[j].hdr.pid == t[i].hdr.pid && t[j].hdr.start_realtime_ns > t[i].hdr.start_realtime_ns)
            return false;
    return true;
}

/* ---- leak checks -------------------------------------------------------- */

/* Results wait here, per trace, until the trace is packed. */
struct leak_results {
    char path[PATH_MAX];
    struct rec_chunks recs;
};

struct leak_state {
    int fd; /* the read end of the control pipe */
    struct leak_results *v;
    size_t n;
};

static struct rec_chunks *results_for(struct leak_state *ls, const char *path)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].path, path) == 0) return &ls->v[i].recs;
    ls->v = xrealloc(ls->v, (ls->n + 1) * sizeof *ls->v);
    memset(&ls->v[ls->n], 0, sizeof ls->v[ls->n]);
    snprintf(ls->v[ls->n].path, sizeof ls->v[ls->n].path, "%s", path);
    return &ls->v[ls->n++].recs;
}

/* Answers every request waiting in the pipe: the current image of the pid is
 * the open trace of the session with its pid and the latest start. */
static void serve_leak_checks(struct leak_state *ls, const char *dir, const char *named, uint64_t session)
{
    struct leak_request req;
    while (recv(ls->fd, &req, sizeof req, 0) == (ssize_t)sizeof req) {
        if (req.magic != LEAK_REQUEST_MAGIC) continue;
        struct trace_info *t;
        size_t n = find_traces(dir, named, session, &t);
        const struct trace_info *mine = NULL;
        for (size_t i = 0; i < n; i++)
            if (t[i].hdr.pid == req.pid && t[i].hdr.state == TRACE_OPEN &&
                (!mine || t[i].hdr.start_realtime_ns > mine->hdr.start_realtime_ns))
                mine = &t[i];
        if (mine) {
            char err[1024];
            if (leakcheck_run(&req, mine->path, results_for(ls, mine->path), err, sizeof err) < 0)
                warn("leak check of pid %u: %s", req.pid, err);
            int fd = open(mine->path, O_WRONLY | O_CLOEXEC);
            if (fd >= 0) { /* the answer the process is waiting for */
                if (pwrite(fd, &req.seq, sizeof req.seq, offsetof(struct trace_header, leak_check_ack)) < 0)
                    warn("%s: %s", mine->path, strerror(errno));
                close(fd);
            }
        }
        free(t);
    }
}

static void on_sigchld(int sig) { (void)sig; }

/* Traces of the direct child's pid are packed by us, beside the program, as
 * its threads seal chunks: the compression runs on another core instead of at
 * the program's exit, and the disk holds packed data, not the raw spool. */
struct live_packer {
    char path[PATH_MAX];
    struct trace_packer packer;
    bool active;
};

struct live_packers {
    struct live_packer *v;
    size_t n;
};

static struct live_packer *live_find(struct live_packers *lp, const char *path)
{
    for (size_t i = 0; i < lp->n; i++)
        if (strcmp(lp->v[i].path, path) == 0) return &lp->v[i];
    return NULL;
}

/* With leak checks the spool must stay whole: a check replays it. */
static bool live_punch = true;

static void live_discover(struct live_packers *lp, const char *dir, const char *named, uint64_t session, pid_t pid)
{
    struct trace_info *t;
    size_t n = find_traces(dir, named, session, &t);
    for (size_t i = 0; i < n; i++) {
        if ((pid_t)t[i].hdr.pid != pid || t[i].hdr.state != TRACE_OPEN || live_find(lp, t[i].path)) continue;
        lp->v = xrealloc(lp->v, (lp->n + 1) * sizeof *lp->v);
        struct live_packer *l = &lp->v[lp->n++];
        snprintf(l->path, sizeof l->path, "%s", t[i].path);
        char err[1024];
        l->active = packer_begin(&l->packer, l->path, live_punch, err, sizeof err) == 0;
    }
    free(t);
}

static void live_step(struct live_packers *lp)
{
    for (size_t i = 0; i < lp->n; i++) {
        char err[1024];
        if (lp->v[i].active && packer_step(&lp->v[i].packer, false, err, sizeof err) < 0) {
            warn("%s", err);
            packer_abort(&lp->v[i].packer);
            lp->v[i].active = false;
        }
    }
}

static void pack_leftovers(struct trace_info *t, size_t n, const struct reaped *r, size_t nr, struct live_packers *lp,
                           struct leak_state *ls)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].hdr.state != TRACE_OPEN) continue;
        pid_t pid = (pid_t)t[i].hdr.pid;
        const struct reaped *rp = reaped_find(r, nr, pid);
        struct live_packer *l = live_find(lp, t[i].path);
        if (!rp && kill(pid, 0) == 0) { /* still running: it packs its own trace at exit */
            if (l && l->active) packer_abort(&l->packer);
            continue;
        }
        uint32_t how = END_UNKNOWN;
        int32_t code = 0;
        if (rp && is_last_image(t, n, i)) {
            if (WIFSIGNALED(rp->status)) how = END_SIGNAL, code = WTERMSIG(rp->status);
            else how = END_EXIT, code = WEXITSTATUS(rp->status);
        }
        char err[1024];
        struct trace_packer fresh, *pk = l && l->active ? &l->packer : &fresh;
        int rc = pk == &fresh ? packer_begin(pk, t[i].path, false, err, sizeof err) : 0;
        if (rc == 0) rc = packer_step(pk, true, err, sizeof err);
        if (rc == 0 && ls) rc = packer_add_external(pk, results_for(ls, t[i].path), err, sizeof err);
        if (rc == 0) rc = packer_commit(pk, how, code, err, sizeof err);
        else if (rc < 0) packer_abort(pk);
        if (l) l->active = false;
        if (rc < 0) warn("%s", err);
        read_header(t[i].path, &t[i].hdr);
    }
}

/* ---- the run ------------------------------------------------------------ */

static pid_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0) kill(child_pid, sig);
}

/* "USR2", "SIGUSR2", "12" or "RTMIN+3". SIGKILL and SIGSTOP cannot be caught. */
static int parse_signal(const char *v)
{
    const char *name = strncmp(v, "SIG", 3) == 0 ? v + 3 : v;
    char *end;
    long n = strtol(v, &end, 10);
    if (*v && !*end) {
        if (n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP) return (int)n;
    } else if (strncmp(name, "RTMIN+", 6) == 0) {
        n = strtol(name + 6, &end, 10);
        if (!*end && n >= 0 && SIGRTMIN + n <= SIGRTMAX) return SIGRTMIN + (int)n;
    } else {
        for (int s = 1; s < NSIG; s++) {
            const char *abbrev = sigabbrev_np(s);
            if (abbrev && strcmp(abbrev, name) == 0 && s != SIGKILL && s != SIGSTOP) return s;
        }
    }
    die_usage("--snapshot-signal takes a signal the program can catch (USR1, USR2, RTMIN+N or a number), not '%s'", v);
}

static const char *check_seconds(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d > 0) || d > 1e9) die_usage("--snapshot-interval takes seconds greater than 0, not '%s'", v);
    return v;
}

static const char *parse_growth(const char *v, char *out, size_t cap)
{
    uint64_t bytes;
    if (!fmt_parse_bytes(v, &bytes) || bytes == 0)
        die_usage("--snapshot-growth takes bytes greater than 0 (with K, M or G), not '%s'", v);
    snprintf(out, cap, "%llu", (unsigned long long)bytes);
    return out;
}

static void parse(int argc, char **argv, struct run_options *o)
{
    static char growth[32];
    *o = (struct run_options){.frames = 64, .follow = true, .top = 5, .leak_check = true};
    gate_defaults(&o->gate);
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        int used = gate_option(&o->gate, argc, argv, i);
        if (used) {
            i += used - 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-') break;
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && v) o->output = argv[++i];
        else if (strcmp(a, "--frames") == 0 && v) {
            char *end;
            errno = 0;
            unsigned long f = strtoul(v, &end, 10);
            if (errno || *end || !*v || v[0] == '-' || f < 1 || f > TRACE_MAX_FRAMES)
                die_usage("--frames takes a number from 1 to 65535, not '%s'", v);
            o->frames = (unsigned)f;
            i++;
        } else if (strcmp(a, "--no-follow") == 0) o->follow = false;
        else if (strcmp(a, "--format") == 0 && v) o->format = parse_format(argv[++i]);
        else if (strcmp(a, "--top") == 0 && v) o->top = parse_count("--top", argv[++i]);
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) o->quiet = true;
        else if (strcmp(a, "--no-leak-check") == 0) o->leak_check = false;
        else if (strcmp(a, "--snapshot-signal") == 0 && v) o->snapshot_signal = parse_signal(argv[++i]);
        else if (strcmp(a, "--snapshot-interval") == 0 && v) o->snapshot_interval = check_seconds(argv[++i]);
        else if (strcmp(a, "--snapshot-growth") == 0 && v) o->snapshot_growth = parse_growth(argv[++i], growth, sizeof growth);
        else die_usage("run: unknown option or missing value '%s' (see heapsnap --help)", a);
    }
    if (i >= argc) die_usage("usage: heapsnap run [OPTIONS] -- PROGRAM [ARGS...]");
    if (o->gate.fail && !o->leak_check) die_usage("--fail-on-leak needs the leak check that --no-leak-check turns off");
    o->argv = argv + i;
}

static void output_dir_of(const char *file, char *dir, size_t cap)
{
    const char *slash = strrchr(file, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == file) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - file), file);
}

int cmd_run(int argc, char **argv)
{
    struct run_options o;
    parse(argc, argv, &o);

    char prog[PATH_MAX];
    if (!find_in_path(o.argv[0], prog, sizeof prog)) {
        warn("%s: no such program", o.argv[0]);
        return 127;
    }
    check_traceable(prog, 0);
    char shim[PATH_MAX];
    find_shim(shim, sizeof shim);

    char dir[PATH_MAX], abs_dir[PATH_MAX], out_file[PATH_MAX] = "";
    if (o.output) output_dir_of(o.output, dir, sizeof dir);
    else snprintf(dir, sizeof dir, ".");
    if (!realpath(dir, abs_dir)) die("cannot write traces to %s: %s", dir, strerror(errno));
    if (access(abs_dir, W_OK | X_OK) != 0) die("cannot write traces to %s: %s", abs_dir, strerror(errno));
    if (o.output) {
        const char *base = strrchr(o.output, '/');
        snprintf(out_file, sizeof out_file, "%s/%s", abs_dir, base ? base + 1 : o.output);
        struct stat st;
        if (stat(out_file, &st) == 0) {
            if (!S_ISREG(st.st_mode)) die("%s: exists and is not a regular file", out_file);
            if (unlink(out_file) != 0) die("cannot replace %s: %s", out_file, strerror(errno));
        }
    }
    uint64_t session = 0;
    if (getrandom(&session, sizeof session, 0) != sizeof session) session = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    session |= 1; /* 0 means "not under heapsnap run" */

    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* The terminal's ^C and ^\ reach the program directly; heapsnap stays to
     * report. A TERM or HUP sent to heapsnap alone is passed on. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    struct sigaction fwd = {.sa_handler = forward_signal};
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGTERM, &fwd, NULL);
    sigaction(SIGHUP, &fwd, NULL);

    struct leak_state leaks = {.fd = -1};
    int control_fd = -1;
    if (o.leak_check) {
        int p[2];
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p) != 0) die("socketpair: %s", strerror(errno));
        leaks.fd = p[0];
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        /* High and inheritable: the traced processes send requests to it. */
        control_fd = fcntl(p[1], F_DUPFD, 900);
        close(p[1]);
        if (control_fd < 0) die("fcntl: %s", strerror(errno));
        live_punch = false;
    }
    struct sigaction sc = {.sa_handler = on_sigchld};
    sigemptyset(&sc.sa_mask);
    sigaction(SIGCHLD, &sc, NULL);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    child_pid = fork();
    if (child_pid < 0) die("fork: %s", strerror(errno));
    if (child_pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &chld, NULL);
        char buf[PATH_MAX * 2 + 2];
        const char *old = getenv("LD_PRELOAD");
        if (old && *old) snprintf(buf, sizeof buf, "%s:%s", shim, old);
        else snprintf(buf, sizeof buf, "%s", shim);
        setenv("LD_PRELOAD", buf, 1);
        setenv("HEAPSNAP_OUTPUT", abs_dir, 1);
        if (out_file[0]) setenv("HEAPSNAP_OUTPUT_FILE", out_file, 1);
        else unsetenv("HEAPSNAP_OUTPUT_FILE");
        snprintf(buf, sizeof buf, "%llx", (unsigned long long)session);
        setenv("HEAPSNAP_SESSION", buf, 1);
        snprintf(buf, sizeof buf, "%u", o.frames);
        setenv("HEAPSNAP_FRAMES", buf, 1);
        setenv("HEAPSNAP_FOLLOW", o.follow ? "1" : "0", 1);
        snprintf(buf, sizeof buf, "%ld", (long)getpid());
        /* With leak checks we pack every trace: only we hold their results. */
        setenv("HEAPSNAP_PARENT_PACKS", o.leak_check ? "all" : buf, 1);
        unsetenv("HEAPSNAP_CONTROL_FD");
        if (control_fd >= 0) {
            snprintf(buf, sizeof buf, "%d", control_fd);
            setenv("HEAPSNAP_CONTROL_FD", buf, 1);
        }
        snprintf(buf, sizeof buf, "%ld", (long)getppid());
        setenv("HEAPSNAP_RUN_PID", buf, 1);
        unsetenv("HEAPSNAP_SNAPSHOT_SIGNAL");
        unsetenv("HEAPSNAP_SNAPSHOT_INTERVAL");
        unsetenv("HEAPSNAP_SNAPSHOT_GROWTH");
        if (o.snapshot_signal) {
            snprintf(buf, sizeof buf, "%d", o.snapshot_signal);
            setenv("HEAPSNAP_SNAPSHOT_SIGNAL", buf, 1);
        }
        if (o.snapshot_interval) setenv("HEAPSNAP_SNAPSHOT_INTERVAL", o.snapshot_interval, 1);
        if (o.snapshot_growth) setenv("HEAPSNAP_SNAPSHOT_GROWTH", o.snapshot_growth, 1);
        execv(prog, o.argv);
        fprintf(stderr, "heapsnap: %s: %s\n", prog, strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }

    if (control_fd >= 0) close(control_fd);
    struct reaped *reaped = NULL;
    size_t nreaped = 0, cap = 0;
    int status = 0;
    bool child_done = false;
    struct live_packers live = {0};
    const struct timespec tick = {.tv_nsec = 20 * 1000 * 1000};
    sigset_t waiting;
    sigprocmask(SIG_SETMASK, NULL, &waiting);
    sigdelset(&waiting, SIGCHLD);
    for (unsigned ticks = 0; !child_done; ticks++) {
        /* A leak-check request or SIGCHLD wakes us at once; otherwise every
         * 20 ms pack what is sealed. */
        struct pollfd pfd = {.fd = leaks.fd, .events = POLLIN};
        int ready = ppoll(&pfd, leaks.fd >= 0 ? 1 : 0, &tick, &waiting);
        if (ready > 0 && (pfd.revents & POLLIN))
            serve_leak_checks(&leaks, abs_dir, out_file[0] ? out_file : NULL, session);
        if (ready == 0) {
            if (ticks % 10 == 0) live_discover(&live, abs_dir, out_file[0] ? out_file : NULL, session, child_pid);
            live_step(&live);
        }
        for (;;) {
            int st;
            pid_t p = waitpid(-1, &st, WNOHANG);
            if (p < 0 && errno == EINTR) continue;
            if (p <= 0) {
                if (p < 0) child_done = true; /* no children left at all */
                break;
            }
            if (!WIFEXITED(st) && !WIFSIGNALED(st)) continue; /* a stop, not an end */
            if (nreaped == cap) reaped = xrealloc(reaped, (cap = cap ? cap * 2 : 16) * sizeof *reaped);
            reaped[nreaped++] = (struct reaped){p, st};
            if (p == child_pid) {
                status = st;
                child_done = true;
            }
        }
    }

    struct trace_info *traces;
    size_t n = find_traces(abs_dir, out_file[0] ? out_file : NULL, session, &traces);
    serve_leak_checks(&leaks, abs_dir, out_file[0] ? out_file : NULL, session); /* any last request */
    pack_leftovers(traces, n, reaped, nreaped, &live, o.leak_check ? &leaks : NULL);
    for (size_t i = 0; i < leaks.n; i++) rec_chunks_free(&leaks.v[i].recs);
    free(leaks.v);
    if (leaks.fd >= 0) close(leaks.fd);
    free(live.v);
    const struct trace_info *root = NULL;
    for (size_t i = 0; i < n; i++)
        if ((pid_t)traces[i].hdr.pid == child_pid && is_last_image(traces, n, i)) root = &traces[i];
    if (!o.quiet) {
        if (!root) warn("no trace was written for %s (see the messages above)", o.argv[0]);
        else print_report(stderr, root->path, o.format, o.top);
    }
    /* Leaks, per process: in full for the program, a line for the others;
     * the gate looks at every process of the run. */
    bool gate_failed = false;
    struct supp_list supps;
    if (o.leak_check) gate_load_suppressions(&o.gate, &supps);
    for (size_t i = 0; i < n; i++) {
        struct leak_report r;
        char err[1024];
        bool have = o.leak_check && leaks_load(&r, traces[i].path, &supps, false, err, sizeof err) == 0;
        bool fails = have && gate_fails(&o.gate, &r);
        gate_failed |= fails;
        if (!o.quiet && have && &traces[i] == root && o.format == FORMAT_TEXT) {
            fputc('\n', stderr);
            leaks_print_text(stderr, &r, (1u << LEAK_DEFINITE) | (1u << LEAK_INDIRECT) | (1u << LEAK_POSSIBLE));
        } else if (&traces[i] != root && (!o.quiet || fails)) {
            fprintf(stderr, "heapsnap: also traced: %s (pid %llu)", traces[i].path, (unsigned long long)traces[i].hdr.pid);
            if (traces[i].hdr.state == TRACE_OPEN) fprintf(stderr, ", still running");
            if (have)
                fprintf(stderr, ", definitely lost %llu bytes, indirectly lost %llu, possibly lost %llu",
                        (unsigned long long)r.bytes[LEAK_DEFINITE], (unsigned long long)r.bytes[LEAK_INDIRECT],
                        (unsigned long long)r.bytes[LEAK_POSSIBLE]);
            fputc('\n', stderr);
        }
        if (fails && r.check_failed)
            fprintf(stderr, "heapsnap: pid %llu: the leak check could not run, so --fail-on-leak fails\n",
                    (unsigned long long)traces[i].hdr.pid);
        else if (fails)
            fprintf(stderr, "heapsnap: pid %llu leaked %llu bytes of the kinds --fail-on-leak counts (allowed: %llu)\n",
                    (unsigned long long)traces[i].hdr.pid, (unsigned long long)leaks_bytes_of(&r, o.gate.kinds),
                    (unsigned long long)o.gate.max_leaked);
        if (have) leaks_free(&r);
    }
    if (o.leak_check) supp_free(&supps);
    free(traces);
    free(reaped);
    free(o.gate.supp_files);
    if (gate_failed) return o.gate.exitcode;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
