/* cmd_stats.c - `heapsnap stats`, `diff`, `snapshot` and `timeline`: the
 * tracemalloc workflow on the command line. SOURCE is TRACE[@POINT] or a
 * snapshot file; see docs/SNAPSHOTS.md. */
#include "cmds.h"
#include "fmt.h"
#include "report.h"
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct stats_cli {
    struct stats_options o;
    enum report_format format;
    size_t max_frames; /* --by traceback: frames printed per stack, innermost first; 0 = all */
    const char *sources[2];
    size_t nsources;
    uint64_t max_growth; /* check: UINT64_MAX until --max-growth */
    int exitcode;        /* check */
    enum snap_memory memory; /* stats: --memory */
};

enum {
    OPT_BY = OPT_FIRST_LONG, OPT_SORT_BY, OPT_CUMULATIVE, OPT_ALL_FRAMES, OPT_LIMIT, OPT_MAX_FRAMES, OPT_INCLUDE,
    OPT_EXCLUDE, OPT_SKIP_FUNCTION, OPT_FORMAT, OPT_MAX_GROWTH, OPT_EXITCODE, OPT_RESOLUTION, OPT_OUTPUT, OPT_MEMORY
};

#define STATS_LONGOPTS                                                                                                \
    {"by", required_argument, NULL, OPT_BY}, {"sort-by", required_argument, NULL, OPT_SORT_BY},                    \
        {"cumulative", no_argument, NULL, OPT_CUMULATIVE}, {"all-frames", no_argument, NULL, OPT_ALL_FRAMES},       \
        {"limit", required_argument, NULL, OPT_LIMIT}, {"max-frames", required_argument, NULL, OPT_MAX_FRAMES},     \
        {"include", required_argument, NULL, OPT_INCLUDE}, {"exclude", required_argument, NULL, OPT_EXCLUDE},       \
        {"skip-function", required_argument, NULL, OPT_SKIP_FUNCTION}, {"format", required_argument, NULL, OPT_FORMAT}

/* stats, diff and check: the options of stats (check's own too), then want_sources operands. */
static void parse_stats_cli(const char *cmd, int argc, char **argv, struct stats_cli *c, size_t want_sources,
                            const char *usage)
{
    static const struct option stats_longopts[] = {STATS_LONGOPTS, {"memory", required_argument, NULL, OPT_MEMORY},
                                                   OPTS_HELP, {0}};
    static const struct option diff_longopts[] = {STATS_LONGOPTS, OPTS_HELP, {0}};
    static const struct option check_longopts[] = {STATS_LONGOPTS,
                                                   {"max-growth", required_argument, NULL, OPT_MAX_GROWTH},
                                                   {"exitcode", required_argument, NULL, OPT_EXITCODE},
                                                   OPTS_HELP,
                                                   {0}};
    memset(c, 0, sizeof *c);
    c->o.limit = REPORT_DEFAULT_TOP;
    c->max_frames = REPORT_DEFAULT_MAX_FRAMES;
    c->max_growth = UINT64_MAX;
    c->exitcode = 23;
    c->o.filters = xcalloc((size_t)argc, sizeof *c->o.filters);
    c->o.skip = xcalloc((size_t)argc, sizeof *c->o.skip);
    struct opts p;
    opts_init(&p, cmd, argc, argv, "",
              strcmp(cmd, "check") == 0  ? check_longopts
              : strcmp(cmd, "diff") == 0 ? diff_longopts
                                         : stats_longopts);
    const char *v;
    for (int k; (k = opts_next(&p, &v)) != -1;) {
        switch (k) {
        case OPT_BY:
            if (!stats_parse_key(v, &c->o.key))
                die_usage("--by takes lineno, function, file, module or traceback, not '%s'", v);
            break;
        case OPT_SORT_BY:
            if (!stats_parse_sort(v, &c->o.sort)) die_usage("--sort-by takes size, count or calls, not '%s'", v);
            break;
        case OPT_CUMULATIVE: c->o.cumulative = true; break;
        case OPT_ALL_FRAMES: c->o.all_frames = true; break;
        case OPT_LIMIT: c->o.limit = parse_count("--limit", v); break;
        case OPT_MAX_FRAMES: c->max_frames = parse_count("--max-frames", v); break;
        case OPT_INCLUDE:
        case OPT_EXCLUDE: c->o.filters[c->o.nfilters++] = (struct stats_filter){v, k == OPT_INCLUDE}; break;
        case OPT_SKIP_FUNCTION: c->o.skip[c->o.nskip++] = v; break;
        case OPT_FORMAT: c->format = parse_format(v); break;
        case OPT_MAX_GROWTH:
            if (!fmt_parse_bytes(v, &c->max_growth))
                die_usage("--max-growth takes bytes (with K, M or G), not '%s'", v);
            break;
        case OPT_EXITCODE: c->exitcode = parse_exit_code("--exitcode", v); break;
        case OPT_MEMORY:
            if (!snap_parse_memory(v, &c->memory)) die_usage("--memory takes heap, mapped or all, not '%s'", v);
            break;
        }
    }
    int n;
    char **operands = opts_operands(&p, &n);
    if ((size_t)n != want_sources) die_usage("%s", usage);
    for (int i = 0; i < n; i++) c->sources[c->nsources++] = operands[i];
    char err[256];
    if (!stats_check(&c->o, err, sizeof err)) die_usage("%s", err);
}

/* --by traceback prints whole stacks: a deep recursion's would run to
 * thousands of lines per group. The innermost frames are the ones to act on. */
static void limit_frames(struct stats_result *r, const struct stats_cli *c)
{
    if (c->o.key != KEY_TRACEBACK || !c->max_frames) return;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i]->nframes > c->max_frames) r->v[i]->nframes = c->max_frames;
}

static void load_or_die(struct symsnap *ss, const char *source)
{
    char err[1024];
    if (symsnap_load(ss, source, err, sizeof err) < 0) die("%s", err);
}

int cmd_stats(int argc, char **argv)
{
    struct stats_cli c;
    parse_stats_cli("stats", argc, argv, &c, 1, "usage: heapsnap stats SOURCE [OPTIONS] (heapsnap stats --help)");
    struct symsnap ss;
    char err[1024];
    /* --sort-by calls: every stack that allocated, live at the point or not */
    if (c.o.sort == SORT_CALLS && symsnap_is_file(c.sources[0]))
        die("%s: a snapshot file holds the live heap only: --sort-by calls needs a trace", c.sources[0]);
    if (symsnap_load_memory(&ss, c.sources[0], c.o.sort == SORT_CALLS, c.memory, err, sizeof err) < 0) die("%s", err);
    struct stats_result r;
    stats_compute(&ss, &c.o, &r);
    limit_frames(&r, &c);
    if (c.format == FORMAT_JSON) stats_print_json(stdout, &r, &c.o, c.sources[0], NULL);
    else stats_print_text(stdout, &r, &c.o);
    stats_free(&r);
    symsnap_free(&ss);
    return 0;
}

int cmd_diff(int argc, char **argv)
{
    struct stats_cli c;
    parse_stats_cli("diff", argc, argv, &c, 2, "usage: heapsnap diff OLD NEW [OPTIONS] (heapsnap diff --help)");
    if (c.o.sort != SORT_SIZE) die_usage("the order is by the change (tracemalloc's compare_to): no --sort-by");
    struct symsnap old, new;
    load_or_die(&old, c.sources[0]);
    load_or_die(&new, c.sources[1]);
    struct stats_result r;
    stats_compare(&old, &new, &c.o, &r);
    limit_frames(&r, &c);
    if (c.format == FORMAT_JSON) stats_print_json(stdout, &r, &c.o, c.sources[1], c.sources[0]);
    else stats_print_text(stdout, &r, &c.o);
    stats_free(&r);
    symsnap_free(&new);
    symsnap_free(&old);
    return 0;
}

/* `heapsnap check OLD NEW --max-growth BYTES [--by KEY] [stats options]`: the
 * baseline gate, like pytest-memray's limit_leaks: fails when any group grew by
 * more than BYTES between the snapshots; prints those groups as diff lines. */
int cmd_check(int argc, char **argv)
{
    struct stats_cli c;
    parse_stats_cli("check", argc, argv, &c, 2,
                    "usage: heapsnap check OLD NEW --max-growth BYTES [OPTIONS] (heapsnap check --help)");
    if (c.max_growth == UINT64_MAX)
        die_usage("--max-growth BYTES says how much a group may grow (heapsnap check --help)");
    if (c.o.sort != SORT_SIZE) die_usage("the order is by the change, as diff's: no --sort-by");
    uint64_t max_growth = c.max_growth;
    int exitcode = c.exitcode;
    c.o.limit = 0;
    struct symsnap old, new;
    load_or_die(&old, c.sources[0]);
    load_or_die(&new, c.sources[1]);
    struct stats_result r;
    stats_compare(&old, &new, &c.o, &r);
    limit_frames(&r, &c);
    /* The groups over the limit, as a view on r's entries (r still owns them). */
    struct stats_result over = r;
    over.v = xmalloc((r.n ? r.n : 1) * sizeof *over.v);
    over.n = 0;
    for (size_t i = 0; i < r.n; i++)
        if (r.v[i]->size_diff > 0 && (uint64_t)r.v[i]->size_diff > max_growth) over.v[over.n++] = r.v[i];
    if (over.n) {
        printf("heapsnap check: %zu group%s grew by more than %llu bytes:\n", over.n, over.n == 1 ? "" : "s",
               (unsigned long long)max_growth);
        stats_print_text(stdout, &over, &c.o);
    }
    size_t failed = over.n;
    free(over.v);
    stats_free(&r);
    symsnap_free(&new);
    symsnap_free(&old);
    return failed ? exitcode : 0;
}

int cmd_snapshot(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'}, OPTS_HELP, {0}};
    const char *out = NULL, *v;
    struct opts p;
    opts_init(&p, "snapshot", argc, argv, "o:", longopts);
    for (int k; (k = opts_next(&p, &v)) != -1;)
        if (k == 'o') out = v;
    int n;
    char **operands = opts_operands(&p, &n);
    if (n != 1 || !out) die_usage("usage: heapsnap snapshot SOURCE -o FILE");
    const char *source = operands[0];
    struct symsnap ss;
    load_or_die(&ss, source);
    char err[1024];
    int rc = symsnap_write(&ss, out, err, sizeof err);
    symsnap_free(&ss);
    if (rc < 0) die("%s", err);
    return 0;
}

/* ---- timeline ----------------------------------------------------------- */

struct bucket {
    uint64_t current, high, blocks, mapped;
    bool seen;
};

struct timeline {
    double resolution_s;
    uint64_t ticks_per_bucket, base;
    struct bucket *b;
    size_t n, cap;
};

static void timeline_hook(const struct snap *s, uint64_t ticks, void *ctx)
{
    struct timeline *t = ctx;
    if (!t->ticks_per_bucket) {
        if (!t->resolution_s) { /* by default, a hundredth of the run */
            double duration = snap_seconds(s, s->last_clock_ticks);
            t->resolution_s = duration > 1e-4 ? duration / 100 : 1e-6;
        }
        double tpb = t->resolution_s * 1e9 / s->ns_per_tick;
        t->ticks_per_bucket = tpb < 1 ? 1 : (uint64_t)tpb;
        t->base = s->origin_ticks;
    }
    uint64_t rel = ticks > t->base ? ticks - t->base : 0;
    size_t k = (size_t)(rel / t->ticks_per_bucket);
    if (k > (1u << 24)) k = 1u << 24; /* bounded: a hostile clock cannot exhaust memory */
    t->b = xgrow_zeroed(t->b, &t->cap, k, sizeof *t->b);
    if (k >= t->n) t->n = k + 1;
    struct bucket *b = &t->b[k];
    b->current = s->cur_bytes;
    b->blocks = s->cur_blocks;
    b->mapped = s->map_cur_bytes;
    if (!b->seen || s->cur_bytes > b->high) b->high = s->cur_bytes;
    b->seen = true;
}

int cmd_timeline(int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, OPT_FORMAT},
                                             {"resolution", required_argument, NULL, OPT_RESOLUTION},
                                             OPTS_HELP,
                                             {0}};
    enum report_format format = FORMAT_TEXT;
    bool csv = false;
    double resolution = 0;
    struct opts p;
    opts_init(&p, "timeline", argc, argv, "", longopts);
    const char *v;
    for (int k; (k = opts_next(&p, &v)) != -1;) {
        if (k == OPT_FORMAT) {
            csv = strcmp(v, "csv") == 0;
            if (!csv) format = parse_format(v);
        } else if (k == OPT_RESOLUTION) {
            char *end;
            resolution = strtod(v, &end);
            if (*end || !(resolution > 0) || !isfinite(resolution))
                die_usage("--resolution takes seconds greater than 0, not '%s'", v);
        }
    }
    int n;
    char **operands = opts_operands(&p, &n);
    if (n != 1) die_usage("usage: heapsnap timeline TRACE [--resolution SECONDS] [--format text|json|csv]");
    const char *source = operands[0];
    char err[1024];
    /* A point at infinity: the clock and the markers are read first, and the
     * first event can place every bucket. */
    struct snap_point all = {.kind = POINT_TIME, .seconds = HUGE_VAL};
    struct timeline t = {.resolution_s = resolution};
    struct snap s;
    if (snap_load(&s, source, &all, timeline_hook, &t, err, sizeof err) < 0) die("%s", err);
    if (!t.resolution_s) t.resolution_s = 0.001; /* no events at all */

    struct strbuf b = {0};
    /* Heap, the program's own mappings, and the resident set as `heapsnap run`
     * sampled it (none: unknown), side by side: RSS far above heap and
     * mapped together is memory the allocator keeps (fragmentation, freed
     * blocks not returned), or heapsnap's own. */
    if (csv) sb_printf(&b, "time_s,current_bytes,peak_bytes,blocks,mapped_bytes,rss_bytes,markers\n");
    else if (format == FORMAT_JSON) sb_printf(&b, "{\n  \"resolution_s\": %.9g,\n  \"samples\": [", t.resolution_s);
    else sb_printf(&b, "%12s %14s %14s %10s %14s %14s  %s\n", "time", "current", "peak", "blocks", "mapped", "rss", "markers");
    uint64_t current = 0, blocks = 0, peak = 0, mapped = 0, rss = 0;
    bool rss_known = false;
    size_t next_rss = 0;
    /* Rows cover the whole run, to its last calibration point, not only to the last event. */
    double duration = snap_seconds(&s, s.last_clock_ticks);
    size_t m = 0, rows = t.n ? t.n : 1;
    if (t.resolution_s > 0 && duration / t.resolution_s < (double)(1u << 24) && (size_t)(duration / t.resolution_s) + 1 > rows)
        rows = (size_t)(duration / t.resolution_s) + 1;
    for (size_t k = 0; k < rows; k++) {
        if (k < t.n && t.b && t.b[k].seen) {
            current = t.b[k].current;
            blocks = t.b[k].blocks;
            mapped = t.b[k].mapped;
            if (t.b[k].high > peak) peak = t.b[k].high;
        }
        double at = (double)(k + 1) * t.resolution_s; /* each row: the state at the end of its interval */
        while (next_rss < s.nrss && (k + 1 == rows || snap_seconds(&s, s.rss[next_rss].ticks) < at)) {
            rss = s.rss[next_rss++].resident; /* the latest sample by the row's end */
            rss_known = true;
        }
        char rss_text[32] = "";
        if (rss_known) snprintf(rss_text, sizeof rss_text, "%llu", (unsigned long long)rss);
        struct strbuf labels = {0};
        while (m < s.nmarkers && (k + 1 == rows || snap_seconds(&s, s.markers[m].ticks) < at)) {
            if (csv) sb_printf(&labels, "%s%s", labels.len ? ";" : "", s.markers[m].label);
            else if (format == FORMAT_JSON) {
                sb_puts(&labels, labels.len ? ", " : "");
                fmt_json_string(&labels, s.markers[m].label);
            } else sb_printf(&labels, "%s%s", labels.len ? ", " : "", s.markers[m].label);
            m++;
        }
        if (csv) sb_printf(&b, "%.6f,%llu,%llu,%llu,%llu,%s,%s\n", at, (unsigned long long)current,
                           (unsigned long long)peak, (unsigned long long)blocks, (unsigned long long)mapped, rss_text,
                           labels.s ? labels.s : "");
        else if (format == FORMAT_JSON)
            sb_printf(&b,
                      "%s\n    {\"time_s\": %.6f, \"current\": %llu, \"peak\": %llu, \"blocks\": %llu, \"mapped\": %llu, "
                      "\"rss\": %s, \"markers\": [%s]}",
                      k ? "," : "", at, (unsigned long long)current, (unsigned long long)peak,
                      (unsigned long long)blocks, (unsigned long long)mapped, rss_known ? rss_text : "null",
                      labels.s ? labels.s : "");
        else {
            char cur[32], pk[32], when[32], map[32], res[32] = "-";
            fmt_size(cur, sizeof cur, (double)current, false);
            fmt_size(pk, sizeof pk, (double)peak, false);
            fmt_size(map, sizeof map, (double)mapped, false);
            if (rss_known) fmt_size(res, sizeof res, (double)rss, false);
            fmt_duration(when, sizeof when, at);
            sb_printf(&b, "%12s %14s %14s %10llu %14s %14s  %s\n", when, cur, pk, (unsigned long long)blocks, map, res,
                      labels.s ? labels.s : "");
        }
        sb_free(&labels);
    }
    if (format == FORMAT_JSON && !csv) sb_printf(&b, "\n  ]\n}\n");
    fwrite(b.s, 1, b.len, stdout);
    sb_free(&b);
    free(t.b);
    snap_free(&s);
    return 0;
}
