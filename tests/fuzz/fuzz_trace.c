/* fuzz_trace.c - libFuzzer entry: any bytes as a trace file, through the
 * reader, the replay and the JSON report. Built and run by tests/fuzz/run. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "../../report/report.h"
#include "../../report/symbols.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/dev/shm/heapsnap-fuzz-%d.trace", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct snap s;
    char err[1024];
    if (snap_load(&s, path, NULL, NULL, NULL, err, sizeof err) == 0) {
        FILE *null = fopen("/dev/null", "w");
        struct report_options o = {.trace_path = path, .top = 3};
        report_json(null, &s, &o);
        report_text(null, &s, &o);
        fclose(null);
        symbols_end(&s);
        snap_free(&s);
    }
    return 0;
}
