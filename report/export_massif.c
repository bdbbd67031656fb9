/* export_massif.c - valgrind massif's massif.out, for ms_print and
 * massif-visualizer: a snapshot at every point of the HTML report's timeline,
 * detailed (an allocation tree) at each marker, and the peak, detailed, at its
 * exact time. The figures are the HTML report's document (html_report.c),
 * read back: one model serves both, so the two never disagree.
 *
 * massif's tree grows from the allocation functions down: its children are
 * the allocation sites (innermost frames), theirs the callers. */
#include "export.h"
#include "html_report.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct massif_node {
    uint32_t frame;
    uint64_t bytes;
    struct massif_node *child, *next;
};

struct massif_doc {
    const struct json *j;
    const struct json *frames, *nodes, *stacks;
    uint32_t **paths; /* per stack, its frames innermost first */
    uint32_t *depth;
    bool *kept; /* per stack: kept by the filters */
    size_t nstacks;
};

static long long item(const struct json *arr, size_t i)
{
    return i < arr->n && arr->items[i]->type == JSON_NUMBER ? arr->items[i]->integer : -1;
}

static const char *frame_field(const struct massif_doc *m, uint32_t f, const char *key)
{
    char path[64];
    snprintf(path, sizeof path, "%u.%s", f, key);
    return json_str(m->frames, path);
}

/* The document's stack tree as paths, innermost first, and the filters applied as stats applies them. */
static int doc_paths(struct massif_doc *m, const struct stats_options *filters, char *err, size_t errlen)
{
    m->frames = json_get(m->j, "frames");
    m->nodes = json_get(m->j, "stack_nodes");
    m->stacks = json_get(m->j, "stacks");
    if (!m->frames || !m->nodes || !m->stacks) {
        snprintf(err, errlen, "internal: the report document has no stacks");
        return -1;
    }
    m->nstacks = m->stacks->n;
    m->paths = xcalloc(m->nstacks ? m->nstacks : 1, sizeof *m->paths);
    m->depth = xcalloc(m->nstacks ? m->nstacks : 1, sizeof *m->depth);
    m->kept = xcalloc(m->nstacks ? m->nstacks : 1, sizeof *m->kept);
    for (size_t s = 0; s < m->nstacks; s++) {
        uint32_t n = 0;
        for (long long node = item(m->stacks, s); node >= 0 && n < 1u << 20; node = item(m->nodes, 2 * (size_t)node))
            n++;
        m->paths[s] = xmalloc((n ? n : 1) * sizeof **m->paths);
        m->depth[s] = n;
        uint32_t k = 0;
        for (long long node = item(m->stacks, s); node >= 0 && k < n; node = item(m->nodes, 2 * (size_t)node))
            m->paths[s][k++] = (uint32_t)item(m->nodes, 2 * (size_t)node + 1);
        struct sym_frame *sf = xcalloc(n ? n : 1, sizeof *sf);
        for (uint32_t i = 0; i < n; i++) {
            const char *file = frame_field(m, m->paths[s][i], "file");
            char lp[64];
            snprintf(lp, sizeof lp, "%u.line", m->paths[s][i]);
            sf[i] = (struct sym_frame){.function = frame_field(m, m->paths[s][i], "fn"),
                                       .file = file && *file ? file : NULL,
                                       .line = (int)json_int(m->frames, lp),
                                       .module = frame_field(m, m->paths[s][i], "module")};
            if (!sf[i].function) sf[i].function = "??";
        }
        struct symsnap_trace t = {.frames = sf, .nframes = n};
        m->kept[s] = !filters || stats_keeps(filters, &t);
        free(sf);
    }
    return 0;
}

static struct massif_node *child_of(struct massif_node *n, uint32_t frame)
{
    struct massif_node **p = &n->child;
    for (; *p; p = &(*p)->next)
        if ((*p)->frame == frame) return *p;
    *p = xcalloc(1, sizeof **p);
    (*p)->frame = frame;
    return *p;
}

static void tree_add(struct massif_node *root, const struct massif_doc *m, size_t stack, uint64_t bytes)
{
    if (!bytes || stack >= m->nstacks || !m->kept[stack]) return;
    struct massif_node *n = root;
    n->bytes += bytes;
    for (uint32_t i = 0; i < m->depth[stack]; i++) {
        n = child_of(n, m->paths[stack][i]);
        n->bytes += bytes;
    }
}

static int by_bytes_desc(const void *a, const void *b)
{
    const struct massif_node *x = *(const struct massif_node *const *)a, *y = *(const struct massif_node *const *)b;
    return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

static void tree_write(struct strbuf *b, const struct massif_doc *m, const struct massif_node *n, int depth)
{
    size_t nc = 0;
    for (const struct massif_node *c = n->child; c; c = c->next)
        nc++;
    /* A stack whose frames end above the leaf: its bytes stop here. */
    sb_printf(b, "%*sn%zu: %llu ", depth, "", nc, (unsigned long long)n->bytes);
    if (depth == 0) {
        sb_puts(b, "(heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n");
    } else {
        const char *fn = frame_field(m, n->frame, "fn"), *file = frame_field(m, n->frame, "file");
        const char *module = frame_field(m, n->frame, "module");
        char lp[64];
        snprintf(lp, sizeof lp, "%u.line", n->frame);
        sb_printf(b, "0x0: %s", fn ? fn : "???");
        if (file && *file)
            sb_printf(b, " (%s:%lld)\n", file, json_int(m->frames, lp));
        else
            sb_printf(b, " (in %s)\n", module && *module ? module : "???");
    }
    struct massif_node **kids = xmalloc((nc ? nc : 1) * sizeof *kids);
    size_t k = 0;
    for (struct massif_node *c = n->child; c; c = c->next)
        kids[k++] = c;
    qsort(kids, nc, sizeof *kids, by_bytes_desc);
    for (size_t i = 0; i < nc; i++)
        tree_write(b, m, kids[i], depth + 1);
    free(kids);
}

static void tree_free(struct massif_node *n)
{
    while (n) {
        struct massif_node *next = n->next;
        tree_free(n->child);
        free(n);
        n = next;
    }
}

static void snapshot_head(struct strbuf *b, size_t nr, double t_s, uint64_t bytes)
{
    sb_printf(b,
              "#-----------\nsnapshot=%zu\n#-----------\ntime=%.3f\nmem_heap_B=%llu\nmem_heap_extra_B=0\n"
              "mem_stacks_B=0\n",
              nr, t_s * 1000, (unsigned long long)bytes);
}

/* Live at timeline point k, per stack, from the temporal rows (docs/HTML.md). */
static void tree_at_point(struct massif_node *root, const struct massif_doc *m, long long k)
{
    const struct json *rows = json_get(m->j, "temporal");
    for (size_t i = 0; rows && i < rows->n; i++) {
        const struct json *r = rows->items[i];
        long long a = item(r, 1), f = item(r, 2);
        if (a <= k && (f == -1 || f > k)) tree_add(root, m, (size_t)item(r, 0), (uint64_t)item(r, 3));
    }
}

int export_massif(struct strbuf *out, const char *source, const struct stats_options *filters, char *err, size_t errlen)
{
    struct strbuf text = {0};
    if (html_report_data(&text, source, err, errlen) < 0) return -1;
    struct json *j = json_parse(text.s);
    sb_free(&text);
    if (!j) {
        snprintf(err, errlen, "internal: the report document does not parse");
        return -1;
    }
    struct massif_doc m = {.j = j};
    int rc = doc_paths(&m, filters, err, errlen);
    if (rc == 0) {
        const struct json *t = json_get(j, "timeline.t"), *bytes = json_get(j, "timeline.bytes");
        const struct json *markers = json_get(j, "markers");
        double peak_t = json_get(j, "header.peak.time_s") ? json_get(j, "header.peak.time_s")->number : 0;
        const char *cmd = json_str(j, "header.command");
        sb_printf(out, "desc: heapsnap export --format massif %s\ncmd: %s\ntime_unit: ms\n", source, cmd ? cmd : "?");
        size_t nr = 0;
        bool peak_done = false;
        for (size_t k = 0; t && bytes && k < t->n; k++) {
            double tk = t->items[k]->number;
            if (!peak_done && peak_t <= tk) { /* the peak, in time order: its own snapshot */
                struct massif_node root = {0};
                const struct json *rows = json_get(j, "views.peak");
                for (size_t i = 0; rows && i < rows->n; i++)
                    tree_add(&root, &m, (size_t)item(rows->items[i], 0), (uint64_t)item(rows->items[i], 1));
                snapshot_head(out, nr++, peak_t, root.bytes);
                sb_puts(out, "heap_tree=peak\n");
                tree_write(out, &m, &root, 0);
                tree_free(root.child);
                peak_done = true;
            }
            bool marked = false;
            for (size_t i = 0; markers && i < markers->n && !marked; i++)
                marked = json_int(markers->items[i], "point") == (long long)k;
            struct massif_node root = {0};
            /* The tree only where it is shown, or where filters change the total. */
            if (marked || (filters && filters->nfilters))
                tree_at_point(&root, &m, (long long)k);
            else
                root.bytes = (uint64_t)item(bytes, k);
            snapshot_head(out, nr++, tk, root.bytes);
            if (marked) {
                sb_puts(out, "heap_tree=detailed\n");
                tree_write(out, &m, &root, 0);
            } else {
                sb_puts(out, "heap_tree=empty\n");
            }
            tree_free(root.child);
        }
    }
    for (size_t s = 0; s < m.nstacks; s++)
        free(m.paths[s]);
    free(m.paths);
    free(m.depth);
    free(m.kept);
    json_free(j);
    return rc;
}
