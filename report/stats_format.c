/* stats_format.c - stats and diffs printed as tracemalloc prints them
 * ("file.c:41: size=1024 KiB, count=2, average=512 KiB", with "(+195 KiB)"
 * style diffs), tracebacks oldest frame first with their source lines, and
 * the same data as JSON (docs/SNAPSHOT-FILE.md). */
#include "color.h"
#include "fmt.h"
#include "stats.h"

#include <stdio.h>
#include <string.h>

/* The source line of file:line, or NULL. One file is kept open in memory. */
static const char *source_line(const char *file, int line)
{
    static char *text, *name;
    static size_t len;
    if (!file || line <= 0) return NULL;
    if (!name || strcmp(name, file) != 0) {
        free(text);
        free(name);
        text = NULL;
        len = 0;
        name = xstrndup(file, strlen(file));
        FILE *f = fopen(file, "rb");
        if (!f) return NULL;
        struct strbuf b = {0};
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0 && b.len < (64u << 20)) sb_add(&b, buf, n);
        fclose(f);
        text = b.s;
        len = b.len;
    }
    if (!text) return NULL;
    const char *p = text, *end = text + len;
    for (int k = 1; k < line && p < end; k++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p) return NULL;
        p++;
    }
    static char out[512];
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    size_t l = 0;
    while (p + l < end && p[l] != '\n' && l + 1 < sizeof out) l++;
    memcpy(out, p, l);
    while (l > 0 && (out[l - 1] == ' ' || out[l - 1] == '\r' || out[l - 1] == '\t')) l--;
    out[l] = 0;
    return l ? out : NULL;
}

static void print_traceback(FILE *out, const struct stats_entry *e)
{
    for (size_t i = e->nframes; i-- > 0;) {
        const struct sym_frame *f = &e->frames[i];
        if (f->file) fprintf(out, "  File \"%s\", line %d, in %s", f->file, f->line, f->function);
        else fprintf(out, "  in %s", f->function);
        if (f->module) fprintf(out, " [%s]", f->module);
        fputc('\n', out);
        const char *src = source_line(f->file, f->line);
        if (src) fprintf(out, "    %s\n", src);
    }
}

void stats_print_text(FILE *out, const struct stats_result *r, const struct stats_options *o)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct stats_entry *e = r->v[i];
        char size[32], avg[32], diff[32];
        fmt_size(size, sizeof size, (double)e->size, false);
        if (r->diff) {
            fmt_size(diff, sizeof diff, (double)e->size_diff, true);
            /* growth red, shrinkage green */
            const char *on = e->size_diff > 0 ? color(out, COLOR_RED) : e->size_diff < 0 ? color(out, COLOR_GREEN) : "";
            const char *off = *on ? color(out, COLOR_RESET) : "";
            fprintf(out, "%s: size=%s (%s%s%s), count=%llu (%+lld)", e->key, size, on, diff, off,
                    (unsigned long long)e->count, (long long)e->count_diff);
        } else {
            fprintf(out, "%s: size=%s, count=%llu", e->key, size, (unsigned long long)e->count);
        }
        if (e->count) {
            fmt_size(avg, sizeof avg, (double)e->size / (double)e->count, false);
            fprintf(out, ", average=%s", avg);
        }
        if (o->sort == SORT_CALLS) {
            fmt_size(avg, sizeof avg, (double)e->allocated, false);
            fprintf(out, ", calls=%llu, allocated=%s", (unsigned long long)e->calls, avg);
        }
        fputc('\n', out);
        if (o->key == KEY_TRACEBACK) print_traceback(out, e);
    }
}

void stats_print_json(FILE *out, const struct stats_result *r, const struct stats_options *o, const char *source,
                      const char *old_source)
{
    struct strbuf b = {0};
    sb_puts(&b, "{\n  \"source\": ");
    fmt_json_string(&b, source);
    if (old_source) {
        sb_puts(&b, ",\n  \"old_source\": ");
        fmt_json_string(&b, old_source);
    }
    sb_printf(&b, ",\n  \"key\": \"%s\",\n  \"cumulative\": %s,\n  \"groups\": %zu,\n  \"sample_rate\": %llu,\n",
              stats_key_name(o->key), o->cumulative ? "true" : "false", r->total_groups,
              (unsigned long long)r->sample_rate);
    sb_printf(&b, "  \"total\": {\"size\": %llu, \"count\": %llu", (unsigned long long)r->total_size,
              (unsigned long long)r->total_count);
    if (r->diff)
        sb_printf(&b, ", \"size_diff\": %lld, \"count_diff\": %lld", (long long)r->total_size_diff,
                  (long long)r->total_count_diff);
    sb_puts(&b, "},\n  \"stats\": [");
    for (size_t i = 0; i < r->n; i++) {
        const struct stats_entry *e = r->v[i];
        sb_puts(&b, i ? ",\n    {\"key\": " : "\n    {\"key\": ");
        fmt_json_string(&b, e->key);
        sb_printf(&b, ", \"size\": %llu, \"count\": %llu", (unsigned long long)e->size, (unsigned long long)e->count);
        if (e->count) sb_printf(&b, ", \"average\": %.1f", (double)e->size / (double)e->count);
        if (o->sort == SORT_CALLS)
            sb_printf(&b, ", \"calls\": %llu, \"allocated\": %llu", (unsigned long long)e->calls,
                      (unsigned long long)e->allocated);
        if (r->diff)
            sb_printf(&b, ", \"size_diff\": %lld, \"count_diff\": %lld", (long long)e->size_diff,
                      (long long)e->count_diff);
        if (o->key == KEY_TRACEBACK) {
            sb_puts(&b, ", \"stack\": [");
            for (size_t k = 0; k < e->nframes; k++) {
                if (k) sb_puts(&b, ", ");
                symbols_frame_json(&b, &e->frames[k]);
            }
            sb_puts(&b, "]");
        }
        sb_puts(&b, "}");
    }
    sb_puts(&b, r->n ? "\n  ]\n}\n" : "]\n}\n");
    fwrite(b.s, 1, b.len, out);
    sb_free(&b);
}
