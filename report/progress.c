/* progress.c - see progress.h. The clock is read every 16 units: a unit is a
 * trace chunk (64 KiB of records), so the line moves many times a second and
 * costs nothing next to the reading. */
#include "progress.h"
#include "color.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static struct {
    const char *what;
    uint64_t total, done, start_ms, shown_pct;
    bool on, drawn;
} pg;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void progress_begin(const char *what, uint64_t total)
{
    pg.what = what;
    pg.total = total;
    pg.done = 0;
    pg.drawn = false;
    pg.shown_pct = UINT64_MAX;
    pg.on = total > 0 && color_terminal(STDERR_FILENO);
    pg.start_ms = now_ms();
}

void progress_advance(uint64_t units)
{
    if (!pg.on) return;
    pg.done += units;
    if (pg.done % 16 && pg.done < pg.total) return;
    const char *env = getenv("HEAPSNAP_PROGRESS_MS");
    uint64_t after = env ? strtoull(env, NULL, 10) : 1000;
    if (now_ms() - pg.start_ms < after) return;
    uint64_t pct = pg.done >= pg.total ? 100 : pg.done * 100 / pg.total;
    if (pct == pg.shown_pct) return;
    pg.shown_pct = pct;
    fprintf(stderr, "\rheapsnap: reading %s: %3llu%%", pg.what, (unsigned long long)pct);
    fflush(stderr);
    pg.drawn = true;
}

void progress_end(void)
{
    if (pg.drawn) {
        fputs("\r\033[K", stderr); /* the line goes: what follows starts clean */
        fflush(stderr);
    }
    pg.on = pg.drawn = false;
}
