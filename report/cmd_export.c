/* cmd_export.c - `heapsnap export SOURCE --format pprof|folded|massif|speedscope
 * -o FILE`: the options, the source loaded once, the file written whole
 * (a reader never sees half an export). */
#include "cmds.h"
#include "export.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum export_format { EXPORT_PPROF, EXPORT_FOLDED, EXPORT_MASSIF, EXPORT_SPEEDSCOPE };

static const char *const format_names[] = {"pprof", "folded", "massif", "speedscope"};

int cmd_export(int argc, char **argv)
{
    const char *usage = "usage: heapsnap export SOURCE --format pprof|folded|massif|speedscope [-o FILE] "
                        "[--value inuse|allocated|calls|leaked] [--include P]... [--exclude P]... [--all-frames]";
    enum { OPT_FORMAT = OPT_FIRST_LONG, OPT_VALUE, OPT_INCLUDE, OPT_EXCLUDE, OPT_ALL_FRAMES };
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"format", required_argument, NULL, OPT_FORMAT},
                                             {"value", required_argument, NULL, OPT_VALUE},
                                             {"include", required_argument, NULL, OPT_INCLUDE},
                                             {"exclude", required_argument, NULL, OPT_EXCLUDE},
                                             {"all-frames", no_argument, NULL, OPT_ALL_FRAMES},
                                             OPTS_HELP,
                                             {0}};
    const char *output = NULL, *v;
    int format = -1;
    enum profile_value value = VALUE_INUSE;
    struct stats_options filters = {.filters = xcalloc((size_t)argc, sizeof *filters.filters)};
    struct opts p;
    opts_init(&p, "export", argc, argv, "o:", longopts);
    for (int k; (k = opts_next(&p, &v)) != -1;) {
        switch (k) {
        case 'o': output = v; break;
        case OPT_FORMAT:
            for (int f = 0; f < 4; f++)
                if (strcmp(v, format_names[f]) == 0) format = f;
            if (format < 0) die_usage("--format takes pprof, folded, massif or speedscope, not '%s'", v);
            break;
        case OPT_VALUE:
            if (!profile_parse_value(v, &value))
                die_usage("--value takes inuse, allocated, calls or leaked, not '%s'", v);
            break;
        case OPT_INCLUDE:
        case OPT_EXCLUDE: filters.filters[filters.nfilters++] = (struct stats_filter){v, k == OPT_INCLUDE}; break;
        case OPT_ALL_FRAMES: filters.all_frames = true; break;
        }
    }
    int n;
    char **operands = opts_operands(&p, &n);
    if (n > 1) die_usage("one SOURCE at a time (%s)", usage);
    if (n == 0 || format < 0) die_usage("%s", usage);
    const char *source = operands[0];
    if (!output) die_usage("say where with -o FILE (- for standard output)");
    char err[1024];
    struct strbuf b = {0};
    int rc;
    if (format == EXPORT_MASSIF) {
        rc = export_massif(&b, source, &filters, err, sizeof err);
    } else {
        struct profile p;
        /* speedscope has a profile per value; the others one */
        bool with_leaks = format == EXPORT_SPEEDSCOPE || value == VALUE_LEAKED;
        if (profile_load(&p, source, &filters, with_leaks, err, sizeof err) < 0) die("%s", err);
        if ((value == VALUE_ALLOCATED || value == VALUE_CALLS) && !p.has_totals)
            die("%s: a snapshot file holds the live heap only: --value inuse", source);
        if (value == VALUE_LEAKED && !p.has_leaks)
            die("%s: no leak check ran in this trace (heapsnap run checks at the end)", source);
        if (format == EXPORT_FOLDED)
            rc = export_folded(&b, &p, value, err, sizeof err);
        else if (format == EXPORT_SPEEDSCOPE)
            rc = export_speedscope(&b, &p, source, err, sizeof err);
        else
            rc = export_pprof(&b, &p, value, err, sizeof err);
        profile_free(&p);
    }
    if (rc < 0 || write_whole_file(output, b.s, b.len, err, sizeof err) < 0) die("%s", err);
    if (strcmp(output, "-") != 0) fprintf(stderr, "heapsnap: wrote %s\n", output);
    sb_free(&b);
    free(filters.filters);
    return 0;
}
