/* report.h - the end-of-run report: text for people, JSON for tools
 * (docs/REPORT-JSON.md). Both read a struct snap and nothing else. */
#ifndef HEAPSNAP_REPORT_H
#define HEAPSNAP_REPORT_H

#include <stdio.h>

#include "snap.h"

/* What a report lists by default, in both formats: a deep recursion makes
 * thousands of groups with stacks thousands of frames deep, and a report
 * of them all runs to gigabytes. Default traces record 64 frames, which
 * inlined calls expand: 256 leaves those whole. */
#define REPORT_DEFAULT_TOP 10
#define REPORT_DEFAULT_MAX_FRAMES 256

struct report_options {
    const char *trace_path;
    size_t top;        /* groups listed per section; 0 = all */
    size_t max_frames; /* frames listed per stack, innermost first; 0 = all */
};

/* How the process ended, in words ("exited with status 3") and as JSON fields. */
void report_end_words(const struct snap *s, char *out, size_t cap);
void report_text(FILE *out, const struct snap *s, const struct report_options *o);
void report_json(FILE *out, const struct snap *s, const struct report_options *o);

#endif
