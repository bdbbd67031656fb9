/* cmds.h - the heapsnap subcommands, dispatched by main.c. */
#ifndef HEAPSNAP_CMDS_H
#define HEAPSNAP_CMDS_H

#include <stdio.h>

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
int gate_option(struct leak_gate *g, int argc, char **argv, int i);
void gate_load_suppressions(struct leak_gate *g, struct supp_list *l);
bool gate_fails(const struct leak_gate *g, const struct leak_report *r);

size_t parse_count(const char *opt, const char *v);
enum report_format parse_format(const char *v);
int print_report(FILE *out, const char *path, enum report_format format, size_t top);

#endif
