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
    char *lib = file_contents(shim_path(), &len);
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

static void expect_usage_error(const char *const *argv, const char *line)
{
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 2, "%s: %s", argv[1], r.err);
    cr_expect_str_eq(r.err, line);
    cr_expect_str_eq(r.out, "");
    run_free(&r);
}

/* Every command takes --opt value and --opt=value alike, bundled short
 * options and --; an error names the command and the option. */
Test(cli, option_forms)
{
    char *trace = path_join(dir, "a.trace");
    /* -qo bundles --quiet and -o FILE; --frames=8 is --frames 8 */
    struct run_result r =
        run_in(dir, NULL, ARGS(heapsnap_bin(), "run", "-qo", trace, "--frames=8", "--", sample("phases")));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.err, "", "-q: no summary");
    run_free(&r);
    struct json *j = report_json_of(trace);
    cr_expect_eq(json_int(j, "totals.allocations") > 0, 1);
    json_free(j);
    char *by_eq = heapsnap_out(dir, ARGS("stats", trace, "--by=function", "--limit=2"));
    char *by_space = heapsnap_out(dir, ARGS("stats", "--by", "function", "--limit", "2", trace));
    cr_expect_str_eq(by_eq, by_space, "--opt=value, --opt value, and options before or after the operand");
    cr_expect_str_eq(by_eq, "grow_sessions: size=87.9 KiB, count=30, average=3000 B\n"
                            "load_config: size=10000 B, count=10, average=1000 B\n");
    /* run stops at PROGRAM: what follows is the program's (-q here is ls's) */
    r = run_in(dir, NULL, ARGS(heapsnap_bin(), "run", "-q", "--no-leak-check", "/bin/ls", "-d", dir));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    char want[4200];
    snprintf(want, sizeof want, "%s\n", dir);
    cr_expect_str_eq(r.out, want);
    run_free(&r);
    expect_usage_error(ARGS(heapsnap_bin(), "run", "--bogus", "--", "/bin/true"),
                       "heapsnap: run: unknown option '--bogus' (heapsnap run --help)\n");
    expect_usage_error(ARGS(heapsnap_bin(), "stats", trace, "--by"),
                       "heapsnap: stats: --by needs a value (heapsnap stats --help)\n");
    expect_usage_error(ARGS(heapsnap_bin(), "stats", trace, "--by=nothing"),
                       "heapsnap: stats: --by takes lineno, function, file, module or traceback, not 'nothing'\n");
    expect_usage_error(ARGS(heapsnap_bin(), "leaks", trace, "-x"),
                       "heapsnap: leaks: unknown option '-x' (heapsnap leaks --help)\n");
    expect_usage_error(ARGS(heapsnap_bin(), "export", trace, "--format=pprof", "--value"),
                       "heapsnap: export: --value needs a value (heapsnap export --help)\n");
    expect_usage_error(ARGS(heapsnap_bin(), "run", "--snapshot", "--", "/bin/true"),
                       "heapsnap: run: '--snapshot' could be --snapshot-signal, --snapshot-interval, "
                       "--snapshot-growth (heapsnap run --help)\n");
    expect_usage_error(ARGS(heapsnap_bin(), "stats", trace, "--limit", "x"),
                       "heapsnap: stats: --limit takes a whole number, not 'x'\n");
    expect_usage_error(ARGS(heapsnap_bin(), "run", "--unwind", "slow", "--", "/bin/true"),
                       "heapsnap: run: --unwind takes full, fast or check, not 'slow'\n");
    expect_usage_error(ARGS(heapsnap_bin(), "run", "--unwind=", "--", "/bin/true"),
                       "heapsnap: run: --unwind takes full, fast or check, not ''\n");
    /* options after the operand whatever POSIXLY_CORRECT says */
    const char *posix[] = {"POSIXLY_CORRECT=1", NULL};
    r = run_in(dir, posix, ARGS(heapsnap_bin(), "stats", trace, "--by", "function", "--limit", "2"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, by_eq);
    run_free(&r);
}

/* --unwind reaches the program as HEAPSNAP_UNWIND (the shim's switch), and
 * without it the default does, whatever the environment held. */
Test(cli, unwind_sets_the_shims_variable)
{
    const char *inherited[] = {"HEAPSNAP_UNWIND=full", NULL};
    struct run_result r = run_in(dir, NULL,
                                 ARGS(heapsnap_bin(), "run", "-q", "--unwind", "fast", "--", "/usr/bin/printenv",
                                      "HEAPSNAP_UNWIND"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "fast\n");
    cr_expect_str_eq(r.err, "");
    run_free(&r);
    r = run_in(dir, NULL,
               ARGS(heapsnap_bin(), "run", "-q", "--unwind=full", "--", "/usr/bin/printenv", "HEAPSNAP_UNWIND"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "full\n");
    run_free(&r);
    r = run_in(dir, inherited, ARGS(heapsnap_bin(), "run", "-q", "--", "/usr/bin/printenv", "HEAPSNAP_UNWIND"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "fast\n", "the default, not the environment's");
    run_free(&r);
}

/* What the bash completion offers after the words given (the last one is
 * being completed), one per line. */
static char *complete(const char *words)
{
    char script[8192];
    snprintf(script, sizeof script,
             "source '%s/heapsnap.bash'; COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
             "[[ \"%s\" == *' ' ]] && COMP_WORDS+=('') && COMP_CWORD=$((COMP_CWORD + 1)); "
             "_heapsnap; ((${#COMPREPLY[@]})) && printf '%%s\\n' \"${COMPREPLY[@]}\"; true",
             COMPLETIONS_DIR, words, words);
    struct run_result r = run_in(dir, NULL, ARGS("/bin/bash", "-c", script));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    free(r.err);
    return r.out;
}

Test(cli, bash_completion)
{
    char words[4400];
    cr_expect_str_eq(complete("heapsnap st"), "stats\n");
    snprintf(words, sizeof words, "'%s' run --fr", heapsnap_bin());
    cr_expect_str_eq(complete(words), "--frames\n");
    snprintf(words, sizeof words, "'%s' stats --sort", heapsnap_bin());
    cr_expect_str_eq(complete(words), "--sort-by\n");
    snprintf(words, sizeof words, "'%s' run --snapshot-signal US", heapsnap_bin());
    cr_expect_str_eq(complete(words), "USR1\nUSR2\n");
    snprintf(words, sizeof words, "'%s' export --format sp", heapsnap_bin());
    cr_expect_str_eq(complete(words), "speedscope\n");
    /* TRACE@: the trace's markers, by label, and peak and exit */
    char *trace = trace_program(dir, "p.trace", ARGS(sample("phases")));
    snprintf(words, sizeof words, "'%s' stats '%s@w'", heapsnap_bin(), trace);
    char want[4400];
    snprintf(want, sizeof want, "%s@warm\n", trace);
    cr_expect_str_eq(complete(words), want);
    snprintf(words, sizeof words, "'%s' diff '%s@pe'", heapsnap_bin(), trace);
    snprintf(want, sizeof want, "%s@peak\n", trace);
    cr_expect_str_eq(complete(words), want);
    /* after run's PROGRAM, the words are the program's: no heapsnap option offered */
    snprintf(words, sizeof words, "'%s' run /bin/ls --fr", heapsnap_bin());
    cr_expect_str_eq(complete(words), "");
    snprintf(words, sizeof words, "'%s' run --unw", heapsnap_bin());
    cr_expect_str_eq(complete(words), "--unwind\n");
    snprintf(words, sizeof words, "'%s' run --unwind f", heapsnap_bin());
    cr_expect_str_eq(complete(words), "full\nfast\n");
    /* --unwind's value is not the PROGRAM: options are still offered after it */
    snprintf(words, sizeof words, "'%s' run --unwind fast --fr", heapsnap_bin());
    cr_expect_str_eq(complete(words), "--frames\n");
}

/* CMD run on a terminal: script(1) gives it a pseudo-terminal. */
static char *on_a_terminal(const char *cmd, bool no_color)
{
    const char *env[] = {no_color ? "NO_COLOR=1" : "HEAPSNAP_TEST=1", "TERM=xterm", NULL};
    struct run_result r = run_in(dir, env, ARGS("/usr/bin/script", "-qec", cmd, "/dev/null"));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    free(r.err);
    return r.out;
}

/* Leak kinds and diff growth in colour on a terminal; never in a pipe, nor
 * with NO_COLOR set. */
Test(cli, colour_on_a_terminal_only)
{
    char *trace = path_join(dir, "leak.trace");
    struct run_result r = run_in(dir, NULL, ARGS(heapsnap_bin(), "run", "-q", "-o", trace, "--", sample("leak")));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    run_free(&r);
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "'%s' leaks '%s'", heapsnap_bin(), trace);
    char *tty = on_a_terminal(cmd, false);
    cr_expect(strstr(tty, "100 bytes in 1 blocks are \033[1;31mdefinitely lost\033[0m in loss record 1 of 1"), "%s",
              tty);
    cr_expect(strstr(tty, "   \033[1;31mdefinitely lost: 100 bytes in 1 blocks\033[0m"), "%s", tty);
    cr_expect(strstr(tty, "\n   indirectly lost: 0 bytes in 0 blocks"), "nothing to see: no colour\n%s", tty);
    char *plain = on_a_terminal(cmd, true);
    cr_expect(!strchr(plain, '\033'), "NO_COLOR: %s", plain);
    cr_expect(strstr(plain, "are definitely lost in loss record"), "%s", plain);
    char *piped = heapsnap_out(dir, ARGS("leaks", trace));
    cr_expect(!strchr(piped, '\033'), "%s", piped);
    /* diff: growth red */
    char *phases = trace_program(dir, "phases.trace", ARGS(sample("phases")));
    snprintf(cmd, sizeof cmd, "'%s' diff '%s@warm' '%s@exit' --by function --limit 1", heapsnap_bin(), phases, phases);
    tty = on_a_terminal(cmd, false);
    cr_expect(strstr(tty, "grow_sessions: size=87.9 KiB (\033[31m+87.9 KiB\033[0m), count=30 (+30)"), "%s", tty);
}

/* A long read shows its progress on a terminal's stderr and erases it;
 * elsewhere nothing. HEAPSNAP_PROGRESS_MS=0 shows it at once (the default
 * waits a second, longer than reading a sample's trace takes). */
Test(cli, progress_on_a_terminal_only)
{
    char *trace = trace_program(dir, "phases.trace", ARGS(sample("phases")));
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "HEAPSNAP_PROGRESS_MS=0 '%s' report '%s' >/dev/null", heapsnap_bin(), trace);
    char *tty = on_a_terminal(cmd, false);
    char want[8400];
    snprintf(want, sizeof want, "\rheapsnap: reading %s: 100%%\r\033[K", trace);
    cr_expect(strstr(tty, want), "%s", tty);
    snprintf(cmd, sizeof cmd, "HEAPSNAP_PROGRESS_MS=60000 '%s' report '%s' >/dev/null", heapsnap_bin(), trace);
    cr_expect_str_eq(on_a_terminal(cmd, false), "", "a read shorter than the delay: no line");
    const char *env[] = {"HEAPSNAP_PROGRESS_MS=0", NULL};
    struct run_result r = run_in(dir, env, ARGS(heapsnap_bin(), "report", trace));
    cr_expect_eq(r.exit_code, 0);
    cr_expect_str_eq(r.err, "", "stderr is not a terminal: no progress");
    run_free(&r);
}

/* Every option a command's manual page documents (its OPTIONS lines, as the
 * pages' sources write them) is in `heapsnap CMD --help`, and the command
 * takes it: given alone, it may fail for want of an operand or a good
 * value, never as unknown or as wanting a value it was given. */
Test(cli, every_documented_option_is_taken)
{
    static const char *const cmds[] = {"run",      "report", "pack",  "stats", "diff",       "snapshot",
                                       "timeline", "leaks",  "check", "html",  "flamegraph", "export"};
    size_t checked = 0;
    for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++) {
        char path[4096], line[1024];
        snprintf(path, sizeof path, "%s/docs/man/heapsnap-%s.1.scd", SOURCE_DIR, cmds[c]);
        FILE *f = fopen(path, "r");
        cr_assert(f, "%s", path);
        struct run_result help = run_in(dir, NULL, ARGS(heapsnap_bin(), cmds[c], "--help"));
        cr_expect_eq(help.exit_code, 0, "%s --help", cmds[c]);
        bool in_options = false;
        while (fgets(line, sizeof line, f)) {
            if (line[0] == '#') in_options = strncmp(line, "# OPTIONS", 9) == 0;
            if (!in_options || strncmp(line, "*-", 2) != 0) continue;
            /* "*-o*, *--output* _FILE_": the long name, and whether a value follows */
            const char *l = strstr(line, "*--");
            cr_assert(l, "%s: %s", path, line);
            char name[64];
            size_t len = strcspn(l + 1, "*");
            snprintf(name, sizeof name, "%.*s", (int)len, l + 1);
            const char *after = l + 1 + len + 1;
            bool value = after[0] == ' ' && after[1] == '_';
            char spelled[128];
            snprintf(spelled, sizeof spelled, "%s%s", name, value ? "=x" : "");
            char want[80];
            snprintf(want, sizeof want, "%s%s", name, value ? " " : "");
            cr_expect(strstr(help.out, want), "heapsnap %s --help does not show %s", cmds[c], name);
            if (strcmp(name, "--help") == 0) continue;
            struct run_result r = run_in_limited(dir, NULL, ARGS(heapsnap_bin(), cmds[c], spelled), 30);
            cr_expect(!strstr(r.err, "unknown option") && !strstr(r.err, "needs a value"), "heapsnap %s %s: %s",
                      cmds[c], spelled, r.err);
            run_free(&r);
            checked++;
        }
        fclose(f);
        run_free(&help);
    }
    cr_expect_geq(checked, 50, "only %zu options documented?", checked);
}

/* Whether zsh, after typing words and Tab in an interactive zsh on a
 * pseudo-terminal (zpty) with the completion on its fpath, shows want: read
 * until it does (no sleep to guess), or until the time limit. */
static bool zsh_completes(const char *words, const char *want)
{
    char *script = path_join(dir, "complete.zsh");
    FILE *f = fopen(script, "w");
    cr_assert(f);
    fprintf(f,
            "zmodload zsh/zpty\n"
            "zpty z zsh -f -i\n"
            "zpty -w z \"PS1='> '; fpath=(%s \\$fpath); autoload -U compinit; compinit -u; cd '%s'\"\n"
            "zpty -w -n z $'%s\\t'\n"
            "zpty -r z out '*%s*' && print -r -- found\n"
            "zpty -d z\n",
            COMPLETIONS_DIR, dir, words, want);
    fclose(f);
    struct run_result r = run_in_limited(dir, NULL, ARGS("/usr/bin/zsh", "-f", script), 30);
    bool found = r.exit_code == 0 && strstr(r.out, "found");
    run_free(&r);
    return found;
}

Test(cli, zsh_completion)
{
    char words[4400];
    snprintf(words, sizeof words, "%s run --fr", heapsnap_bin());
    cr_expect(zsh_completes(words, "run --frames"), "%s: no --frames", words);
    snprintf(words, sizeof words, "%s run --unwind fa", heapsnap_bin());
    cr_expect(zsh_completes(words, "run --unwind fast"), "%s: no fast", words);
    trace_program(dir, "p.trace", ARGS(sample("phases")));
    snprintf(words, sizeof words, "%s stats p.trace@wa", heapsnap_bin());
    cr_expect(zsh_completes(words, "stats p.trace@warm"), "%s: no @warm", words);
}
