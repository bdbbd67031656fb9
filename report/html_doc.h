/* html_doc.h - the data of an HTML report (and of a flame graph SVG): every
 * stack as a path of interned frames, root first, and the views that give each
 * stack a value. Built from a trace (html_report.c) or from two sources (a
 * diff, cmd_html.c); written as the JSON document the page reads
 * (docs/HTML.md). */
#ifndef HEAPSNAP_HTML_DOC_H
#define HEAPSNAP_HTML_DOC_H

#include "symbols.h"
#include "util.h"

struct html_frame {
    char *key; /* function, file, line and module, NUL-separated: the interning key */
    const char *function, *file, *module;
    int line;
    bool lib; /* the C and C++ runtimes, the loader: the page can fold these into their callers */
    UT_hash_handle hh;
    uint32_t index;
};

struct html_stack {
    uint32_t *frames; /* root first */
    uint32_t n;
    uint32_t index;
    int64_t leaf; /* its last node in the document's prefix tree (-1: no frames) */
    UT_hash_handle hh;
};

/* Stacks are written as a prefix tree: a recursion 5,000 calls deep is
 * 5,000 nodes, not 12 million frame numbers. */
struct html_node {
    struct {
        int64_t parent;
        uint32_t frame;
    } key;
    uint32_t index;
    UT_hash_handle hh;
};

/* One row of a view: a stack and two figures (bytes and blocks, or calls and bytes). */
struct html_row {
    uint32_t stack;
    uint64_t value, count;
};

struct html_view {
    const char *name;
    struct html_row *rows;
    size_t n, cap;
};

struct html_doc {
    struct html_frame *frames_by_key, **frames;
    size_t nframes, frames_cap;
    struct html_stack *stacks_by_path, **stacks;
    size_t nstacks, stacks_cap;
    struct html_node *nodes_by_key, **nodes;
    size_t nnodes, nodes_cap;
};

/* The index of the stack whose frames (innermost first, as symbols_stack()
 * gives them) these are. */
uint32_t html_intern_stack(struct html_doc *d, const struct sym_frame *frames, size_t n);
void html_view_add(struct html_view *v, uint32_t stack, uint64_t value, uint64_t count);
/* Rows of one stack summed, largest value first. */
void html_view_finish(struct html_view *v);

void html_write_frames(struct strbuf *b, const struct html_doc *d);
/* "stack_nodes": [parent, frame, ...] (parent -1: a root), "stacks": [leaf node, ...] */
void html_write_stacks(struct strbuf *b, const struct html_doc *d);
/* "name": [[stack, value, count], ...] */
void html_write_view(struct strbuf *b, const struct html_view *v);
void html_doc_free(struct html_doc *d);
void html_view_free(struct html_view *v);

#endif
