/* shim_process.c - the process around the allocator: how it ends (return from
 * main, exit, _exit, fatal signals), fork children, exec, and --no-follow.
 *
 * The trace is durable at every moment (spool.c); what is recorded here is
 * only *how* the process ended, written into the trace header. */
#include "shim.h"
#include "elf_probe.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

void shim_reset_after_fork(void);

static int exit_status;
static bool exit_status_known;

static void note_exit(int status)
{
    exit_status = status;
    exit_status_known = true;
}

/* ---- main's return value: glibc calls exit() internally, out of reach -- */

typedef int (*main_fn)(int, char **, char **);
static main_fn real_main;

static int main_wrapper(int argc, char **argv, char **envp)
{
    lsan_program_ready(); /* every constructor has run: the program's LSan hooks can be asked */
    int rc = real_main(argc, argv, envp);
    note_exit(rc);
    shim_exit_frame = (uintptr_t)__builtin_frame_address(0); /* main's frames are gone */
    return rc;
}

SHIM_EXPORT int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                                  void (*rtld_fini)(void), void *stack_end)
{
    int (*real)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *) =
        (__typeof__(real))shim_next("__libc_start_main");
    real_main = main;
    return real(main_wrapper, argc, argv, init, fini, rtld_fini, stack_end);
}

SHIM_EXPORT void exit(int status)
{
    static void (*real)(int) __attribute__((noreturn));
    note_exit(status);
    /* The caller's frames stay (memcheck scans them); exit's own are dead. */
    if (!shim_exit_frame && getpid() == shim_traced_pid()) shim_exit_frame = (uintptr_t)__builtin_frame_address(0);
    if (!real) real = (__typeof__(real))shim_next("exit");
    real(status);
}

__attribute__((destructor)) static void shim_destructor(void)
{
    if (atomic_load(&shim_state) != SHIM_ACTIVE) return;
    shim_finish(exit_status_known ? END_EXIT : END_EXIT_NOCODE, exit_status, shim_exit_frame, true);
}

/* _exit skips destructors, so it finishes the trace itself. It must not call
 * dlsym: a vfork child runs on our memory and may call it. */
static __attribute__((noreturn)) void underscore_exit(int status)
{
    if (atomic_load(&shim_state) == SHIM_ACTIVE) shim_finish(END_UNDERSCORE_EXIT, status, 0, true);
    for (;;) shim_sys(SYS_exit_group, status, 0, 0);
}

SHIM_EXPORT void _exit(int status) { underscore_exit(status); }
SHIM_EXPORT void _Exit(int status) { underscore_exit(status); }

/* ---- fatal signals ----------------------------------------------------- */

static const int fatal_signals[] = {SIGSEGV, SIGBUS,  SIGILL,  SIGFPE,  SIGABRT, SIGTRAP, SIGSYS,  SIGTERM,
                                    SIGINT,  SIGHUP,  SIGQUIT, SIGPIPE, SIGALRM, SIGXCPU, SIGXFSZ, SIGUSR1,
                                    SIGUSR2};

/* Installed only where the disposition is the default, with SA_RESETHAND: the
 * program's own handlers replace ours, and re-raising ends the process exactly
 * as the default would (same signal, same core dump). Writes only the header.
 * The re-raised signal is delivered after this handler returns, so the
 * process dies with the interrupted context's registers, and a leak check at
 * its exit scans the stack from there, not through this handler's frames. */
static void on_fatal_signal(int sig)
{
    int saved = errno;
    shim_finish(END_SIGNAL, sig, 0, false);
    raise(sig);
    errno = saved;
}

static void on_fork_child(void)
{
    /* First of all: the child has one thread, and the locks the parent's
     * other threads held at the fork are held by no one now. */
    arena_after_fork();
    fd_after_fork();
    run_after_fork();
    if (atomic_load(&shim_state) != SHIM_ACTIVE) return;
    run_note_let_go(); /* from the parent's header, before it is gone */
    shim_tls.in_shim++; /* the parent's trace segments: our own unmappings, not the program's */
    spool_forget();
    shim_tls.in_shim--;
    if (shim_attached) {
        /* No one traces or detaches the child of an attached process: it is
         * left as a detach leaves one, its calls going where they went before
         * and none of our descriptors (a preforked worker may live long, and
         * its close loops would find them refused). */
        atomic_store(&shim_state, SHIM_OFF);
        shim_tls.in_shim++;
        got_after_fork();
        got_restore_all();
        fd_release_all();
        shim_tls.in_shim--;
        return;
    }
    if (!shim_config.follow) {
        atomic_store(&shim_state, SHIM_OFF);
        return;
    }
    shim_tls.in_shim++;
    shim_reset_after_fork();
    shim_open_trace(shim_tls.fork_ticks);
    shim_tls.in_shim--;
}

/* ---- exec: resolved at init, so a vfork child never needs the loader ---- */

static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);

/* The kernel does not grant a set-user-ID (or -group-ID, or file capability)
 * program its privileges while the process is traced with ptrace by someone
 * who lacks them: `heapsnap run` must let go first, or the program would run
 * unprivileged (sudo would fail). LD_PRELOAD is ignored for such a program
 * anyway, so there is nothing to trace in it. A set-user-ID program owned by
 * our real user (root running a root-owned one), or a set-group-ID one of our
 * real group, changes no id when our effective ids are the real ones: it
 * runs as any other program, loads the shim, and stays traced (letting go
 * would leave this process unchecked if the exec failed). A set-group-ID bit
 * without group execute marks mandatory locking, not a privilege. */
static bool gains_privileges(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return false;
    uid_t uid = getuid();
    gid_t gid = getgid();
    if ((st.st_mode & S_ISUID) && (st.st_uid != uid || geteuid() != uid)) return true;
    bool setgid = (st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
    if (setgid && (st.st_gid != gid || getegid() != gid)) return true;
    return getxattr(path, "security.capability", NULL, 0) > 0;
}

/* A program with a sanitizer runtime: LSan will not check a process that
 * is traced with ptrace, so `heapsnap run` lets it go (and the shim that
 * loads in it starts it again without heapsnap, shim_lsan.c). */
static bool must_be_let_go(const char *path) { return gains_privileges(path) || sanitizer_runtime_in(path, NULL, 0); }

/* file as execvp searches it: in PATH unless it has a slash. */
static bool search_must_be_let_go(const char *file)
{
    if (strchr(file, '/')) return must_be_let_go(file);
    const char *path = getenv("PATH");
    if (!path) path = "/bin:/usr/bin";
    char buf[4096];
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? p : ".", file);
        if (access(buf, X_OK) == 0) return must_be_let_go(buf);
        p += len + (p[len] == ':');
    }
    return false;
}

static void note_exec(const char *path, bool searched)
{
    if (getpid() != shim_traced_pid()) return; /* a vfork child: not our trace */
    emit_exec(path);
    struct trace_header *h = spool_header();
    if (h && atomic_load((_Atomic uint32_t *)&h->supervisor) &&
        (searched ? search_must_be_let_go(path) : must_be_let_go(path)))
        run_request(RUN_REQ_RELEASE, 0);
}

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    note_exec(path, false);
    return real_execve(path, argv, envp);
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    note_exec(file, true);
    return real_execvpe(file, argv, envp);
}

SHIM_EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }
SHIM_EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

/* execl and friends: collect the variadic arguments on our stack. */
#define COLLECT_ARGS(first, ap, argv)                                                                               \
    size_t n_ = 1;                                                                                                  \
    va_start(ap, first);                                                                                            \
    while (va_arg(ap, char *)) n_++;                                                                                \
    va_end(ap);                                                                                                     \
    char *argv[n_ + 1];                                                                                             \
    argv[0] = (char *)first;                                                                                        \
    va_start(ap, first);                                                                                            \
    for (size_t i_ = 1; i_ <= n_; i_++) argv[i_] = va_arg(ap, char *);

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    COLLECT_ARGS(arg, ap, argv)
    va_end(ap);
    return execve(path, argv, environ);
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    COLLECT_ARGS(arg, ap, argv)
    va_end(ap);
    return execvpe(file, argv, environ);
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    COLLECT_ARGS(arg, ap, argv)
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}

void process_install_hooks(void)
{
    real_execve = (__typeof__(real_execve))shim_next("execve");
    real_execvpe = (__typeof__(real_execvpe))shim_next("execvpe");
    static bool atfork_done;
    if (!atfork_done) {
        pthread_atfork(emit_fork, NULL, on_fork_child);
        atfork_done = true;
    }
    /* Attached to a running process: its signal dispositions stay its own
     * (the trace is durable as it is written; `heapsnap attach` sees the end). */
    if (shim_attached) return;
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++) {
        struct sigaction old;
        if (sigaction(fatal_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        struct sigaction sa = {.sa_handler = on_fatal_signal, .sa_flags = SA_RESETHAND | SA_ONSTACK | SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(fatal_signals[i], &sa, NULL);
    }
}

/* --no-follow: remove our library from LD_PRELOAD in place (no allocation),
 * so programs this one execs run untraced. */
void process_strip_preload(void) { process_strip_preload_in(environ); }

void process_strip_preload_in(char **env)
{
    Dl_info self;
    if (!dladdr((void *)process_strip_preload, &self) || !self.dli_fname) return;
    const char *base = strrchr(self.dli_fname, '/');
    base = base ? base + 1 : self.dli_fname;
    for (char **e = env; e && *e; e++) {
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0) continue;
        char *src = *e + 11, *dst = src;
        while (*src) {
            size_t len = strcspn(src, ": ");
            const char *slash = memrchr(src, '/', len);
            const char *name = slash ? slash + 1 : src;
            bool ours = (size_t)(src + len - name) == strlen(base) && strncmp(name, base, strlen(base)) == 0;
            if (!ours) {
                if (dst != *e + 11) *dst++ = ':';
                memmove(dst, src, len);
                dst += len;
            }
            src += len;
            while (*src == ':' || *src == ' ') src++;
        }
        *dst = 0;
    }
}
