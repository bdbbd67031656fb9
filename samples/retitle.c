/* retitle.c - a worker whose argv[0] is not its program's name, as servers
 * have them (nginx's "nginx: worker process", postgres's "postgres:
 * /var/lib/..."). The title is "worker: /srv/x y": a '/' and spaces.
 *   fork           fork (also with no argument); the child overwrites its
 *                  argv strings in place with the title and sets its thread
 *                  name to "w) /srv x" (a ')' and spaces, which
 *                  /proc/PID/stat shows in parentheses)
 *   spawn          posix_spawn this program with the title as argv[0] from
 *                  the start (as `exec -a` does), and "child" as argv[1]
 * Known figures, either way: the child leaks 72 B in 1 block from
 * child_leak() and exits 3; the parent leaks 40 B in 1 block from
 * parent_leak() after the child is started (so a forked child never has it),
 * waits for the child and exits with its status. Nothing else is allocated
 * (no stdio). */
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define TITLE "worker: /srv/x y"

void *volatile sink;

__attribute__((noinline)) void *child_leak(void) { return malloc(72); }
__attribute__((noinline)) void *parent_leak(void) { return malloc(40); }

/* The argv strings lie end to end: all of them are the room a title has. */
static void set_title(int argc, char **argv)
{
    char *end = argv[argc - 1] + strlen(argv[argc - 1]);
    size_t room = (size_t)(end - argv[0]);
    memset(argv[0], 0, room);
    size_t len = strlen(TITLE) < room ? strlen(TITLE) : room;
    memcpy(argv[0], TITLE, len);
    for (int i = 1; i < argc; i++) argv[i] = NULL;
}

static void child(void)
{
    sink = child_leak();
    sink = NULL;
    exit(3);
}

static pid_t spawn_titled(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    char *args[] = {TITLE, "child", NULL};
    extern char **environ;
    pid_t pid;
    return posix_spawn(&pid, self, NULL, NULL, args, environ) == 0 ? pid : -1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0) child();
    pid_t pid;
    if (argc > 1 && strcmp(argv[1], "spawn") == 0) {
        pid = spawn_titled();
    } else {
        pid = fork();
        if (pid == 0) {
            set_title(argc, argv);
            prctl(PR_SET_NAME, "w) /srv x", 0, 0, 0);
            child();
        }
    }
    if (pid < 0) return 1;
    sink = parent_leak();
    sink = NULL;
    int st;
    if (waitpid(pid, &st, 0) != pid) return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
