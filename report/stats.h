/* stats.h - tracemalloc's Snapshot.statistics() and compare_to() over
 * symsnaps: grouping keys, cumulative counting, include/exclude filters, the
 * allocator wrappers skipped to find the call site, and tracemalloc's orders. */
#ifndef HEAPSNAP_STATS_H
#define HEAPSNAP_STATS_H

#include <stdio.h>

#include "symsnap.h"

enum stats_key { KEY_LINENO, KEY_FUNCTION, KEY_FILE, KEY_MODULE, KEY_TRACEBACK };
/* size: tracemalloc's order (bytes, then blocks); count: blocks first; calls:
 * allocation calls up to the point (heaptrack's "most calls"), freed or not. */
enum stats_sort { SORT_SIZE, SORT_COUNT, SORT_CALLS };

struct stats_filter {
    const char *pattern; /* fnmatch, tested against a frame's file, function and module */
    bool inclusive;
};

struct stats_options {
    enum stats_key key;
    enum stats_sort sort;
    bool cumulative, all_frames;
    size_t limit; /* 0: all */
    struct stats_filter *filters;
    size_t nfilters;
    const char **skip; /* --skip-function patterns, beside the built-in wrappers */
    size_t nskip;
};

struct stats_entry {
    char *key;                      /* what the line prints before ':' */
    const struct sym_frame *frames; /* KEY_TRACEBACK: the stack from its call site, innermost first */
    size_t nframes;
    uint64_t size, count;
    int64_t size_diff, count_diff; /* diffs only */
    uint64_t calls, allocated;     /* allocation calls and their bytes up to the point (a trace's; 0 from a file) */
    size_t last_trace;             /* counts a key once per trace under --cumulative */
    UT_hash_handle hh;
};

struct stats_result {
    struct stats_entry **v;
    size_t n, total_groups;
    uint64_t total_size, total_count;
    int64_t total_size_diff, total_count_diff;
    bool diff;
    uint64_t sample_rate; /* of the source (of either, for a diff): the figures are estimates */
};

/* Returns false with a reason for options tracemalloc refuses (cumulative
 * tracebacks). */
bool stats_check(const struct stats_options *o, char *err, size_t errlen);
bool stats_parse_key(const char *name, enum stats_key *key);
bool stats_parse_sort(const char *name, enum stats_sort *sort);
/* The index of the trace's call site: its first frame that is not an
 * allocator wrapper (strdup, std::allocator, ..., and o's --skip-function). */
size_t stats_call_site(const struct stats_options *o, const struct symsnap_trace *t);
/* Whether the --include/--exclude filters of o keep this trace (tracemalloc's filter_traces). */
bool stats_keeps(const struct stats_options *o, const struct symsnap_trace *t);
const char *stats_key_name(enum stats_key key);
void stats_compute(const struct symsnap *ss, const struct stats_options *o, struct stats_result *out);
void stats_compare(const struct symsnap *old, const struct symsnap *new, const struct stats_options *o,
                   struct stats_result *out);
void stats_free(struct stats_result *r);

void stats_print_text(FILE *out, const struct stats_result *r, const struct stats_options *o);
void stats_print_json(FILE *out, const struct stats_result *r, const struct stats_options *o, const char *source,
                      const char *old_source);

#endif
