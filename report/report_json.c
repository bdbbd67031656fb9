/* report_json.c - the report for tools; its schema is docs/REPORT-JSON.md.
 * Keys are only ever added, never renamed, within one "schema" number. */
#include "fmt.h"
#include "report.h"
#include "symbols.h"

#define REPORT_JSON_SCHEMA 1

/* The output goes out group by group: the buffer never holds more than one
 * group, however much was asked for (--top 0 --max-frames 0). */
static void flush(struct strbuf *b, FILE *out)
{
    if (b->len) fwrite(b->s, 1, b->len, out);
    b->len = 0;
}

/* Returns how many frames were left out. */
static size_t json_stack(struct strbuf *b, const struct snap *s, const struct snap_stack *st, size_t max_frames)
{
    size_t n;
    const struct sym_frame *f = symbols_stack(s, st, &n);
    size_t shown = max_frames && max_frames < n ? max_frames : n;
    sb_puts(b, "[");
    for (size_t i = 0; i < shown; i++) {
        sb_puts(b, i ? ", {" : "{");
        sb_puts(b, "\"function\": ");
        fmt_json_string(b, f[i].function);
        sb_puts(b, ", \"file\": ");
        fmt_json_string(b, f[i].file);
        sb_printf(b, ", \"line\": %d, \"module\": ", f[i].line);
        fmt_json_string(b, f[i].module);
        sb_printf(b, ", \"address\": \"0x%llx\", \"inlined\": %s}", (unsigned long long)f[i].ip,
                  f[i].inlined ? "true" : "false");
    }
    sb_puts(b, "]");
    return n - shown;
}

/* "NAME": [groups], "NAME_omitted": {what --top left out}. */
static void json_groups(struct strbuf *b, FILE *out, const struct snap *s, const struct report_options *o,
                        const char *name, bool at_peak)
{
    size_t n;
    struct snap_stack **v = snap_sorted(s, at_peak, &n);
    size_t shown = o->top && o->top < n ? o->top : n;
    int k = at_peak ? 1 : 0;
    sb_printf(b, "  \"%s\": [", name);
    for (size_t i = 0; i < shown; i++) {
        const struct snap_stack *st = v[i];
        sb_printf(b, "%s\n    {\"bytes\": %llu, \"blocks\": %llu, \"stack\": ", i ? "," : "",
                  (unsigned long long)st->fig_bytes[k], (unsigned long long)st->fig_blocks[k]);
        size_t left_out = json_stack(b, s, st, o->max_frames);
        sb_printf(b, ", \"frames_omitted\": %zu}", left_out);
        flush(b, out);
    }
    uint64_t bytes = 0, blocks = 0;
    for (size_t i = shown; i < n; i++) {
        bytes += v[i]->fig_bytes[k];
        blocks += v[i]->fig_blocks[k];
    }
    sb_puts(b, shown ? "\n  ],\n" : "],\n");
    sb_printf(b, "  \"%s_omitted\": {\"groups\": %zu, \"bytes\": %llu, \"blocks\": %llu}", name, n - shown,
              (unsigned long long)bytes, (unsigned long long)blocks);
    free(v);
}

/* "calls": the stacks with the most allocation calls, as the text's last section. */
static void json_calls(struct strbuf *b, FILE *out, const struct snap *s, const struct report_options *o)
{
    size_t n;
    struct snap_stack **v = snap_sorted_by_calls(s, &n);
    size_t shown = o->top && o->top < n ? o->top : n;
    sb_puts(b, "  \"calls\": [");
    for (size_t i = 0; i < shown; i++) {
        const struct snap_stack *st = v[i];
        sb_printf(b, "%s\n    {\"calls\": %llu, \"bytes_allocated\": %llu, \"temporary\": %llu, \"stack\": ",
                  i ? "," : "", (unsigned long long)st->fig_calls, (unsigned long long)st->fig_bytes_allocated,
                  (unsigned long long)st->fig_temporary);
        size_t left_out = json_stack(b, s, st, o->max_frames);
        sb_printf(b, ", \"frames_omitted\": %zu}", left_out);
        flush(b, out);
    }
    uint64_t calls = 0, bytes = 0;
    for (size_t i = shown; i < n; i++) {
        calls += v[i]->fig_calls;
        bytes += v[i]->fig_bytes_allocated;
    }
    sb_puts(b, shown ? "\n  ],\n" : "],\n");
    sb_printf(b, "  \"calls_omitted\": {\"groups\": %zu, \"calls\": %llu, \"bytes_allocated\": %llu}", n - shown,
              (unsigned long long)calls, (unsigned long long)bytes);
    free(v);
}

static void json_end(struct strbuf *b, const struct snap *s)
{
    const struct trace_header *h = &s->hdr;
    sb_puts(b, "  \"end\": {\"how\": ");
    switch (h->end_how) {
    case END_EXIT: sb_printf(b, "\"exit\", \"code\": %d", h->end_code); break;
    case END_EXIT_NOCODE: sb_printf(b, "\"exit\", \"code\": null"); break;
    case END_DETACHED: sb_printf(b, "\"detached\", \"code\": null"); break;
    case END_UNDERSCORE_EXIT: sb_printf(b, "\"_exit\", \"code\": %d", h->end_code); break;
    case END_SIGNAL:
        sb_printf(b, "\"signal\", \"signal\": %d, \"signal_name\": ", h->end_code);
        fmt_json_string(b, fmt_signal_name(h->end_code));
        break;
    default:
        if (s->exec_path) {
            sb_puts(b, "\"exec\", \"path\": ");
            fmt_json_string(b, s->exec_path);
        } else {
            sb_puts(b, "\"unknown\"");
        }
    }
    char words[600];
    report_end_words(s, words, sizeof words);
    sb_puts(b, ", \"description\": ");
    fmt_json_string(b, words);
    sb_puts(b, "},\n");
}

void report_json(FILE *out, const struct snap *s, const struct report_options *o)
{
    struct strbuf b = {0};
    sb_printf(&b, "{\n  \"schema\": %d,\n  \"process\": {\"pid\": %llu, \"ppid\": %llu, \"exe\": ", REPORT_JSON_SCHEMA,
              (unsigned long long)s->hdr.pid, (unsigned long long)s->hdr.ppid);
    fmt_json_string(&b, s->exe);
    sb_puts(&b, ", \"command\": ");
    fmt_json_string(&b, s->cmdline);
    sb_puts(&b, ", \"cwd\": ");
    fmt_json_string(&b, s->cwd);
    sb_printf(&b, ", \"start_unix_ns\": %llu},\n", (unsigned long long)s->hdr.start_realtime_ns);
    if (o->trace_path) {
        sb_puts(&b, "  \"trace\": ");
        fmt_json_string(&b, o->trace_path);
        sb_puts(&b, ",\n");
    }
    json_end(&b, s);
    /* 0: every allocation recorded; else the figures are estimates (docs/SAMPLING.md) */
    sb_printf(&b, "  \"sample_rate\": %llu,\n", (unsigned long long)s->hdr.sample_rate);
    sb_printf(&b,
              "  \"totals\": {\"allocations\": %llu, \"reallocs\": %llu, \"frees\": %llu, \"peak_bytes\": %llu, "
              "\"peak_blocks\": %llu, \"peak_time_s\": %.6f, \"leaked_bytes\": %llu, \"leaked_blocks\": %llu, "
              "\"unmatched_frees\": %llu, \"inherited_blocks\": %llu, \"lost_events\": %u, \"truncated\": %s, "
              "\"cut\": %s, \"allocator_before_heapsnap\": %s, \"attached\": %s, \"temporary\": %llu, \"peak_rss_bytes\": ",
              (unsigned long long)s->allocations, (unsigned long long)s->reallocs, (unsigned long long)s->frees,
              (unsigned long long)s->peak_bytes, (unsigned long long)s->peak_blocks,
              s->peak_bytes ? snap_seconds(s, s->peak_ticks) : 0.0, (unsigned long long)s->cur_bytes,
              (unsigned long long)s->cur_blocks, (unsigned long long)s->unmatched_frees,
              (unsigned long long)s->inherited_blocks, s->hdr.lost_events, s->truncated ? "true" : "false",
              s->hdr.flags & TRACE_F_CUT ? "true" : "false", s->hdr.flags & TRACE_F_ALLOCATOR_BEFORE ? "true" : "false",
              s->hdr.flags & TRACE_F_ATTACHED ? "true" : "false", (unsigned long long)s->temporary);
    if (s->hdr.peak_rss_kib) sb_printf(&b, "%llu, ", (unsigned long long)s->hdr.peak_rss_kib * 1024);
    else sb_puts(&b, "null, ");
    /* The program's own mappings, and the resident set as `heapsnap run` sampled it (null: no samples). */
    uint64_t rss_ticks, rss = snap_rss_peak(s, &rss_ticks);
    sb_printf(&b,
              "\"mapped_bytes\": %llu, \"mapped_ranges\": %llu, \"mapped_peak_bytes\": %llu, \"mapped_peak_time_s\": "
              "%.6f, \"mmaps\": %llu, \"munmaps\": %llu, \"mremaps\": %llu, \"rss_samples\": %zu, \"rss_peak_sampled_bytes\": ",
              (unsigned long long)s->map_cur_bytes, (unsigned long long)s->map_cur_regions,
              (unsigned long long)s->map_peak_bytes, s->map_peak_bytes ? snap_seconds(s, s->map_peak_ticks) : 0.0,
              (unsigned long long)s->mmaps, (unsigned long long)s->munmaps, (unsigned long long)s->mremaps, s->nrss);
    if (s->nrss) sb_printf(&b, "%llu},\n", (unsigned long long)rss);
    else sb_puts(&b, "null},\n");
    sb_printf(&b, "  \"limits\": {\"top\": %zu, \"max_frames\": %zu},\n", o->top, o->max_frames);
    sb_puts(&b, "  \"markers\": [");
    for (size_t i = 0; i < s->nmarkers; i++) {
        sb_puts(&b, i ? ", {\"label\": " : "{\"label\": ");
        fmt_json_string(&b, s->markers[i].label);
        sb_printf(&b, ", \"time_s\": %.6f}", snap_seconds(s, s->markers[i].ticks));
    }
    sb_puts(&b, "],\n");
    json_groups(&b, out, s, o, "leaks", false);
    sb_puts(&b, ",\n");
    json_groups(&b, out, s, o, "peak", true);
    sb_puts(&b, ",\n");
    json_calls(&b, out, s, o);
    sb_puts(&b, "\n}\n");
    flush(&b, out);
    sb_free(&b);
}
