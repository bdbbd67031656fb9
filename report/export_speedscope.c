/* export_speedscope.c - speedscope's file format
 * (https://www.speedscope.app/file-format-schema.json): the frames once,
 * shared, and one "sampled" profile per value, each stack a sample weighted
 * by its value, so speedscope's flame chart, left-heavy and sandwich views
 * show the heap like a CPU profile. */
#include "export.h"
#include "fmt.h"

static void profile_json(struct strbuf *b, const struct profile *p, enum profile_value value, const char *name,
                         const char *unit)
{
    const struct html_view *v = &p->views[value];
    uint64_t total = 0;
    for (size_t i = 0; i < v->n; i++)
        total += v->rows[i].value;
    sb_puts(b, "{\"type\": \"sampled\", \"name\": ");
    fmt_json_string(b, name);
    sb_printf(b, ", \"unit\": \"%s\", \"startValue\": 0, \"endValue\": %llu,\n\"samples\": [", unit,
              (unsigned long long)total);
    size_t shown = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (!v->rows[i].value) continue;
        const struct html_stack *s = p->doc.stacks[v->rows[i].stack];
        sb_puts(b, shown++ ? ",[" : "[");
        for (uint32_t k = 0; k < s->n; k++)
            sb_printf(b, k ? ",%u" : "%u", s->frames[k]);
        sb_puts(b, "]");
    }
    sb_puts(b, "],\n\"weights\": [");
    shown = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->rows[i].value) sb_printf(b, shown++ ? ",%llu" : "%llu", (unsigned long long)v->rows[i].value);
    sb_puts(b, "]}");
}

int export_speedscope(struct strbuf *out, const struct profile *p, const char *source, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    sb_puts(out, "{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\", \"exporter\": \"heapsnap\", "
                 "\"name\": ");
    fmt_json_string(out, source);
    sb_puts(out, ", \"activeProfileIndex\": 0,\n\"shared\": {\"frames\": [");
    for (size_t i = 0; i < p->doc.nframes; i++) {
        const struct html_frame *f = p->doc.frames[i];
        sb_puts(out, i ? ",\n{\"name\": " : "\n{\"name\": ");
        fmt_json_string(out, f->function);
        if (*f->file) {
            sb_puts(out, ", \"file\": ");
            fmt_json_string(out, f->file);
            sb_printf(out, ", \"line\": %d", f->line);
        }
        sb_puts(out, "}");
    }
    sb_puts(out, "]},\n\"profiles\": [\n");
    char name[256];
    snprintf(name, sizeof name, "live heap at %s (bytes)", p->ss.point ? p->ss.point : "the snapshot");
    profile_json(out, p, VALUE_INUSE, name, "bytes");
    if (p->has_totals) {
        snprintf(name, sizeof name, "bytes allocated up to %s", p->ss.point);
        sb_puts(out, ",\n");
        profile_json(out, p, VALUE_ALLOCATED, name, "bytes");
        snprintf(name, sizeof name, "allocation calls up to %s", p->ss.point);
        sb_puts(out, ",\n");
        profile_json(out, p, VALUE_CALLS, name, "none");
    }
    if (p->has_leaks) {
        sb_puts(out, ",\n");
        profile_json(out, p, VALUE_LEAKED, "leaked: definitely, indirectly and possibly lost (bytes)", "bytes");
    }
    sb_puts(out, "]}\n");
    return 0;
}
