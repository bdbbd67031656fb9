/* close_fds.c - a program that closes every descriptor it did not open, as
 * daemons do, then opens a data file of its own and keeps allocating, so the
 * trace must grow through heapsnap's descriptor after the program closed it.
 *
 * close_fds MODE, MODE one of:
 *   range  close_range(3, ~0U, 0)
 *   from   closefrom(3)
 *   loop   close() on every number up to the descriptor limit
 *   raw    close_range as a raw system call (no libc, nothing to interpose),
 *          then dup2 of the data file onto the number heapsnap's trace had
 *
 * Then: data.txt in the current directory gets "0123456789"; 300 threads
 * each malloc(24) and free it (300 threads take 300 trace slots: more than
 * one 16 MiB segment, so the trace file must grow after the close); 77 B
 * from leak_after_close() stay unreferenced; heapsnap_leak_check() asks for
 * a check mid-run (its socket was closed too in raw mode); the data file is
 * then read back and must still be the 10 bytes written (exit 3 if not). Exit 0.
 * Known figures: 301 allocations of ours (300 x 24 B freed, 77 B definitely
 * lost at the end and at the check). */
#include "heapsnap.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void *volatile sink;

__attribute__((noinline)) static void *leak_after_close(void) { return malloc(77); }

static void *churn(void *arg)
{
    (void)arg;
    void *p = malloc(24);
    sink = p;
    free(p);
    return NULL;
}

/* The descriptor heapsnap writes its trace through, as the program can see it. */
static int trace_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;
    while (d && (e = readdir(d))) {
        char path[64], target[4096];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        size_t len = strlen(target);
        if (len > 6 && strcmp(target + len - 6, ".trace") == 0) found = atoi(e->d_name);
    }
    if (d) closedir(d);
    return found;
}

static long raw_close_range(unsigned lo, unsigned hi)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_close_range), "D"((long)lo), "S"((long)hi), "d"(0L)
                     : "rcx", "r11", "memory");
    return ret;
}

static long raw_dup2(int from, int to)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_dup2), "D"((long)from), "S"((long)to) : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "range";
    int old_trace = trace_fd();
    if (strcmp(mode, "range") == 0) {
        close_range(3, ~0U, 0);
    } else if (strcmp(mode, "from") == 0) {
        closefrom(3);
    } else if (strcmp(mode, "loop") == 0) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        for (int fd = 3; fd < (int)rl.rlim_cur; fd++) close(fd);
    } else if (strcmp(mode, "raw") == 0) {
        raw_close_range(3, ~0U);
    } else {
        return 2;
    }
    int fd = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "0123456789", 10) != 10) return 4;
    /* The worst case: the program's own file at the very number heapsnap had. */
    if (strcmp(mode, "raw") == 0 && old_trace > 2 && raw_dup2(fd, old_trace) < 0) return 5;

    pthread_t t[300];
    for (int i = 0; i < 300; i++)
        if (pthread_create(&t[i], NULL, churn, NULL) != 0) return 6;
    for (int i = 0; i < 300; i++) pthread_join(t[i], NULL);
    sink = leak_after_close();
    sink = NULL;
    heapsnap_leak_check();

    char buf[64];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    struct stat st;
    if (n != 10 || memcmp(buf, "0123456789", 10) != 0 || fstat(fd, &st) != 0 || st.st_size != 10) return 3;
    return 0;
}
