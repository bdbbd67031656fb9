/* test_readme.c - every example command of README.md runs as printed: read
 * from the file's ```sh blocks (never copied here), run in order in a fresh
 * directory laid out like the clone's top (./build is the build), with
 * `heapsnap` on PATH being this build's. A line whose comment says "exits N"
 * must exit N; every other one 0. The installed library's path in the
 * LD_PRELOAD example is this build's library (scripts/setup installs the
 * build there; a test must not depend on what was installed last). */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INSTALLED_SHIM "/usr/local/lib/x86_64-linux-gnu/heapsnap/libheapsnap.so"

static char *dir;

static void setup(void) { dir = temp_dir(); }

TestSuite(readme, .init = setup, .timeout = 300);

/* The example lines of the README's sh blocks, in order; not the setup
 * commands of its first block, which the suite itself is run by. */
static size_t examples(char ***out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/README.md", SOURCE_DIR);
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    char line[4096];
    bool in_sh = false;
    size_t n = 0;
    *out = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "```", 3) == 0) {
            in_sh = !in_sh && strcmp(line, "```sh") == 0;
            continue;
        }
        if (!in_sh || !line[0] || line[0] == '#' || strncmp(line, "./scripts/setup", 15) == 0) continue;
        *out = realloc(*out, (n + 1) * sizeof **out);
        (*out)[n++] = strdup(line);
    }
    fclose(f);
    return n;
}

/* "# exits 23: ..." in the line's comment: the status it documents. */
static int documented_status(const char *line)
{
    const char *c = strstr(line, "# exits ");
    return c ? atoi(c + 8) : 0;
}

Test(readme, every_example_runs_as_printed)
{
    char **lines;
    size_t n = examples(&lines);
    cr_assert_geq(n, 20, "the README's examples were not found");
    char *bin = path_join(dir, "bin"), *link = path_join(bin, "heapsnap"), *build = path_join(dir, "build");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && ln -s '%s' '%s' && ln -s '%s' '%s'", bin, heapsnap_bin(), link,
             BUILD_DIR, build);
    cr_assert_eq(system(cmd), 0);
    char path_env[8192];
    snprintf(path_env, sizeof path_env, "PATH=%s:%s", bin, getenv("PATH"));
    const char *env[] = {path_env, NULL};
    for (size_t i = 0; i < n; i++) {
        char line[8192];
        const char *at = strstr(lines[i], INSTALLED_SHIM);
        if (at)
            snprintf(line, sizeof line, "%.*s%s%s", (int)(at - lines[i]), lines[i], shim_path(),
                     at + strlen(INSTALLED_SHIM));
        else
            snprintf(line, sizeof line, "%s", lines[i]);
        struct run_result r = run_in_limited(dir, env, (const char *const[]){"/bin/sh", "-c", line, NULL}, 120);
        cr_expect_eq(r.exit_code, documented_status(lines[i]), "README example exited %d: %s\n%s", r.exit_code,
                     lines[i], r.err);
        cr_expect(!strstr(r.err, "cannot be preloaded"), "%s\n%s", lines[i], r.err);
        run_free(&r);
    }
    /* what the examples say they make */
    const char *made[] = {"phases.trace",  "report.html", "diff.html",    "peak.svg",      "heap.pb.gz", "massif.out.1",
                          "stacks.folded", "heap.json",   "signal.trace", "baseline.json", "leak.trace", "known.supp"};
    for (size_t i = 0; i < sizeof made / sizeof *made; i++) {
        char *p = path_join(dir, made[i]);
        cr_expect_eq(access(p, R_OK), 0, "%s was not made", made[i]);
    }
    char *spool = path_join(dir, "spool");
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '^heap-.*\\.pb\\.gz$'", spool);
    cr_expect_eq(system(cmd), 0, "the pprof stream wrote nothing");
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '^heapsnap\\.leak\\..*\\.trace$'", dir);
    cr_expect_eq(system(cmd), 0, "the LD_PRELOAD example wrote no trace");
}
