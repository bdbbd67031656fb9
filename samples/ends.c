/* ends.c - ways out of a process that no exit() or destructor sees, and
 * limits that stop the recording. Each must still end in a leak check, or in
 * a gate that fails and says why.
 *
 * ends MODE, MODE one of:
 *   exit_group         64 B from leak_before_exit_group() dropped, then a raw
 *                      exit_group(3) system call (as Go's runtime ends): exit 3
 *   thread_exit_group  a second thread drops 64 B from thread_leak() and
 *                      calls exit_group(4) while main waits for it: exit 4
 *   daemon             double fork: the launcher exits 0 at once, its child
 *                      starts a session and exits 0; the grandchild, left
 *                      running, sleeps 300 ms, drops 48 B from daemon_leak()
 *                      and exits 0
 *   daemon_clean       the same, the grandchild frees its 48 B
 *   fsize              a file size limit of 1 MiB (ulimit -f), then 300 threads
 *                      each take a trace slot: the trace, 16 MiB already, cannot
 *                      grow for the 257th, recording stops; nothing leaks; exit 0
 *   as_limit           an address space limit 8 MiB above what the process
 *                      maps (ulimit -v), then 2.5 million malloc/free pairs:
 *                      the trace's next 16 MiB segment cannot be mapped,
 *                      recording stops; nothing leaks; exit 0
 *   outlive FILE       2 million malloc/free pairs of 16 B from churn_pair()
 *                      (over 16 MiB of records: `heapsnap run` packs them and
 *                      frees their raw slots meanwhile), then waits for FILE
 *                      to exist (30 s at most; a test kills heapsnap run
 *                      meanwhile), 1000 pairs more, exit 0 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void *volatile sink;

static __attribute__((noreturn)) void raw_exit_group(int code)
{
    for (;;) __asm__ volatile("syscall" : : "a"((long)SYS_exit_group), "D"((long)code) : "rcx", "r11", "memory");
}

__attribute__((noinline)) static void *leak_before_exit_group(void) { return malloc(64); }
__attribute__((noinline)) static void *thread_leak(void) { return malloc(64); }
__attribute__((noinline)) static void *daemon_leak(void) { return malloc(48); }

static void *exiting_thread(void *arg)
{
    (void)arg;
    sink = thread_leak();
    sink = NULL;
    raw_exit_group(4);
}

static void *take_a_slot(void *arg)
{
    (void)arg;
    void *p = malloc(16);
    sink = p;
    free(p);
    return NULL;
}

static int daemonize(bool leak)
{
    pid_t child = fork();
    if (child != 0) return child < 0 ? 1 : 0; /* the launcher: done */
    setsid();
    if (fork() != 0) _exit(0); /* the session leader goes: the grandchild is orphaned */
    struct timespec wait = {0, 300 * 1000 * 1000};
    nanosleep(&wait, NULL);
    void *p = daemon_leak();
    if (!leak) free(p);
    p = NULL;
    sink = NULL;
    exit(0);
}

__attribute__((noinline)) static void churn_pair(void)
{
    void *p = malloc(16);
    sink = p;
    free(p);
}

static int outlive(const char *file)
{
    for (int i = 0; i < 2000000; i++) churn_pair();
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 3000 && access(file, F_OK) != 0; i++) nanosleep(&tick, NULL);
    for (int i = 0; i < 1000; i++) churn_pair();
    return 0;
}

static unsigned long mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmSize:", 7) == 0) kb = strtoul(line + 7, NULL, 10);
    if (f) fclose(f);
    return kb * 1024;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "exit_group") == 0) {
        sink = leak_before_exit_group();
        sink = NULL;
        raw_exit_group(3);
    }
    if (strcmp(mode, "thread_exit_group") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, exiting_thread, NULL);
        pthread_join(t, NULL);
        return 1; /* not reached */
    }
    if (strcmp(mode, "daemon") == 0 || strcmp(mode, "daemon_clean") == 0) return daemonize(strcmp(mode, "daemon") == 0);
    if (strcmp(mode, "fsize") == 0) {
        struct rlimit rl = {1 << 20, 1 << 20};
        setrlimit(RLIMIT_FSIZE, &rl);
        pthread_t t[300];
        for (int i = 0; i < 300; i++) pthread_create(&t[i], NULL, take_a_slot, NULL);
        for (int i = 0; i < 300; i++) pthread_join(t[i], NULL);
        return 0;
    }
    if (strcmp(mode, "outlive") == 0 && argc > 2) return outlive(argv[2]);
    if (strcmp(mode, "as_limit") == 0) {
        unsigned long limit = mapped_bytes() + (8ul << 20);
        struct rlimit rl = {limit, limit};
        setrlimit(RLIMIT_AS, &rl);
        for (int i = 0; i < 2500000; i++) {
            void *p = malloc(16);
            sink = p;
            free(p);
        }
        return 0;
    }
    return 2;
}
