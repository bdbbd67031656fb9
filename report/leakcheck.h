/* leakcheck.h - reachability of a traced process's live blocks, classified
 * from outside the process by `heapsnap run` (docs/LEAKS.md). */
#ifndef HEAPSNAP_LEAKCHECK_H
#define HEAPSNAP_LEAKCHECK_H

#include <sys/types.h>

#include "../trace/trace_pack.h"

/* Stops every thread of pid with ptrace, replays trace_path for the live
 * blocks, scans the roots and the reached blocks, classifies the rest
 * (memcheck's kinds and clique rule) and appends REC_LEAK_CHECK + REC_LEAK
 * records to out. Threads are resumed before it returns. Returns 0, or -1
 * with a reason (the records then say the check failed). */
int leakcheck_run(const struct leak_request *req, const char *trace_path, struct rec_chunks *out, char *err,
                  size_t errlen);

#endif
