/* fuzz_trace.c - libFuzzer entry: any bytes as a trace file or a snapshot
 * file, through the readers, the replay, statistics and both reports. Built
 * and run by tests/fuzz/run. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "../../report/report.h"
#include "../../report/stats.h"
#include "../../report/symbols.h"
#include "../../report/leaks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/dev/shm/heapsnap-fuzz-%d.trace", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    FILE *null = fopen("/dev/null", "w");
    char err[1024];
    struct snap s;
    if (snap_load(&s, path, NULL, NULL, NULL, err, sizeof err) == 0) {
        struct report_options o = {.trace_path = path, .top = 3};
        report_json(null, &s, &o);
        report_text(null, &s, &o);
        symbols_end(&s);
        snap_free(&s);
    }
    struct symsnap ss;
    if (symsnap_load(&ss, path, err, sizeof err) == 0) {
        struct stats_options so = {.key = KEY_TRACEBACK};
        struct stats_result r;
        stats_compute(&ss, &so, &r);
        stats_print_text(null, &r, &so);
        stats_print_json(null, &r, &so, path, NULL);
        stats_free(&r);
        so.key = KEY_FUNCTION;
        so.cumulative = true;
        stats_compute(&ss, &so, &r);
        stats_free(&r);
        symsnap_free(&ss);
    }
    struct leak_report lr;
    struct supp_list supps = {0};
    supp_add_builtin(&supps);
    if (leaks_load(&lr, path, &supps, true, err, sizeof err) == 0) {
        unsigned all = 0xf;
        leaks_print_text(null, &lr, all);
        leaks_print_json(null, &lr, all, &supps);
        leaks_print_junit(null, &lr, all);
        leaks_print_sarif(null, &lr, all, "/");
        leaks_free(&lr);
    }
    supp_free(&supps);
    fclose(null);
    return 0;
}
