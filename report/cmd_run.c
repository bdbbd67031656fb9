/* cmd_run.c - `heapsnap run`: check that the program can be traced at all,
 * start it with the shim preloaded, serve it while it runs (run_loop.c),
 * then print the summary, the leaks of every process, and the gate.
 *
 * heapsnap run is a subreaper, so descendants orphaned on the way are reaped
 * here and their exit status is known even when no one else waited for them.
 * With leak checks (the default) it is also the ptrace tracer of every
 * process it traces, to stop each at its end (supervise.c). */
#include "cmds.h"
#include "html_report.h"
#include "fmt.h"
#include "../trace/trace_format.h"
#include "../trace/trace_pack.h"
#include "leaks.h"
#include "run.h"
#include "run_rss.h"
#include "shim_find.h"
#include "../preload/elf_probe.h"

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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct run_options {
    const char *output;
    int snapshot_signal;
    const char *snapshot_interval, *snapshot_growth; /* validated, passed on as text */
    const char *html; /* --html FILE: the HTML report of the program's trace, at the end */
    const char *pprof_dir; /* --pprof-dir DIR: a pprof file per process every pprof_every_ms */
    uint64_t pprof_every_ms;
    unsigned frames;
    const char *unwind; /* "full", "fast" or "check": HEAPSNAP_UNWIND for the program */
    uint64_t sample_rate; /* --sample-rate: 0 records every allocation */
    unsigned rss_ms;      /* --rss-interval: how often the resident set is sampled (0: never) */
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

/* A set-user-ID or set-group-ID program can be traced only if exec changes
 * no id: the kernel then starts it as any other program (no AT_SECURE), and
 * the loader honours LD_PRELOAD. That is when its owner (group) is our real
 * user (group) and our effective ids are the real ones: root running a
 * root-owned set-user-ID program, a user their own. Otherwise the loader
 * would ignore LD_PRELOAD and the program would run untraced. A set-group-ID
 * bit without group execute is not one (it marks mandatory locking). */
static void refuse_id_change(const char *path, const struct stat *st)
{
    uid_t uid = getuid(), euid = geteuid();
    gid_t gid = getgid(), egid = getegid();
    if ((st->st_mode & S_ISUID) && st->st_uid != uid)
        die("%s is set-user-ID and owned by uid %u, not by you (uid %u): the loader ignores LD_PRELOAD for a program "
            "that changes its user, so it cannot be traced",
            path, (unsigned)st->st_uid, (unsigned)uid);
    if ((st->st_mode & S_ISUID) && euid != uid)
        die("%s is set-user-ID and heapsnap runs with effective uid %u, not its real uid %u: the loader would ignore "
            "LD_PRELOAD for it, so it cannot be traced",
            path, (unsigned)euid, (unsigned)uid);
    if ((st->st_mode & (S_ISGID | S_IXGRP)) != (S_ISGID | S_IXGRP)) return;
    if (st->st_gid != gid)
        die("%s is set-group-ID and its group is gid %u, not yours (gid %u): the loader ignores LD_PRELOAD for a "
            "program that changes its group, so it cannot be traced",
            path, (unsigned)st->st_gid, (unsigned)gid);
    if (egid != gid)
        die("%s is set-group-ID and heapsnap runs with effective gid %u, not its real gid %u: the loader would "
            "ignore LD_PRELOAD for it, so it cannot be traced",
            path, (unsigned)egid, (unsigned)gid);
}

/* Refuses what LD_PRELOAD cannot reach, with the reason, instead of running
 * the program untraced (or hanging, as heaptrack does on a static binary). */
static void check_traceable(const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) die("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) die("%s: not a regular file", path);
    if (access(path, X_OK) != 0) die("%s: not executable", path);
    refuse_id_change(path, &st);
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

/* A program built with -fsanitize=address or leak checks its own leaks, and
 * its runtime cannot share the process with heapsnap (ASan insists on being
 * the first library, LSan refuses to run under ptrace): it is run as it is,
 * in place of heapsnap, so that its output and exit status are its own. */
static void run_sanitized_untraced(const char *prog, char **argv)
{
    char what[256];
    if (!sanitizer_runtime_in(prog, what, sizeof what)) return;
    fprintf(stderr,
            "heapsnap: %s carries %s's runtime (%s), a leak checker of its own that cannot share a process with "
            "heapsnap: it runs untraced\n",
            prog, sanitizer_name(what), what);
    fflush(stderr);
    execv(prog, argv);
    die("%s: %s", prog, strerror(errno));
}

/* ---- where is the shim? ------------------------------------------------- */

/* ---- the run ------------------------------------------------------------ */

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

const char *run_check_seconds(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d > 0) || d > 1e9) die_usage("--snapshot-interval takes seconds greater than 0, not '%s'", v);
    return v;
}

/* Milliseconds; a tenth of a second at least: each file costs a pass over the distinct stacks. */
static uint64_t parse_pprof_every(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d >= 0.1) || d > 1e6) die_usage("--pprof-every takes seconds, 0.1 or more, not '%s'", v);
    return (uint64_t)(d * 1000 + 0.5);
}

const char *run_parse_growth(const char *v, char *out, size_t cap)
{
    uint64_t bytes;
    if (!fmt_parse_bytes(v, &bytes) || bytes == 0)
        die_usage("--snapshot-growth takes bytes greater than 0 (with K, M or G), not '%s'", v);
    snprintf(out, cap, "%llu", (unsigned long long)bytes);
    return out;
}

unsigned run_parse_frames(const char *v)
{
    char *end;
    errno = 0;
    unsigned long f = strtoul(v, &end, 10);
    if (errno || *end || !*v || v[0] == '-' || f < 1 || f > TRACE_MAX_FRAMES)
        die_usage("--frames takes a number from 1 to 65535, not '%s'", v);
    return (unsigned)f;
}

uint64_t run_parse_sample_rate(const char *v)
{
    uint64_t bytes;
    if (!fmt_parse_bytes(v, &bytes) || bytes > TRACE_MAX_SAMPLE_RATE)
        die_usage("--sample-rate takes bytes (with K, M or G, up to 1T; 0: every allocation), not '%s'", v);
    return bytes;
}

void run_check_pack_env(void)
{
    if (pack_mode_of_env() == PACK_MODE_BAD)
        die("HEAPSNAP_PACK takes auto, units or chunks, not '%s'", getenv("HEAPSNAP_PACK"));
}

const char *run_parse_unwind(const char *v)
{
    if (strcmp(v, "full") != 0 && strcmp(v, "fast") != 0 && strcmp(v, "check") != 0)
        die_usage("--unwind takes full, fast or check, not '%s'", v);
    return v;
}

enum {
    OPT_FRAMES = OPT_FIRST_LONG, OPT_UNWIND, OPT_NO_FOLLOW, OPT_FORMAT, OPT_TOP, OPT_NO_LEAK_CHECK, OPT_HTML,
    OPT_PPROF_DIR, OPT_PPROF_EVERY, OPT_SNAPSHOT_SIGNAL, OPT_SNAPSHOT_INTERVAL, OPT_SNAPSHOT_GROWTH, OPT_SAMPLE_RATE,
    OPT_RSS_INTERVAL
};

static void parse(int argc, char **argv, struct run_options *o)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"frames", required_argument, NULL, OPT_FRAMES},
                                             {"unwind", required_argument, NULL, OPT_UNWIND},
                                             {"sample-rate", required_argument, NULL, OPT_SAMPLE_RATE},
                                             {"no-follow", no_argument, NULL, OPT_NO_FOLLOW},
                                             {"format", required_argument, NULL, OPT_FORMAT},
                                             {"top", required_argument, NULL, OPT_TOP},
                                             {"no-leak-check", no_argument, NULL, OPT_NO_LEAK_CHECK},
                                             {"html", required_argument, NULL, OPT_HTML},
                                             {"pprof-dir", required_argument, NULL, OPT_PPROF_DIR},
                                             {"pprof-every", required_argument, NULL, OPT_PPROF_EVERY},
                                             {"snapshot-signal", required_argument, NULL, OPT_SNAPSHOT_SIGNAL},
                                             {"snapshot-interval", required_argument, NULL, OPT_SNAPSHOT_INTERVAL},
                                             {"snapshot-growth", required_argument, NULL, OPT_SNAPSHOT_GROWTH},
                                             {"rss-interval", required_argument, NULL, OPT_RSS_INTERVAL},
                                             GATE_LONGOPTS,
                                             OPTS_HELP,
                                             {0}};
    static char growth[32];
    *o = (struct run_options){.frames = 64, .unwind = RUN_DEFAULT_UNWIND, .follow = true, .top = 5, .leak_check = true,
                            .rss_ms = RSS_DEFAULT_INTERVAL_MS};
    gate_defaults(&o->gate);
    struct opts p;
    /* '+': options end at PROGRAM, whose own options are its own */
    opts_init(&p, "run", argc, argv, "+o:q", longopts);
    const char *v;
    for (int c; (c = opts_next(&p, &v)) != -1;) {
        if (gate_option(&o->gate, c, v)) continue;
        switch (c) {
        case 'o': o->output = v; break;
        case 'q': o->quiet = true; break;
        case OPT_FRAMES: o->frames = run_parse_frames(v); break;
        case OPT_UNWIND: o->unwind = run_parse_unwind(v); break;
        case OPT_SAMPLE_RATE: o->sample_rate = run_parse_sample_rate(v); break;
        case OPT_NO_FOLLOW: o->follow = false; break;
        case OPT_FORMAT: o->format = parse_format(v); break;
        case OPT_TOP: o->top = parse_count("--top", v); break;
        case OPT_NO_LEAK_CHECK: o->leak_check = false; break;
        case OPT_HTML: o->html = v; break;
        case OPT_PPROF_DIR: o->pprof_dir = v; break;
        case OPT_PPROF_EVERY: o->pprof_every_ms = parse_pprof_every(v); break;
        case OPT_SNAPSHOT_SIGNAL: o->snapshot_signal = parse_signal(v); break;
        case OPT_SNAPSHOT_INTERVAL: o->snapshot_interval = run_check_seconds(v); break;
        case OPT_SNAPSHOT_GROWTH: o->snapshot_growth = run_parse_growth(v, growth, sizeof growth); break;
        case OPT_RSS_INTERVAL: {
            char *end;
            errno = 0;
            unsigned long ms = strtoul(v, &end, 10);
            if (errno || *end || !*v || v[0] == '-' || ms > 60000)
                die_usage("--rss-interval takes milliseconds from 0 (no samples) to 60000, not '%s'", v);
            o->rss_ms = (unsigned)ms;
            break;
        }
        }
    }
    int n;
    o->argv = opts_operands(&p, &n);
    if (n == 0) die_usage("which program? (heapsnap run [OPTIONS] [--] PROGRAM [ARGS...])");
    run_check_pack_env();
    if (o->gate.fail && !o->leak_check) die_usage("--fail-on-leak needs the leak check that --no-leak-check turns off");
    if (o->gate.fail && o->sample_rate)
        die_usage("--fail-on-leak needs every block, and --sample-rate records a sample of them");
    /* A sampled trace cannot tell a leak: the check is off (the summary says so). */
    if (o->sample_rate) o->leak_check = false;
    if (o->pprof_every_ms && !o->pprof_dir) die_usage("--pprof-every needs --pprof-dir, where the files go");
    if (o->pprof_dir && !o->pprof_every_ms) o->pprof_every_ms = 10000; /* the upload interval profiling agents use */
}

static void output_dir_of(const char *file, char *dir, size_t cap)
{
    const char *slash = strrchr(file, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == file) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - file), file);
}

/* The same floor the shim keeps its own descriptors above (shim_fd.c), so
 * that it need not move the socket, whose number its exec'd images read from
 * the environment. */
static int high_fd(int fd)
{
    struct rlimit rl;
    rlim_t top = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top) top = rl.rlim_cur;
    int moved = fcntl(fd, F_DUPFD, top > 64 ? (int)top - 32 : 3);
    if (moved < 0) die("fcntl: %s", strerror(errno));
    close(fd);
    return moved;
}

static void on_sigchld(int sig) { (void)sig; }

static struct run_ctx *active;

/* While the program runs, TERM and HUP sent to heapsnap alone are passed on;
 * once it has ended, they (and ^C) stop the wait for what outlives it. */
static void on_signal(int sig)
{
    if (!active) return;
    if (!active->root_done) {
        if (sig != SIGINT) kill(active->root, sig);
    } else {
        active->stop_waiting = 1;
    }
}

static void set_child_env(const struct run_options *o, const char *shim, const char *abs_dir, const char *out_file,
                          uint64_t session, int control_fd, pid_t run_pid)
{
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
    snprintf(buf, sizeof buf, "%u", o->frames);
    setenv("HEAPSNAP_FRAMES", buf, 1);
    setenv("HEAPSNAP_UNWIND", o->unwind, 1);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)o->sample_rate);
    setenv("HEAPSNAP_SAMPLE_RATE", buf, 1);
    setenv("HEAPSNAP_FOLLOW", o->follow ? "1" : "0", 1);
    snprintf(buf, sizeof buf, "%ld", (long)getpid());
    /* With leak checks we pack every trace: only we hold their results. */
    setenv("HEAPSNAP_PARENT_PACKS", o->leak_check ? "all" : buf, 1);
    unsetenv("HEAPSNAP_CONTROL_FD");
    if (control_fd >= 0) {
        snprintf(buf, sizeof buf, "%d", control_fd);
        setenv("HEAPSNAP_CONTROL_FD", buf, 1);
    }
    snprintf(buf, sizeof buf, "%ld", (long)run_pid);
    setenv("HEAPSNAP_RUN_PID", buf, 1);
    unsetenv("HEAPSNAP_SNAPSHOT_SIGNAL");
    unsetenv("HEAPSNAP_SNAPSHOT_INTERVAL");
    unsetenv("HEAPSNAP_SNAPSHOT_GROWTH");
    if (o->snapshot_signal) {
        snprintf(buf, sizeof buf, "%d", o->snapshot_signal);
        setenv("HEAPSNAP_SNAPSHOT_SIGNAL", buf, 1);
    }
    if (o->snapshot_interval) setenv("HEAPSNAP_SNAPSHOT_INTERVAL", o->snapshot_interval, 1);
    if (o->snapshot_growth) setenv("HEAPSNAP_SNAPSHOT_GROWTH", o->snapshot_growth, 1);
}

/* The image of the program the summary is about: the last one of its pid. */
static const struct run_proc *root_image(const struct run_ctx *rc)
{
    const struct run_proc *root = NULL;
    for (size_t i = 0; i < rc->procs.n; i++)
        if (rc->procs.v[i]->pid == rc->root) root = rc->procs.v[i];
    return root;
}

/* Leaks, per process: in full for the program, a line for the others. The
 * gate looks at every process of the run, and fails for any whose end
 * could not be checked, saying why. Verdicts come from what the run
 * followed (run_loop.c), not from the traces read again. Returns whether
 * the gate failed. */
static bool report_leaks(struct run_ctx *rc, const struct run_options *o, const struct run_proc *root)
{
    bool gate_failed = false;
    for (size_t i = 0; i < rc->procs.n; i++) {
        struct run_proc *p = rc->procs.v[i];
        struct leak_report full, *r = NULL;
        if (p->kept) {
            leaks_of_snap(&full, p->kept, &p->final, p->final_leaks, p->nfinal, rc->supps);
            free(p->kept);
            p->kept = NULL;
            p->final_leaks = NULL;
            r = &full;
        } else if (p->have_verdict) {
            r = &p->verdict;
        }
        /* An image that exec'd ended unchecked, as under memcheck (its checks
         * on request, if any, are in its trace). */
        bool replaced = p->exec_ended && !p->have_final;
        bool fails = o->gate.fail && (r ? gate_fails(&o->gate, r) : !replaced);
        gate_failed |= fails;
        if (!o->quiet && r == &full && p == root && o->format == FORMAT_TEXT) {
            fputc('\n', stderr);
            leaks_print_text(stderr, r, (1u << LEAK_DEFINITE) | (1u << LEAK_INDIRECT) | (1u << LEAK_POSSIBLE));
        } else if (!o->quiet && r && p == root && o->format == FORMAT_TEXT) {
            /* Judged without its heap: its final LSan check, or no check at all. */
            fputc('\n', stderr);
            if (p->final_stands)
                fprintf(stderr,
                        "heapsnap: judged at the program's final leak check (__lsan_do_leak_check), "
                        "%s@leak-check:%u; none was made at its end\n",
                        p->path, p->final_seq);
            leaks_print_summary(stderr, r);
        } else if (p != root && (!o->quiet || fails)) {
            fprintf(stderr, "heapsnap: also traced: %s (pid %d)", p->path, p->pid);
            if (p->state == PROC_LEFT) fprintf(stderr, ", still running, not checked");
            if (r && r->check_off)
                fprintf(stderr, ", not checked: %s", r->check_note);
            else if (r && !r->check_failed)
                fprintf(stderr, ", definitely lost %llu bytes, indirectly lost %llu, possibly lost %llu",
                        (unsigned long long)r->bytes[LEAK_DEFINITE], (unsigned long long)r->bytes[LEAK_INDIRECT],
                        (unsigned long long)r->bytes[LEAK_POSSIBLE]);
            fputc('\n', stderr);
        }
        if (fails && r && r->check_failed)
            fprintf(stderr, "heapsnap: pid %d: the leak check could not run (%s), so --fail-on-leak fails\n", p->pid,
                    r->check_note ? r->check_note : "no reason recorded");
        else if (fails && r)
            fprintf(stderr, "heapsnap: pid %d leaked %llu bytes in %llu blocks of the kinds --fail-on-leak counts (allowed: %llu bytes)\n",
                    p->pid, (unsigned long long)leaks_bytes_of(r, o->gate.kinds),
                    (unsigned long long)leaks_blocks_of(r, o->gate.kinds), (unsigned long long)o->gate.max_leaked);
        else if (fails)
            fprintf(stderr, "heapsnap: pid %d was not checked (%s), so --fail-on-leak fails\n", p->pid,
                    p->state == PROC_LEFT ? "it was still running when heapsnap stopped waiting" : "its end was not seen");
        if (r == &full) leaks_free(&full);
    }
    return gate_failed;
}

/* A failed page is said, and changes nothing else: the program's status stands. */
void run_write_html(const char *html, const char *trace, bool quiet)
{
    char err[1024];
    struct strbuf json = {0};
    if (html_report_data(&json, trace, err, sizeof err) < 0 || html_write_page(html, &json, err, sizeof err) < 0)
        warn("no HTML report: %s", err);
    else if (!quiet)
        fprintf(stderr, "heapsnap: HTML report: %s\n", html);
    sb_free(&json);
}

static void write_html(const struct run_options *o, const struct run_proc *root)
{
    if (!root || root->state != PROC_PACKED) {
        warn("no HTML report: %s left no complete trace", o->argv[0]);
        return;
    }
    run_write_html(o->html, root->path, o->quiet);
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
    run_sanitized_untraced(prog, o.argv);
    char shim[PATH_MAX], err[PATH_MAX * 2 + 200];
    if (shim_find(shim, sizeof shim, err, sizeof err) < 0 || shim_check_version(shim, err, sizeof err) < 0)
        die("%s", err);

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
    if (o.pprof_dir) {
        char err[PATH_MAX + 256];
        if (stream_prepare_dir(o.pprof_dir, err, sizeof err) < 0) die("%s", err);
    }
    struct run_ctx rc = {.dir = abs_dir,
                         .named = out_file[0] ? out_file : NULL,
                         .checks = o.leak_check,
                         .follow = o.follow,
                         .quiet = o.quiet,
                         .rss_ms = o.rss_ms,
                         .control_fd = -1,
                         .stream = {.dir = o.pprof_dir, .every_ms = o.pprof_every_ms}};
    if (getrandom(&rc.session, sizeof rc.session, 0) != sizeof rc.session)
        rc.session = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    rc.session |= 1; /* 0 means "not under heapsnap run" */

    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* What heapsnap changes for itself, the program gets back as heapsnap
     * found it (an ignored SIGHUP under nohup stays ignored). */
    static const int touched[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGXFSZ, SIGCHLD};
    struct sigaction found[sizeof touched / sizeof *touched];
    for (size_t i = 0; i < sizeof touched / sizeof *touched; i++) sigaction(touched[i], NULL, &found[i]);
    sigset_t found_mask;
    sigprocmask(SIG_SETMASK, NULL, &found_mask);
    /* The terminal's ^C and ^\ reach the program directly; heapsnap stays to
     * report. A TERM or HUP sent to heapsnap alone is passed on. */
    signal(SIGQUIT, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* past a file size limit, a write fails (and says so) instead of killing us */
    active = &rc;
    struct sigaction on = {.sa_handler = on_signal};
    sigemptyset(&on.sa_mask);
    sigaction(SIGINT, &on, NULL);
    sigaction(SIGTERM, &on, NULL);
    sigaction(SIGHUP, &on, NULL);

    int child_fd = -1;
    if (o.leak_check) {
        int p[2];
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p) != 0) die("socketpair: %s", strerror(errno));
        rc.control_fd = p[0];
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        child_fd = high_fd(p[1]); /* inheritable: the traced processes ring it */
    }
    struct sigaction sc = {.sa_handler = on_sigchld};
    sigemptyset(&sc.sa_mask);
    sigaction(SIGCHLD, &sc, NULL);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    pid_t run_pid = getpid();
    rc.root = fork();
    if (rc.root < 0) die("fork: %s", strerror(errno));
    if (rc.root == 0) {
        for (size_t i = 0; i < sizeof touched / sizeof *touched; i++) sigaction(touched[i], &found[i], NULL);
        sigprocmask(SIG_SETMASK, &found_mask, NULL);
        set_child_env(&o, shim, abs_dir, out_file, rc.session, child_fd, run_pid);
        execv(prog, o.argv);
        fprintf(stderr, "heapsnap: %s: %s\n", prog, strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    if (child_fd >= 0) close(child_fd);

    struct supp_list supps = {0};
    if (o.leak_check) gate_load_suppressions(&o.gate, &supps);
    rc.supps = &supps;
    rc.gate = &o.gate;
    run_loop(&rc);
    run_finish(&rc);
    if (rc.control_fd >= 0) close(rc.control_fd);

    const struct run_proc *root = root_image(&rc);
    if (!o.quiet) {
        if (!root) warn("no trace was written for %s (see the messages above)", o.argv[0]);
        else if (root->state == PROC_PACKED) print_report(stderr, root->path, o.format, o.top);
    }
    bool gate_failed = false;
    if (o.leak_check) gate_failed = report_leaks(&rc, &o, root);
    if (o.html) write_html(&o, root);
    if (o.gate.fail && !root) {
        fprintf(stderr, "heapsnap: %s left no trace, so nothing was checked: --fail-on-leak fails\n", o.argv[0]);
        gate_failed = true;
    }
    int status = rc.root_status;
    procs_free(&rc.procs);
    if (o.leak_check) supp_free(&supps);
    free(rc.exits);
    free(rc.pending);
    free(o.gate.supp_files);
    active = NULL;
    if (gate_failed) return o.gate.exitcode;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
