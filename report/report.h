/* report.h - the end-of-run report: text for people, JSON for tools
 * (docs/REPORT-JSON.md). Both read a struct snap and nothing else. */
#ifndef HEAPSNAP_REPORT_H
#define HEAPSNAP_REPORT_H

#include <stdio.h>

#include "snap.h"

struct report_options {
    const char *trace_path;
    size_t top; /* groups listed per section; 0 = all */
};

/* How the process ended, in words ("exited with status 3") and as JSON fields. */
void report_end_words(const struct snap *s, char *out, size_t cap);
void report_text(FILE *out, const struct snap *s, const struct report_options *o);
void report_json(FILE *out, const struct snap *s, const struct report_options *o);

#endif
