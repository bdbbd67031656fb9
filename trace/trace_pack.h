/* trace_pack.h - turns an OPEN trace (raw slots, as the shim writes it) into a
 * PACKED one (zstd chunks). One function serves the shim at exit and
 * `heapsnap run` for processes that could not pack their own trace. */
#ifndef HEAPSNAP_TRACE_PACK_H
#define HEAPSNAP_TRACE_PACK_H

#include <stddef.h>
#include <stdint.h>

/* Packs the trace at path in place (via a temporary file and rename). When the
 * process recorded no end of its own (SIGKILL), end_how/end_code, if end_how is
 * not END_UNKNOWN, say how it ended as `heapsnap run` saw it. Returns 0, 1 if
 * the trace was already packed, or -1 with a one-line reason in err. */
int trace_pack(const char *path, uint32_t end_how, int32_t end_code, char *err, size_t errlen);

#endif
