/* cmds.h - the heapsnap subcommands, dispatched by main.c. */
#ifndef HEAPSNAP_CMDS_H
#define HEAPSNAP_CMDS_H

#include <stdio.h>

#include "opts.h"
#include "util.h"

enum report_format { FORMAT_TEXT, FORMAT_JSON };

int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_leaks(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_html(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);

/* The options `run` and `attach` share (cmd_run.c): each value checked, or a
 * usage error. */
#define RUN_DEFAULT_UNWIND "fast" /* the stack capture without --unwind */
unsigned run_parse_frames(const char *v);
const char *run_parse_unwind(const char *v);
/* HEAPSNAP_PACK (trace_pack.h) is one of its values, or one line and exit. */
void run_check_pack_env(void);
uint64_t run_parse_sample_rate(const char *v);
const char *run_check_seconds(const char *v);
const char *run_parse_growth(const char *v, char *out, size_t cap);
/* The HTML report of a packed trace (heapsnap html), or a warning. */
void run_write_html(const char *html, const char *trace, bool quiet);

/* The HTML page with json as its data, to path ("-": stdout). */
struct strbuf;
int html_write_page(const char *path, const struct strbuf *json, char *err, size_t errlen);

/* The leak gate, shared by `heapsnap leaks` and `heapsnap run`. */
struct leak_gate {
    bool fail;             /* --fail-on-leak given */
    unsigned kinds;        /* kinds that fail it (default definite, indirect) */
    int exitcode;          /* --leak-exitcode, default 23 */
    uint64_t max_leaked;   /* --max-leaked: bytes of those kinds allowed */
    bool default_suppressions;
    const char **supp_files;
    size_t nsupp_files;
};
struct leak_report;
struct supp_list;
void gate_defaults(struct leak_gate *g);
/* The gate's options, in the long options of each command that has them. */
enum { OPT_FAIL_ON_LEAK = 0x180, OPT_LEAK_EXITCODE, OPT_MAX_LEAKED, OPT_SUPPRESSIONS, OPT_NO_DEFAULT_SUPPRESSIONS };
#define GATE_LONGOPTS                                                                                                 \
    {"fail-on-leak", optional_argument, NULL, OPT_FAIL_ON_LEAK},                                                     \
        {"leak-exitcode", required_argument, NULL, OPT_LEAK_EXITCODE},                                               \
        {"max-leaked", required_argument, NULL, OPT_MAX_LEAKED},                                                     \
        {"suppressions", required_argument, NULL, OPT_SUPPRESSIONS},                                                 \
        {"no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT_SUPPRESSIONS}
/* Takes the option opts_next gave, if it is the gate's; false if not. */
bool gate_option(struct leak_gate *g, int opt, const char *arg);
void gate_load_suppressions(struct leak_gate *g, struct supp_list *l);
bool gate_fails(const struct leak_gate *g, const struct leak_report *r);

size_t parse_count(const char *opt, const char *v);
/* An exit status a gate fails with: 1 to 255. */
int parse_exit_code(const char *opt, const char *v);
enum report_format parse_format(const char *v);
int print_report(FILE *out, const char *path, enum report_format format, size_t top);

#endif
