/* supervise.c - see supervise.h.
 *
 * Options: PTRACE_O_TRACECLONE (threads are attached as they are made; a
 * fork or vfork child is not: it asks, if it runs the shim), TRACEEXEC (an
 * image ends) and TRACEEXIT (every thread stops at its exit with its memory
 * and registers intact; the kernel lets no thread stop there once a fatal
 * signal is pending, so a group exit stops only the thread that started it,
 * and SIGKILL stops none: nothing can check a process killed that way).
 * No PTRACE_O_EXITKILL: if `heapsnap run` dies, the kernel detaches its
 * tracees and they run on.
 *
 * Is this thread's exit the process's end? A fatal signal always is; else
 * the system call it is in says so (exit_group, or exit by the last thread). */
#include "supervise.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUP_OPTIONS (PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT)

static struct sup_thread *find(const struct sup *s, pid_t tid)
{
    struct sup_thread *t;
    HASH_FIND_INT(s->threads, &tid, t);
    return t;
}

static struct sup_thread *add(struct sup *s, pid_t tid, pid_t pid)
{
    struct sup_thread *t = find(s, tid);
    if (t) return t;
    t = xcalloc(1, sizeof *t);
    t->tid = tid;
    t->pid = pid;
    t->state = SUP_RUNNING;
    HASH_ADD_INT(s->threads, tid, t);
    return t;
}

static void drop(struct sup *s, struct sup_thread *t)
{
    HASH_DEL(s->threads, t);
    free(t);
}

static void queue(struct sup *s, struct sup_event ev)
{
    if (s->nqueue == s->capqueue) s->queue = xrealloc(s->queue, (s->capqueue = s->capqueue ? s->capqueue * 2 : 16) * sizeof *s->queue);
    s->queue[s->nqueue++] = ev;
}

/* ---- /proc ---------------------------------------------------------------- */

static bool is_held(const struct sup *s, pid_t pid)
{
    for (size_t i = 0; i < s->nheld; i++)
        if (s->held[i] == pid) return true;
    return false;
}

static void unhold(struct sup *s, pid_t pid)
{
    for (size_t i = 0; i < s->nheld; i++)
        if (s->held[i] == pid) s->held[i--] = s->held[--s->nheld];
}

static pid_t tgid_of(pid_t tid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", tid);
    FILE *f = fopen(path, "r");
    pid_t tgid = tid;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Tgid:", 5) == 0) {
            tgid = (pid_t)atoi(line + 5);
            break;
        }
    if (f) fclose(f);
    return tgid;
}

/* Dead, or dying: a zombie, or SIGKILL pending (a group exit in progress).
 * Such a thread will never stop again, so no one may wait for it to. */
static bool thread_finished(pid_t pid, pid_t tid)
{
    char path[96], line[256];
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
    FILE *f = fopen(path, "r");
    if (!f) return true;
    bool finished = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "State:", 6) == 0) {
            const char *st = line + 6;
            while (*st == ' ' || *st == '\t') st++;
            if (*st == 'Z' || *st == 'X') finished = true;
        } else if (strncmp(line, "SigPnd:", 7) == 0 || strncmp(line, "ShdPnd:", 7) == 0) {
            unsigned long long mask = strtoull(line + 7, NULL, 16);
            if (mask & (1ull << (SIGKILL - 1))) finished = true;
        }
    }
    fclose(f);
    return finished;
}

size_t sup_list_threads(pid_t pid, pid_t **out)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    size_t n = 0, cap = 0;
    *out = NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0) continue;
        if (n == cap) *out = xrealloc(*out, (cap = cap ? cap * 2 : 16) * sizeof **out);
        (*out)[n++] = tid;
    }
    if (d) closedir(d);
    return n;
}

static bool others_live(pid_t pid, pid_t tid)
{
    pid_t *tids;
    size_t n = sup_list_threads(pid, &tids);
    bool live = false;
    for (size_t i = 0; i < n && !live; i++)
        if (tids[i] != tid && !thread_finished(pid, tids[i])) live = true;
    free(tids);
    return live;
}

/* ---- attaching ----------------------------------------------------------- */

bool sup_traces(const struct sup *s, pid_t pid)
{
    for (const struct sup_thread *t = s->threads; t; t = t->hh.next)
        if (t->pid == pid) return true;
    return false;
}

bool sup_attach(struct sup *s, pid_t pid, char *err, size_t errlen)
{
    /* Re-list until no new thread turns up: one not yet seized may start another. */
    for (int round = 0; round < 100; round++) {
        pid_t *tids;
        size_t n = sup_list_threads(pid, &tids);
        bool added = false;
        for (size_t i = 0; i < n; i++) {
            if (find(s, tids[i])) continue;
            if (ptrace(PTRACE_SEIZE, tids[i], 0, (void *)(long)SUP_OPTIONS) != 0) {
                if (errno == ESRCH) continue; /* it just exited */
                snprintf(err, errlen, "cannot trace pid %d with ptrace (%s)", pid, strerror(errno));
                free(tids);
                return false;
            }
            add(s, tids[i], pid);
            added = true;
        }
        free(tids);
        if (!added) return sup_traces(s, pid) || (snprintf(err, errlen, "pid %d is gone", pid), false);
    }
    return true;
}

/* ---- resuming ------------------------------------------------------------ */

static void resume_thread(struct sup_thread *t)
{
    t->interrupted = false;
    if (t->group_stop) {
        /* Job control: stay stopped until SIGCONT, still reporting to us. */
        ptrace(PTRACE_LISTEN, t->tid, 0, 0);
        t->state = SUP_LISTENING;
        return;
    }
    ptrace(PTRACE_CONT, t->tid, 0, (void *)(long)t->sig);
    t->sig = 0;
    t->state = SUP_RUNNING;
}

void sup_let_run(struct sup *s, pid_t tid)
{
    struct sup_thread *t = find(s, tid);
    if (!t) return;
    t->runs_while_held = true;
    if (t->state == SUP_STOPPED) resume_thread(t);
}

void sup_resume(struct sup *s, pid_t tid)
{
    struct sup_thread *t = find(s, tid);
    if (t && (t->state == SUP_HELD || t->state == SUP_STOPPED)) resume_thread(t);
}

void sup_release(struct sup *s, pid_t pid)
{
    char err[256];
    sup_stop_process(s, pid, 2000, err, sizeof err);
    unhold(s, pid);
    struct sup_thread *t, *tmp;
    HASH_ITER(hh, s->threads, t, tmp) {
        if (t->pid != pid) continue;
        ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)t->sig);
        drop(s, t);
    }
}

/* ---- what the tracees report --------------------------------------------- */

static bool is_process_end(struct sup_thread *t, unsigned long status)
{
    if (WIFSIGNALED((int)status)) return true;
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, t->tid, 0, &regs) == 0 && regs.orig_rax == SYS_exit_group) return true;
    return !others_live(t->pid, t->tid); /* exit by the last thread is the process's end too */
}

static void on_status(struct sup *s, pid_t tid, int status)
{
    struct sup_thread *t = find(s, tid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
        pid_t pid = t ? t->pid : tid;
        bool leader = !t || t->tid == t->pid;
        if (t) drop(s, t);
        if (leader) {
            struct sup_thread *o, *tmp;
            HASH_ITER(hh, s->threads, o, tmp) if (o->pid == pid) drop(s, o);
            queue(s, (struct sup_event){.kind = SUP_GONE, .pid = pid, .tid = tid, .status = status});
        }
        return;
    }
    if (!WIFSTOPPED(status)) return;
    if (!t) t = add(s, tid, tgid_of(tid)); /* a new thread whose first stop came before its clone event */
    int sig = WSTOPSIG(status), event = status >> 16;
    t->state = SUP_STOPPED;
    t->sig = 0;
    t->group_stop = false;
    unsigned long msg = 0;
    switch (event) {
    case PTRACE_EVENT_CLONE:
        if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) == 0) add(s, (pid_t)msg, tgid_of((pid_t)msg));
        break;
    case PTRACE_EVENT_EXEC: {
        /* The image changed; any other thread of the old image is gone, and
         * the one that exec'd now has the process's id. */
        struct sup_thread *o, *tmp;
        HASH_ITER(hh, s->threads, o, tmp) if (o->pid == t->pid && o != t) drop(s, o);
        queue(s, (struct sup_event){.kind = SUP_EXEC, .pid = t->pid, .tid = tid});
        break;
    }
    case PTRACE_EVENT_EXIT:
        ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
        if (is_process_end(t, msg)) {
            t->state = SUP_HELD;
            queue(s, (struct sup_event){.kind = SUP_END, .pid = t->pid, .tid = tid, .status = (int)msg});
            return;
        } else {
            struct user_regs_struct regs;
            uint64_t sp = ptrace(PTRACE_GETREGS, tid, 0, &regs) == 0 ? regs.rsp : 0;
            queue(s, (struct sup_event){.kind = SUP_THREAD_EXIT, .pid = t->pid, .tid = tid, .sp = sp});
        }
        break;
    case PTRACE_EVENT_STOP:
        /* A group-stop (job control) carries its stop signal; a trap stop
         * (our interrupt, a new thread's first stop) carries SIGTRAP. */
        t->group_stop = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
        break;
    case 0:
        t->sig = sig; /* signal-delivery-stop: the signal goes on to the program */
        break;
    default:
        break;
    }
    if (is_held(s, t->pid) && !t->runs_while_held) return; /* held still */
    resume_thread(t);
}

bool sup_reap(struct sup *s)
{
    bool any = false;
    for (;;) {
        int status;
        pid_t tid = waitpid(-1, &status, __WALL | WNOHANG);
        if (tid < 0 && errno == EINTR) continue;
        if (tid <= 0) return any;
        on_status(s, tid, status);
        any = true;
    }
}

bool sup_next_event(struct sup *s, struct sup_event *ev)
{
    if (!s->nqueue) return false;
    *ev = s->queue[0];
    memmove(s->queue, s->queue + 1, --s->nqueue * sizeof *s->queue);
    return true;
}

/* ---- holding a process still --------------------------------------------- */

static bool all_stopped(struct sup *s, pid_t pid)
{
    pid_t *tids;
    size_t n = sup_list_threads(pid, &tids);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        struct sup_thread *t = find(s, tids[i]);
        if (t && (t->state == SUP_STOPPED || t->state == SUP_HELD)) continue;
        if (thread_finished(pid, tids[i])) continue;
        if (!t) t = add(s, tids[i], pid); /* attached by its creator's clone, first stop still to come */
        if (!t->interrupted) {
            ptrace(PTRACE_INTERRUPT, t->tid, 0, 0);
            t->interrupted = true;
        }
        ok = false;
    }
    free(tids);
    return ok;
}

bool sup_stop_process(struct sup *s, pid_t pid, int timeout_ms, char *err, size_t errlen)
{
    if (!is_held(s, pid)) {
        s->held = xrealloc(s->held, (s->nheld + 1) * sizeof *s->held);
        s->held[s->nheld++] = pid;
    }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (all_stopped(s, pid)) return true;
        if (!sup_reap(s)) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
            if (ms > timeout_ms) {
                snprintf(err, errlen, "pid %d: a thread did not stop within %d ms", pid, timeout_ms);
                return false;
            }
            struct timespec ts = {0, 200 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

void sup_resume_process(struct sup *s, pid_t pid)
{
    unhold(s, pid);
    for (struct sup_thread *t = s->threads; t; t = t->hh.next) {
        if (t->pid != pid) continue;
        t->runs_while_held = false;
        if (t->state == SUP_STOPPED) resume_thread(t);
    }
}

bool sup_step(struct sup *s, pid_t tid)
{
    struct sup_thread *t = find(s, tid);
    /* A signal waiting to be delivered, or job control: stepping would have
     * to deliver or drop it, either a change to the program. */
    if (!t || t->state != SUP_STOPPED || t->sig || t->group_stop) return false;
    if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) != 0) return false;
    t->state = SUP_RUNNING;
    int status = 0;
    pid_t r = 0;
    for (int i = 0; i < 20 && r == 0; i++) { /* an instruction takes no time, unless it is a system call that blocks */
        r = waitpid(tid, &status, __WALL | WNOHANG);
        if (r == 0) {
            struct timespec ts = {0, 100 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (r == 0) { /* blocked in a system call: held there instead */
        ptrace(PTRACE_INTERRUPT, tid, 0, 0);
        t->interrupted = true;
        while ((r = waitpid(tid, &status, __WALL)) < 0 && errno == EINTR) {}
    }
    if (r != tid) return false;
    if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0) {
        t->state = SUP_STOPPED; /* the step's own trap: not a signal for the program */
        return true;
    }
    on_status(s, tid, status); /* anything else (the interrupt's stop, an exit, a signal) as usual */
    t = find(s, tid);
    return t && t->state == SUP_STOPPED && !t->sig;
}

size_t sup_stopped_threads(const struct sup *s, pid_t pid, pid_t **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    for (const struct sup_thread *t = s->threads; t; t = t->hh.next) {
        if (t->pid != pid || (t->state != SUP_STOPPED && t->state != SUP_HELD)) continue;
        if (n == cap) *out = xrealloc(*out, (cap = cap ? cap * 2 : 16) * sizeof **out);
        (*out)[n++] = t->tid;
    }
    return n;
}
