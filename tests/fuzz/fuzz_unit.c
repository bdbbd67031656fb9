/* fuzz_unit.c - libFuzzer entry: any bytes as a unit's payload (trace/trace_unit.h),
 * decoded member by member. The trace fuzzer reaches units through their zstd
 * frames, whose checksums turn away nearly every mutation before the models see
 * it; here the streams are stored as they are (unit_seeds.c makes the seeds
 * from real traces), so mutations reach the column decoders and the models.
 * Built and run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>

#include "../../trace/trace_unit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct unit_coder *c;
    static uint8_t *buf;
    if (!c) c = unit_coder_new();
    if (!buf) buf = malloc(TRACE_MAX_CHUNK_RAW);
    if (!c || !buf || unit_decode_begin(c, data, size) < 0) return 0;
    struct unit_member m[UNIT_MAX_MEMBERS];
    size_t n = unit_members(data, size, m);
    for (size_t i = 0; i < n; i++)
        if (unit_decode_next(c, buf) != (long)m[i].raw_len) break;
    unit_decode_end(c);
    return 0;
}
