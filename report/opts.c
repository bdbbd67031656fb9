/* opts.c - see opts.h. getopt_long keeps its state in globals: one command
 * parses its options once, from the start (optind = 0 resets glibc's). */
#include "opts.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void opts_init(struct opts *o, const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    /* A leading ':' makes getopt report a missing value as ':', not '?'.
     * Without '+', a leading '-' hands each operand over in place (code 1):
     * operands and options mix in any order even under POSIXLY_CORRECT,
     * which would otherwise stop at the first operand. */
    static char spec[128];
    bool in_order = shortopts[0] == '+';
    snprintf(spec, sizeof spec, "%s:%s", in_order ? "+" : "-", shortopts + in_order);
    *o = (struct opts){.cmd = cmd,
                       .argc = argc,
                       .argv = argv,
                       .shortopts = spec,
                       .longopts = longopts,
                       .operands = xcalloc((size_t)argc + 1, sizeof *o->operands)};
    usage_command = cmd;
    optind = 0;
    opterr = 0;
}

/* The option as the user wrote it: "--frames" of "--frames=8", "-x" of a bundle. */
static void spelled(const struct opts *o, char *out, size_t cap)
{
    const char *word = optind > 0 && optind <= o->argc ? o->argv[optind - 1] : "?";
    if (word[0] == '-' && word[1] == '-')
        snprintf(out, cap, "%.*s", (int)strcspn(word, "="), word);
    else if (optopt)
        snprintf(out, cap, "-%c", optopt);
    else
        snprintf(out, cap, "%s", word);
}

/* "--snapshot" begins --snapshot-signal, --snapshot-interval...: say which. */
static bool ambiguous(const struct opts *o, const char *word, char *names, size_t cap)
{
    if (word[0] != '-' || word[1] != '-') return false;
    size_t len = strlen(word + 2), found = 0, at = 0;
    names[0] = 0;
    for (const struct option *lo = o->longopts; lo->name; lo++) {
        if (strncmp(lo->name, word + 2, len) != 0) continue;
        found++;
        if (at < cap) at += (size_t)snprintf(names + at, cap - at, "%s--%s", at ? ", " : "", lo->name);
    }
    return found > 1;
}

int opts_next(struct opts *o, const char **arg)
{
    for (;;) {
        int c = getopt_long(o->argc, o->argv, o->shortopts, o->longopts, NULL);
        *arg = optarg;
        if (c == 1) { /* an operand, where it stands */
            o->operands[o->noperands++] = optarg;
            continue;
        }
        if (c == -1) { /* what follows "--" (or run's PROGRAM and its arguments) */
            while (optind < o->argc)
                o->operands[o->noperands++] = o->argv[optind++];
            return -1;
        }
        if (c == OPT_HELP) {
            if (!help_print(o->cmd)) printf("heapsnap %s: see heapsnap --help\n", o->cmd);
            exit(0);
        }
        if (c == '?' || c == ':') {
            char word[256], names[1024];
            spelled(o, word, sizeof word);
            if (c == ':') die_usage("%s needs a value (heapsnap %s --help)", word, o->cmd);
            if (ambiguous(o, word, names, sizeof names))
                die_usage("'%s' could be %s (heapsnap %s --help)", word, names, o->cmd);
            die_usage("unknown option '%s' (heapsnap %s --help)", word, o->cmd);
        }
        return c;
    }
}

char **opts_operands(const struct opts *o, int *n)
{
    *n = o->noperands;
    return o->operands;
}

char **opts_operands_only(const char *cmd, int argc, char **argv, int *n)
{
    static const struct option longopts[] = {OPTS_HELP, {0}};
    struct opts p;
    opts_init(&p, cmd, argc, argv, "", longopts);
    const char *v;
    while (opts_next(&p, &v) != -1) {
    }
    return opts_operands(&p, n);
}
