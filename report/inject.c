/* inject.c - see inject.h. */
#include "inject.h"
#include "safepoint.h"
#include "util.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SAFE_TRIES 200 /* let run 1 ms and look again; then step */
#define SAFE_STEPS 200000

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Why ptrace refused pid, and what would let it. */
static void explain_refusal(pid_t pid, int e, char *err, size_t errlen)
{
    if (e == ESRCH) {
        snprintf(err, errlen, "no process %d", pid);
        return;
    }
    int scope = -1;
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
    if (f) {
        if (fscanf(f, "%d", &scope) != 1) scope = -1;
        fclose(f);
    }
    if (scope == 3)
        snprintf(err, errlen,
                 "cannot trace %d: ptrace is disabled on this system (kernel.yama.ptrace_scope = 3, "
                 "fixed until reboot)",
                 pid);
    else if (scope == 2 && geteuid() != 0)
        snprintf(err, errlen,
                 "cannot trace %d: only CAP_SYS_PTRACE may (kernel.yama.ptrace_scope = 2): run heapsnap "
                 "attach as root",
                 pid);
    else if (scope == 1)
        snprintf(err, errlen,
                 "cannot trace %d: %s (kernel.yama.ptrace_scope = 1 allows tracing only one's own "
                 "children): run as root, give heapsnap CAP_SYS_PTRACE (setcap cap_sys_ptrace+ep; in a container, "
                 "--cap-add SYS_PTRACE), or set kernel.yama.ptrace_scope=0 with sysctl",
                 pid, strerror(e));
    else
        snprintf(err, errlen,
                 "cannot trace %d: %s (another user's process, a set-user-ID one, or one that made "
                 "itself undumpable; in a container, heapsnap needs CAP_SYS_PTRACE)",
                 pid, strerror(e));
}

/* A signal that stopped a held thread, kept for when it is let go. A fault
 * the thread itself raised (a SIGSEGV a garbage collector's write barrier
 * takes, say) is not kept: the instruction runs again and raises it again. */
static void defer_signal(struct inject_thread *t, int sig)
{
    siginfo_t si;
    if (ptrace(PTRACE_GETSIGINFO, t->tid, 0, &si) != 0) {
        memset(&si, 0, sizeof si);
        si.si_signo = sig;
        si.si_code = SI_TKILL;
    }
    bool fault = (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) && si.si_code > 0;
    if (fault || t->ndeferred == (int)(sizeof t->deferred / sizeof *t->deferred)) return;
    t->deferred[t->ndeferred++] = si;
}

/* Registers, the general ones and the extended state (x87, SSE, AVX...): a
 * call into the C library uses the vector registers the program's code
 * holds values in. */
static bool save_state(struct inject_thread *t)
{
    if (ptrace(PTRACE_GETREGS, t->tid, 0, &t->saved) != 0) return false;
    struct iovec v = {t->xstate, sizeof t->xstate};
    t->xlen = ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_X86_XSTATE, &v) == 0 ? v.iov_len : 0;
    t->have_fp = !t->xlen && ptrace(PTRACE_GETFPREGS, t->tid, 0, &t->fp) == 0;
    return true;
}

static void restore_state(struct inject_thread *t)
{
    ptrace(PTRACE_SETREGS, t->tid, 0, &t->saved);
    struct iovec v = {t->xstate, t->xlen};
    if (t->xlen)
        ptrace(PTRACE_SETREGSET, t->tid, (void *)NT_X86_XSTATE, &v);
    else if (t->have_fp)
        ptrace(PTRACE_SETFPREGS, t->tid, 0, &t->fp);
}

/* After PTRACE_INTERRUPT (or a step): waits for that stop, letting through
 * (and keeping) the signals that arrive first. False if the thread is gone. */
static bool wait_for(struct inject_thread *t, bool step)
{
    for (;;) {
        int st;
        pid_t w = waitpid(t->tid, &st, __WALL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 || WIFEXITED(st) || WIFSIGNALED(st)) return false;
        if (!WIFSTOPPED(st)) continue;
        int sig = WSTOPSIG(st), ev = st >> 16;
        if (ev == PTRACE_EVENT_STOP && !step) return true;
        if (ev == 0 && sig == SIGTRAP && step) return true;
        if (ev == 0) defer_signal(t, sig);
        if (ptrace(step ? PTRACE_SINGLESTEP : PTRACE_CONT, t->tid, 0, 0) != 0) return false;
    }
}

static bool seize(struct inject_thread *t, pid_t pid, char *err, size_t errlen)
{
    if (ptrace(PTRACE_SEIZE, t->tid, 0, 0) != 0) {
        explain_refusal(pid, errno, err, errlen);
        return false;
    }
    if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) != 0 || !wait_for(t, false) || !save_state(t)) {
        snprintf(err, errlen, "thread %d of %d could not be stopped: %s", t->tid, pid, strerror(errno));
        ptrace(PTRACE_DETACH, t->tid, 0, 0);
        return false;
    }
    return true;
}

static bool rehold(struct inject_thread *t)
{
    return ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) == 0 && wait_for(t, false) && save_state(t);
}

bool inject_hold_one(struct inject_proc *p, pid_t pid, pid_t tid, char *err, size_t errlen)
{
    *p = (struct inject_proc){.pid = pid, .threads = xcalloc(1, sizeof *p->threads), .n = 1};
    struct inject_thread *t = &p->threads[0];
    t->tid = tid;
    if (!seize(t, pid, err, errlen)) {
        free(p->threads);
        p->threads = NULL;
        p->n = 0;
        return false;
    }
    struct code_range *code;
    size_t ncode = safepoint_library_code(pid, &code);
    bool safe = safepoint_at(tid, code, ncode), gone = false;
    for (int i = 0; i < SAFE_TRIES && !safe && !gone; i++) {
        ptrace(PTRACE_CONT, tid, 0, 0);
        sleep_ms(1);
        gone = !rehold(t);
        safe = !gone && safepoint_at(tid, code, ncode);
    }
    for (int i = 0; i < SAFE_STEPS && !safe && !gone; i++) {
        gone = ptrace(PTRACE_SINGLESTEP, tid, 0, 0) != 0 || !wait_for(t, true) || !save_state(t);
        safe = !gone && safepoint_at(tid, code, ncode);
    }
    free(code);
    if (safe) return true;
    snprintf(err, errlen, "thread %d of %d did not come out of the C library's code: not loading anything into it", tid,
             pid);
    inject_release(p);
    return false;
}

static bool holding(const struct inject_proc *p, pid_t tid)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->threads[i].tid == tid) return true;
    return false;
}

/* Holds every thread of p not held yet, until a listing finds none: one not
 * held yet may have started another meanwhile. */
static bool hold_new_threads(struct inject_proc *p, char *err, size_t errlen)
{
    for (bool more = true; more;) {
        more = false;
        pid_t *tids;
        size_t n = sup_list_threads(p->pid, &tids);
        for (size_t i = 0; i < n; i++) {
            if (holding(p, tids[i])) continue;
            p->threads = xrealloc(p->threads, (p->n + 1) * sizeof *p->threads);
            struct inject_thread *t = &p->threads[p->n];
            memset(t, 0, sizeof *t);
            t->tid = tids[i];
            if (!seize(t, p->pid, err, errlen)) {
                if (kill(tids[i], 0) != 0 || errno == ESRCH) continue; /* it ended meanwhile */
                free(tids);
                return false;
            }
            p->n++;
            more = true;
        }
        free(tids);
    }
    return true;
}

bool inject_hold_all(struct inject_proc *p, pid_t pid, char *err, size_t errlen)
{
    *p = (struct inject_proc){.pid = pid};
    if (!hold_new_threads(p, err, errlen)) {
        inject_release(p);
        return false;
    }
    if (p->n == 0) {
        snprintf(err, errlen, "no thread of %d could be held (has it ended?)", pid);
        return false;
    }
    return true;
}

bool inject_breathe(struct inject_proc *p, unsigned ms, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->n; i++)
        ptrace(PTRACE_CONT, p->threads[i].tid, 0, 0);
    sleep_ms(ms);
    size_t kept = 0;
    for (size_t i = 0; i < p->n; i++)
        if (rehold(&p->threads[i])) p->threads[kept++] = p->threads[i]; /* one that ended is gone */
    p->n = kept;
    /* Threads started while they ran are held too. */
    if (!hold_new_threads(p, err, errlen)) return false;
    if (p->n) return true;
    snprintf(err, errlen, "every thread of %d ended", p->pid);
    return false;
}

static bool write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = {(void *)buf, len}, remote = {(void *)addr, len};
    return process_vm_writev(pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

bool inject_read_string(pid_t pid, uint64_t addr, char *out, size_t cap)
{
    if (!addr || cap == 0) return false;
    size_t have = 0;
    while (have + 1 < cap) {
        /* page by page: the string may end just before an unmapped page */
        size_t chunk = 4096 - ((addr + have) & 4095);
        if (chunk > cap - 1 - have) chunk = cap - 1 - have;
        struct iovec local = {out + have, chunk}, remote = {(void *)(addr + have), chunk};
        ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (got <= 0) break;
        if (memchr(out + have, 0, (size_t)got)) return true;
        have += (size_t)got;
    }
    out[have] = 0;
    return have > 0;
}

bool inject_call(struct inject_thread *t, pid_t pid, uint64_t fn, const char *str, const uint64_t *args, int nargs,
                 uint64_t *ret, char *err, size_t errlen)
{
    struct user_regs_struct r = t->saved;
    uint64_t sp = t->saved.rsp - 256; /* below the red zone, and a margin */
    uint64_t a[6] = {0};
    for (int i = 0; args && i < nargs && i < 6; i++)
        a[i] = args[i];
    if (str) {
        size_t len = strlen(str) + 1;
        sp = (sp - len) & ~(uint64_t)15;
        if (!write_mem(pid, sp, str, len)) {
            snprintf(err, errlen, "cannot write to thread %d's stack: %s", t->tid, strerror(errno));
            return false;
        }
        a[0] = sp;
    }
    sp = (sp & ~(uint64_t)15) - 8; /* the return address: 0, so that the return faults where we wait */
    uint64_t zero = 0;
    if (!write_mem(pid, sp, &zero, sizeof zero)) {
        snprintf(err, errlen, "cannot write to thread %d's stack: %s", t->tid, strerror(errno));
        return false;
    }
    r.rsp = sp;
    r.rip = fn;
    r.rdi = a[0], r.rsi = a[1], r.rdx = a[2], r.rcx = a[3], r.r8 = a[4], r.r9 = a[5];
    r.rax = 0;
    r.orig_rax = (uint64_t)-1;    /* not in a system call: nothing for the kernel to restart */
    r.eflags &= ~(uint64_t)0x400; /* the ABI's direction flag, clear */
    if (ptrace(PTRACE_SETREGS, t->tid, 0, &r) != 0 || ptrace(PTRACE_CONT, t->tid, 0, 0) != 0) {
        snprintf(err, errlen, "cannot run thread %d: %s", t->tid, strerror(errno));
        restore_state(t);
        return false;
    }
    /* Never given up on: a thread pulled out of the middle of dlopen would
     * leave the loader's lock held; one left running returns to address 0. A
     * call waits only for a lock another (running) thread holds. */
    unsigned long spins = 0;
    unsigned next_say = 10;
    for (;;) {
        int st;
        pid_t w = waitpid(t->tid, &st, __WALL | WNOHANG);
        if (w == 0) {
            spins++;
            struct timespec ts = {0, spins < 1000 ? 20000 : 1000000};
            nanosleep(&ts, NULL);
            if (spins > 1000 && (spins - 1000) / 1000 >= next_say) {
                fprintf(stderr,
                        "heapsnap: thread %d of %d has not come back from heapsnap's call for %u s (waiting for a "
                        "lock another thread holds?): still waiting\n",
                        t->tid, pid, next_say);
                next_say += 10;
            }
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 || WIFEXITED(st) || WIFSIGNALED(st)) {
            snprintf(err, errlen, "the process ended during heapsnap's call");
            return false;
        }
        int sig = WSTOPSIG(st), ev = st >> 16;
        if (ev == 0 && sig == SIGSEGV) {
            struct user_regs_struct now;
            ptrace(PTRACE_GETREGS, t->tid, 0, &now);
            if (now.rip == 0) {
                *ret = now.rax;
                break;
            }
            snprintf(err, errlen, "heapsnap's call faulted in thread %d at 0x%llx", t->tid,
                     (unsigned long long)now.rip);
            restore_state(t);
            return false;
        }
        if (ev == 0) defer_signal(t, sig);
        ptrace(PTRACE_CONT, t->tid, 0, 0);
    }
    restore_state(t);
    return true;
}

void inject_release(struct inject_proc *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct inject_thread *t = &p->threads[i];
        restore_state(t);
        /* Kept signals go to the thread again, queued before it runs on: with
         * their siginfo where the kernel lets us (sigqueue, timers, message
         * queues), else as a tgkill. */
        for (int k = 0; k < t->ndeferred; k++) {
            siginfo_t *si = &t->deferred[k];
            if (si->si_code < 0 && si->si_code != SI_TKILL)
                syscall(SYS_rt_tgsigqueueinfo, p->pid, t->tid, si->si_signo, si);
            else
                syscall(SYS_tgkill, p->pid, t->tid, si->si_signo);
        }
        ptrace(PTRACE_DETACH, t->tid, 0, 0);
    }
    free(p->threads);
    p->threads = NULL;
    p->n = 0;
}

/* The load bias of an ELF file mapped at start (the mapping of offset 0). */
static bool load_bias(const char *path, uint64_t start, uint64_t *bias)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    Elf64_Ehdr eh;
    bool ok = pread(fd, &eh, sizeof eh, 0) == sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
              eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 256;
    *bias = start;
    for (unsigned i = 0; ok && i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != sizeof ph)
            ok = false;
        else if (ph.p_type == PT_LOAD && ph.p_offset == 0) {
            *bias = start - (ph.p_vaddr & ~(uint64_t)4095);
            break;
        }
    }
    close(fd);
    return ok;
}

bool inject_find_module(pid_t pid, const char *prefix, uint64_t *bias, char *path, size_t cap, uint64_t *text_lo,
                        uint64_t *text_hi)
{
    char maps[64], line[4352];
    snprintf(maps, sizeof maps, "/proc/%d/maps", pid);
    FILE *f = fopen(maps, "r");
    bool found = false;
    uint64_t first = 0, first_end = 0;
    char file[4096] = "";
    *text_lo = *text_hi = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long lo, hi, off;
        char perms[8], name[4096] = "";
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095[^\n]", &lo, &hi, perms, &off, name) < 5) continue;
        const char *base = strrchr(name, '/');
        if (name[0] != '/' || strncmp(base + 1, prefix, strlen(prefix)) != 0) continue;
        if (found && strcmp(name, file) != 0) continue; /* the first such file only */
        if (!found) {
            snprintf(file, sizeof file, "%s", name);
            found = true;
        }
        if (off == 0 && !first) first = lo, first_end = hi;
        if (perms[2] == 'x' && !*text_lo) *text_lo = lo, *text_hi = hi;
    }
    if (f) fclose(f);
    if (!found || !first) return false;
    /* A file replaced since it was loaded (a library rebuilt, upgraded) is
     * read through the mapping itself. */
    size_t len = strlen(file);
    if (len > 10 && strcmp(file + len - 10, " (deleted)") == 0)
        snprintf(path, cap, "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)first,
                 (unsigned long long)first_end);
    else
        snprintf(path, cap, "/proc/%d/root%s", pid, file);
    return load_bias(path, first, bias);
}
