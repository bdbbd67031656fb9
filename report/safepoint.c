/* safepoint.c - see safepoint.h.
 *
 * A thread holds a lock of the C library (a malloc arena's, stdio's, the
 * loader's) only while it runs the library's code: in libc, the loader,
 * libstdc++ or libgcc, outside a system call, or inside one of the system
 * calls made with such a lock held (malloc's with its arena locked: brk,
 * mmap, munmap, mremap, mprotect, madvise; fork's clone, with every arena
 * locked). Everywhere else (the program's code, heapsnap's own,
 * or blocked in any other system call: a futex wait releases what it waits
 * for, a write under a stdio lock holds no lock the cleanup takes) it is safe
 * to hold. A thread that is not is stepped, one instruction at a time, until
 * it is: out of the library function it was in, or into a system call. */
#include "safepoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

#define STEPS_PER_THREAD 200000 /* a library call longer than this: give up */

/* The executable mappings of the libraries whose code may hold their locks. */
size_t safepoint_library_code(pid_t pid, struct code_range **out)
{
    char path[64], line[4352];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    struct code_range *v = NULL;
    size_t n = 0;
    static const char *const libs[] = {"libc.so", "ld-linux", "libstdc++.so", "libgcc_s.so", "libpthread.so"};
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        char perms[8] = "", file[4096] = "";
        if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %4095[^\n]", &lo, &hi, perms, file) < 4 || perms[2] != 'x') continue;
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
            if (strncmp(base, libs[i], strlen(libs[i])) != 0) continue;
            v = xrealloc(v, (n + 1) * sizeof *v);
            v[n++] = (struct code_range){lo, hi};
            break;
        }
    }
    if (f) fclose(f);
    *out = v;
    return n;
}

/* The system calls the C library makes with one of its locks held: malloc's
 * with its arena locked, and fork's (a multithreaded process's fork holds
 * every arena lock, and the loader's, across the clone). */
static bool in_system_call_under_lock(unsigned long long nr)
{
    return nr == SYS_brk || nr == SYS_mmap || nr == SYS_munmap || nr == SYS_mremap || nr == SYS_mprotect ||
           nr == SYS_madvise || nr == SYS_clone || nr == SYS_clone3 || nr == SYS_fork || nr == SYS_vfork;
}

bool safepoint_at(pid_t tid, const struct code_range *code, size_t ncode)
{
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0) return false;
    if (regs.orig_rax != (unsigned long long)-1) return !in_system_call_under_lock(regs.orig_rax);
    for (size_t i = 0; i < ncode; i++)
        if (regs.rip >= code[i].lo && regs.rip < code[i].hi) return false;
    return true;
}

bool safepoint_hold(struct sup *s, pid_t pid, pid_t except)
{
    struct code_range *code;
    size_t ncode = safepoint_library_code(pid, &code);
    pid_t *tids;
    size_t n = sup_stopped_threads(s, pid, &tids);
    bool all = true;
    for (size_t i = 0; i < n && all; i++) {
        if (tids[i] == except) continue;
        int steps = 0;
        while (!safepoint_at(tids[i], code, ncode))
            if (++steps > STEPS_PER_THREAD || !sup_step(s, tids[i])) {
                all = false;
                break;
            }
    }
    free(tids);
    free(code);
    return all;
}
