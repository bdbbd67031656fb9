/* harness.h - what every test needs: run a command and capture its output,
 * status and resource use, a fresh directory, and a trace's JSON report.
 * Paths to the build's heapsnap, shim and samples come from meson
 * (tests/meson.build). */
#ifndef HEAPSNAP_TEST_HARNESS_H
#define HEAPSNAP_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../report/json.h"

struct run_result {
    int exit_code; /* 128+N when killed by signal N */
    bool signaled;
    bool timed_out; /* run_in_limited only: killed after its time limit */
    char *out, *err;
    /* The command's resources as wait4 gives them: its own and those of the
     * descendants it waited for. */
    long maxrss_kib, minor_faults;
};

/* argv is NULL-terminated; env entries ("NAME=value") are added to ours. */
struct run_result run_in(const char *cwd, const char *const *env, const char *const *argv);
/* run_in, but the command and everything it started are killed (SIGKILL to
 * its process group) if it has not ended after `seconds`: a hang fails a test
 * instead of stalling the suite. */
struct run_result run_in_limited(const char *cwd, const char *const *env, const char *const *argv, unsigned seconds);
void run_free(struct run_result *r);

char *temp_dir(void);                  /* a new empty directory */
/* `heapsnap run -q -o dir/name -- prog...` in dir; fails the test unless it
 * exits 0. Returns the trace's path. */
char *trace_program(const char *dir, const char *name, const char *const *prog);
char *path_join(const char *dir, const char *name);
/* A file's bytes, NUL-terminated (len, if not NULL, gets their count); fails the test if it cannot be read. */
char *file_contents(const char *path, size_t *len);
/* `heapsnap ARGS...` run in dir fails as a bad input must: exit code, one
 * line on stderr that holds needle, nothing on stdout. */
void expect_one_line_error(const char *dir, const char *const *args, int code, const char *needle);
const char *sample(const char *name);  /* absolute path of a built sample */
const char *heapsnap_bin(void);
/* A copy of a built sample as dir/name, with that owner, group and mode
 * (set-user-ID bits and the like; chown needs root, which the suite has). */
char *sample_copy(const char *dir, const char *sample_name, const char *name, uid_t owner, gid_t group, mode_t mode);
const char *shim_path(void);

/* `heapsnap ARGS...` run in dir; fails the test unless it exits 0. Returns
 * its standard output, or that output parsed as JSON. */
char *heapsnap_out(const char *dir, const char *const *args);
struct json *heapsnap_json(const char *dir, const char *const *args);
/* `heapsnap report --format json TRACE`, parsed; fails the test on error. */
struct json *report_json_of(const char *trace);
/* `go tool pprof ARGS...` run in dir, with go's caches there; its stdout. */
char *go_pprof(const char *dir, const char *const *args);
/* Traces in dir matching heapsnap.*.trace or *.trace, sorted; returns count. */
size_t list_traces(const char *dir, char ***names);
int count_lines(const char *s);
/* The index of the first group in json array at path whose stack[0].function is fn, or -1. */
int find_group(const struct json *j, const char *path, const char *fn);
/* Field of the group whose stack starts in fn (e.g. "bytes", "stack.0.line"). */
long long group_int(const struct json *j, const char *path, const char *fn, const char *field);
/* Field of the group keyed key in `heapsnap stats --format json` output, or -1 if there is none. */
long long stats_field(const struct json *j, const char *key, const char *field);
const char *group_str(const struct json *j, const char *path, const char *fn, const char *field);
/* `heapsnap leaks --format json SOURCE [extra]` run in dir, parsed; fails the test on error. */
struct json *leaks_json_in(const char *dir, const char *source, const char *extra);
/* Bytes (or blocks) of a leak kind ("definitely_lost", ...) in such a report. */
long long leak_bytes(const struct json *leaks, const char *kind);
long long leak_blocks(const struct json *leaks, const char *kind);
/* Environment of a bare LD_PRELOAD run writing traces to dir (NULL-terminated, static). */
const char *const *bare_preload_env(const char *dir);

#endif
