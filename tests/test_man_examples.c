/* test_man_examples.c - every example of the man pages runs as printed: the
 * lines of the literal blocks in the EXAMPLES section of each scdoc source in
 * docs/man, read from the files (never copied here), run in order with
 * /bin/sh in a fresh directory per page, with `heapsnap` (this build's) and
 * `go` on PATH.
 *
 * The names the examples use (TRACE, ./server, known.supp, ...) are real
 * files of that directory, made from the samples before the pages run (the
 * placeholders table below); only paths outside the directory are rewritten
 * (INSTALLED_SHIM and SHARED_TRACES below). A line whose comment says
 * "exits N" must exit N, every other one 0; what a line names as its output
 * (-o, --html, --pprof-dir, >, >>, the traces `heapsnap pack` rewrites in
 * place) must be written by it, and a program it runs under heapsnap must
 * leave a new trace. `export` lines hold for the lines after them, as in the
 * shell session a block shows; a line ending in \ goes on on the next one,
 * as in sh.
 *
 * A block that starts with #include is a C program (heapsnap.h(3)): it is
 * built as the page says (cc, heapsnap's include directory, no library),
 * the commands in bold in the prose of EXAMPLES run it (its stdout must be
 * the line its printf prints, with figures that are not all 0: traced), then
 * the commands in its comments run on the trace that run left. */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the placeholders of the examples are: each a file of the page's
 * directory, copied from the fixtures made by make_fixtures() when the
 * page's examples name it. The first entry of a name that fits the page is
 * used. */
static const struct placeholder {
    const char *name; /* as the examples write it */
    const char *page; /* only on this page (its file name less .scd); NULL: on any */
    const char *made; /* the fixture it is a copy of; NULL: the trace the page's own run leaves */
} placeholders[] = {
    {"TRACE", "heapsnap-leaks.1", "leak.trace"}, /* a trace that leaked: loss records, suppressions to make */
    {"TRACE", "heapsnap.h.3", NULL},             /* the page's program, run as the page says */
    {"TRACE", NULL, "phases.trace"},             /* markers warm, interval:1..5, done; peak; leak-check:1 at the end */
    {"heapsnap.server.123.trace", NULL, "phases.trace"},
    {"heapsnap.server.456.trace", NULL, "phases-more.trace"}, /* a later run: 10 sessions (30000 B) more */
    {"heapsnap.server.12345.trace", NULL, "open.trace"},      /* left open by a SIGKILL: what pack is for */
    {"heapsnap.run_unit_tests.123.trace", NULL, "leak.trace"},
    {"./server", NULL, "phases"},             /* ignores its arguments (--port 8080) */
    {"./app", NULL, "phases"},                /* ignores input.txt */
    {"./daemon", NULL, "daemon"},             /* samples/server_loop: runs until killed */
    {"./run_unit_tests", NULL, "phases"},     /* leaks nothing: --fail-on-leak passes */
    {"./unit_tests", NULL, "leak"},           /* leaks 100 B, which known.supp suppresses */
    {"known.supp", NULL, "known.supp"},       /* heapsnap leaks leak.trace --gen-suppressions */
    {"baseline.json", NULL, "baseline.json"}, /* heapsnap snapshot phases.trace@exit */
    {"input.txt", NULL, "input.txt"},         /* a file */
};

/* Paths outside the page's directory, and what they are here: a test must
 * neither depend on what was installed last nor write outside its
 * directories. */
#define INSTALLED_SHIM "/usr/local/lib/x86_64-linux-gnu/heapsnap/libheapsnap.so" /* -> shim_path() */
#define SHARED_TRACES "/tmp/traces"                                              /* -> DIR/traces */

/* The C program's output name: the page's prose runs ./prog. */
#define PROGRAM "prog"

struct example {
    char *text;
    bool is_c; /* a C program, not a shell line */
};

struct page {
    char name[256]; /* e.g. heapsnap-run.1 */
    struct example *ex;
    size_t n;
};

static void add(struct page *p, char *text, bool is_c)
{
    p->ex = realloc(p->ex, (p->n + 1) * sizeof *p->ex);
    cr_assert(p->ex);
    p->ex[p->n++] = (struct example){text, is_c};
}

/* scdoc's escapes: \x is x, in literal blocks too. */
static void unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) r++;
        *w++ = *r;
    }
    *w = 0;
}

static char *append(char *to, const char *s)
{
    size_t n = to ? strlen(to) : 0;
    to = realloc(to, n + strlen(s) + 1);
    cr_assert(to);
    strcpy(to + n, s);
    return to;
}

/* The commands in a C program's comments, "/ * heapsnap ... * /". */
static size_t comment_commands(const char *src, char **out, size_t max)
{
    size_t n = 0;
    for (const char *c = strstr(src, "/*"); c && n < max; c = strstr(c + 2, "/*")) {
        const char *s = c + 2, *e = strstr(s, "*/");
        cr_assert(e, "an unclosed comment in the C example");
        while (*s == ' ')
            s++;
        size_t len = (size_t)(e - s);
        while (len && s[len - 1] == ' ')
            len--;
        if (strncmp(s, "heapsnap ", 9) == 0) out[n++] = strndup(s, len);
    }
    return n;
}

/* A page's examples in the order they run: its EXAMPLES section's literal
 * blocks, line by line (a C program as one), then the commands in bold in
 * the section's prose, then those in a C program's comments. */
static void read_examples(const char *path, struct page *p)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    char line[4096];
    bool in_examples = false, in_block = false;
    char *block = NULL, *cont = NULL;
    char *prose[16], *comments[16];
    size_t nprose = 0, ncomments = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!in_block && strncmp(line, "# ", 2) == 0) {
            in_examples = strcmp(line, "# EXAMPLES") == 0;
            continue;
        }
        if (!in_examples) continue;
        if (strcmp(line, "```") == 0) {
            if (in_block && block) { /* the end of a C program */
                ncomments += comment_commands(block, comments + ncomments, 16 - ncomments);
                add(p, block, true);
                block = NULL;
            }
            cr_assert(!cont, "%s: a line of the examples ends in \\ at the end of its block", path);
            in_block = !in_block;
            continue;
        }
        if (!in_block) { /* prose: its commands are in bold */
            for (char *b = strchr(line, '*'); b && nprose < 16; b = strchr(b + 1, '*')) {
                char *e = strchr(b + 1, '*');
                if (!e) break;
                if (strncmp(b + 1, "heapsnap ", 9) == 0) {
                    prose[nprose] = strndup(b + 1, (size_t)(e - b - 1));
                    unescape(prose[nprose++]);
                }
                b = e;
            }
            continue;
        }
        unescape(line);
        if (block || (!cont && strncmp(line, "#include", 8) == 0)) {
            block = append(append(block, line), "\n");
            continue;
        }
        if (!cont && (!line[0] || line[0] == '#')) continue;
        cont = append(cont, line);
        size_t len = strlen(line);
        if (len && line[len - 1] == '\\') { /* sh goes on on the next line */
            cont = append(cont, "\n");
            continue;
        }
        add(p, cont, false);
        cont = NULL;
    }
    fclose(f);
    cr_assert(!in_block, "%s: a literal block of EXAMPLES is not closed", path);
    for (size_t i = 0; i < nprose; i++)
        add(p, prose[i], false);
    for (size_t i = 0; i < ncomments; i++)
        add(p, comments[i], false);
}

/* "# exits 23: ..." in the line's comment: the status it documents. */
static int documented_status(const char *line)
{
    const char *c = strstr(line, "# exits ");
    return c ? atoi(c + 8) : 0;
}

static void sh_ok(const char *dir, const char *const *env, const char *cmd)
{
    struct run_result r = run_in_limited(dir, env, (const char *const[]){"/bin/sh", "-c", cmd, NULL}, 60);
    cr_assert_eq(r.exit_code, 0, "%s: exit %d\n%s", cmd, r.exit_code, r.err);
    run_free(&r);
}

/* The files the placeholders are copies of, in dir. */
static void make_fixtures(const char *dir)
{
    char cmd[8192];
    /* markers warm and done from the program; interval:1..5 in its slow
     * phases, one after each 120 ms sleep that events follow (the last is
     * followed by fewer than the shim counts between two looks at the clock) */
    snprintf(cmd, sizeof cmd,
             "'%s' run -q -o phases.trace --snapshot-interval 0.05 -- '%s' slow >/dev/null && "
             "'%s' run -q -o phases-more.trace -- '%s' more >/dev/null && "
             "'%s' run -q -o leak.trace -- '%s' && "
             "'%s' leaks leak.trace --gen-suppressions > known.supp && grep -q Memcheck:Leak known.supp && "
             "'%s' snapshot phases.trace@exit -o baseline.json && "
             "echo 'hello' > input.txt && cp '%s' phases && cp '%s' leak && cp '%s' daemon",
             heapsnap_bin(), sample("phases"), heapsnap_bin(), sample("phases"), heapsnap_bin(), sample("leak"),
             heapsnap_bin(), heapsnap_bin(), sample("phases"), sample("leak"), sample("server_loop"));
    sh_ok(dir, NULL, cmd);
    char *report = heapsnap_out(dir, (const char *const[]){"report", "phases.trace", NULL});
    cr_assert(strstr(report, "interval:5"), "the phases trace has no 5th interval marker:\n%s", report);
    free(report);
    /* the trace samples/sigkill leaves under a bare LD_PRELOAD: open */
    char *killed = path_join(dir, "killed");
    snprintf(cmd, sizeof cmd, "mkdir '%s'", killed);
    sh_ok(dir, NULL, cmd);
    struct run_result r = run_in(killed, bare_preload_env(killed), (const char *const[]){sample("sigkill"), NULL});
    cr_assert_eq(r.exit_code, 128 + 9, "%s", r.err);
    run_free(&r);
    snprintf(cmd, sizeof cmd, "mv killed/heapsnap.sigkill.*.trace open.trace && rmdir killed");
    sh_ok(dir, NULL, cmd);
}

static int placeholder_uses[sizeof placeholders / sizeof *placeholders];

static const struct placeholder *placeholder_for(const char *page, size_t i)
{
    const struct placeholder *ph = &placeholders[i];
    if (ph->page && strcmp(ph->page, page) != 0) return NULL;
    for (size_t k = 0; k < i; k++) /* an earlier entry of the name for this page wins */
        if (strcmp(placeholders[k].name, ph->name) == 0 &&
            (!placeholders[k].page || strcmp(placeholders[k].page, page) == 0))
            return NULL;
    return ph;
}

static const char *file_name(const char *name) { return strncmp(name, "./", 2) == 0 ? name + 2 : name; }

/* line with INSTALLED_SHIM and SHARED_TRACES made ours; counts the uses of each */
static char *our_paths(const char *line, const char *dir, int *uses)
{
    char *traces = path_join(dir, "traces");
    const char *from[] = {INSTALLED_SHIM, SHARED_TRACES}, *to[] = {shim_path(), traces};
    char *out = strdup(line);
    for (size_t k = 0; k < 2; k++) {
        char *at;
        while ((at = strstr(out, from[k]))) {
            char *next = NULL;
            cr_assert(asprintf(&next, "%.*s%s%s", (int)(at - out), out, to[k], at + strlen(from[k])) > 0);
            free(out);
            out = next;
            uses[k]++;
        }
    }
    free(traces);
    return out;
}

/* The words of a shell line up to its comment (no quoting: the examples'
 * file names have none). */
static size_t words_of(const char *line, char **w, size_t max)
{
    char *copy = strdup(line), *save = NULL;
    size_t n = 0;
    for (char *t = strtok_r(copy, " \t\n\\", &save); t && n < max; t = strtok_r(NULL, " \t\n\\", &save)) {
        if (t[0] == '#') break;
        w[n++] = strdup(t);
    }
    free(copy);
    return n;
}

struct output {
    char *path;
    bool append, is_dir;
    bool existed;
    struct stat before;
};

/* What the line says it writes, relative to dir. */
static size_t outputs_of(char **w, size_t n, const char *dir, struct output *o, size_t max)
{
    size_t k = 0;
    bool pack = n > 1 && strcmp(w[0], "heapsnap") == 0 && strcmp(w[1], "pack") == 0;
    for (size_t i = 0; i < n && k < max; i++) {
        const char *name = NULL;
        bool append = false, is_dir = false;
        if (i + 1 < n && (strcmp(w[i], "-o") == 0 || strcmp(w[i], "--output") == 0 || strcmp(w[i], "--html") == 0 ||
                          strcmp(w[i], ">") == 0))
            name = w[++i];
        else if (i + 1 < n && strcmp(w[i], ">>") == 0)
            name = w[++i], append = true;
        else if (i + 1 < n && strcmp(w[i], "--pprof-dir") == 0)
            name = w[++i], is_dir = true;
        else if (pack && i > 1 && w[i][0] != '-' && !strpbrk(w[i], "*?["))
            name = w[i]; /* packed in place */
        if (!name || strcmp(name, "-") == 0) continue;
        o[k] = (struct output){name[0] == '/' ? strdup(name) : path_join(dir, name), append, is_dir, false, {0}};
        o[k].existed = stat(o[k].path, &o[k].before) == 0;
        k++;
    }
    return k;
}

static size_t entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void expect_written(const char *page, const char *line, const struct output *o, const char *err)
{
    struct stat now;
    bool exists = stat(o->path, &now) == 0;
    cr_expect(exists, "%s: `%s` did not make %s:\n%s", page, line, o->path, err);
    if (!exists) return;
    if (o->is_dir) {
        cr_expect(S_ISDIR(now.st_mode) && entries(o->path) > 0, "%s: `%s` wrote nothing into %s", page, line, o->path);
        return;
    }
    cr_expect_gt(now.st_size, 0, "%s: `%s` left %s empty", page, line, o->path);
    if (o->append)
        cr_expect_gt(now.st_size, o->before.st_size, "%s: `%s` added nothing to %s", page, line, o->path);
    else if (o->existed)
        cr_expect(now.st_ino != o->before.st_ino || now.st_size != o->before.st_size ||
                      now.st_mtim.tv_sec != o->before.st_mtim.tv_sec ||
                      now.st_mtim.tv_nsec != o->before.st_mtim.tv_nsec,
                  "%s: `%s` did not write %s", page, line, o->path);
}

/* The names of the traces (heapsnap.*.trace) in dir as "\nNAME\nNAME\n" ("\n"
 * when dir does not exist). */
static char *traces_in(const char *dir)
{
    char *names = strdup("\n");
    DIR *d = opendir(dir);
    if (!d) return names;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "heapsnap.", 9) != 0 || len < 16 || strcmp(e->d_name + len - 6, ".trace") != 0) continue;
        names = append(append(names, e->d_name), "\n");
    }
    closedir(d);
    return names;
}

/* The one name of after that is not in before, or NULL. */
static char *new_trace(const char *before, const char *after)
{
    char *found = NULL;
    for (const char *l = after + 1; *l; l += strcspn(l, "\n") + 1) {
        char *key = strndup(l - 1, strcspn(l, "\n") + 2); /* "\nNAME\n" */
        if (!strstr(before, key)) {
            if (found) return NULL; /* more than one */
            found = strndup(key + 1, strlen(key) - 2);
        }
        free(key);
    }
    return found;
}

/* Does out read as printf(fmt) with %zu numbers, fmt as the C source writes
 * it? Sets *nonzero when a number is not 0. */
static bool printed_by(const char *fmt, const char *out, bool *nonzero)
{
    *nonzero = false;
    while (*fmt) {
        if (strncmp(fmt, "%zu", 3) == 0) {
            if (*out < '0' || *out > '9') return false;
            for (; *out >= '0' && *out <= '9'; out++)
                *nonzero |= *out != '0';
            fmt += 3;
        } else if (strncmp(fmt, "\\n", 2) == 0) {
            if (*out++ != '\n') return false;
            fmt += 2;
        } else if (*fmt++ != *out++) {
            return false;
        }
    }
    return *out == 0;
}

/* The format of the program's printf, as its source writes it. */
static char *printf_format(const char *src)
{
    const char *p = strstr(src, "printf(\"");
    cr_assert(p, "the C example prints nothing:\n%s", src);
    p += 8;
    const char *e = p;
    while (*e && *e != '"')
        e += e[0] == '\\' && e[1] ? 2 : 1;
    return strndup(p, (size_t)(e - p));
}

static bool build_program(const char *page, const char *dir, const char *src)
{
    char *c = path_join(dir, PROGRAM ".c");
    FILE *f = fopen(c, "w");
    cr_assert(f);
    fputs(src, f);
    fclose(f);
    /* as usual: cc from PATH, heapsnap.h from the source tree's include/, no library */
    char *cc = NULL;
    cr_assert(
        asprintf(&cc, "cc -std=c11 -Wall -Wextra -Werror -I'%s/include' -o %s %s.c", SOURCE_DIR, PROGRAM, PROGRAM) > 0);
    struct run_result r = run_in_limited(dir, NULL, (const char *const[]){"/bin/sh", "-c", cc, NULL}, 60);
    bool built = r.exit_code == 0;
    cr_expect(built, "%s: its C example does not build (%s: exit %d):\n%s\n%s", page, cc, r.exit_code, src, r.err);
    run_free(&r);
    free(cc);
    free(c);
    return built;
}

static void copy_placeholders(const struct page *p, const char *fixtures, const char *dir, char *all_text)
{
    for (size_t i = 0; i < sizeof placeholders / sizeof *placeholders; i++) {
        const struct placeholder *ph = placeholder_for(p->name, i);
        if (!ph || !ph->made || !strstr(all_text, ph->name)) continue;
        placeholder_uses[i]++;
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "cp -p --sparse=always '%s/%s' '%s/%s'", fixtures, ph->made, dir,
                 file_name(ph->name));
        sh_ok(dir, NULL, cmd);
    }
}

/* The index of the placeholder the page's own run makes (TRACE of
 * heapsnap.h(3)), or -1. */
static int made_by_page(const char *page)
{
    for (size_t i = 0; i < sizeof placeholders / sizeof *placeholders; i++) {
        const struct placeholder *ph = placeholder_for(page, i);
        if (ph && !ph->made) return (int)i;
    }
    return -1;
}

static size_t run_page(const struct page *p, const char *fixtures, const char *const *env, int *uses)
{
    char *dir = temp_dir();
    char *all_text = NULL;
    for (size_t i = 0; i < p->n; i++)
        all_text = append(append(all_text, p->ex[i].text), "\n");
    copy_placeholders(p, fixtures, dir, all_text);
    int made_here = made_by_page(p->name);
    char *exports = strdup(""), *format = NULL;
    char *trace_dir = strdup(dir); /* where a bare LD_PRELOAD writes: HEAPSNAP_OUTPUT */
    size_t ran = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->ex[i].is_c) {
            if (!build_program(p->name, dir, p->ex[i].text)) break; /* the rest runs it */
            format = printf_format(p->ex[i].text);
            ran++;
            continue;
        }
        char *line = our_paths(p->ex[i].text, dir, uses);
        char *w[64];
        size_t nw = words_of(line, w, 64);
        cr_assert_gt(nw, 0);
        struct output outs[8];
        size_t nout = outputs_of(w, nw, dir, outs, 8);
        bool heapsnap_run = nw > 1 && strcmp(w[0], "heapsnap") == 0 && strcmp(w[1], "run") == 0;
        bool preloads = strncmp(w[0], "LD_PRELOAD=", 11) == 0;
        bool named_trace = false;
        for (size_t k = 0; k < nw && strcmp(w[k], "--") != 0; k++)
            named_trace |= strcmp(w[k], "-o") == 0 || strcmp(w[k], "--output") == 0;
        /* a program run without -o leaves heapsnap.PROGRAM.PID.trace */
        bool leaves_trace = (heapsnap_run && !named_trace) || preloads;
        const char *traces_at = preloads ? trace_dir : dir;
        char *before = traces_in(traces_at);
        char *script = NULL;
        cr_assert(asprintf(&script, "%s%s", exports, line) > 0);
        struct run_result r = run_in_limited(dir, env, (const char *const[]){"/bin/sh", "-c", script, NULL}, 60);
        cr_expect_eq(r.exit_code, documented_status(line), "%s: example exited %d: %s\n%s%s", p->name, r.exit_code,
                     line, r.out, r.err);
        for (size_t k = 0; k < nout; k++)
            expect_written(p->name, line, &outs[k], r.err);
        char *after = traces_in(traces_at);
        if (leaves_trace) {
            char *made = new_trace(before, after);
            cr_expect(made, "%s: `%s` left no new trace in %s\n%s", p->name, line, traces_at, r.err);
            if (made && made_here >= 0 && strstr(line, "./" PROGRAM)) {
                char *from = path_join(traces_at, made), *to = path_join(dir, placeholders[made_here].name);
                placeholder_uses[made_here]++;
                cr_assert_neq(access(to, F_OK), 0, "%s: %s is there before the run that makes it", p->name, to);
                cr_assert_eq(symlink(from, to), 0);
                free(from);
                free(to);
            }
            free(made);
        }
        free(before);
        free(after);
        if (format && strstr(line, "./" PROGRAM)) {
            bool nonzero;
            cr_expect(printed_by(format, r.out, &nonzero), "%s: ./%s printed %s, not a line of \"%s\"", p->name,
                      PROGRAM, r.out, format);
            cr_expect(nonzero, "%s: ./%s read no traced memory: %s", p->name, PROGRAM, r.out);
        }
        if (strncmp(line, "export ", 7) == 0) { /* it holds for the lines after it */
            exports = append(append(exports, line), "\n");
            if (strncmp(line + 7, "HEAPSNAP_OUTPUT=", 16) == 0) {
                free(trace_dir);
                trace_dir = strdup(line + 23);
            }
        }
        run_free(&r);
        for (size_t k = 0; k < nout; k++)
            free(outs[k].path);
        for (size_t k = 0; k < nw; k++)
            free(w[k]);
        free(script);
        free(line);
        ran++;
    }
    free(all_text);
    free(exports);
    free(format);
    free(trace_dir);
    return ran;
}

static int is_page(const struct dirent *e)
{
    size_t len = strlen(e->d_name);
    return len > 4 && strcmp(e->d_name + len - 4, ".scd") == 0;
}

TestSuite(man_examples, .timeout = 300);

Test(man_examples, every_example_runs_as_printed)
{
    char *fixtures = temp_dir();
    make_fixtures(fixtures);

    /* heapsnap and go on PATH; go's caches and home in the fixtures' directory, no network */
    char *bin = path_join(fixtures, "bin");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir '%s' && ln -s '%s' '%s/heapsnap' && ln -s '%s' '%s/go'", bin, heapsnap_bin(), bin,
             GO_BIN, bin);
    cr_assert_eq(system(cmd), 0);
    static char path_env[8192], home[4200], cache[4200], gopath[4200], tmp[4200], binaries[4200];
    snprintf(path_env, sizeof path_env, "PATH=%s:%s", bin, getenv("PATH"));
    snprintf(home, sizeof home, "HOME=%s/home", fixtures);
    snprintf(cache, sizeof cache, "GOCACHE=%s/go-cache", fixtures);
    snprintf(gopath, sizeof gopath, "GOPATH=%s/go-path", fixtures);
    snprintf(tmp, sizeof tmp, "PPROF_TMPDIR=%s/pprof-tmp", fixtures);
    snprintf(binaries, sizeof binaries, "PPROF_BINARY_PATH=%s/pprof-binaries", fixtures);
    const char *env[] = {path_env,      home,       cache, gopath, tmp, binaries, "GOTOOLCHAIN=local",
                         "GOPROXY=off", "GOFLAGS=", NULL};

    char *man = NULL;
    cr_assert(asprintf(&man, "%s/docs/man", SOURCE_DIR) > 0);
    struct dirent **names;
    int npages = scandir(man, &names, is_page, alphasort);
    cr_assert_geq(npages, 14, "the man pages were not found in %s", man);
    int uses[2] = {0, 0};
    size_t total = 0, c_programs = 0;
    for (int i = 0; i < npages; i++) {
        struct page p = {0};
        snprintf(p.name, sizeof p.name, "%.*s", (int)(strlen(names[i]->d_name) - 4), names[i]->d_name);
        char *path = path_join(man, names[i]->d_name);
        read_examples(path, &p);
        cr_expect_gt(p.n, 0, "%s: no examples found", p.name);
        for (size_t k = 0; k < p.n; k++)
            c_programs += p.ex[k].is_c;
        total += run_page(&p, fixtures, env, uses);
        for (size_t k = 0; k < p.n; k++)
            free(p.ex[k].text);
        free(p.ex);
        free(path);
        free(names[i]);
    }
    free(names);
    free(man);
    cr_expect_eq(c_programs, 1, "the C example of heapsnap.h(3) was not found");
    cr_expect_geq(total, 50, "only %zu examples ran", total);
    /* no stale entry in the tables */
    cr_expect_gt(uses[0], 0, "no example preloads " INSTALLED_SHIM);
    cr_expect_gt(uses[1], 0, "no example names " SHARED_TRACES);
    for (size_t i = 0; i < sizeof placeholders / sizeof *placeholders; i++)
        cr_expect_gt(placeholder_uses[i], 0, "no example uses %s%s%s", placeholders[i].name,
                     placeholders[i].page ? " on " : "", placeholders[i].page ? placeholders[i].page : "");
}
