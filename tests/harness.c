/* harness.c - see harness.h. */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

static struct run_result run_until(const char *cwd, const char *const *env, const char *const *argv, unsigned seconds)
{
    char *dir = temp_dir();
    char *out = path_join(dir, "stdout"), *err = path_join(dir, "stderr");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (seconds) setpgid(0, 0); /* its own group: the watchdog kills all of it */
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600), e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        if (cwd && chdir(cwd) != 0) _exit(125);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(argv[0], (char *const *)argv);
        _exit(124);
    }
    struct run_result r = {0};
    struct rusage ru = {0};
    int st;
    if (seconds) {
        setpgid(pid, pid); /* also from here: the group exists before any kill */
        struct timespec tick = {0, 10 * 1000 * 1000};
        unsigned ticks = 0;
        while (wait4(pid, &st, WNOHANG, &ru) == 0) {
            if (++ticks > seconds * 100u) {
                r.timed_out = true;
                kill(-pid, SIGKILL);
                wait4(pid, &st, 0, &ru);
                break;
            }
            nanosleep(&tick, NULL);
        }
    } else {
        wait4(pid, &st, 0, &ru);
    }
    r.maxrss_kib = ru.ru_maxrss;
    r.minor_faults = ru.ru_minflt;
    r.signaled = WIFSIGNALED(st);
    r.exit_code = r.signaled ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
    r.out = slurp(out);
    r.err = slurp(err);
    unlink(out);
    unlink(err);
    rmdir(dir);
    free(out);
    free(err);
    free(dir);
    return r;
}

struct run_result run_in(const char *cwd, const char *const *env, const char *const *argv)
{
    return run_until(cwd, env, argv, 0);
}

struct run_result run_in_limited(const char *cwd, const char *const *env, const char *const *argv, unsigned seconds)
{
    cr_assert(seconds > 0);
    return run_until(cwd, env, argv, seconds);
}

void run_free(struct run_result *r)
{
    free(r->out);
    free(r->err);
}

/* A test's directories go when its process does (HEAPSNAP_KEEP_TEST_DIRS=1
 * keeps them, to look at after a failure); not in the forked children that
 * share the list. */
static char **made_dirs;
static size_t nmade;
static pid_t made_by;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_made_dirs(void)
{
    if (getpid() != made_by || getenv("HEAPSNAP_KEEP_TEST_DIRS")) return;
    for (size_t i = 0; i < nmade; i++)
        nftw(made_dirs[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* `heapsnap ARGS...` in dir. */
static struct run_result run_heapsnap(const char *dir, const char *const *args)
{
    const char *argv[32] = {heapsnap_bin()};
    size_t k = 1;
    for (size_t i = 0; args[i] && k + 1 < 32; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    return run_in(dir, NULL, argv);
}

char *heapsnap_out(const char *dir, const char *const *args)
{
    struct run_result r = run_heapsnap(dir, args);
    cr_assert_eq(r.exit_code, 0, "heapsnap %s: exit %d: %s", args[0], r.exit_code, r.err);
    free(r.err);
    return r.out;
}

struct json *heapsnap_json(const char *dir, const char *const *args)
{
    char *out = heapsnap_out(dir, args);
    struct json *j = json_parse(out);
    cr_assert(j, "heapsnap %s: not JSON:\n%s", args[0], out);
    free(out);
    return j;
}

char *trace_program(const char *dir, const char *name, const char *const *prog)
{
    char *trace = path_join(dir, name);
    const char *argv[32] = {heapsnap_bin(), "run", "-q", "-o", trace, "--"};
    size_t k = 6;
    for (size_t i = 0; prog[i] && k + 1 < 32; i++)
        argv[k++] = prog[i];
    argv[k] = NULL;
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "heapsnap run %s: %s", prog[0], r.err);
    run_free(&r);
    return trace;
}

char *temp_dir(void)
{
    char tmpl[] = "/tmp/heapsnap-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    cr_assert(d != NULL);
    if (made_by != getpid()) { /* the first in this test's process */
        made_by = getpid();
        nmade = 0;
        atexit(remove_made_dirs);
    }
    made_dirs = realloc(made_dirs, (nmade + 1) * sizeof *made_dirs);
    cr_assert(made_dirs != NULL);
    made_dirs[nmade++] = strdup(d);
    return strdup(d);
}

char *file_contents(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    char *s = NULL;
    size_t n = 0, got;
    char buf[65536];
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        s = realloc(s, n + got + 1);
        memcpy(s + n, buf, got);
        n += got;
    }
    fclose(f);
    if (!s) s = calloc(1, 1);
    s[n] = 0;
    if (len) *len = n;
    return s;
}

void expect_one_line_error(const char *dir, const char *const *args, int code, const char *needle)
{
    struct run_result r = run_heapsnap(dir, args);
    cr_expect_eq(r.exit_code, code, "%s", r.err);
    cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
    cr_expect(strstr(r.err, needle) != NULL, "'%s' not in: %s", needle, r.err);
    cr_expect_str_eq(r.out, "");
    run_free(&r);
}

char *path_join(const char *dir, const char *name)
{
    char *p;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

const char *sample(const char *name)
{
    static char buf[8][4096];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", SAMPLES_DIR, name);
    return b;
}

/* HEAPSNAP_TEST_PREFIX=/usr/local runs the suite against the copy installed
 * there (scripts/setup's `meson install`, or the Debian package with /usr):
 * its command and its library; the samples stay the build's. */
static const char *installed(const char *rel)
{
    static char paths[2][4096];
    const char *prefix = getenv("HEAPSNAP_TEST_PREFIX");
    if (!prefix || !*prefix) return NULL;
    char *out = paths[strcmp(rel, "bin/heapsnap") == 0];
    snprintf(out, sizeof paths[0], "%s/%s", prefix, rel);
    return out;
}

const char *heapsnap_bin(void)
{
    const char *p = installed("bin/heapsnap");
    return p ? p : HEAPSNAP_BIN;
}

char *sample_copy(const char *dir, const char *sample_name, const char *name, uid_t owner, gid_t group, mode_t mode)
{
    char *copy = path_join(dir, name);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", sample(sample_name), copy);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(chown(copy, owner, group), 0, "chown %s to %u:%u: %s", copy, (unsigned)owner, (unsigned)group,
                 strerror(errno));
    cr_assert_eq(chmod(copy, mode), 0); /* after chown, which clears set-user-ID bits */
    return copy;
}
const char *shim_path(void)
{
    const char *p = installed(INSTALLED_SHIM_REL);
    return p ? p : SHIM_PATH;
}

struct json *report_json_of(const char *trace)
{
    const char *argv[] = {heapsnap_bin(), "report", "--format", "json", trace, NULL};
    struct run_result r = run_in(NULL, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "report %s failed: %s", trace, r.err);
    struct json *j = json_parse(r.out);
    cr_assert(j != NULL, "report of %s is not JSON:\n%s", trace, r.out);
    run_free(&r);
    return j;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

size_t list_traces(const char *dir, char ***names)
{
    DIR *d = opendir(dir);
    cr_assert(d != NULL);
    size_t n = 0;
    *names = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 6, ".trace") != 0) continue;
        *names = realloc(*names, (n + 1) * sizeof **names);
        (*names)[n++] = path_join(dir, e->d_name);
    }
    closedir(d);
    qsort(*names, n, sizeof **names, cmp);
    return n;
}

int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

int find_group(const struct json *j, const char *path, const char *fn)
{
    size_t n = json_len(j, path);
    for (size_t i = 0; i < n; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s.%zu.stack.0.function", path, i);
        const char *f = json_str(j, p);
        if (f && strcmp(f, fn) == 0) return (int)i;
    }
    return -1;
}

static const char *group_path(const struct json *j, const char *path, const char *fn, const char *field)
{
    static char p[256];
    int g = find_group(j, path, fn);
    cr_assert(g >= 0, "no group in %s whose stack starts in %s", path, fn);
    snprintf(p, sizeof p, "%s.%d.%s", path, g, field);
    return p;
}

long long stats_field(const struct json *j, const char *key, const char *field)
{
    size_t n = json_len(j, "stats");
    for (size_t i = 0; i < n; i++) {
        char p[64];
        snprintf(p, sizeof p, "stats.%zu.key", i);
        const char *k = json_str(j, p);
        if (k && strcmp(k, key) == 0) {
            snprintf(p, sizeof p, "stats.%zu.%s", i, field);
            return json_int(j, p);
        }
    }
    return -1;
}

long long group_int(const struct json *j, const char *path, const char *fn, const char *field)
{
    return json_int(j, group_path(j, path, fn, field));
}

const char *group_str(const struct json *j, const char *path, const char *fn, const char *field)
{
    return json_str(j, group_path(j, path, fn, field));
}

const char *const *bare_preload_env(const char *dir)
{
    static char out[4200], pre[4200];
    static const char *env[] = {out, pre, NULL};
    snprintf(out, sizeof out, "HEAPSNAP_OUTPUT=%s", dir);
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim_path());
    return env;
}

struct json *leaks_json_in(const char *dir, const char *source, const char *extra)
{
    const char *argv[] = {heapsnap_bin(), "leaks", "--format", "json", source, extra, NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "leaks %s: %s", source, r.err);
    struct json *j = json_parse(r.out);
    cr_assert(j, "%s", r.out);
    run_free(&r);
    return j;
}

long long leak_bytes(const struct json *leaks, const char *kind)
{
    char p[96];
    snprintf(p, sizeof p, "summary.%s.bytes", kind);
    return json_int(leaks, p);
}

long long leak_blocks(const struct json *leaks, const char *kind)
{
    char p[96];
    snprintf(p, sizeof p, "summary.%s.blocks", kind);
    return json_int(leaks, p);
}

char *go_pprof(const char *dir, const char *const *args)
{
    /* go keeps a cache and a home: in the test's directory, not the user's */
    static char home[4200], cache[4200], gopath[4200], tmp[4200], bins[4200];
    snprintf(home, sizeof home, "HOME=%s/go-home", dir);
    snprintf(cache, sizeof cache, "GOCACHE=%s/go-cache", dir);
    snprintf(gopath, sizeof gopath, "GOPATH=%s/go-path", dir);
    snprintf(tmp, sizeof tmp, "PPROF_TMPDIR=%s/pprof-tmp", dir);
    snprintf(bins, sizeof bins, "PPROF_BINARY_PATH=%s/pprof-binaries", dir);
    const char *env[] = {home, cache, gopath, tmp, bins, "GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS=", NULL};
    const char *argv[32] = {GO_BIN, "tool", "pprof"};
    size_t k = 3;
    for (size_t i = 0; args[i] && k + 1 < 32; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    struct run_result r = run_in_limited(dir, env, argv, 120);
    cr_assert_eq(r.exit_code, 0, "go tool pprof %s: exit %d: %s", args[0], r.exit_code, r.err);
    free(r.err);
    return r.out;
}
