/* html_doc.c - see html_doc.h. Frames are interned by what a reader sees
 * (function, file:line, module), not by address: two addresses on one line
 * are one frame in a flame graph, as they are one line in `heapsnap stats`. */
#include "html_doc.h"
#include "fmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_runtime_module(const char *module)
{
    static const char *const prefixes[] = {"libc.so", "libc-",      "libstdc++", "libgcc_s", "ld-linux",
                                           "ld64.so", "libpthread", "libdl.so",  "libm.so",  "libm-"};
    if (!module) return false;
    const char *base = strrchr(module, '/');
    base = base ? base + 1 : module;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0) return true;
    return false;
}

static uint32_t intern_frame(struct html_doc *d, const struct sym_frame *f)
{
    struct strbuf k = {0};
    sb_printf(&k, "%s%c%s%c%d%c%s", f->function, 0, f->file ? f->file : "", 0, f->file ? f->line : 0, 0,
              f->module ? f->module : "");
    struct html_frame *hf;
    HASH_FIND(hh, d->frames_by_key, k.s, k.len, hf);
    if (hf) {
        sb_free(&k);
        return hf->index;
    }
    hf = xcalloc(1, sizeof *hf);
    hf->key = k.s;
    hf->function = k.s;
    hf->file = k.s + strlen(k.s) + 1;
    const char *line = hf->file + strlen(hf->file) + 1;
    hf->line = atoi(line);
    hf->module = line + strlen(line) + 1;
    hf->lib = is_runtime_module(f->module);
    hf->index = (uint32_t)d->nframes;
    HASH_ADD_KEYPTR(hh, d->frames_by_key, hf->key, k.len, hf);
    d->frames = xgrow_zeroed(d->frames, &d->frames_cap, d->nframes, sizeof *d->frames);
    d->frames[d->nframes++] = hf;
    return hf->index;
}

static uint32_t intern_node(struct html_doc *d, int64_t parent, uint32_t frame)
{
    struct html_node probe, *nd;
    memset(&probe, 0, sizeof probe);
    probe.key.parent = parent;
    probe.key.frame = frame;
    HASH_FIND(hh, d->nodes_by_key, &probe.key, sizeof probe.key, nd);
    if (nd) return nd->index;
    nd = xcalloc(1, sizeof *nd);
    nd->key = probe.key;
    nd->index = (uint32_t)d->nnodes;
    HASH_ADD(hh, d->nodes_by_key, key, sizeof nd->key, nd);
    d->nodes = xgrow_zeroed(d->nodes, &d->nodes_cap, d->nnodes, sizeof *d->nodes);
    d->nodes[d->nnodes++] = nd;
    return nd->index;
}

uint32_t html_intern_stack(struct html_doc *d, const struct sym_frame *frames, size_t n)
{
    uint32_t *path = xmalloc((n ? n : 1) * sizeof *path);
    for (size_t i = 0; i < n; i++)
        path[n - 1 - i] = intern_frame(d, &frames[i]);
    struct html_stack *hs;
    HASH_FIND(hh, d->stacks_by_path, path, n * sizeof *path, hs);
    if (hs) {
        free(path);
        return hs->index;
    }
    hs = xcalloc(1, sizeof *hs);
    hs->frames = path;
    hs->n = (uint32_t)n;
    hs->index = (uint32_t)d->nstacks;
    hs->leaf = -1;
    for (size_t i = 0; i < n; i++)
        hs->leaf = intern_node(d, hs->leaf, path[i]);
    HASH_ADD_KEYPTR(hh, d->stacks_by_path, hs->frames, n * sizeof *path, hs);
    d->stacks = xgrow_zeroed(d->stacks, &d->stacks_cap, d->nstacks, sizeof *d->stacks);
    d->stacks[d->nstacks++] = hs;
    return hs->index;
}

void html_view_add(struct html_view *v, uint32_t stack, uint64_t value, uint64_t count)
{
    if (!value && !count) return;
    v->rows = xgrow_zeroed(v->rows, &v->cap, v->n, sizeof *v->rows);
    v->rows[v->n++] = (struct html_row){stack, value, count};
}

static int by_stack(const void *a, const void *b)
{
    const struct html_row *x = a, *y = b;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int by_value_desc(const void *a, const void *b)
{
    const struct html_row *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

void html_view_finish(struct html_view *v)
{
    if (!v->n) return;
    qsort(v->rows, v->n, sizeof *v->rows, by_stack);
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (k && v->rows[k - 1].stack == v->rows[i].stack) {
            v->rows[k - 1].value += v->rows[i].value;
            v->rows[k - 1].count += v->rows[i].count;
        } else {
            v->rows[k++] = v->rows[i];
        }
    }
    v->n = k;
    qsort(v->rows, v->n, sizeof *v->rows, by_value_desc);
}

void html_write_frames(struct strbuf *b, const struct html_doc *d)
{
    sb_puts(b, "\"frames\": [");
    for (size_t i = 0; i < d->nframes; i++) {
        const struct html_frame *f = d->frames[i];
        sb_puts(b, i ? ",\n{\"fn\": " : "\n{\"fn\": ");
        fmt_json_string(b, f->function);
        sb_puts(b, ", \"file\": ");
        fmt_json_string(b, f->file);
        sb_printf(b, ", \"line\": %d, \"module\": ", f->line);
        fmt_json_string(b, f->module);
        sb_printf(b, ", \"lib\": %s}", f->lib ? "true" : "false");
    }
    sb_puts(b, "]");
}

void html_write_stacks(struct strbuf *b, const struct html_doc *d)
{
    sb_puts(b, "\"stack_nodes\": [");
    for (size_t i = 0; i < d->nnodes; i++)
        sb_printf(b, "%s%lld,%u", i ? (i % 16 ? "," : ",\n") : "", (long long)d->nodes[i]->key.parent,
                  d->nodes[i]->key.frame);
    sb_puts(b, "],\n\"stacks\": [");
    for (size_t i = 0; i < d->nstacks; i++)
        sb_printf(b, "%s%lld", i ? (i % 32 ? "," : ",\n") : "", (long long)d->stacks[i]->leaf);
    sb_puts(b, "]");
}

void html_write_view(struct strbuf *b, const struct html_view *v)
{
    fmt_json_string(b, v->name);
    sb_puts(b, ": [");
    for (size_t i = 0; i < v->n; i++)
        sb_printf(b, "%s[%u,%llu,%llu]", i ? "," : "", v->rows[i].stack, (unsigned long long)v->rows[i].value,
                  (unsigned long long)v->rows[i].count);
    sb_puts(b, "]");
}

void html_view_free(struct html_view *v)
{
    free(v->rows);
    memset(v, 0, sizeof *v);
}

void html_doc_free(struct html_doc *d)
{
    struct html_frame *f, *ft;
    HASH_ITER(hh, d->frames_by_key, f, ft)
    {
        HASH_DEL(d->frames_by_key, f);
        free(f->key);
        free(f);
    }
    struct html_stack *s, *stmp;
    HASH_ITER(hh, d->stacks_by_path, s, stmp)
    {
        HASH_DEL(d->stacks_by_path, s);
        free(s->frames);
        free(s);
    }
    struct html_node *nd, *ntmp;
    HASH_ITER(hh, d->nodes_by_key, nd, ntmp)
    {
        HASH_DEL(d->nodes_by_key, nd);
        free(nd);
    }
    free(d->nodes);
    free(d->frames);
    free(d->stacks);
    memset(d, 0, sizeof *d);
}
