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
    /* getopt reports a missing value as ':' (not '?') when the string starts with ':', after any '+' */
    static char spec[128];
    bool stop = shortopts[0] == '+';
    snprintf(spec, sizeof spec, "%s:%s", stop ? "+" : "", shortopts + stop);
    *o = (struct opts){.cmd = cmd, .argc = argc, .argv = argv, .shortopts = spec, .longopts = longopts};
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

int opts_next(struct opts *o, const char **arg)
{
    int c = getopt_long(o->argc, o->argv, o->shortopts, o->longopts, NULL);
    *arg = optarg;
    if (c == OPT_HELP) {
        if (!help_print(o->cmd)) printf("heapsnap %s: see heapsnap --help\n", o->cmd);
        exit(0);
    }
    if (c == '?' || c == ':') {
        char word[256];
        spelled(o, word, sizeof word);
        if (c == ':') opts_usage(o, "%s needs a value (heapsnap %s --help)", word, o->cmd);
        opts_usage(o, "unknown option '%s' (heapsnap %s --help)", word, o->cmd);
    }
    return c;
}

char **opts_operands(const struct opts *o, int *n)
{
    *n = o->argc - optind;
    return o->argv + optind;
}

void opts_usage(const struct opts *o, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    die_usage("%s: %s", o->cmd, msg);
}
