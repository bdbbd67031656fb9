/* opts.h - the one option parser of every heapsnap command: getopt_long, so
 * each takes `--opt value`, `--opt=value`, bundled short options (`-qo FILE`)
 * and `--`, with errors that name the command and the option, and `--help`
 * printing the command's manual page. */
#ifndef HEAPSNAP_OPTS_H
#define HEAPSNAP_OPTS_H

#include <getopt.h>
#include <stdbool.h>

/* Values of long options without a short form start here (a short option's
 * value is its letter). */
enum { OPT_HELP = 0x100, OPT_FIRST_LONG };

#define OPTS_HELP                                                                                                      \
    {                                                                                                                  \
        "help", no_argument, NULL, OPT_HELP                                                                            \
    }

struct opts {
    const char *cmd; /* "run", "stats": named in errors, and the --help page */
    int argc;
    char **argv; /* argv[0] is the command's name */
    const char *shortopts;
    const struct option *longopts;
    char **operands; /* the others: collected wherever they stand, whatever POSIXLY_CORRECT says */
    int noperands;
};

/* shortopts as getopt's, without the leading ':' (added here); a leading '+'
 * stops at the first operand (run: the program's own options follow it). */
void opts_init(struct opts *o, const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
/* The next option's value (its letter, or its OPT_* number), its argument in
 * *arg; -1 when the options end. An unknown option or a missing value ends
 * the command with exit status 2; --help prints the page and exits 0. */
int opts_next(struct opts *o, const char **arg);
/* After the options: the operands (argv from the first non-option on). */
char **opts_operands(const struct opts *o, int *n);
/* A command whose only option is --help: its operands. */
char **opts_operands_only(const char *cmd, int argc, char **argv, int *n);
/* Usage errors are die_usage's: opts_init makes it name the command. */

/* The manual page of a command ("run"), or of heapsnap itself ("heapsnap");
 * false if there is none. */
bool help_print(const char *page);

#endif
