/* unwind_fork.c - children that start in the middle of their parent's deep
 * frames, for comparing stack captures (tests/test_unwind.c).
 *
 * fork: the parent goes 30 levels deep through descend(), allocating at each
 *   level (down_alloc, 40 B kept until the way back up), and forks at the
 *   bottom; the child allocates there (child_alloc, 1 x 100 B), then goes 10
 *   levels deeper (down_alloc), then returns up through the 30 frames it
 *   inherited, allocating at each (up_alloc, 30 x 56 B), and exits 7 from
 *   main. The parent waits, then returns up the same way.
 * vfork: 20 levels deep, vfork and exec this program with "spawned 12": that
 *   image goes 12 levels deep (down_alloc) and exits 3.
 * posix_spawn: 15 levels deep, spawn "spawned 25": 25 levels, exit 3.
 * After each child the parent prints its status; a child prints its line
 * itself (stdout is flushed before each fork). Exit 0. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

void *volatile keep; /* every block escapes through it: GCC drops a malloc/free pair it can see whole */

extern char **environ;
static const char *self;
static int is_child;

static NOINLINE void *down_alloc(int level)
{
    unsigned char *p = malloc(40);
    keep = p;
    p[0] = (unsigned char)level;
    return p;
}

static NOINLINE unsigned long up_alloc(int level)
{
    unsigned char *p = malloc(56);
    keep = p;
    p[0] = (unsigned char)(level + 100);
    unsigned long v = p[0];
    free(p);
    return v;
}

static NOINLINE unsigned long child_alloc(void)
{
    char *p = malloc(100);
    keep = p;
    strcpy(p, "child");
    unsigned long v = strlen(p);
    free(p);
    return v;
}

static NOINLINE unsigned long plain(int level, int depth)
{
    unsigned char *mine = down_alloc(level);
    unsigned long sum = mine[0];
    if (level < depth) sum += plain(level + 1, depth) * 2;
    free(mine);
    return sum;
}

static void report_child(const char *how, pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid) {
        printf("%s: waitpid failed\n", how);
        return;
    }
    printf("%s: child exited %d\n", how, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static NOINLINE void at_bottom(int how)
{
    fflush(stdout);
    if (how == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            is_child = 1;
            unsigned long s = child_alloc();
            s += plain(0, 9);
            printf("fork child: checksum %lu at the bottom\n", s);
            return; /* up through the parent's frames */
        }
        report_child("fork", pid);
    } else if (how == 1) {
        char *argv[] = {(char *)self, "spawned", "12", NULL};
        pid_t pid = vfork();
        if (pid == 0) {
            execv(self, argv);
            _exit(127);
        }
        report_child("vfork", pid);
    } else {
        char *argv[] = {(char *)self, "spawned", "25", NULL};
        pid_t pid;
        if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0) {
            printf("posix_spawn failed\n");
            return;
        }
        report_child("posix_spawn", pid);
    }
}

static NOINLINE unsigned long descend(int level, int depth, int how)
{
    unsigned char *mine = down_alloc(level);
    unsigned long sum = mine[0];
    if (level < depth)
        sum += descend(level + 1, depth, how) * 3;
    else
        at_bottom(how);
    free(mine);
    return sum + up_alloc(level);
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc == 3 && strcmp(argv[1], "spawned") == 0) {
        printf("spawned: checksum %lu\n", plain(0, atoi(argv[2]) - 1));
        return 3;
    }
    unsigned long s = descend(0, 29, 0);
    if (is_child) {
        printf("fork child: checksum %lu at the top\n", s);
        fflush(stdout);
        return 7;
    }
    printf("fork parent: checksum %lu\n", s);
    s = descend(0, 19, 1);
    printf("vfork parent: checksum %lu\n", s);
    s = descend(0, 14, 2);
    printf("posix_spawn parent: checksum %lu\n", s);
    return 0;
}
