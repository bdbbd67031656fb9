/* profile.h - one source's stacks with every value an export or a flame
 * graph draws: the heap live at the point (bytes, blocks), allocations up to
 * it (calls, bytes) and, from the trace's last leak check, what leaked. The
 * stacks are html_doc.c's (interned frames, root first); stats' filters
 * apply as `heapsnap stats` applies them. */
#ifndef HEAPSNAP_PROFILE_H
#define HEAPSNAP_PROFILE_H

#include "html_doc.h"
#include "leaks.h"
#include "stats.h"
#include "symsnap.h"

enum profile_value { VALUE_INUSE, VALUE_ALLOCATED, VALUE_CALLS, VALUE_LEAKED, VALUE_COUNT };

struct profile {
    struct symsnap ss; /* the source at its point; ss.snap is NULL for a snapshot file */
    struct html_doc doc;
    /* One view per value: [stack, value, count]; inuse: bytes, blocks;
     * allocated: bytes, calls; calls: calls, bytes; leaked: bytes, blocks. */
    struct html_view views[VALUE_COUNT];
    bool has_totals; /* a trace: allocation calls and bytes are known */
    bool has_leaks;  /* the trace had a leak check that ran */
    /* Per kept trace of ss, its stack in doc (UINT32_MAX: filtered out). */
    uint32_t *stack_of;
    /* The leak check read for VALUE_LEAKED: kept to the end, as freeing it
     * ends the symbol session ss's frames point into. */
    struct leak_report *leaks;
    /* Set by a profile made another way (run_stream.c): alloc_* cover the
     * window_s seconds up to the point, not the whole run, and title heads
     * the exports that have one. 0 and NULL: the whole run, and the source. */
    double window_s;
    const char *title;
};

bool profile_parse_value(const char *text, enum profile_value *v);
const char *profile_value_name(enum profile_value v);
/* SOURCE as stats takes it (TRACE[@POINT] or a snapshot file); filters may
 * be NULL. The leaked view costs a second reading of the trace (the leak
 * check's point): only with_leaks. */
int profile_load(struct profile *p, const char *source, const struct stats_options *filters, bool with_leaks,
                 char *err, size_t errlen);
void profile_free(struct profile *p);

#endif
