/* run_loop.c - `heapsnap run` while the program runs.
 *
 * Every 20 ms, or at once when a process rings (a datagram on the control
 * socket) or a tracee stops (SIGCHLD):
 * - requests from the processes (trace header, run_request): be supervised,
 *   check now, let me go before an exec that gains privileges; each is
 *   answered in the header (req_ack);
 * - what the tracees report (supervise.c): an end, checked before the
 *   process may go on dying; an exec; a process gone;
 * - each trace followed (its live blocks current) and packed as its threads
 *   seal chunks.
 * A process's end is checked from its own stop at exit, whichever way it
 * ends; where it cannot be (SIGKILL, no ptrace), the trace gets a check
 * record that says why, so the gate fails with the reason and never passes
 * for want of a look. */
#include "run.h"
#include "cmds.h"
#include "run_pack.h"
#include "safepoint.h"
#include "leakcheck.h"
#include "run_rss.h"
#include "../trace/proc_rss.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 20
#define DISCOVER_MS 200
#define TURN_MS 5
/* Events applied per slice (well under a millisecond): a turn of the loop
 * is TURN_MS of slices, so that requests, doorbells and ends (a traced
 * child's parent waits in waitpid until heapsnap has reaped it first) are
 * served on time however fast the program writes; a check catches up the
 * rest. */
#define FOLLOW_BUDGET 10000
#define STOP_TIMEOUT_MS 10000

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- finding traces --------------------------------------------------------- */

static bool read_header(const char *path, struct trace_header *h)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = read(fd, h, sizeof *h) == (ssize_t)sizeof *h && memcmp(h->magic, TRACE_MAGIC, 8) == 0;
    close(fd);
    return ok;
}

/* A trace of the session, new to us: followed once it asks (with checks),
 * packed beside it from now on. */
static void add_proc(struct run_ctx *rc, pid_t pid, const char *path)
{
    struct run_proc *p = procs_add(&rc->procs, pid, path);
    if (!p || p->pack_handed) return;
    /* Without checks no follower reads the raw slots (but the stream's):
     * packed, they may go at once. */
    if (rc->checks || rc->stream.dir) proc_will_follow(p);
    packing_add(&rc->packing, p);
    char err[1024];
    if (!rc->checks && rc->stream.dir && !proc_follow(p, err, sizeof err)) warn("%s: %s", p->path, err);
}

/* The traces this run does not know yet: of its processes whose request
 * came without a datagram (the program closed the socket), or under
 * --no-leak-check, the program's own. */
static void discover(struct run_ctx *rc)
{
    DIR *d = opendir(rc->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", rc->dir, e->d_name);
        bool ours = strncmp(e->d_name, "heapsnap.", 9) == 0 && len > 6 && strcmp(e->d_name + len - 6, ".trace") == 0;
        if (!ours && !(rc->named && strcmp(path, rc->named) == 0)) continue;
        if (procs_by_path(&rc->procs, path)) continue;
        struct trace_header h;
        if (!read_header(path, &h) || h.session != rc->session || h.state != TRACE_OPEN) continue;
        if (!rc->checks && (pid_t)h.pid != rc->root) continue; /* the others pack their own */
        add_proc(rc, (pid_t)h.pid, path);
    }
    if (d) closedir(d);
}

/* ---- leak checks -------------------------------------------------------------- */

/* A stack whose thread is gone, or will be before the check, is live only
 * from sp up. A reused stack exits at the same depth: one entry per stack. */
static void note_dead_sp(struct run_proc *p, uint64_t sp)
{
    for (size_t i = 0; i < p->ndead; i++)
        if (p->dead_sps[i] == sp) return;
    p->dead_sps = xrealloc(p->dead_sps, (p->ndead + 1) * sizeof *p->dead_sps);
    p->dead_sps[p->ndead++] = sp;
}

/* A check that could not run says why, in the trace; at the process's end,
 * that is its verdict too. */
static void check_failed(struct run_proc *p, uint32_t seq, const char *why, bool ending)
{
    leakcheck_failed(seq, why, &p->checks_out);
    if (!ending) return;
    free(p->final.note);
    p->final = (struct snap_leak_check){.seq = seq, .status = CHECK_FAILED, .note = xstrndup(why, strlen(why))};
    p->have_final = true;
}

/* Checks p now. A check the process asked for (not ending) is summed up in
 * bytes and blocks per kind when they are given (after suppressions): the
 * program is answered from them. False if the check could not run. */
static bool check_now(struct run_ctx *rc, struct run_proc *p, pid_t tid, uint64_t stack_from, bool ending,
                      uint64_t *bytes, uint64_t *blocks)
{
    uint32_t seq = ++p->checks;
    char err[1024];
    if (!p->supervised || !p->following) {
        snprintf(err, sizeof err, "pid %d was not traced with ptrace (%s), so it could not be stopped and scanned",
                 p->pid, p->why_unsupervised ? p->why_unsupervised : "it never asked");
        check_failed(p, seq, err, ending);
        return false;
    }
    if (!sup_stop_process(&rc->sup, p->pid, STOP_TIMEOUT_MS, err, sizeof err)) {
        sup_resume_process(&rc->sup, p->pid);
        check_failed(p, seq, err, ending);
        return false;
    }
    /* With every thread stopped, all it has committed is final: read it all. */
    if (follow_catch_up(&p->follow, err, sizeof err) < 0) {
        sup_resume_process(&rc->sup, p->pid);
        check_failed(p, seq, err, ending);
        return false;
    }
    const struct trace_header *h = p->hdr;
    if ((h->flags & TRACE_F_TRUNCATED) || h->lost_events) {
        sup_resume_process(&rc->sup, p->pid);
        snprintf(err, sizeof err,
                 "recording stopped in pid %d (%u events lost: the disk was full, or the trace could not grow): "
                 "the live blocks are not known, so no leak check can be trusted",
                 p->pid, h->lost_events);
        check_failed(p, seq, err, ending);
        return false;
    }
    pid_t *tids;
    size_t ntids = sup_stopped_threads(&rc->sup, p->pid, &tids);
    struct leakcheck_request rq = {.pid = p->pid,
                                   .seq = seq,
                                   .live = &p->follow.s,
                                   .tids = tids,
                                   .ntids = ntids,
                                   .from_tid = tid,
                                   .stack_from = stack_from,
                                   .ending = ending,
                                   .dead_sps = p->dead_sps,
                                   .ndead = p->ndead,
                                   .trace_path = p->path};
    uint64_t ticks = 0;
    struct snap_leak *asked = NULL;
    size_t nasked = 0;
    if (ending) { /* kept for the verdict */
        free(p->final_leaks);
        p->final_leaks = NULL;
        rq.leaks = &p->final_leaks;
        rq.nleaks = &p->nfinal;
        rq.ticks = &ticks;
    } else if (bytes) {
        rq.leaks = &asked;
        rq.nleaks = &nasked;
    }
    bool done = leakcheck_run(&rq, &p->checks_out, err, sizeof err) == 0;
    if (!done) {
        check_failed(p, seq, err, ending);
    } else {
        if (p->inherited_unknown)
            leakcheck_note(seq, "the blocks it had from its parent at the fork are not known (its parent's trace "
                           "could not be read up to the fork): their leaks are not reported, their frees count as "
                           "unmatched", &p->checks_out);
        if (ending) {
            p->final = (struct snap_leak_check){.seq = seq, .status = CHECK_DONE, .ticks = ticks};
            p->have_final = true;
        }
    }
    free(tids);
    sup_resume_process(&rc->sup, p->pid);
    p->frozen_until = 0;
    /* Symbolizing the lost blocks' stacks takes time: with the process running again. */
    if (done && bytes) leaks_summarize(&p->follow.s, asked, nasked, rc->supps, bytes, blocks);
    free(asked);
    return done;
}

/* The blocks of a check that fail the gate's rule (its kinds, its
 * allowance), --fail-on-leak given or not: LSan's "leaks found", with
 * heapsnap's settings, for the program's own checks. */
static uint64_t failing_blocks(const struct leak_gate *g, const uint64_t *bytes, const uint64_t *blocks)
{
    uint64_t b = 0, n = 0;
    for (unsigned k = 0; k < 4; k++)
        if (g->kinds & (1u << k)) b += bytes[k], n += blocks[k];
    return n > 0 && (b > g->max_leaked || g->max_leaked == 0) ? n : 0;
}

/* A check the program asked for (heapsnap_leak_check, LSan's two), answered
 * with its failing blocks. LSan's final one that found none stands for the
 * check at the end, which LSan then does not make: its figures are the
 * process's verdict. */
static uint64_t requested_check(struct run_ctx *rc, struct run_proc *p, bool final)
{
    uint64_t bytes[KIND_COUNT], blocks[KIND_COUNT];
    if (!check_now(rc, p, (pid_t)p->hdr->req_tid, p->hdr->req_arg, false, bytes, blocks)) return 0;
    uint64_t failing = failing_blocks(rc->gate, bytes, blocks);
    if (final && !failing && !p->have_verdict) {
        p->final_stands = true;
        p->final_seq = p->checks;
        memcpy(p->verdict.bytes, bytes, sizeof bytes);
        memcpy(p->verdict.blocks, blocks, sizeof blocks);
        p->have_verdict = true;
    }
    return failing;
}

/* The end of a process whose end is not to be checked: its final LSan check
 * stood for it, or it turned leak checking off (__lsan_is_turned_off). True
 * if so, with the verdict made. */
static bool end_needs_no_check(struct run_proc *p)
{
    if (p->final_stands) return true;
    if (!p->hdr || !(atomic_load((_Atomic uint32_t *)&p->hdr->flags) & TRACE_F_LEAK_CHECK_OFF)) return false;
    static const char why[] = "the program turned leak checking off (its __lsan_is_turned_off() returned nonzero)";
    uint32_t seq = ++p->checks;
    leakcheck_off(seq, why, &p->checks_out);
    free(p->final.note);
    p->final = (struct snap_leak_check){.seq = seq, .status = CHECK_OFF, .note = xstrndup(why, strlen(why))};
    p->have_final = true;
    return true;
}

/* The verdict on a process that has ended, from the heap followed and the
 * check at its end, not from its trace read again (for a large trace that
 * would cost as much as the run did). The program's own process keeps its
 * heap: its loss records are printed in full at the end. */
static void make_verdict(struct run_ctx *rc, struct run_proc *p)
{
    if (!p->have_final || p->have_verdict) return;
    p->have_verdict = true;
    if (p->final.status == CHECK_OFF) {
        p->verdict.check_off = true;
        p->verdict.check_note = p->final.note;
        return;
    }
    if (p->final.status != CHECK_DONE || !p->following) {
        p->verdict.check_failed = true;
        p->verdict.check_note = p->final.note ? p->final.note : "the leak check could not run";
        return;
    }
    if (p->pid == rc->root) {
        p->kept = xmalloc(sizeof *p->kept);
        *p->kept = p->follow.s;
        memset(&p->follow.s, 0, sizeof p->follow.s);
        return;
    }
    struct leak_report r;
    leaks_of_snap(&r, &p->follow.s, &p->final, p->final_leaks, p->nfinal, rc->supps);
    p->final_leaks = NULL; /* the report's now, and freed with it */
    memcpy(p->verdict.bytes, r.bytes, sizeof r.bytes);
    memcpy(p->verdict.blocks, r.blocks, sizeof r.blocks);
    leaks_free(&r);
}

/* ---- requests ------------------------------------------------------------------ */

/* Reads the records of a parent (held still) up to its fork at ticks, no
 * further: its heap there is what the child starts with. Held, all it wrote
 * before the fork is committed, so the first round begun since has it all,
 * and one more settles what that one parked. */
static bool read_to_fork(struct run_ctx *rc, struct run_proc *parent, uint64_t ticks, struct fork_snapshot *fs)
{
    char err[1024];
    for (int rounds = 0; rounds < 3;) {
        int r = follow_poll(&parent->follow, FOLLOW_BUDGET, err, sizeof err);
        if (r < 0) {
            warn("%s: %s", parent->path, err);
            return false;
        }
        if (procs_claim_fork(&rc->procs, parent->pid, ticks, fs)) return true;
        if (r == 0) rounds++;
    }
    return false;
}

static void supervise(struct run_ctx *rc, struct run_proc *p)
{
    char err[1024];
    if (!p->supervised) {
        if (sup_traces(&rc->sup, p->pid) || sup_attach(&rc->sup, p->pid, err, sizeof err)) {
            p->supervised = true;
            atomic_store((_Atomic uint32_t *)&p->hdr->supervisor, (uint32_t)getpid());
        } else if (!p->why_unsupervised) {
            p->why_unsupervised = xstrndup(err, strlen(err));
        }
    }
    if (!p->following && !proc_follow(p, err, sizeof err)) warn("%s: %s", p->path, err);
    /* A fork child has its parent's blocks, as they were when it forked:
     * the heap the parent's records had when they reached the fork. If they
     * have not yet, the parent's trace is read up to the fork, the parent
     * held still meanwhile: its other threads could write faster than one
     * reader reads (a busy process forking again and again would then wait
     * longer at every fork); held, its backlog is finite, and each event is
     * read once over the whole run however many children it has. */
    uint64_t fork_ticks = p->hdr->fork_ticks;
    pid_t ppid = (pid_t)p->hdr->ppid;
    if (!p->following || !fork_ticks || p->follow.ninherited) return;
    struct fork_snapshot fs;
    bool found = procs_claim_fork(&rc->procs, ppid, fork_ticks, &fs);
    struct run_proc *parent = NULL;
    for (size_t i = 0; !found && i < rc->procs.n; i++) /* its latest image still read (running, or not yet packed) */
        if (rc->procs.v[i]->pid == ppid && rc->procs.v[i]->following) parent = rc->procs.v[i];
    if (parent) {
        /* Held already while it exits (freeze_others): left as it is. A stop
         * that timed out has held some threads: they are let go all the same. */
        bool hold = parent->supervised && !parent->frozen_until && parent->state == PROC_RUNNING;
        if (hold) sup_stop_process(&rc->sup, parent->pid, STOP_TIMEOUT_MS, err, sizeof err);
        found = read_to_fork(rc, parent, fork_ticks, &fs);
        if (hold) sup_resume_process(&rc->sup, parent->pid);
    }
    if (!found) {
        p->inherited_unknown = true;
        return;
    }
    follow_inherit(&p->follow, &fs);
    follow_inherited_records(&p->follow, &fs, &p->inherited);
    fork_snapshot_free(&fs);
}

/* A process (by) asked to let pid go: before an exec that gains privileges (set-user-ID
 * to another user: its image ends there and the next one is not traced), or
 * so that the program can trace it with ptrace itself. Then its end cannot be
 * stopped: the gate says so. */
static void release(struct run_ctx *rc, struct run_proc *by, pid_t pid)
{
    if (pid == 0) pid = by->pid;
    struct run_proc *p = procs_running(&rc->procs, pid);
    if (!sup_traces(&rc->sup, pid)) return;
    sup_release(&rc->sup, pid);
    if (!p) return;
    p->supervised = false;
    if (p->hdr) atomic_store((_Atomic uint32_t *)&p->hdr->supervisor, 0);
    char why[256];
    if (pid == by->pid)
        snprintf(why, sizeof why, "it let heapsnap go to exec a program that gains privileges or to be traced by its parent");
    else
        snprintf(why, sizeof why, "pid %d traces it with ptrace itself", by->pid);
    free(p->why_unsupervised);
    p->why_unsupervised = xstrndup(why, strlen(why));
}

/* A multi-threaded process is exiting: its other threads are held still
 * until its end (check_now lets them go), or for FREEZE_MS at most. */
#define FREEZE_MS 2000

static void answer(struct run_proc *p, uint32_t seq, uint64_t value)
{
    p->hdr->req_arg = value;
    atomic_store_explicit((_Atomic uint32_t *)&p->hdr->req_ack, seq, memory_order_release);
}

static void freeze_others(struct run_ctx *rc, struct run_proc *p, pid_t tid, uint32_t seq)
{
    char err[256];
    /* Held where none holds a lock the cleanup will take, or not at all: the
     * answer says which, and the cleanup runs only on the first. */
    if (!p->supervised || !sup_stop_process(&rc->sup, p->pid, STOP_TIMEOUT_MS, err, sizeof err) ||
        !safepoint_hold(&rc->sup, p->pid, tid)) {
        sup_resume_process(&rc->sup, p->pid);
        answer(p, seq, 0);
        return;
    }
    /* Where each held thread's stack begins: exit_group will kill them before
     * the check at the end, and a dead thread's registers cannot be read. */
    pid_t *tids;
    size_t n = sup_stopped_threads(&rc->sup, p->pid, &tids);
    for (size_t i = 0; i < n; i++) {
        struct user_regs_struct regs;
        if (tids[i] != tid && ptrace(PTRACE_GETREGS, tids[i], 0, &regs) == 0) note_dead_sp(p, regs.rsp - 128);
    }
    free(tids);
    answer(p, seq, 1);
    sup_let_run(&rc->sup, tid);
    p->frozen_until = now_ms() + FREEZE_MS;
}

static void serve_requests(struct run_ctx *rc)
{
    for (size_t i = 0; i < rc->procs.n; i++) {
        struct run_proc *p = rc->procs.v[i];
        if (p->state != PROC_RUNNING || !p->hdr) continue;
        uint32_t seq = atomic_load_explicit((_Atomic uint32_t *)&p->hdr->req_seq, memory_order_acquire);
        if (seq == p->hdr->req_ack) continue;
        switch (p->hdr->req_kind) {
        case RUN_REQ_SUPERVISE: supervise(rc, p); break;
        case RUN_REQ_LEAK_CHECK:
        case RUN_REQ_FINAL_CHECK:
            answer(p, seq, requested_check(rc, p, p->hdr->req_kind == RUN_REQ_FINAL_CHECK));
            continue; /* answered */
        case RUN_REQ_RELEASE: release(rc, p, (pid_t)p->hdr->req_arg); break;
        case RUN_REQ_FREEZE: freeze_others(rc, p, (pid_t)p->hdr->req_tid, seq); continue; /* answered there */
        default: break;
        }
        atomic_store((_Atomic uint32_t *)&p->hdr->req_ack, seq);
    }
}

static void take_doorbells(struct run_ctx *rc)
{
    static struct run_doorbell bell;
    ssize_t n;
    while ((n = recv(rc->control_fd, &bell, sizeof bell - 1, MSG_DONTWAIT)) > 0) {
        if ((size_t)n <= offsetof(struct run_doorbell, trace) || bell.magic != RUN_DOORBELL_MAGIC) continue;
        ((char *)&bell)[n] = 0;
        if (procs_by_path(&rc->procs, bell.trace)) continue;
        struct trace_header h;
        if (read_header(bell.trace, &h) && h.session == rc->session && h.pid == bell.pid && h.state == TRACE_OPEN)
            add_proc(rc, (pid_t)bell.pid, bell.trace);
    }
}

/* ---- ends ----------------------------------------------------------------------- */

static const char *signal_name(int sig)
{
    const char *abbrev = sigabbrev_np(sig);
    return abbrev ? abbrev : "?";
}

static void on_gone(struct run_ctx *rc, pid_t pid, int status)
{
    rc->exits = xrealloc(rc->exits, (rc->nexits + 1) * sizeof *rc->exits);
    rc->exits[rc->nexits++] = (struct run_exit){pid, status};
    if (pid == rc->root) {
        rc->root_done = true;
        rc->root_status = status;
    }
    struct run_proc *p = procs_running(&rc->procs, pid);
    if (!p) return;
    p->state = PROC_GONE;
    p->status = status;
    p->reaped_status = true;
    if (rc->checks && !p->end_checked && end_needs_no_check(p)) p->end_checked = true;
    if (rc->checks && !p->end_checked) {
        char why[512];
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            snprintf(why, sizeof why, "pid %d was killed by SIGKILL, which ends a process before anyone can look at it", pid);
        else if (!p->supervised && !p->why_unsupervised && p->hdr && p->hdr->req_seq != p->hdr->req_ack)
            snprintf(why, sizeof why, "pid %d ended before heapsnap could trace it with ptrace", pid);
        else if (!p->supervised)
            snprintf(why, sizeof why, "pid %d was not traced with ptrace (%s), so its end could not be stopped", pid,
                     p->why_unsupervised ? p->why_unsupervised : "it never asked heapsnap to");
        else if (WIFSIGNALED(status))
            snprintf(why, sizeof why, "pid %d ended by SIG%s before its end could be stopped", pid, signal_name(WTERMSIG(status)));
        else
            snprintf(why, sizeof why, "pid %d ended before its end could be stopped", pid);
        check_failed(p, ++p->checks, why, true);
        p->end_checked = true;
    }
}

/* Waited for as a descendant until its next image asks, or for PENDING_MS. */
static void note_exec(struct run_ctx *rc, pid_t pid)
{
    size_t j = 0;
    while (j < rc->npending && rc->pending[j].pid != pid) j++;
    if (j == rc->npending) rc->pending = xrealloc(rc->pending, (++rc->npending) * sizeof *rc->pending);
    rc->pending[j] = (struct run_pending){pid, now_ms(), true};
}

static void on_event(struct run_ctx *rc, const struct sup_event *ev)
{
    struct run_proc *p = procs_running(&rc->procs, ev->pid);
    switch (ev->kind) {
    case SUP_END:
        if (p && p->hdr) { /* its memory is all there still, and final: the shim's own reading came earlier */
            if (rc->rss_ms) rss_sample(p); /* its last: stopped at its exit, its memory still there */
            uint64_t kib = proc_peak_rss_kib(ev->pid);
            if (kib > p->hdr->peak_rss_kib) p->hdr->peak_rss_kib = kib;
        }
        if (p && !p->end_checked && !end_needs_no_check(p)) {
            const struct trace_header *h = p->hdr;
            bool normal = h->exit_ctx == EXIT_CTX_STACK_FROM && (pid_t)h->exit_tid == ev->tid;
            check_now(rc, p, ev->tid, normal ? h->exit_stack_from : 0, true, NULL, NULL);
        }
        if (p) p->end_checked = true;
        sup_resume(&rc->sup, ev->tid);
        break;
    case SUP_EXEC:
        if (p) { /* the next image asks for itself */
            p->state = PROC_REPLACED;
            p->exec_ended = true;
        }
        note_exec(rc, ev->pid);
        break;
    case SUP_GONE: on_gone(rc, ev->pid, ev->status); break;
    case SUP_THREAD_EXIT:
        /* glibc keeps the stack for the next thread; until then the dead
         * frames below this point are not roots (memcheck: not addressable). */
        if (p && ev->sp) note_dead_sp(p, ev->sp);
        if (p) proc_seal_thread(p, ev->tid);
        break;
    }
}

/* Children that nobody traces still end: reap them (we are a subreaper). */
static void reap_untraced(struct run_ctx *rc)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid < 0 && errno == EINTR) continue;
        if (pid <= 0) return;
        if (WIFEXITED(st) || WIFSIGNALED(st)) on_gone(rc, pid, st);
    }
}

/* ---- the loop ----------------------------------------------------------------- */

static uint32_t end_how_of(int status, int32_t *code)
{
    if (WIFSIGNALED(status)) {
        *code = WTERMSIG(status);
        return END_SIGNAL;
    }
    *code = WEXITSTATUS(status);
    return END_EXIT;
}

/* One slice of reading of a running process: true if it stopped at its
 * budget with more to read. */
static bool keep_up(struct run_ctx *rc, struct run_proc *p)
{
    char err[1024];
    int fr = p->following ? follow_poll(&p->follow, FOLLOW_BUDGET, err, sizeof err) : 0;
    if (fr < 0) {
        warn("%s: %s", p->path, err);
        stream_image_free(p);
        follow_close(&p->follow);
        p->following = false;
    }
    if (p->frozen_until && now_ms() > p->frozen_until) { /* it did not get to its end: let the others go */
        p->frozen_until = 0;
        sup_resume_process(&rc->sup, p->pid);
    }
    return fr > 0;
}

/* An image that ended: all of it read (the forks it made are heaps its
 * children will ask for), judged, and handed to the packing thread. */
static void finish(struct run_ctx *rc, struct run_proc *p)
{
    char err[1024];
    if (p->following && follow_catch_up(&p->follow, err, sizeof err) < 0) warn("%s: %s", p->path, err);
    stream_image_end(&rc->stream, p);
    rss_stop(p);
    if (rc->checks) make_verdict(rc, p);
    int32_t code = 0;
    uint32_t how = p->state == PROC_GONE && p->reaped_status ? end_how_of(p->status, &code) : END_UNKNOWN;
    proc_release(p);
    packing_end(&rc->packing, p, how, code);
    p->state = PROC_PACKING;
}

/* Slices for every running process, round after round, for TURN_MS at most
 * (the loop then serves doorbells, requests and ends); the ended ones are
 * finished. True when reading was left over. */
static bool step(struct run_ctx *rc)
{
    uint64_t until = now_ms() + TURN_MS;
    bool busy;
    do {
        busy = false;
        for (size_t i = 0; i < rc->procs.n; i++) {
            struct run_proc *p = rc->procs.v[i];
            if (p->state == PROC_RUNNING) busy |= keep_up(rc, p);
        }
    } while (busy && now_ms() < until);
    for (size_t i = 0; i < rc->procs.n; i++) {
        struct run_proc *p = rc->procs.v[i];
        if (p->state == PROC_REPLACED || p->state == PROC_GONE) finish(rc, p);
    }
    return busy;
}

/* Something traced is still running: supervised processes end through
 * us; others are looked for by pid. */
static bool traced_running(struct run_ctx *rc)
{
    for (size_t i = 0; i < rc->procs.n; i++) {
        struct run_proc *p = rc->procs.v[i];
        if (p->state != PROC_RUNNING) continue;
        if (!p->supervised && kill(p->pid, 0) != 0 && errno == ESRCH) {
            on_gone(rc, p->pid, 0);
            p->reaped_status = false; /* its status was never seen */
            i = (size_t)-1; /* the list changed under us: look again */
            continue;
        }
        return true;
    }
    return false;
}

/* ---- processes yet to ask ---------------------------------------------------- */

static bool maps_the_shim(pid_t pid)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, "/libheapsnap.so") != NULL;
    if (f) fclose(f);
    return found;
}

/* A descendant that runs the shim but has not asked to be traced yet: a
 * daemon's grandchild just forked, a spawned program about to exec. It
 * will ask within moments, so the run waits for it; one that has not asked
 * within PENDING_MS never will (its shim could not start its trace). Every
 * descendant of ours is found under us: we are a subreaper. */
#define PENDING_MS 2000

static bool descendant_pending(struct run_ctx *rc)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    struct link {
        pid_t pid, ppid;
    } *all = NULL;
    size_t n = 0, cap = 0;
    while (d && (e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t len = read(fd, stat, sizeof stat - 1);
        close(fd);
        if (len <= 0) continue;
        stat[len] = 0;
        const char *close_paren = strrchr(stat, ')'); /* the name may hold anything, ')' too */
        char state;
        int ppid;
        if (!close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2 || state == 'Z') continue;
        if (n == cap) all = xrealloc(all, (cap = cap ? cap * 2 : 256) * sizeof *all);
        all[n++] = (struct link){pid, ppid};
    }
    if (d) closedir(d);
    /* Ours: the closure of "parent is ours" from our own pid. */
    pid_t *mine = xmalloc((n + 1) * sizeof *mine);
    size_t nmine = 0;
    mine[nmine++] = getpid();
    for (size_t k = 0; k < nmine; k++)
        for (size_t i = 0; i < n; i++)
            if (all[i].ppid == mine[k]) mine[nmine++] = all[i].pid;
    bool pending = false;
    uint64_t now = now_ms();
    for (size_t k = 1; k < nmine && !pending; k++) {
        pid_t pid = mine[k];
        if (procs_running(&rc->procs, pid)) continue;
        size_t j = 0;
        while (j < rc->npending && rc->pending[j].pid != pid) j++;
        /* Just exec'd: the loader may not have mapped the shim yet. */
        bool execd = j < rc->npending && rc->pending[j].exec;
        if (!execd && !maps_the_shim(pid)) continue;
        if (j == rc->npending) {
            rc->pending = xrealloc(rc->pending, (rc->npending + 1) * sizeof *rc->pending);
            rc->pending[rc->npending++] = (struct run_pending){pid, now, false};
        }
        pending = now - rc->pending[j].since < PENDING_MS;
    }
    free(mine);
    free(all);
    return pending;
}

void run_loop(struct run_ctx *rc)
{
    sigset_t waiting;
    sigprocmask(SIG_SETMASK, NULL, &waiting);
    sigdelset(&waiting, SIGCHLD);
    /* RSS samples come every rss_ms: the loop wakes for them too. */
    unsigned wake_ms = rc->rss_ms && rc->rss_ms < TICK_MS ? rc->rss_ms : TICK_MS;
    const struct timespec tick = {.tv_nsec = (long)wake_ms * 1000 * 1000}, now = {0};
    bool said_waiting = false, busy = false;
    uint64_t discovered = 0;
    packing_start(&rc->packing);
    rc->procs.children_followed = rc->follow;
    rc->procs.full_figures = rc->stream.dir != NULL;
    for (;;) {
        struct pollfd pfd = {.fd = rc->control_fd, .events = POLLIN};
        /* With reading or packing left over, only look for news; else wait. */
        ppoll(&pfd, rc->control_fd >= 0 ? 1 : 0, busy ? &now : &tick, &waiting);
        if (rc->control_fd >= 0) take_doorbells(rc);
        if (now_ms() - discovered >= DISCOVER_MS) { /* doorbells are the fast path; this is for those that missed */
            discover(rc);
            discovered = now_ms();
        }
        if (rc->checks) {
            sup_reap(&rc->sup);
            serve_requests(rc);
            struct sup_event ev;
            while (sup_next_event(&rc->sup, &ev)) on_event(rc, &ev);
        } else {
            reap_untraced(rc);
        }
        rss_tick(&rc->procs, rc->rss_ms, now_ms());
        busy = step(rc);
        stream_tick(&rc->stream, &rc->procs, now_ms());
        if (!rc->root_done) continue;
        if (!rc->checks || rc->stop_waiting) break;
        if (!traced_running(rc) && !(rc->follow && descendant_pending(rc))) break;
        if (!said_waiting && !rc->quiet) {
            warn("the program has ended; waiting for the processes traced with it that are still running (a "
                 "signal to heapsnap stops waiting: they run on, unchecked)");
            said_waiting = true;
        }
    }
}

void run_finish(struct run_ctx *rc)
{
    if (rc->control_fd >= 0) take_doorbells(rc);
    discover(rc);
    for (size_t i = 0; i < rc->procs.n; i++) {
        struct run_proc *p = rc->procs.v[i];
        if (p->state != PROC_RUNNING) continue;
        if (!p->supervised && kill(p->pid, 0) != 0 && errno == ESRCH) { /* found only now, gone already */
            on_gone(rc, p->pid, 0);
            p->reaped_status = false;
            continue;
        }
        /* Still running (we stopped waiting): let it go. Its trace is made
         * whole on its own first (what packing freed is written back), then
         * it is told to ask us nothing more and to pack its trace itself
         * when it ends (it cannot at a fatal signal: the trace then stays
         * OPEN, whole, for `heapsnap pack`). */
        packing_abandon(&rc->packing, p);
        if (p->hdr) {
            atomic_fetch_or((_Atomic uint32_t *)&p->hdr->flags, TRACE_F_SELF_PACK);
            atomic_store((_Atomic uint32_t *)&p->hdr->supervisor, 0);
        }
        if (p->supervised) sup_release(&rc->sup, p->pid);
        proc_release(p);
        p->state = PROC_LEFT;
    }
    step(rc);
    packing_finish(&rc->packing);
    for (size_t i = 0; i < rc->procs.n; i++)
        if (rc->procs.v[i]->state == PROC_PACKING) rc->procs.v[i]->state = PROC_PACKED;
}
