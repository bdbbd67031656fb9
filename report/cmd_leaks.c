/* cmd_leaks.c - `heapsnap leaks`, and the leak gate that `heapsnap run`
 * shares: options, loading with suppressions, the exit code. */
#include "cmds.h"
#include "fmt.h"
#include "leaks.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEAK_EXITCODE 23 /* LeakSanitizer's */

void gate_defaults(struct leak_gate *g)
{
    memset(g, 0, sizeof *g);
    g->exitcode = LEAK_EXITCODE;
    g->kinds = (1u << LEAK_DEFINITE) | (1u << LEAK_INDIRECT);
    g->default_suppressions = true;
    g->supp_files = xcalloc(64, sizeof *g->supp_files);
}

/* Returns how many arguments the gate option at argv[i] took (0: not ours). */
int gate_option(struct leak_gate *g, int argc, char **argv, int i)
{
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--fail-on-leak") == 0) {
        g->fail = true;
        return 1;
    }
    if (strncmp(a, "--fail-on-leak=", 15) == 0) {
        g->fail = true;
        if (!leaks_parse_kinds(a + 15, &g->kinds))
            die_usage("--fail-on-leak takes kinds among definite, indirect, possible, reachable, not '%s'", a + 15);
        return 1;
    }
    if (strcmp(a, "--leak-exitcode") == 0 && v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || !*v || n < 1 || n > 255) die_usage("--leak-exitcode takes a number from 1 to 255, not '%s'", v);
        g->exitcode = (int)n;
        return 2;
    }
    if (strcmp(a, "--max-leaked") == 0 && v) {
        if (!fmt_parse_bytes(v, &g->max_leaked)) die_usage("--max-leaked takes bytes (with K, M or G), not '%s'", v);
        return 2;
    }
    if (strcmp(a, "--suppressions") == 0 && v) {
        if (g->nsupp_files < 64) g->supp_files[g->nsupp_files++] = v;
        return 2;
    }
    if (strcmp(a, "--no-default-suppressions") == 0) {
        g->default_suppressions = false;
        return 1;
    }
    return 0;
}

void gate_load_suppressions(struct leak_gate *g, struct supp_list *l)
{
    memset(l, 0, sizeof *l);
    if (g->default_suppressions) supp_add_builtin(l);
    for (size_t i = 0; i < g->nsupp_files; i++) {
        char err[1024];
        if (supp_load(l, g->supp_files[i], err, sizeof err) < 0) die("%s", err);
    }
}

/* Whether this report fails the gate. A check that could not run fails it
 * too: a gate must not pass because it could not look. Blocks count, not
 * only bytes: a leaked malloc(0) is 0 bytes in 1 block, and a leak. */
bool gate_fails(const struct leak_gate *g, const struct leak_report *r)
{
    if (!g->fail) return false;
    if (r->check_failed) return true;
    uint64_t bytes = leaks_bytes_of(r, g->kinds), blocks = leaks_blocks_of(r, g->kinds);
    return blocks > 0 && (bytes > g->max_leaked || g->max_leaked == 0);
}

int cmd_leaks(int argc, char **argv)
{
    struct leak_gate g;
    gate_defaults(&g);
    const char *source = NULL, *format = "text", *source_root = NULL;
    unsigned show = (1u << LEAK_DEFINITE) | (1u << LEAK_INDIRECT) | (1u << LEAK_POSSIBLE);
    bool gen = false;
    for (int i = 1; i < argc; i++) {
        int used = gate_option(&g, argc, argv, i);
        if (used) {
            i += used - 1;
            continue;
        }
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--kinds") == 0 && v) {
            if (!leaks_parse_kinds(v, &show))
                die_usage("--kinds takes kinds among definite, indirect, possible, reachable, not '%s'", v);
            i++;
        } else if (strcmp(a, "--format") == 0 && v) {
            format = argv[++i];
            if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "junit") && strcmp(format, "sarif"))
                die_usage("--format takes text, json, junit or sarif, not '%s'", format);
        } else if (strcmp(a, "--source-root") == 0 && v) {
            source_root = argv[++i];
        } else if (strcmp(a, "--gen-suppressions") == 0) gen = true;
        else if (a[0] == '-' && a[1]) die_usage("leaks: unknown option or missing value '%s' (see heapsnap --help)", a);
        else if (!source) source = a;
        else die_usage("leaks: one trace at a time");
    }
    if (!source)
        die_usage("usage: heapsnap leaks TRACE[@leak-check:N] [--kinds K,...] [--format text|json|junit|sarif] "
                  "[--source-root DIR] "
                  "[--suppressions FILE]... [--no-default-suppressions] [--gen-suppressions] "
                  "[--fail-on-leak[=KINDS]] [--leak-exitcode N] [--max-leaked BYTES]");
    struct supp_list supps;
    gate_load_suppressions(&g, &supps);
    struct leak_report r;
    char err[1024];
    int loaded = leaks_load(&r, source, &supps, (show & (1u << LEAK_REACHABLE)) != 0, err, sizeof err);
    if (loaded == SNAP_NO_CHECK && g.fail) { /* nothing was looked at: the gate cannot pass */
        warn("%s: --fail-on-leak fails", err);
        return g.exitcode;
    }
    if (loaded < 0) die("%s", err);
    if (gen) leaks_print_suppressions(stdout, &r, show);
    else if (strcmp(format, "json") == 0) leaks_print_json(stdout, &r, show, &supps);
    else if (strcmp(format, "junit") == 0) leaks_print_junit(stdout, &r, show);
    else if (strcmp(format, "sarif") == 0) {
        char cwd[4096], root[4096];
        if (!source_root) source_root = getcwd(cwd, sizeof cwd);
        leaks_print_sarif(stdout, &r, show, source_root && realpath(source_root, root) ? root : source_root);
    }
    else {
        leaks_print_text(stdout, &r, show);
        leaks_print_suppressions_used(stdout, &supps);
    }
    int rc = gate_fails(&g, &r) ? g.exitcode : 0;
    leaks_free(&r);
    supp_free(&supps);
    free(g.supp_files);
    return rc;
}
