/* cmd_html.c - `heapsnap html`: the report of a trace, or the diff of two
 * sources, as one self-contained HTML file. The page itself (web/, inlined
 * into this binary at build time) reads the JSON document substituted for
 * the template's placeholder. */
#include "cmds.h"
#include "fmt.h"
#include "html_doc.h"
#include "html_report.h"
#include "symsnap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char heapsnap_html_template[];
extern const unsigned long heapsnap_html_template_len;

#define DATA_PLACEHOLDER "@HEAPSNAP_DATA@"

/* The JSON sits in a <script> element: no "</script>" (nor "<!--") may
 * appear in it, and '<' only ever appears inside JSON strings, where
 * \u003c means the same. */
static void add_escaped(struct strbuf *out, const struct strbuf *json)
{
    size_t from = 0;
    for (size_t i = 0; i < json->len; i++) {
        if (json->s[i] != '<') continue;
        sb_add(out, json->s + from, i - from);
        sb_puts(out, "\\u003c");
        from = i + 1;
    }
    sb_add(out, json->s + from, json->len - from);
}

int html_write_page(const char *path, const struct strbuf *json, char *err, size_t errlen)
{
    const char *tpl = heapsnap_html_template, *mark = strstr(tpl, DATA_PLACEHOLDER);
    if (!mark) {
        snprintf(err, errlen, "this heapsnap was built without its HTML page (no data placeholder)");
        return -1;
    }
    struct strbuf page = {0};
    sb_add(&page, tpl, (size_t)(mark - tpl));
    add_escaped(&page, json);
    const char *rest = mark + strlen(DATA_PLACEHOLDER);
    sb_add(&page, rest, heapsnap_html_template_len - (size_t)(rest - tpl));
    int rc = write_whole_file(path, page.s, page.len, err, errlen);
    sb_free(&page);
    return rc;
}

/* ---- the diff of two sources --------------------------------------------- */

static void side_json(struct strbuf *b, const char *name, const struct symsnap *ss)
{
    sb_printf(b, "\"%s\": {\"source\": ", name);
    fmt_json_string(b, ss->source);
    sb_puts(b, ", \"point\": ");
    fmt_json_string(b, ss->point);
    sb_puts(b, ", \"header\": {\"command\": ");
    fmt_json_string(b, ss->command);
    sb_printf(b, ", \"pid\": %llu, \"time_s\": %.6f, \"bytes\": %llu, \"blocks\": %llu}}", (unsigned long long)ss->pid,
              ss->time_s, (unsigned long long)ss->total_size, (unsigned long long)ss->total_count);
}

struct diff_row {
    uint64_t old_bytes, new_bytes, old_blocks, new_blocks;
};

static int diff_data(struct strbuf *out, const char *old_source, const char *new_source, char *err, size_t errlen)
{
    struct symsnap a, b;
    if (symsnap_load(&a, old_source, err, errlen) < 0) return -1;
    if (symsnap_load(&b, new_source, err, errlen) < 0) {
        symsnap_free(&a);
        return -1;
    }
    struct html_doc d = {0};
    struct diff_row *rows = NULL;
    size_t cap = 0;
    for (int side = 0; side < 2; side++) {
        const struct symsnap *ss = side ? &b : &a;
        for (size_t i = 0; i < ss->ntraces; i++) {
            const struct symsnap_trace *t = &ss->traces[i];
            uint32_t k = html_intern_stack(&d, t->frames, t->nframes);
            rows = xgrow_zeroed(rows, &cap, k, sizeof *rows);
            if (side)
                rows[k].new_bytes += t->size, rows[k].new_blocks += t->count;
            else
                rows[k].old_bytes += t->size, rows[k].old_blocks += t->count;
        }
    }
    sb_puts(out, "{\"version\": 1, \"kind\": \"diff\",\n");
    side_json(out, "old", &a);
    sb_puts(out, ",\n");
    side_json(out, "new", &b);
    sb_puts(out, ",\n");
    html_write_frames(out, &d);
    sb_puts(out, ",\n");
    html_write_stacks(out, &d);
    sb_puts(out, ",\n\"diff\": [");
    for (size_t k = 0; k < d.nstacks; k++)
        sb_printf(out, "%s[%zu,%llu,%llu,%llu,%llu]", k ? ",\n" : "\n", k, (unsigned long long)rows[k].old_bytes,
                  (unsigned long long)rows[k].new_bytes, (unsigned long long)rows[k].old_blocks,
                  (unsigned long long)rows[k].new_blocks);
    sb_puts(out, "]}\n");
    free(rows);
    html_doc_free(&d);
    symsnap_free(&a);
    symsnap_free(&b);
    return 0;
}

int cmd_html(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'}, OPTS_HELP, {0}};
    const char *output = "heapsnap.html", *v;
    struct opts p;
    opts_init(&p, "html", argc, argv, "o:", longopts);
    for (int k; (k = opts_next(&p, &v)) != -1;)
        if (k == 'o') output = v;
    int nsources;
    char **sources = opts_operands(&p, &nsources);
    if (nsources > 2) die_usage("one SOURCE (a report) or two (a diff), not more");
    if (!nsources) die_usage("usage: heapsnap html SOURCE [-o FILE.html]   or   heapsnap html OLD NEW [-o FILE.html]");
    char err[1024];
    struct strbuf json = {0};
    int rc = nsources == 1 ? html_report_data(&json, sources[0], err, sizeof err)
                           : diff_data(&json, sources[0], sources[1], err, sizeof err);
    if (rc < 0) die("%s", err);
    if (html_write_page(output, &json, err, sizeof err) < 0) die("%s", err);
    sb_free(&json);
    if (strcmp(output, "-") != 0) fprintf(stderr, "heapsnap: wrote %s\n", output);
    return 0;
}
