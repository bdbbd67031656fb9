/* progress.h - a line on stderr while a long read of a trace runs
 * ("heapsnap: reading TRACE: 45%"), only when stderr is a terminal and only
 * once the read has taken a second (HEAPSNAP_PROGRESS_MS changes that), and
 * erased when it ends: a pipe, a file or a CI log never sees it. */
#ifndef HEAPSNAP_PROGRESS_H
#define HEAPSNAP_PROGRESS_H

#include <stdint.h>

/* total: units of work (chunks to read); what: the file named on the line. */
void progress_begin(const char *what, uint64_t total);
void progress_advance(uint64_t units);
void progress_end(void);

#endif
