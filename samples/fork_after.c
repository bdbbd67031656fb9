/* fork_after.c - what a fork child has is what its parent had at the fork,
 * whatever the parent does next.
 *
 * fork_after MODE, MODE one of:
 *   free_after  the parent keeps 64 B from parent_block() in a global, forks,
 *               frees it and exits 0 at once; the child sleeps 300 ms, drops
 *               its copy of the pointer and exits 0: the child leaks 64 B
 *               (memcheck says so: definitely lost 64 B in 1 block), the
 *               parent nothing
 *   stdio       the parent reads stdin's first line (stdio reads ahead: the
 *               second is in its buffer too), prints "parent " without a
 *               newline, forks; the child _exits at once; the parent reads
 *               the second line and prints "done LINE2". The output is
 *               exactly "parent done LINE2\n": the child's _exit must neither
 *               print its copy of the buffered "parent " nor move the offset
 *               of the stdin it shares with the parent.
 *   shared      the parent keeps the only pointer to 100 B from
 *               parent_block100() in a 1 MiB MAP_SHARED|MAP_ANONYMOUS region,
 *               forks; the child never touches the region and _exits 0; the
 *               parent waits, frees the block and exits 0. The region is the
 *               child's as much as the parent's (the child has no page-table
 *               entries for it, yet its pages hold the parent's data):
 *               memcheck calls the child's copy of the block still reachable,
 *               and nothing is lost anywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void *volatile kept;

__attribute__((noinline)) static void *parent_block(void) { return malloc(64); }
__attribute__((noinline)) static void *parent_block100(void) { return malloc(100); }

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "free_after") == 0) {
        kept = parent_block();
        pid_t child = fork();
        if (child != 0) {
            free(kept);
            return child < 0;
        }
        struct timespec wait = {0, 300 * 1000 * 1000};
        nanosleep(&wait, NULL);
        kept = NULL;
        return 0;
    }
    if (strcmp(mode, "stdio") == 0) {
        char line[256];
        if (!fgets(line, sizeof line, stdin)) return 3;
        printf("parent ");
        pid_t child = fork();
        if (child == 0) _exit(0);
        waitpid(child, NULL, 0);
        if (!fgets(line, sizeof line, stdin)) return 4;
        printf("done %s", line);
        return 0;
    }
    if (strcmp(mode, "shared") == 0) {
        void **shared = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shared == MAP_FAILED) return 5;
        shared[1000] = parent_block100();
        pid_t child = fork();
        if (child == 0) _exit(0);
        waitpid(child, NULL, 0);
        free(shared[1000]);
        return 0;
    }
    return 2;
}
