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

/* The length of the well-formed UTF-8 sequence at p (1 to 4), or 0: JSON
 * and XML are UTF-8, and names, paths and labels come from programs that
 * may hold any bytes. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!n) return 0;
    unsigned lo = 0x80, hi = 0xbf; /* the second byte's range: no overlong forms, no surrogates, nothing past U+10FFFF */
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f;
    else if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return n;
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
            size_t n = utf8_len(p);
            if (n) sb_add(b, (const char *)p, n);
            else sb_puts(b, "\\ufffd"); /* a byte that is not UTF-8: the replacement character */
            if (n > 1) p += n - 1;
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
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') {
                sb_puts(b, "?");
            } else {
                size_t n = utf8_len((const unsigned char *)s);
                if (n) sb_add(b, s, n);
                else sb_puts(b, "\xef\xbf\xbd"); /* U+FFFD */
                if (n > 1) s += n - 1;
            }
        }
    }
}
