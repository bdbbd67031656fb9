/* cmd_report.c - `heapsnap report TRACE` and `heapsnap pack TRACE`: the
 * report from a trace file alone, any time after the run. */
#include "cmds.h"
#include "report.h"
#include "symbols.h"
#include "../trace/trace_pack.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

size_t parse_count(const char *opt, const char *v)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || v[0] == '-') die_usage("%s takes a whole number, not '%s'", opt, v);
    return (size_t)n;
}

int parse_exit_code(const char *opt, const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || !*v || n < 1 || n > 255) die_usage("%s takes a number from 1 to 255, not '%s'", opt, v);
    return (int)n;
}

enum report_format parse_format(const char *v)
{
    if (strcmp(v, "text") == 0) return FORMAT_TEXT;
    if (strcmp(v, "json") == 0) return FORMAT_JSON;
    die_usage("--format takes text or json, not '%s'", v);
}

static int report_trace(FILE *out, const char *path, enum report_format format, const struct report_options *o)
{
    struct snap s;
    char err[1024];
    if (snap_load(&s, path, NULL, NULL, NULL, err, sizeof err) < 0) {
        warn("%s", err);
        return -1;
    }
    if (format == FORMAT_JSON) report_json(out, &s, o);
    else report_text(out, &s, o);
    fflush(out);
    symbols_end(&s);
    snap_free(&s);
    return 0;
}

int print_report(FILE *out, const char *path, enum report_format format, size_t top)
{
    struct report_options o = {.trace_path = path, .top = top, .max_frames = REPORT_DEFAULT_MAX_FRAMES};
    return report_trace(out, path, format, &o);
}

int cmd_report(int argc, char **argv)
{
    enum { OPT_FORMAT = OPT_FIRST_LONG, OPT_TOP, OPT_MAX_FRAMES };
    static const struct option longopts[] = {{"format", required_argument, NULL, OPT_FORMAT},
                                             {"top", required_argument, NULL, OPT_TOP},
                                             {"max-frames", required_argument, NULL, OPT_MAX_FRAMES},
                                             OPTS_HELP,
                                             {0}};
    enum report_format format = FORMAT_TEXT;
    struct report_options o = {.top = REPORT_DEFAULT_TOP, .max_frames = REPORT_DEFAULT_MAX_FRAMES};
    struct opts p;
    opts_init(&p, "report", argc, argv, "", longopts);
    const char *v;
    for (int k; (k = opts_next(&p, &v)) != -1;) {
        if (k == OPT_FORMAT) format = parse_format(v);
        else if (k == OPT_TOP) o.top = parse_count("--top", v);
        else if (k == OPT_MAX_FRAMES) o.max_frames = parse_count("--max-frames", v);
    }
    int n;
    char **operands = opts_operands(&p, &n);
    if (n > 1) die_usage("one trace at a time ('%s' and '%s')", operands[0], operands[1]);
    if (n == 0) die_usage("usage: heapsnap report TRACE [--format text|json] [--top N] [--max-frames N]");
    const char *path = operands[0];
    o.trace_path = path;
    return report_trace(stdout, path, format, &o) < 0 ? 1 : 0;
}

static void say_removed(const char *tmp, long pid, void *ctx)
{
    (void)ctx;
    warn("removed %s, left by a packer (pid %ld) that is gone", tmp, pid);
}

/* Whether process pid has path mapped: the shim writes its trace through a
 * shared mapping, so that is a writer still at work. */
static bool mapped_by(const char *path, uint64_t pid)
{
    struct stat st;
    char maps[64];
    snprintf(maps, sizeof maps, "/proc/%llu/maps", (unsigned long long)pid);
    FILE *f = pid ? fopen(maps, "re") : NULL;
    if (!f || stat(path, &st) != 0) {
        if (f) fclose(f);
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        unsigned maj, min;
        unsigned long long ino;
        found = sscanf(line, "%*x-%*x %*s %*x %x:%x %llu", &maj, &min, &ino) == 3 && ino == st.st_ino &&
                maj == major(st.st_dev) && min == minor(st.st_dev);
    }
    free(line);
    fclose(f);
    return found;
}

/* Packing replaces the trace, so it must not make it worse: a trace the
 * reports refuse stays as it is (one line says why), and so does one that is
 * cut (packed, it could no longer say so) or still being written. */
static int pack_one(const char *path)
{
    char err[1024];
    packer_remove_stale(path, say_removed, NULL);
    struct trace_header raw;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool punched = fd >= 0 && pread(fd, &raw, sizeof raw, 0) == (ssize_t)sizeof raw &&
                   memcmp(raw.magic, TRACE_MAGIC, 8) == 0 && raw.state == TRACE_OPEN && (raw.flags & TRACE_F_PUNCHED);
    if (fd >= 0) close(fd);
    if (punched) { /* its packer died: what it packed is taken over */
        if (mapped_by(path, raw.pid)) {
            warn("%s: its process (pid %llu) is still writing it: not packed", path, (unsigned long long)raw.pid);
            return -1;
        }
        if (trace_pack(path, END_UNKNOWN, 0, err, sizeof err) < 0) {
            warn("%s", err);
            return -1;
        }
        return 0;
    }
    struct trace_file tf;
    if (trace_open(&tf, path, err, sizeof err) < 0) {
        warn("%s", err);
        return -1;
    }
    struct trace_header hdr = tf.hdr;
    trace_close(&tf);
    bool is_open = hdr.state == TRACE_OPEN;
    if (hdr.flags & TRACE_F_CUT) {
        warn("%s: the file is cut short (it ends inside a slot): not packed, so that reports still say so "
             "(heapsnap report reads it as it is)", path);
        return -1;
    }
    if (is_open && mapped_by(path, hdr.pid)) {
        warn("%s: its process (pid %llu) is still writing it: not packed", path, (unsigned long long)hdr.pid);
        return -1;
    }
    struct snap s;
    if (snap_load(&s, path, NULL, NULL, NULL, err, sizeof err) < 0) {
        if (is_open) warn("%s: not packed", err);
        else warn("%s", err);
        return -1;
    }
    snap_free(&s);
    if (is_open && trace_pack(path, END_UNKNOWN, 0, err, sizeof err) < 0) {
        warn("%s", err);
        return -1;
    }
    return 0;
}

int cmd_pack(int argc, char **argv)
{
    int n;
    char **traces = opts_operands_only("pack", argc, argv, &n);
    if (n == 0) die_usage("usage: heapsnap pack TRACE...");
    int rc = 0;
    for (int i = 0; i < n; i++)
        if (pack_one(traces[i]) < 0) rc = 1;
    return rc;
}
