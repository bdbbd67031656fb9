/* html_report.h - the JSON document of an HTML report of one trace: header,
 * the heap over time, the flame graph views, the temporal rows and the leaks
 * (the format is in docs/HTML.md). */
#ifndef HEAPSNAP_HTML_REPORT_H
#define HEAPSNAP_HTML_REPORT_H

#include "util.h"

/* Appends the document of SOURCE (TRACE[@POINT]) to out. Returns 0, or -1
 * with a reason in err. */
int html_report_data(struct strbuf *out, const char *source, char *err, size_t errlen);

#endif
