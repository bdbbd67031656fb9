/* test_cli.c - the command's conventions: --version names the library `run`
 * would preload and its version, and a library of another version is refused
 * with both paths before anything runs. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;

static void setup(void) { dir = temp_dir(); }

TestSuite(cli, .init = setup, .timeout = 60);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *s = malloc(*len + 1);
    cr_assert_eq(fread(s, 1, *len, f), *len);
    fclose(f);
    return s;
}

Test(cli, version_names_the_library)
{
    struct run_result r = run_in(dir, NULL, ARGS(heapsnap_bin(), "--version"));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char want[8192];
    snprintf(want, sizeof want, "heapsnap %s\nlibrary: %s (%s)\n", HEAPSNAP_VERSION, shim_path(), HEAPSNAP_VERSION);
    cr_expect_str_eq(r.out, want);
    run_free(&r);
}

/* A copy of the library whose tag says 9.9.9: --version and run both refuse
 * it, naming the command and the library; the program never starts. */
Test(cli, a_library_of_another_version_is_refused)
{
    size_t len;
    char *lib = slurp(shim_path(), &len);
    char *tag = memmem(lib, len, "heapsnap-shim-version=", 22);
    cr_assert(tag);
    size_t vlen = strlen(tag + 22);
    cr_assert_geq(vlen, 5);
    memset(tag + 22, 0, vlen);
    memcpy(tag + 22, "9.9.9", 5);
    char *copy = path_join(dir, "libheapsnap.so");
    FILE *f = fopen(copy, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(lib, 1, len, f), len);
    fclose(f);
    char env[8300];
    snprintf(env, sizeof env, "HEAPSNAP_LIB=%s", copy);
    const char *envs[] = {env, NULL};
    char *marker = path_join(dir, "ran");
    char want[8300];
    snprintf(want, sizeof want, "is heapsnap %s but %s is 9.9.9: install them together (or set HEAPSNAP_LIB)\n",
             HEAPSNAP_VERSION, copy);
    struct run_result r = run_in(dir, envs, ARGS(heapsnap_bin(), "--version"));
    cr_expect_eq(r.exit_code, 1);
    cr_expect(strstr(r.err, want), "%s", r.err);
    cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
    run_free(&r);
    r = run_in(dir, envs, ARGS(heapsnap_bin(), "run", "--", "/usr/bin/touch", marker));
    cr_expect_eq(r.exit_code, 1);
    cr_expect(strstr(r.err, want), "%s", r.err);
    cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
    cr_expect_neq(access(marker, F_OK), 0, "the program must not have run");
    run_free(&r);
}
