/* export.h - heapsnap's data in other tools' formats (docs/EXPORTS.md):
 * folded stacks (flamegraph.pl, inferno, speedscope), speedscope's JSON,
 * valgrind massif's massif.out, pprof's profile.proto. Each writer appends
 * the file's bytes to out, or returns -1 with a reason. */
#ifndef HEAPSNAP_EXPORT_H
#define HEAPSNAP_EXPORT_H

#include "profile.h"

/* `frame;frame;frame value` lines, root first, one per stack with a value. */
int export_folded(struct strbuf *out, const struct profile *p, enum profile_value value, char *err, size_t errlen);
/* speedscope's file format: one sampled profile per value the source has. */
int export_speedscope(struct strbuf *out, const struct profile *p, const char *source, char *err, size_t errlen);
/* massif.out: the timeline's points, detailed at the peak and each marker. SOURCE is a trace. */
int export_massif(struct strbuf *out, const char *source, const struct stats_options *filters, char *err,
                  size_t errlen);
/* pprof (profile.proto, gzipped): alloc_objects, alloc_space, inuse_objects, inuse_space. */
int export_pprof(struct strbuf *out, const struct profile *p, enum profile_value default_value, char *err,
                 size_t errlen);

#endif
