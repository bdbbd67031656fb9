/* test_samples.c - every sample under `heapsnap run`, checked against the
 * figures its source comment states: bytes, blocks, calls, functions, how the
 * process ended, and heapsnap run's own exit status. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Runs a sample with -o DIR/main.trace; returns the parsed report. */
static struct json *run_sample(const char *dir, int expect_exit, const char *const *argv_tail)
{
    char *trace = path_join(dir, "main.trace");
    const char *argv[16] = {heapsnap_bin(), "run", "-q", "-o", trace, "--"};
    size_t k = 6;
    for (size_t i = 0; argv_tail[i]; i++) argv[k++] = argv_tail[i];
    argv[k] = NULL;
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, expect_exit, "exit %d, stderr:\n%s", r.exit_code, r.err);
    run_free(&r);
    struct json *j = report_json_of(trace);
    free(trace);
    return j;
}

#define SAMPLE(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(samples, plain_leak)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 0, SAMPLE(sample("leak")));
    cr_expect_eq(json_int(j, "totals.allocations"), 11);
    cr_expect_eq(json_int(j, "totals.frees"), 10);
    cr_expect_eq(json_int(j, "totals.peak_bytes"), 164);
    cr_expect_eq(json_int(j, "totals.peak_blocks"), 2);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 100);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 1);
    cr_expect_eq(json_len(j, "leaks"), 1);
    cr_expect_eq(json_int(j, "leaks.0.bytes"), 100);
    cr_expect_str_eq(json_str(j, "leaks.0.stack.0.function"), "plain_leak");
    cr_expect_eq(json_int(j, "leaks.0.stack.0.line"), 8); /* samples/leak.c: plain_leak */
    cr_expect(strstr(json_str(j, "leaks.0.stack.0.file"), "samples/leak.c") != NULL);
    cr_expect_str_eq(json_str(j, "leaks.0.stack.0.module"), "leak");
    cr_expect_str_eq(json_str(j, "leaks.0.stack.1.function"), "main");
    cr_expect_str_eq(json_str(j, "end.how"), "exit");
    cr_expect_eq(json_int(j, "end.code"), 0);
    /* At the peak: the leak and one temporary, from two stacks. */
    cr_expect_eq(json_len(j, "peak"), 2);
    cr_expect_eq(json_int(j, "peak.0.bytes"), 100);
    cr_expect_str_eq(json_str(j, "peak.1.stack.0.function"), "temporaries");
    cr_expect_eq(json_int(j, "peak.1.bytes"), 64);
    json_free(j);
}

Test(samples, realloc_chain)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 0, SAMPLE(sample("realloc_chain")));
    cr_expect_eq(json_int(j, "totals.allocations"), 8);
    cr_expect_eq(json_int(j, "totals.reallocs"), 5);
    cr_expect_eq(json_int(j, "totals.frees"), 2);
    cr_expect_eq(json_int(j, "totals.peak_bytes"), 256);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 20);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 1);
    cr_expect_str_eq(json_str(j, "leaks.0.stack.0.function"), "leaky_chain");
    json_free(j);
}

Test(samples, whole_malloc_family)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 0, SAMPLE(sample("alloc_family")));
    cr_expect_eq(json_int(j, "totals.allocations"), 8);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 335);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 8);
    cr_expect_eq(json_len(j, "leaks"), 8); /* one call site each */
    for (int i = 0; i < 8; i++) {
        char p[64];
        snprintf(p, sizeof p, "leaks.%d.stack.0.function", i);
        cr_expect_str_eq(json_str(j, p), "family", "group %d", i);
    }
    json_free(j);
}

Test(samples, cxx_new_delete)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 0, SAMPLE(sample("cxx_leak")));
    cr_expect_eq(group_int(j, "leaks", "leak_widget()", "bytes"), 48);
    cr_expect_str_eq(group_str(j, "leaks", "leak_widget()", "stack.1.function"), "main");
    /* new int[10] and new Widget were deleted: 2 frees, and libstdc++'s
     * emergency exception pool by its cleanup at exit; the leaked Widget stays. */
    cr_expect_eq(json_int(j, "totals.frees"), 3);
    cr_expect_eq(json_int(j, "totals.allocations") - json_int(j, "totals.frees"), 1);
    json_free(j);
}

Test(samples, threads_free_each_others_blocks)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 0, SAMPLE(sample("threads")));
    cr_expect_eq(json_int(j, "totals.unmatched_frees"), 0);
    cr_expect_eq(group_int(j, "leaks", "producer_leak", "bytes"), 4000);
    cr_expect_eq(group_int(j, "leaks", "producer_leak", "blocks"), 4);
    /* 80000 blocks from produce() crossed threads and address reuse: none may
     * be left over. */
    cr_expect_eq(find_group(j, "leaks", "produce"), -1);
    cr_expect_geq(json_int(j, "totals.allocations"), 80004);
    cr_expect_geq(json_int(j, "totals.frees"), 80000);
    json_free(j);
}

Test(samples, dlclosed_plugin_still_resolves)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 0, SAMPLE(sample("plugin_host"), sample("libhsplugin.so")));
    cr_expect_eq(group_int(j, "leaks", "plugin_leak", "bytes"), 256);
    cr_expect_str_eq(group_str(j, "leaks", "plugin_leak", "stack.0.module"), "libhsplugin.so");
    cr_expect_eq(group_int(j, "leaks", "plugin_leak", "stack.0.line"), 4); /* samples/plugin.c */
    json_free(j);
}

Test(samples, abort_half_way)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 134, SAMPLE(sample("aborts")));
    cr_expect_str_eq(json_str(j, "end.how"), "signal");
    cr_expect_eq(json_int(j, "end.signal"), 6);
    cr_expect_str_eq(json_str(j, "end.signal_name"), "SIGABRT");
    cr_expect_eq(json_int(j, "totals.allocations"), 1000);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 16000);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 1000);
    cr_expect_str_eq(json_str(j, "leaks.0.stack.0.function"), "keep");
    json_free(j);
}

Test(samples, killed_by_sigkill)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 137, SAMPLE(sample("sigkill")));
    cr_expect_str_eq(json_str(j, "end.how"), "signal");
    cr_expect_eq(json_int(j, "end.signal"), 9);
    cr_expect_eq(json_int(j, "totals.allocations"), 500);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 12000);
    cr_expect_str_eq(json_str(j, "leaks.0.stack.0.function"), "hold");
    json_free(j);
}

Test(samples, underscore_exit)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 7, SAMPLE(sample("quick_exit")));
    cr_expect_str_eq(json_str(j, "end.how"), "_exit");
    cr_expect_eq(json_int(j, "end.code"), 7);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 80);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 10);
    cr_expect_str_eq(json_str(j, "leaks.0.stack.0.function"), "early");
    json_free(j);
}

Test(samples, frames_option_limits_depth)
{
    char *dir = temp_dir();
    char *trace = path_join(dir, "t.trace");
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--frames", "1", "-o", trace, "--", sample("leak"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    struct json *j = report_json_of(trace);
    cr_expect_eq(json_len(j, "leaks.0.stack"), 1);
    cr_expect_str_eq(json_str(j, "leaks.0.stack.0.function"), "plain_leak");
    json_free(j);
}

/* The program's own output and status pass through untouched. */
Test(samples, program_output_untouched)
{
    char *dir = temp_dir();
    const char *argv[] = {heapsnap_bin(), "run", "-q", "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 42", NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 42);
    cr_expect_str_eq(r.out, "out\n");
    cr_expect_str_eq(r.err, "err\n");
    run_free(&r);
}

Test(samples, summary_on_stderr)
{
    char *dir = temp_dir();
    const char *argv[] = {heapsnap_bin(), "run", "--", sample("leak"), NULL};
    struct run_result r = run_in(dir, NULL, argv);
    cr_expect_eq(r.exit_code, 0);
    cr_expect_str_eq(r.out, "");
    cr_expect(strstr(r.err, "allocation calls:  11") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "still live at end: 100 B in 1 block") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "at plain_leak (") != NULL, "%s", r.err);
    run_free(&r);
}

Test(samples, trace_file_is_private)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 0, SAMPLE(sample("leak")));
    json_free(j);
    char *trace = path_join(dir, "main.trace");
    struct stat st;
    cr_assert_eq(stat(trace, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
}

Test(samples, constructors_destructors_signal_handlers)
{
    char *dir = temp_dir();
    struct json *j = run_sample(dir, 0, SAMPLE(sample("lifecycle")));
    cr_expect_eq(json_int(j, "totals.allocations"), 3);
    cr_expect_eq(json_int(j, "totals.frees"), 1);
    cr_expect_eq(json_int(j, "totals.leaked_bytes"), 50);
    cr_expect_eq(json_int(j, "totals.leaked_blocks"), 2);
    cr_expect_geq(find_group(j, "leaks", "on_signal"), 0);
    cr_expect_geq(find_group(j, "leaks", "at_exit"), 0);
    cr_expect_eq(find_group(j, "leaks", "before_main"), -1, "freed by the destructor");
    json_free(j);
}

/* heapsnap.h's calls are weak references: the same binary runs without
 * heapsnap (the probe says 0) and under it, unrelinked (the probe says 1). */
Test(samples, api_header_without_and_with_heapsnap)
{
    const char *bare[] = {sample("api_probe"), NULL};
    struct run_result r = run_in(NULL, NULL, bare);
    cr_expect_eq(r.exit_code, 0);
    run_free(&r);
    char *dir = temp_dir();
    const char *traced[] = {heapsnap_bin(), "run", "-q", "--", sample("api_probe"), NULL};
    r = run_in(dir, NULL, traced);
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    run_free(&r);
}

/* heapsnap_traced_memory() moves by each block's usable bytes, as
 * malloc_usable_size gives them, for every small size, blocks glibc maps on
 * their own, aligned blocks and reallocs (the shim reads glibc's chunk
 * header instead of calling it: that must give the same figure). */
Test(samples, traced_memory_counts_usable_bytes)
{
    struct run_result r = run_in(NULL, NULL, (const char *[]){sample("usable_sizes"), NULL});
    cr_expect_eq(r.exit_code, 0);
    cr_expect_str_eq(r.out, "untraced\n");
    run_free(&r);
    char *dir = temp_dir();
    r = run_in(dir, NULL, (const char *[]){heapsnap_bin(), "run", "-q", "--", sample("usable_sizes"), NULL});
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "ok\n");
    run_free(&r);
}

/* libheapsnap.so's functions in the dynamic symbol table: the ones it
 * interposes, heapsnap.h's and LeakSanitizer's entry points, nothing of its
 * own inside (the trace library it links, its modules): a program defining
 * one of those names must not be bound to ours, nor ours to its. A new
 * interposed function belongs in this list. */
Test(samples, the_shim_exports_only_its_interfaces)
{
    static const char *const interposed[] = {
        "_Exit", "__libc_start_main", "_exit", "aligned_alloc", "brk", "calloc", "close", "close_range", "closefrom",
        "dlclose", "dup2", "dup3", "execl", "execle", "execlp", "execv", "execve", "execvp", "execvpe", "exit", "free",
        "malloc", "memalign", "mmap", "mmap64", "mremap", "munmap", "pipe", "pipe2", "posix_memalign", "ptrace",
        "pvalloc", "realloc", "reallocarray", "sbrk", "syscall", "valloc"};
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", shim_path());
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char line[512], type[8], name[400];
    int functions = 0;
    while (fgets(line, sizeof line, p)) {
        unsigned long long addr;
        if (sscanf(line, "%llx %7s %399s", &addr, type, name) != 3 || strcmp(type, "T") != 0) continue;
        functions++;
        bool ok = strncmp(name, "heapsnap_", 9) == 0 || strncmp(name, "__lsan_", 7) == 0;
        for (size_t i = 0; !ok && i < sizeof interposed / sizeof *interposed; i++)
            ok = strcmp(name, interposed[i]) == 0;
        cr_expect(ok, "libheapsnap.so exports %s", name);
    }
    cr_expect_eq(pclose(p), 0);
    cr_expect_geq(functions, (int)(sizeof interposed / sizeof *interposed), "nm found %d functions", functions);
}
