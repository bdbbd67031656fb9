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
    const char *source = NULL, *output = NULL;
    int format = -1;
    enum profile_value value = VALUE_INUSE;
    struct stats_options filters = {.filters = xcalloc((size_t)argc, sizeof *filters.filters)};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && v)
            output = argv[++i];
        else if (strcmp(a, "--format") == 0 && v) {
            for (int k = 0; k < 4; k++)
                if (strcmp(v, format_names[k]) == 0) format = k;
            if (format < 0) die_usage("--format takes pprof, folded, massif or speedscope, not '%s'", v);
            i++;
        } else if (strcmp(a, "--value") == 0 && v) {
            if (!profile_parse_value(v, &value))
                die_usage("--value takes inuse, allocated, calls or leaked, not '%s'", v);
            i++;
        } else if ((strcmp(a, "--include") == 0 || strcmp(a, "--exclude") == 0) && v) {
            filters.filters[filters.nfilters++] = (struct stats_filter){argv[++i], a[2] == 'i'};
        } else if (strcmp(a, "--all-frames") == 0)
            filters.all_frames = true;
        else if (a[0] == '-' && a[1])
            die_usage("export: unknown option or missing value '%s' (%s)", a, usage);
        else if (!source)
            source = a;
        else
            die_usage("export: one SOURCE at a time (%s)", usage);
    }
    if (!source || format < 0) die_usage("%s", usage);
    if (!output) die_usage("export: say where with -o FILE (- for standard output)");
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
