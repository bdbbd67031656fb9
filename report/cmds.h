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

size_t parse_count(const char *opt, const char *v);
enum report_format parse_format(const char *v);
int print_report(FILE *out, const char *path, enum report_format format, size_t top);

#endif
