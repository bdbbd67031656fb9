/* cmd_report.c - `heapsnap report TRACE` and `heapsnap pack TRACE`: the
 * report from a trace file alone, any time after the run. */
#include "cmds.h"
#include "report.h"
#include "symbols.h"
#include "../trace/trace_pack.h"

#include <stdlib.h>
#include <string.h>

size_t parse_count(const char *opt, const char *v)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || v[0] == '-') die_usage("%s takes a whole number, not '%s'", opt, v);
    return (size_t)n;
}

enum report_format parse_format(const char *v)
{
    if (strcmp(v, "text") == 0) return FORMAT_TEXT;
    if (strcmp(v, "json") == 0) return FORMAT_JSON;
    die_usage("--format takes text or json, not '%s'", v);
}

int print_report(FILE *out, const char *path, enum report_format format, size_t top)
{
    struct snap s;
    char err[1024];
    if (snap_load(&s, path, NULL, NULL, NULL, err, sizeof err) < 0) {
        warn("%s", err);
        return -1;
    }
    struct report_options o = {.trace_path = path, .top = top};
    if (format == FORMAT_JSON) report_json(out, &s, &o);
    else report_text(out, &s, &o);
    fflush(out);
    symbols_end(&s);
    snap_free(&s);
    return 0;
}

int cmd_report(int argc, char **argv)
{
    const char *path = NULL;
    enum report_format format = FORMAT_TEXT;
    size_t top = 10;
    bool top_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--format") == 0 && i + 1 < argc) format = parse_format(argv[++i]);
        else if (strncmp(a, "--format=", 9) == 0) format = parse_format(a + 9);
        else if (strcmp(a, "--top") == 0 && i + 1 < argc) top = parse_count("--top", argv[++i]), top_set = true;
        else if (a[0] == '-' && a[1]) die_usage("report: unknown option '%s' (see heapsnap --help)", a);
        else if (path) die_usage("report: one trace at a time ('%s' and '%s')", path, a);
        else path = a;
    }
    if (!path) die_usage("usage: heapsnap report TRACE [--format text|json] [--top N]");
    if (format == FORMAT_JSON && !top_set) top = 0; /* tools get everything unless they ask */
    return print_report(stdout, path, format, top) < 0 ? 1 : 0;
}

int cmd_pack(int argc, char **argv)
{
    if (argc < 2) die_usage("usage: heapsnap pack TRACE...");
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        char err[1024];
        if (trace_pack(argv[i], END_UNKNOWN, 0, err, sizeof err) < 0) {
            warn("%s", err);
            rc = 1;
        }
    }
    return rc;
}
