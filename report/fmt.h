/* fmt.h - how numbers read in reports: tracemalloc's size units, times, and
 * JSON strings. */
#ifndef HEAPSNAP_FMT_H
#define HEAPSNAP_FMT_H

#include "util.h"

/* tracemalloc's _format_size: "10239 B", "10.0 KiB", "1024 KiB"; with sign,
 * "+65.1 KiB", "-30.0 KiB", "+0 B". */
void fmt_size(char *out, size_t cap, double bytes, bool sign);
void fmt_duration(char *out, size_t cap, double seconds);
void fmt_json_string(struct strbuf *b, const char *s);
/* Text and attribute values in XML (JUnit, SVG): escaped, control characters but newline and tab as '?'. */
void fmt_xml_text(struct strbuf *b, const char *s);
const char *fmt_signal_name(int sig);
/* "100", "50K", "1.5MiB", "2G" (powers of 1024) -> bytes; false if not a size. */
bool fmt_parse_bytes(const char *text, uint64_t *bytes);

#endif
