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
 *               of the stdin it shares with the parent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void *volatile kept;

__attribute__((noinline)) static void *parent_block(void) { return malloc(64); }

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
    return 2;
}
