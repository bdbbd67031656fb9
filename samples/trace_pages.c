/* trace_pages.c - enough allocations to fill a hundred slots of the trace
 * file, then what the process itself holds of that file: prints the KiB of
 * its resident pages of mappings of a file whose name ends in ".trace"
 * (from /proc/self/smaps), one line "trace-rss-kib N".
 * Known figures: 600,000 blocks of 32 B from churn(), each freed at once. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAIRS 600000

static void *volatile sink;

__attribute__((noinline)) static void churn(void)
{
    for (int i = 0; i < PAIRS; i++) {
        sink = malloc(32);
        free(sink);
    }
}

int main(void)
{
    churn();
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return 1;
    char line[4608];
    bool in_trace = false;
    long kib = 0, v;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = 0;
        char *dash = strchr(line, '-');
        if (dash && dash != line && strspn(line, "0123456789abcdef") == (size_t)(dash - line)) { /* a mapping's line */
            in_trace = n > 6 && strcmp(line + n - 6, ".trace") == 0;
            continue;
        }
        if (in_trace && sscanf(line, "Rss: %ld kB", &v) == 1) kib += v;
    }
    fclose(f);
    printf("trace-rss-kib %ld\n", kib);
    return 0;
}
