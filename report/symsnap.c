/* symsnap.c - see symsnap.h. A snapshot file is untrusted input like a trace:
 * every field is type-checked and a schema other than ours is refused. */
#include "symsnap.h"
#include "fmt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool symsnap_is_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r') {
    }
    fclose(f);
    return c == '{';
}

static int from_trace(struct symsnap *ss, const char *path, const char *point_text, bool all, enum snap_memory memory,
                      char *err, size_t errlen)
{
    struct snap_point point;
    if (!snap_parse_point(point_text, &point, err, errlen)) return -1;
    ss->snap = xcalloc(1, sizeof *ss->snap);
    if (snap_load(ss->snap, path, &point, NULL, NULL, err, errlen) < 0) {
        free(ss->snap);
        ss->snap = NULL;
        return -1;
    }
    struct snap *s = ss->snap;
    s->memory = memory;
    ss->sample_rate = s->hdr.sample_rate;
    ss->point = xstrndup(point_text, strlen(point_text));
    ss->pid = s->hdr.pid;
    ss->command = s->cmdline ? xstrndup(s->cmdline, strlen(s->cmdline)) : NULL;
    uint64_t at = point.kind == POINT_PEAK ? snap_peak_ticks(s) : s->stop_ticks != UINT64_MAX ? s->stop_ticks : s->last_ticks;
    ss->time_s = snap_seconds(s, at);
    size_t n = HASH_CNT(hh_frames, s->canon_stacks);
    ss->traces = xcalloc(n ? n : 1, sizeof *ss->traces);
    for (struct snap_stack *st = s->canon_stacks; st; st = st->hh_frames.next) {
        uint64_t bytes, blocks, calls, allocated;
        snap_figures(s, st, &bytes, &blocks);
        snap_call_figures(s, st, &calls, &allocated);
        if (!blocks && !(all && calls)) continue;
        struct symsnap_trace *t = &ss->traces[ss->ntraces++];
        t->frames = symbols_stack(s, st, &t->nframes);
        t->size = bytes;
        t->count = blocks;
        t->calls = calls;
        t->allocated = allocated;
        t->stack = st;
        ss->total_size += bytes;
        ss->total_count += blocks;
    }
    return 0;
}

static char *read_all(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct strbuf b = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sb_add(&b, buf, n);
    fclose(f);
    if (!b.s) sb_puts(&b, "");
    return b.s;
}

static const char *opt_str(const struct json *j, const char *key)
{
    const struct json *v = json_get(j, key);
    return v && v->type == JSON_STRING ? v->string : NULL;
}

/* What a value is, for a message: the number as the file gave it, or its type. */
static void describe(const struct json *v, char *out, size_t cap)
{
    static const char *const types[] = {
        [JSON_NULL] = "null",       [JSON_BOOL] = "a boolean", [JSON_NUMBER] = "a number",
        [JSON_STRING] = "a string", [JSON_ARRAY] = "an array", [JSON_OBJECT] = "an object",
    };
    if (!v) snprintf(out, cap, "missing");
    else if (v->type != JSON_NUMBER) snprintf(out, cap, "%s", types[v->type]);
    else if (isnan(v->number)) snprintf(out, cap, "NaN");
    else if (isinf(v->number)) snprintf(out, cap, "%s", v->number > 0 ? "Infinity" : "-Infinity");
    else /* the shortest form that reads back as the same number: 0.1, not 0.10000000000000001 */
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(out, cap, "%.*g", digits, v->number);
            if (strtod(out, NULL) == v->number) break;
        }
}

/* A whole number from 0 to max. Absent or null fields are `dflt` when it is
 * not NULL (optional fields). On a bad value, err says which and why. */
static bool whole_number(const struct json *obj, const char *key, uint64_t max, const uint64_t *dflt, uint64_t *out,
                         const char *where, char *err, size_t errlen)
{
    const struct json *v = json_get(obj, key);
    if (dflt && (!v || v->type == JSON_NULL)) {
        *out = *dflt;
        return true;
    }
    /* integer is exact for integral numbers from -2^63 to 2^63-1, and 0 for
     * any other: equal to number only for a whole number in that range. */
    if (v && v->type == JSON_NUMBER && isfinite(v->number) && v->number >= 0 && v->integer >= 0 &&
        (double)v->integer == v->number && (uint64_t)v->integer <= max) {
        *out = (uint64_t)v->integer;
        return true;
    }
    char what[64];
    describe(v, what, sizeof what);
    snprintf(err, errlen, "%s\"%s\" must be a whole number from 0 to %llu, not %s", where, key, (unsigned long long)max,
             what);
    return false;
}

#define SNAPSHOT_MAX_COUNT ((uint64_t)INT64_MAX)

static int from_file(struct symsnap *ss, const char *path, char *err, size_t errlen)
{
    char *text = read_all(path, err, errlen);
    if (!text) return -1;
    ss->json = json_parse(text);
    free(text);
    const struct json *j = ss->json;
    if (!j) {
        snprintf(err, errlen, "%s: not a heapsnap snapshot file (not valid JSON)", path);
        return -1;
    }
    const struct json *schema = j->type == JSON_OBJECT ? json_get(j, "heapsnap_snapshot") : NULL;
    if (!schema || schema->type != JSON_NUMBER) {
        snprintf(err, errlen, "%s: not a heapsnap snapshot file", path);
        return -1;
    }
    if (!isfinite(schema->number) || schema->number != SNAPSHOT_SCHEMA) {
        char what[64];
        describe(schema, what, sizeof what);
        snprintf(err, errlen, "%s: snapshot file schema %s, this heapsnap reads schema %d", path, what,
                 SNAPSHOT_SCHEMA);
        return -1;
    }
    const struct json *traces = json_get(j, "traces");
    if (!traces || traces->type != JSON_ARRAY) {
        snprintf(err, errlen, "%s: corrupt snapshot file (no traces)", path);
        return -1;
    }
    char why[256];
    const uint64_t zero = 0;
    if (!whole_number(j, "pid", SNAPSHOT_MAX_COUNT, &zero, &ss->pid, "", why, sizeof why)) {
        snprintf(err, errlen, "%s: corrupt snapshot file (%s)", path, why);
        return -1;
    }
    const struct json *t = json_get(j, "time_s");
    if (t && t->type != JSON_NULL && (t->type != JSON_NUMBER || !isfinite(t->number))) {
        describe(t, why, sizeof why);
        snprintf(err, errlen, "%s: corrupt snapshot file (\"time_s\" must be a number of seconds, not %s)", path, why);
        return -1;
    }
    ss->time_s = t && t->type == JSON_NUMBER ? t->number : 0;
    if (!whole_number(j, "sample_rate", SNAPSHOT_MAX_COUNT, &zero, &ss->sample_rate, "", why, sizeof why)) {
        snprintf(err, errlen, "%s: corrupt snapshot file (%s)", path, why);
        return -1;
    }
    const char *point = opt_str(j, "point"), *cmd = opt_str(j, "command");
    ss->point = xstrndup(point ? point : "?", strlen(point ? point : "?"));
    ss->command = cmd ? xstrndup(cmd, strlen(cmd)) : NULL;
    size_t nframes = 0;
    for (size_t i = 0; i < traces->n; i++) nframes += json_len(traces->items[i], "frames");
    ss->owned_frames = xcalloc(nframes ? nframes : 1, sizeof *ss->owned_frames);
    ss->traces = xcalloc(traces->n ? traces->n : 1, sizeof *ss->traces);
    size_t used = 0;
    for (size_t i = 0; i < traces->n; i++) {
        const struct json *tr = traces->items[i];
        struct symsnap_trace *out = &ss->traces[ss->ntraces];
        const struct json *frames = json_get(tr, "frames");
        char where[64];
        snprintf(where, sizeof where, "trace %zu: ", i);
        if (tr->type != JSON_OBJECT || !frames || frames->type != JSON_ARRAY) {
            snprintf(err, errlen, "%s: corrupt snapshot file (trace %zu)", path, i);
            return -1;
        }
        if (!whole_number(tr, "size", SNAPSHOT_MAX_COUNT, NULL, &out->size, where, why, sizeof why) ||
            !whole_number(tr, "count", SNAPSHOT_MAX_COUNT, NULL, &out->count, where, why, sizeof why)) {
            snprintf(err, errlen, "%s: corrupt snapshot file (%s)", path, why);
            return -1;
        }
        out->frames = ss->owned_frames + used;
        out->nframes = frames->n;
        for (size_t k = 0; k < frames->n; k++) {
            const struct json *f = frames->items[k];
            const char *fn = opt_str(f, "function");
            uint64_t line = 0;
            snprintf(where, sizeof where, "trace %zu, frame %zu: ", i, k);
            /* 0 is how the writer says "unknown"; an absent or null line says the same. */
            if (f->type == JSON_OBJECT && !whole_number(f, "line", INT32_MAX, &zero, &line, where, why, sizeof why)) {
                snprintf(err, errlen, "%s: corrupt snapshot file (%s)", path, why);
                return -1;
            }
            ss->owned_frames[used++] = (struct sym_frame){.function = fn ? fn : "??",
                                                          .file = opt_str(f, "file"),
                                                          .line = (int)line,
                                                          .module = opt_str(f, "module")};
        }
        if (out->size > UINT64_MAX - ss->total_size || out->count > UINT64_MAX - ss->total_count) {
            snprintf(err, errlen, "%s: corrupt snapshot file (trace %zu: the totals overflow 64 bits)", path, i);
            return -1;
        }
        ss->total_size += out->size;
        ss->total_count += out->count;
        ss->ntraces++;
    }
    return 0;
}

static int load(struct symsnap *ss, const char *source, bool all, enum snap_memory memory, char *err, size_t errlen)
{
    memset(ss, 0, sizeof *ss);
    ss->source = xstrndup(source, strlen(source));
    struct stat st;
    int rc;
    if (stat(source, &st) == 0) {
        /* The whole argument names a file: a snapshot file, or a trace at its end. */
        if (symsnap_is_file(source) && memory != SNAP_MEMORY_HEAP) {
            snprintf(err, errlen, "%s: a snapshot file holds heap blocks only: mapped memory needs a trace", source);
            rc = -1;
        } else {
            rc = symsnap_is_file(source) ? from_file(ss, source, err, errlen)
                                         : from_trace(ss, source, "exit", all, memory, err, errlen);
        }
    } else {
        char *at = strrchr(ss->source, '@');
        if (!at) {
            snprintf(err, errlen, "%s: %s", source, strerror(errno));
            rc = -1;
        } else {
            *at = 0;
            if (stat(ss->source, &st) != 0) {
                snprintf(err, errlen, "%s: %s", ss->source, strerror(errno));
                rc = -1;
            } else if (symsnap_is_file(ss->source)) {
                snprintf(err, errlen, "%s: a snapshot file is one moment already: drop '@%s'", ss->source, at + 1);
                rc = -1;
            } else {
                rc = from_trace(ss, ss->source, at + 1, all, memory, err, errlen);
            }
            *at = '@';
        }
    }
    if (rc < 0) symsnap_free(ss);
    else if (ss->sample_rate)
        warn("%s is sampled (1 allocation in every %llu bytes): its sizes and counts are estimates", source,
             (unsigned long long)ss->sample_rate);
    return rc;
}

int symsnap_load(struct symsnap *ss, const char *source, char *err, size_t errlen)
{
    return load(ss, source, false, SNAP_MEMORY_HEAP, err, errlen);
}

int symsnap_load_all(struct symsnap *ss, const char *source, char *err, size_t errlen)
{
    return load(ss, source, true, SNAP_MEMORY_HEAP, err, errlen);
}

int symsnap_load_memory(struct symsnap *ss, const char *source, bool all, enum snap_memory memory, char *err,
                        size_t errlen)
{
    return load(ss, source, all, memory, err, errlen);
}

int symsnap_write(const struct symsnap *ss, const char *path, char *err, size_t errlen)
{
    struct strbuf b = {0};
    sb_printf(&b, "{\n  \"heapsnap_snapshot\": %d,\n  \"source\": ", SNAPSHOT_SCHEMA);
    fmt_json_string(&b, ss->source);
    sb_puts(&b, ",\n  \"point\": ");
    fmt_json_string(&b, ss->point);
    sb_printf(&b, ",\n  \"time_s\": %.6f,\n  \"pid\": %llu,\n  \"sample_rate\": %llu,\n  \"command\": ", ss->time_s,
              (unsigned long long)ss->pid, (unsigned long long)ss->sample_rate);
    fmt_json_string(&b, ss->command);
    sb_printf(&b, ",\n  \"totals\": {\"size\": %llu, \"count\": %llu},\n  \"traces\": [",
              (unsigned long long)ss->total_size, (unsigned long long)ss->total_count);
    for (size_t i = 0; i < ss->ntraces; i++) {
        const struct symsnap_trace *t = &ss->traces[i];
        sb_printf(&b, "%s\n    {\"size\": %llu, \"count\": %llu, \"frames\": [", i ? "," : "",
                  (unsigned long long)t->size, (unsigned long long)t->count);
        for (size_t k = 0; k < t->nframes; k++) {
            if (k) sb_puts(&b, ", ");
            symbols_frame_json(&b, &t->frames[k]);
        }
        sb_puts(&b, "]}");
    }
    sb_puts(&b, ss->ntraces ? "\n  ]\n}\n" : "]\n}\n");
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(b.s, 1, b.len, f) == b.len;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
    sb_free(&b);
    return ok ? 0 : -1;
}

void symsnap_free(struct symsnap *ss)
{
    if (ss->snap) {
        symbols_end(ss->snap);
        snap_free(ss->snap);
        free(ss->snap);
    }
    json_free(ss->json);
    free(ss->owned_frames);
    free(ss->traces);
    free(ss->source);
    free(ss->point);
    free(ss->command);
    memset(ss, 0, sizeof *ss);
}
