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

bool gate_option(struct leak_gate *g, int opt, const char *arg)
{
    switch (opt) {
    case OPT_FAIL_ON_LEAK:
        g->fail = true;
        if (arg && !leaks_parse_kinds(arg, &g->kinds))
            die_usage("--fail-on-leak takes kinds among definite, indirect, possible, reachable, not '%s'", arg);
        return true;
    case OPT_LEAK_EXITCODE: g->exitcode = parse_exit_code("--leak-exitcode", arg); return true;
    case OPT_MAX_LEAKED:
        if (!fmt_parse_bytes(arg, &g->max_leaked))
            die_usage("--max-leaked takes bytes (with K, M or G), not '%s'", arg);
        return true;
    case OPT_SUPPRESSIONS:
        if (g->nsupp_files == 64) die_usage("--suppressions: 64 files at most");
        g->supp_files[g->nsupp_files++] = arg;
        return true;
    case OPT_NO_DEFAULT_SUPPRESSIONS: g->default_suppressions = false; return true;
    }
    return false;
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

enum { OPT_KINDS = OPT_FIRST_LONG, OPT_FORMAT, OPT_SOURCE_ROOT, OPT_GEN_SUPPRESSIONS };

int cmd_leaks(int argc, char **argv)
{
    static const struct option longopts[] = {{"kinds", required_argument, NULL, OPT_KINDS},
                                             {"format", required_argument, NULL, OPT_FORMAT},
                                             {"source-root", required_argument, NULL, OPT_SOURCE_ROOT},
                                             {"gen-suppressions", no_argument, NULL, OPT_GEN_SUPPRESSIONS},
                                             GATE_LONGOPTS,
                                             OPTS_HELP,
                                             {0}};
    struct leak_gate g;
    gate_defaults(&g);
    const char *format = "text", *source_root = NULL;
    unsigned show = (1u << LEAK_DEFINITE) | (1u << LEAK_INDIRECT) | (1u << LEAK_POSSIBLE);
    bool gen = false;
    struct opts o;
    opts_init(&o, "leaks", argc, argv, "", longopts);
    const char *v;
    for (int c; (c = opts_next(&o, &v)) != -1;) {
        if (gate_option(&g, c, v)) continue;
        switch (c) {
        case OPT_KINDS:
            if (!leaks_parse_kinds(v, &show))
                die_usage("--kinds takes kinds among definite, indirect, possible, reachable, not '%s'", v);
            break;
        case OPT_FORMAT:
            format = v;
            if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "junit") && strcmp(format, "sarif"))
                die_usage("--format takes text, json, junit or sarif, not '%s'", format);
            break;
        case OPT_SOURCE_ROOT: source_root = v; break;
        case OPT_GEN_SUPPRESSIONS: gen = true; break;
        }
    }
    int n;
    char **operands = opts_operands(&o, &n);
    if (n != 1)
        die_usage(n ? "one trace at a time" : "which trace? (heapsnap leaks TRACE[@leak-check:N] [OPTIONS])");
    const char *source = operands[0];
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
        leaks_print_suppressions_used(stdout, &r, &supps);
    }
    int rc = gate_fails(&g, &r) ? g.exitcode : 0;
    leaks_free(&r);
    supp_free(&supps);
    free(g.supp_files);
    return rc;
}
