/* flame_svg.c - `heapsnap flamegraph`: a static flame graph as SVG, as
 * flamegraph.pl draws one (root at the bottom, callees above, width by
 * value, a tooltip per frame), with the HTML report's colours, for docs and
 * tickets. The stacks come from html_doc.c, as the page's do. */
#include "cmds.h"
#include "fmt.h"
#include "html_doc.h"
#include "profile.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SVG_WIDTH 1200.0
#define SVG_PAD 10.0
#define FRAME_H 17.0
#define MIN_WIDTH 0.3 /* pixels: narrower frames are not drawn (their value is in their parent) */

struct flame_node {
    uint32_t frame;
    uint64_t value, count;
    struct flame_node *child, *next; /* children in first-seen order */
};

/* Siblings are merged by function and module, as flamegraph.pl and
 * heaptrack do: a caller that allocates from two of its lines is one frame. */
static bool same_function(const struct html_doc *d, uint32_t a, uint32_t b)
{
    const struct html_frame *x = d->frames[a], *y = d->frames[b];
    return a == b || (strcmp(x->function, y->function) == 0 && strcmp(x->module, y->module) == 0);
}

static struct flame_node *child_of(const struct html_doc *d, struct flame_node *n, uint32_t frame)
{
    struct flame_node **p = &n->child;
    for (; *p; p = &(*p)->next)
        if (same_function(d, (*p)->frame, frame)) return *p;
    *p = xcalloc(1, sizeof **p);
    (*p)->frame = frame;
    return *p;
}

static void tree_add(struct flame_node *root, const struct html_doc *d, const struct html_row *r)
{
    struct flame_node *n = root;
    n->value += r->value;
    n->count += r->count;
    const struct html_stack *s = d->stacks[r->stack];
    for (uint32_t i = 0; i < s->n; i++) {
        n = child_of(d, n, s->frames[i]);
        n->value += r->value;
        n->count += r->count;
    }
}

static void tree_free(struct flame_node *n)
{
    while (n) {
        struct flame_node *next = n->next;
        tree_free(n->child);
        free(n);
        n = next;
    }
}

static int tree_depth(const struct flame_node *n)
{
    int best = 0;
    for (const struct flame_node *c = n->child; c; c = c->next) {
        int d = tree_depth(c) + 1;
        if (d > best) best = d;
    }
    return best;
}

/* The page's palette (web/report.js): warm hues for the program's frames,
 * blue-grey for the C and C++ runtimes; the hue from the name, so a
 * function keeps its colour from one graph to the next. */
static void frame_colour(char *out, size_t cap, const struct html_frame *f)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)f->function; *p; p++)
        h = (h ^ *p) * 16777619u;
    if (f->lib)
        snprintf(out, cap, "hsl(%u,18%%,%u%%)", 200 + h % 20, 62 + (h >> 8) % 14);
    else
        snprintf(out, cap, "hsl(%u,%u%%,%u%%)", 18 + h % 28, 75 + (h >> 8) % 20, 55 + (h >> 16) % 12);
}

struct svg_ctx {
    struct strbuf *b;
    const struct html_doc *d;
    double scale; /* pixels per unit of value */
    uint64_t total;
    double height;
    const char *unit;
    const char *count_unit; /* what a value's count counts: "block" (live, leaked) or "call" (allocated) */
};

static void draw(struct svg_ctx *c, const struct flame_node *n, double x, int depth)
{
    double w = (double)n->value * c->scale;
    if (w < MIN_WIDTH) return;
    double y = c->height - SVG_PAD - FRAME_H * (depth + 1) - 20;
    const struct html_frame *f = c->d->frames[n->frame];
    char colour[48], size[32];
    frame_colour(colour, sizeof colour, f);
    fmt_size(size, sizeof size, (double)n->value, false);
    sb_puts(c->b, "<g><title>");
    fmt_xml_text(c->b, f->function);
    if (*f->file) {
        sb_printf(c->b, " (");
        fmt_xml_text(c->b, f->file);
        sb_printf(c->b, ":%d)", f->line);
    }
    if (strcmp(c->unit, "calls") == 0)
        sb_printf(c->b, " %llu calls, %.2f%%", (unsigned long long)n->value,
                  100.0 * (double)n->value / (double)c->total);
    else
        sb_printf(c->b, " %llu bytes (%s) in %llu %s%s, %.2f%%", (unsigned long long)n->value, size,
                  (unsigned long long)n->count, c->count_unit, n->count == 1 ? "" : "s",
                  100.0 * (double)n->value / (double)c->total);
    sb_printf(c->b, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" rx=\"2\"/>", x, y,
              w, FRAME_H - 1, colour);
    size_t fit = (size_t)(w / 7);
    if (fit >= 3) {
        sb_printf(c->b, "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + FRAME_H - 5);
        char label[256];
        size_t len = strlen(f->function), cut = len <= fit ? len : fit - 2;
        if (cut > sizeof label - 3) cut = sizeof label - 3;
        while (cut > 0 && cut < len && ((unsigned char)f->function[cut] & 0xc0) == 0x80) cut--; /* whole characters */
        snprintf(label, sizeof label, "%.*s%s", (int)cut, f->function, cut < len ? ".." : "");
        fmt_xml_text(c->b, label);
        sb_puts(c->b, "</text>");
    }
    sb_puts(c->b, "</g>\n");
    for (const struct flame_node *k = n->child; k; k = k->next) {
        draw(c, k, x, depth + 1);
        x += (double)k->value * c->scale;
    }
}

static void svg_write(struct strbuf *b, const struct html_doc *d, const struct html_view *v, const char *title,
                      const char *count_unit,
                      const char *unit)
{
    struct flame_node root = {0};
    for (size_t i = 0; i < v->n; i++)
        tree_add(&root, d, &v->rows[i]);
    int depth = tree_depth(&root);
    double height = FRAME_H * (depth + 1) + 2 * SVG_PAD + 44;
    sb_printf(b,
              "<?xml version=\"1.0\" standalone=\"no\"?>\n"
              "<svg version=\"1.1\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
              "xmlns=\"http://www.w3.org/2000/svg\">\n"
              "<style>text { font: 12px ui-monospace, monospace; fill: #1a1a1a; pointer-events: none; } "
              ".title { font: 16px sans-serif; }</style>\n"
              "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#fbfbf8\"/>\n"
              "<text class=\"title\" x=\"%.0f\" y=\"24\" text-anchor=\"middle\">",
              SVG_WIDTH, height, SVG_WIDTH, height, SVG_WIDTH / 2);
    fmt_xml_text(b, title);
    sb_puts(b, "</text>\n");
    if (root.value == 0) {
        sb_printf(b, "<text x=\"%.0f\" y=\"60\" text-anchor=\"middle\">nothing to draw: no %s</text>\n", SVG_WIDTH / 2,
                  unit);
    } else {
        struct svg_ctx c = {b, d, (SVG_WIDTH - 2 * SVG_PAD) / (double)root.value, root.value, height, unit, count_unit};
        char size[32];
        fmt_size(size, sizeof size, (double)root.value, false);
        double y = height - SVG_PAD - FRAME_H - 20;
        sb_printf(b,
                  "<g><title>all: %llu %s</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                  "fill=\"#d9d4c7\" rx=\"2\"/><text x=\"%.1f\" y=\"%.1f\">all (%s)</text></g>\n",
                  (unsigned long long)root.value, unit, SVG_PAD, y, SVG_WIDTH - 2 * SVG_PAD, FRAME_H - 1, SVG_PAD + 3,
                  y + FRAME_H - 5, strcmp(unit, "calls") == 0 ? "calls" : size);
        double x = SVG_PAD;
        for (const struct flame_node *k = root.child; k; k = k->next) {
            draw(&c, k, x, 1);
            x += (double)k->value * c.scale;
        }
    }
    sb_puts(b, "</svg>\n");
    tree_free(root.child);
}

static void title_of(char *out, size_t cap, const struct profile *p, enum profile_value value, const char *source)
{
    const char *what = p->ss.command ? p->ss.command : source;
    switch (value) {
    case VALUE_INUSE: snprintf(out, cap, "Live heap of %s at %s", what, p->ss.point ? p->ss.point : "exit"); break;
    case VALUE_ALLOCATED: snprintf(out, cap, "Bytes allocated by %s up to %s", what, p->ss.point); break;
    case VALUE_CALLS: snprintf(out, cap, "Allocation calls of %s up to %s", what, p->ss.point); break;
    default: snprintf(out, cap, "Leaked (definitely, indirectly and possibly lost) by %s", what);
    }
}

int cmd_flamegraph(int argc, char **argv)
{
    enum { OPT_VALUE = OPT_FIRST_LONG };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"value", required_argument, NULL, OPT_VALUE}, OPTS_HELP, {0}};
    const char *output = "heapsnap.svg", *v;
    enum profile_value value = VALUE_INUSE;
    struct opts op;
    opts_init(&op, "flamegraph", argc, argv, "o:", longopts);
    for (int k; (k = opts_next(&op, &v)) != -1;) {
        if (k == 'o') output = v;
        else if (k == OPT_VALUE && !profile_parse_value(v, &value))
            die_usage("--value takes inuse, allocated, calls or leaked, not '%s'", v);
    }
    int n;
    char **operands = opts_operands(&op, &n);
    if (n != 1)
        die_usage(n ? "one SOURCE at a time"
                          : "usage: heapsnap flamegraph SOURCE [--value inuse|allocated|calls|leaked] [-o FILE.svg]");
    const char *source = operands[0];
    char err[1024], title[1024];
    struct profile p;
    if (profile_load(&p, source, NULL, value == VALUE_LEAKED, err, sizeof err) < 0) die("%s", err);
    if ((value == VALUE_ALLOCATED || value == VALUE_CALLS) && !p.has_totals)
        die("%s: a snapshot file holds the live heap only: --value inuse", source);
    if (value == VALUE_LEAKED && !p.has_leaks)
        die("%s: no leak check ran in this trace (heapsnap run checks at the end)", source);
    title_of(title, sizeof title, &p, value, source);
    struct strbuf b = {0};
    svg_write(&b, &p.doc, &p.views[value], title, value == VALUE_ALLOCATED ? "call" : "block",
              value == VALUE_CALLS ? "calls" : "bytes");
    if (write_whole_file(output, b.s, b.len, err, sizeof err) < 0) die("%s", err);
    if (strcmp(output, "-") != 0) fprintf(stderr, "heapsnap: wrote %s\n", output);
    sb_free(&b);
    profile_free(&p);
    return 0;
}
