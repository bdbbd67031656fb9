/* fmt.c - see fmt.h. */
#include "fmt.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fmt_size(char *out, size_t cap, double size, bool sign)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    for (int u = 0; u < 5; u++) {
        if (fabs(size) < 100 && u > 0) {
            snprintf(out, cap, sign ? "%+.1f %s" : "%.1f %s", size, units[u]);
            return;
        }
        if (fabs(size) < 10 * 1024 || u == 4) {
            snprintf(out, cap, sign ? "%+.0f %s" : "%.0f %s", size, units[u]);
            return;
        }
        size /= 1024;
    }
}

void fmt_duration(char *out, size_t cap, double s)
{
    if (s < 0) s = 0;
    if (s < 1e-3) snprintf(out, cap, "%.0f us", s * 1e6);
    else if (s < 1) snprintf(out, cap, "%.2f ms", s * 1e3);
    else snprintf(out, cap, "%.3f s", s);
}

void fmt_json_string(struct strbuf *b, const char *s)
{
    if (!s) {
        sb_puts(b, "null");
        return;
    }
    sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            sb_add(b, e, 2);
        } else if (*p < 0x20) {
            sb_printf(b, "\\u%04x", *p);
        } else {
            sb_add(b, (const char *)p, 1);
        }
    }
    sb_puts(b, "\"");
}

const char *fmt_signal_name(int sig)
{
    static char buf[32];
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) snprintf(buf, sizeof buf, "SIG%s", abbrev);
    else snprintf(buf, sizeof buf, "signal %d", sig);
    return buf;
}

bool fmt_parse_bytes(const char *v, uint64_t *bytes)
{
    char *end;
    double d = strtod(v, &end);
    double mult = 1;
    if (*end == 'K' || *end == 'k') mult = 1024.0, end++;
    else if (*end == 'M') mult = 1024.0 * 1024, end++;
    else if (*end == 'G') mult = 1024.0 * 1024 * 1024, end++;
    if (*end == 'i' && end[1] == 'B') end += 2;
    else if (*end == 'B') end++;
    if (!*v || *end || !(d >= 0) || d * mult > 1.8e19) return false;
    *bytes = (uint64_t)(d * mult);
    return true;
}

void fmt_xml_text(struct strbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') sb_puts(b, "?");
            else sb_add(b, s, 1);
        }
    }
}
