/* test_attach.c - `heapsnap attach` and `detach` on a process already
 * running (samples/server_loop: a line server on 127.0.0.1, two threads
 * allocating, a timer): exact figures for what it allocates while attached,
 * the leak check of the running process, and the process left as it was:
 * still serving, the same descriptors, no trace mapping, no thread stopped,
 * its output untouched; attaching twice; and what refuses an attach. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

struct server {
    pid_t pid;
    int port;
    FILE *out; /* its stdout, after the port line */
};

/* Starts argv (stdout a pipe) and reads its port from the first line that
 * says "port N". */
static void start_program(struct server *s, const char *const *argv, const char *dir)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    s->pid = fork();
    cr_assert(s->pid >= 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing test leaves no server behind */
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        int null = open("/dev/null", O_WRONLY); /* http.server logs each request there */
        if (null >= 0) dup2(null, 2);
        if (dir && chdir(dir) != 0) _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    s->out = fdopen(p[0], "r");
    char line[512];
    s->port = 0;
    while (!s->port && fgets(line, sizeof line, s->out)) {
        const char *at = strstr(line, "port ");
        if (at) s->port = atoi(at + 5);
    }
    cr_assert_gt(s->port, 0, "%s said its port", argv[0]);
}

static void start_server(struct server *s)
{
    start_program(s, (const char *const[]){sample("server_loop"), NULL}, NULL);
}

static void stop_server(struct server *s)
{
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    fclose(s->out);
}

/* A connection to the server on 127.0.0.1, as a stream. */
static FILE *connect_to(const struct server *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "the server still accepts");
    return fdopen(fd, "r+");
}

/* Sends one request line, returns the answer line (static). */
static const char *ask(const struct server *s, const char *line)
{
    static char answer[256];
    FILE *f = connect_to(s);
    fprintf(f, "%s\n", line);
    fflush(f);
    answer[0] = 0;
    cr_assert(fgets(answer, sizeof answer, f), "the server answers '%s'", line);
    answer[strcspn(answer, "\n")] = 0;
    fclose(f);
    return answer;
}

struct attach {
    pid_t pid;
    FILE *err;
};

/* `heapsnap attach PID -o TRACE EXTRA...` in the background; returns once it
 * says it is attached. */
static void attach_to(struct attach *a, const struct server *s, const char *dir, const char *trace, const char *extra)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", s->pid);
    a->pid = fork();
    cr_assert(a->pid >= 0);
    if (a->pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        if (chdir(dir) != 0 || !freopen("attach.out", "w", stdout)) _exit(127);
        if (extra)
            execl(heapsnap_bin(), "heapsnap", "attach", pid, "-o", trace, extra, (char *)NULL);
        else
            execl(heapsnap_bin(), "heapsnap", "attach", pid, "-o", trace, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    a->err = fdopen(p[0], "r");
    char line[4096];
    bool attached = false;
    while (!attached && fgets(line, sizeof line, a->err))
        attached = strstr(line, "heapsnap: attached to ") != NULL;
    cr_assert(attached, "heapsnap attach says it attached (last line: %s)", line);
}

/* `heapsnap detach PID`, then the attach's end: its status, its stderr. */
static char *detach_from(struct attach *a, const struct server *s, const char *dir)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%d", s->pid);
    struct run_result r = run_in_limited(dir, NULL, ARGS(heapsnap_bin(), "detach", pid), 60);
    cr_assert_eq(r.exit_code, 0, "detach: %s", r.err);
    cr_assert(strstr(r.err, "heapsnap: detached from "), "%s", r.err);
    run_free(&r);
    int st;
    cr_assert_eq(waitpid(a->pid, &st, 0), a->pid);
    size_t cap = 1 << 20;
    char *rest = malloc(cap);
    size_t n = fread(rest, 1, cap - 1, a->err);
    rest[n] = 0;
    fclose(a->err);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the attach ended well: %s", rest);
    return rest;
}

/* The process's descriptors, as one string. */
static char *fds_of(pid_t pid)
{
    char path[64], *out = calloc(1, 8192);
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char link[512], target[256] = "";
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        target[n > 0 ? n : 0] = 0;
        size_t len = strlen(out);
        snprintf(out + len, 8192 - len, "%s->%s ", e->d_name, target);
    }
    if (d) closedir(d);
    return out;
}

/* The descriptors of pid once it has closed the connections of our
 * requests (it may still be reading the last one's end). */
static char *fds_settled(pid_t pid, const char *expected)
{
    char *now = fds_of(pid);
    for (int i = 0; i < 200 && strcmp(now, expected) != 0; i++) {
        free(now);
        struct timespec ms = {0, 10 * 1000 * 1000};
        nanosleep(&ms, NULL);
        now = fds_of(pid);
    }
    return now;
}

static int sockets_in(const char *fds)
{
    int n = 0;
    for (const char *p = fds; (p = strstr(p, "socket:")); p++)
        n++;
    return n;
}

/* Until pid has no more sockets than when idle: our requests' ends read. */
static void wait_connections_closed(pid_t pid, const char *fds_idle)
{
    for (int i = 0; i < 200; i++) {
        char *now = fds_of(pid);
        bool idle = sockets_in(now) <= sockets_in(fds_idle);
        free(now);
        if (idle) return;
        struct timespec ms = {0, 10 * 1000 * 1000};
        nanosleep(&ms, NULL);
    }
}

/* Whether a thread of pid is stopped (t/T) or the process maps a trace. */
static bool any_thread_stopped(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    struct dirent *e;
    bool stopped = false;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char stat[512], buf[512] = "";
        snprintf(stat, sizeof stat, "%s/%s/stat", path, e->d_name);
        FILE *f = fopen(stat, "r");
        if (f && fgets(buf, sizeof buf, f)) {
            const char *p = strrchr(buf, ')');
            if (p && (p[2] == 't' || p[2] == 'T')) stopped = true;
        }
        if (f) fclose(f);
    }
    if (d) closedir(d);
    return stopped;
}

static bool maps_mention(pid_t pid, const char *needle)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    char *maps = file_contents(path, NULL);
    bool yes = maps && strstr(maps, needle);
    free(maps);
    return yes;
}

/* Until pid maps needle (its exec done, a library loaded): a fixed sleep
 * would attach to the forked test process itself under load. */
static void wait_for_map(pid_t pid, const char *needle)
{
    for (int i = 0; i < 500 && !maps_mention(pid, needle); i++) {
        struct timespec ms = {0, 10 * 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    cr_assert(maps_mention(pid, needle), "process %d never mapped %s", pid, needle);
}

/* An attach to pid is refused in one line naming why, and pid is left alone. */
static void expect_attach_refused(const char *dir, pid_t pid, const char *why)
{
    char spid[16];
    snprintf(spid, sizeof spid, "%d", pid);
    expect_one_line_error(dir, ARGS("attach", spid), 1, why);
    cr_assert_eq(kill(pid, 0), 0, "the process lives on");
}

static long long by_function(const char *dir, const char *trace, const char *fn, const char *field)
{
    struct json *j = heapsnap_json(dir, ARGS("stats", trace, "--by", "function", "--limit", "0", "--format", "json"));
    long long v = stats_field(j, fn, field);
    json_free(j);
    return v;
}

/* One attach: the blocks kept before are freed (unknown to this trace:
 * unmatched frees), then 100 x 48 B kept and 5 x 32 B leaked. */
static void one_session(const struct server *s, const char *dir, const char *trace, long long unmatched,
                        const char *fds_idle)
{
    struct attach a;
    attach_to(&a, s, dir, trace, "--leak-check");
    cr_assert(maps_mention(s->pid, trace), "attached, the process maps its trace");
    cr_assert_str_eq(ask(s, "free"), "ok");
    cr_assert_str_eq(ask(s, "alloc 100 48"), "ok");
    cr_assert_str_eq(ask(s, "leak 5 32"), "ok");
    wait_connections_closed(s->pid, fds_idle); /* its FILE freed */
    char *rest = detach_from(&a, s, dir);
    /* A snapshot file of it, for a CI baseline, as of any trace. */
    free(heapsnap_out(dir, ARGS("snapshot", trace, "-o", "attached.json")));
    struct json *snap = json_parse(file_contents(path_join(dir, "attached.json"), NULL));
    cr_assert(snap, "the snapshot file is JSON");
    json_free(snap);
    char *out = file_contents(path_join(dir, "attach.out"), NULL);
    cr_assert(out && strstr(out, "definitely lost: 160 bytes in 5 blocks"),
              "--leak-check prints memcheck's summary: %s", out);
    free(out);
    cr_assert(strstr(rest, "detached from "), "%s", rest);
    free(rest);
    cr_assert_eq(by_function(dir, trace, "keep_blocks", "size"), 100 * 48);
    cr_assert_eq(by_function(dir, trace, "keep_blocks", "count"), 100);
    cr_assert_eq(by_function(dir, trace, "drop_blocks", "size"), 5 * 32);
    cr_assert_eq(by_function(dir, trace, "churn", "count"), -1, "the churn threads' blocks are all freed");
    struct json *leaks = leaks_json_in(dir, trace, NULL);
    cr_assert_eq(leak_bytes(leaks, "definitely_lost"), 160, "the 5 dropped blocks, and nothing else, are lost");
    cr_assert_eq(leak_blocks(leaks, "definitely_lost"), 5);
    cr_assert_eq(leak_bytes(leaks, "still_reachable"), 4800, "the kept blocks are reachable from the kept[] array");
    json_free(leaks);
    char *path = path_join(dir, trace);
    struct json *r = report_json_of(path);
    cr_assert_eq(json_int(r, "totals.unmatched_frees"), unmatched, "the frees of blocks made before the attach");
    cr_assert(json_bool(r, "totals.attached"), "the report says the trace is of an attach");
    json_free(r);
    free(path);
}

Test(attach, exact_while_attached_and_the_process_left_as_it_was, .timeout = 120)
{
    char *dir = temp_dir();
    struct server s;
    start_server(&s);
    char *fds_before = fds_of(s.pid);
    one_session(&s, dir, "first.trace", 10, fds_before); /* server_loop's 10 blocks of 1000 B from its start */
    cr_assert_str_eq(ask(&s, "ping"), "pong", "it still serves");
    cr_assert_str_eq(fds_settled(s.pid, fds_before), fds_before, "no descriptor left open, none taken");
    cr_assert(!maps_mention(s.pid, "first.trace"), "the trace is not mapped any more");
    cr_assert(!any_thread_stopped(s.pid), "no thread left stopped");

    /* Again: the library is still loaded (idle); a new trace, exact again. */
    one_session(&s, dir, "second.trace", 100, fds_before); /* the first session's kept blocks */
    cr_assert_str_eq(ask(&s, "ping"), "pong");
    cr_assert_str_eq(fds_settled(s.pid, fds_before), fds_before);
    cr_assert(!any_thread_stopped(s.pid));
    /* Its output is its own: nothing of heapsnap's on its stdout. */
    kill(s.pid, SIGKILL);
    char rest[256] = "";
    size_t n = fread(rest, 1, sizeof rest - 1, s.out);
    rest[n] = 0;
    cr_assert_str_eq(rest, "", "server_loop printed only its port line");
    stop_server(&s);
}

Test(attach, refusals, .timeout = 60)
{
    char *dir = temp_dir();
    expect_one_line_error(dir, ARGS("attach", "12abc"), 2, "a process id");
    expect_one_line_error(dir, ARGS("attach", "4000000"), 1, "no process 4000000");
    /* A refused attach leaves an old trace of the name it was given alone. */
    char *keep = path_join(dir, "keep.trace");
    FILE *kf = fopen(keep, "w");
    fputs("old\n", kf);
    fclose(kf);
    expect_one_line_error(dir, ARGS("attach", "4000000", "-o", "keep.trace"), 1, "no process 4000000");
    char *kept = file_contents(keep, NULL);
    cr_assert_str_eq(kept, "old\n");
    free(kept);
    expect_one_line_error(dir, ARGS("attach"), 2, "which process?");
    expect_one_line_error(dir, ARGS("detach", "4000000"), 1, "no process 4000000");
    char self[16];
    snprintf(self, sizeof self, "%d", getpid());
    expect_one_line_error(dir, ARGS("detach", self), 1, "heapsnap is not loaded in");

    /* A static program: nothing to load a library with. */
    pid_t st = fork();
    if (st == 0) {
        execl(sample("static_prog"), "static_prog", "30", (char *)NULL);
        _exit(127);
    }
    wait_for_map(st, "static_prog");
    expect_attach_refused(dir, st, "static program");
    kill(st, SIGKILL);
    waitpid(st, NULL, 0);

    /* Another user's process (here: root's, for nobody). */
    struct server s;
    start_server(&s);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", s.pid);
    if (geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0) {
        struct run_result r = run_in(dir, NULL,
                                     ARGS("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                          heapsnap_bin(), "attach", pid));
        cr_assert_eq(r.exit_code, 1, "%s", r.err);
        cr_assert_eq(count_lines(r.err), 1, "one line: %s", r.err);
        cr_assert(strstr(r.err, "another user's process"), "%s", r.err);
        run_free(&r);
        cr_assert_str_eq(ask(&s, "ping"), "pong", "untouched");
    }

    /* A process that has heapsnap preloaded: traced from its start already. */
    {
        char pre[4200], out[4200];
        snprintf(pre, sizeof pre, "LD_PRELOAD=%s", shim_path());
        snprintf(out, sizeof out, "HEAPSNAP_OUTPUT=%s", dir);
        pid_t t = fork();
        if (t == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            putenv(pre);
            putenv(out);
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            execl(sample("server_loop"), "server_loop", (char *)NULL);
            _exit(127);
        }
        /* Its program first: before the exec, the forked test process maps libc too. */
        wait_for_map(t, "server_loop");
        wait_for_map(t, "libc.so");
        expect_attach_refused(dir, t, "preloaded in this process already");
        kill(t, SIGKILL);
        waitpid(t, NULL, 0);
    }

    /* A process traced already (by strace). */
    pid_t tracer = fork();
    if (tracer == 0) {
        execlp("strace", "strace", "-q", "-o", "/dev/null", "-p", pid, (char *)NULL);
        _exit(127);
    }
    bool traced = false;
    for (int i = 0; i < 100 && !traced; i++) {
        struct timespec ms = {0, 100 * 1000 * 1000};
        nanosleep(&ms, NULL);
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", s.pid);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "TracerPid:", 10) == 0 && atoi(line + 10) > 0) traced = true;
        if (f) fclose(f);
    }
    cr_assert(traced, "strace attached");
    expect_attach_refused(dir, s.pid, "already");
    kill(tracer, SIGKILL);
    waitpid(tracer, NULL, 0);
    stop_server(&s);
}

/* GET path from the server; returns the status line's code. */
static int http_get(const struct server *s, const char *path)
{
    FILE *f = connect_to(s);
    fprintf(f, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    fflush(f);
    char line[256] = "";
    int code = 0;
    if (fgets(line, sizeof line, f)) sscanf(line, "HTTP/1.%*d %d", &code);
    while (fgets(line, sizeof line, f)) { /* the rest: the server closes */
    }
    fclose(f);
    return code;
}

/* python3 -m http.server: a real program with threads (one per request),
 * attached twice while it serves. */
Test(attach, python_http_server, .timeout = 180)
{
    if (access("/usr/bin/python3", X_OK) != 0) cr_skip_test("no /usr/bin/python3");
    char *dir = temp_dir();
    char *www = path_join(dir, "www");
    cr_assert_eq(mkdir(www, 0755), 0);
    char *page = path_join(www, "page.txt");
    FILE *f = fopen(page, "w");
    fputs("hello from the page\n", f);
    fclose(f);
    struct server s;
    start_program(
        &s, (const char *const[]){"/usr/bin/python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", NULL},
        www);
    cr_assert_eq(http_get(&s, "/page.txt"), 200);
    wait_connections_closed(s.pid, "socket:"); /* the listening one */
    char *fds_before = fds_of(s.pid);
    for (int round = 0; round < 2; round++) {
        const char *trace = round ? "second.trace" : "first.trace";
        struct attach a;
        attach_to(&a, &s, dir, trace, round ? NULL : "--html=first.html");
        for (int i = 0; i < 50; i++)
            cr_assert_eq(http_get(&s, i % 2 ? "/page.txt" : "/missing"), i % 2 ? 200 : 404);
        char *rest = detach_from(&a, &s, dir);
        free(rest);
        if (round == 0) {
            char *page = file_contents(path_join(dir, "first.html"), NULL);
            cr_assert(page && strstr(page, "<html"), "--html wrote the HTML report");
            free(page);
        }
        cr_assert_eq(http_get(&s, "/page.txt"), 200, "it still serves after the detach");
        cr_assert_str_eq(fds_settled(s.pid, fds_before), fds_before, "no descriptor left open, none taken");
        cr_assert(!maps_mention(s.pid, trace), "the trace is not mapped any more");
        cr_assert(!any_thread_stopped(s.pid), "no thread left stopped");
        char *path = path_join(dir, trace);
        struct json *r = report_json_of(path);
        cr_assert(json_bool(r, "totals.attached"));
        cr_assert_gt(json_int(r, "totals.allocations"), 50 * 10, "50 requests, each a thread and its objects");
        json_free(r);
        free(path);
    }
    stop_server(&s);
}

/* samples/attach_hazards MODE: attached and detached while it does what
 * makes holding a thread dangerous; it must end as it would have (exit 0). */
static void hazard(const char *mode)
{
    char *dir = temp_dir();
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(sample("attach_hazards"), "attach_hazards", mode, "3", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *out = fdopen(p[0], "r");
    char line[256] = "";
    cr_assert(fgets(line, sizeof line, out) && strcmp(line, "ready\n") == 0, "%s", line);
    char spid[16];
    snprintf(spid, sizeof spid, "%d", pid);
    struct run_result r =
        run_in_limited(dir, NULL, ARGS(heapsnap_bin(), "attach", spid, "--duration", "0.5", "-q", "-o", "h.trace"), 60);
    cr_assert_eq(r.exit_code, 0, "%s: %s", mode, r.err);
    run_free(&r);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    size_t n = fread(line, 1, sizeof line - 1, out);
    line[n] = 0;
    fclose(out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the program ended with %d: %s", mode, st, line);
}

Test(attach, vector_registers_come_back, .timeout = 120) { hazard("vector"); }
Test(attach, a_process_that_forks, .timeout = 120) { hazard("fork"); }
Test(attach, signals_while_held, .timeout = 120) { hazard("signals"); }

/* Starts sample name with its stdin and stdout on pipes; returns once it
 * said "ready". */
static void start_piped(struct server *s, const char *name, FILE **to, FILE **from)
{
    int in[2], out[2];
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    *s = (struct server){0};
    s->pid = fork();
    cr_assert(s->pid >= 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execl(sample(name), name, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *to = fdopen(in[1], "w");
    *from = fdopen(out[0], "r");
    char line[64] = "";
    cr_assert(fgets(line, sizeof line, *from) && strcmp(line, "ready\n") == 0, "%s started: %s", name, line);
}

/* A child the attached process forks is traced by no one: it is left as a
 * detach leaves a process, none of heapsnap's descriptors or mappings in it,
 * however long it lives. */
Test(attach, a_child_forked_while_attached_keeps_nothing_of_heapsnap, .timeout = 60)
{
    char *dir = temp_dir();
    struct server s;
    FILE *to, *from;
    start_piped(&s, "fork_on_request", &to, &from);
    char *fds_before = fds_of(s.pid);
    struct attach a;
    attach_to(&a, &s, dir, "forks.trace", NULL);
    fputs("fork\n", to);
    fflush(to);
    int child = 0;
    cr_assert_eq(fscanf(from, "child %d", &child), 1, "fork_on_request forked");
    char *fds_child = fds_settled(child, fds_before); /* its fork handler may still be running */
    cr_assert_str_eq(fds_child, fds_before, "the child has its parent's descriptors of before the attach, no more");
    cr_assert(!maps_mention(child, "forks.trace"), "the child does not map the trace");
    free(detach_from(&a, &s, dir));
    cr_assert_str_eq(fds_settled(s.pid, fds_before), fds_before);
    kill(child, SIGKILL);
    fclose(to);
    int st;
    cr_assert_eq(waitpid(s.pid, &st, 0), s.pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork_on_request ended well (status %d)", st);
    fclose(from);
    free(fds_child);
    free(fds_before);
}
