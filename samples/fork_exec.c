/* fork_exec.c - fork, then exec argv[1] in the child (with posix_spawn as
 * well when argv[2] is "spawn"). Known figures: the parent allocates nothing
 * of its own; the exec'd program's trace holds what that program does. */
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    pid_t pid;
    char *args[] = {argv[1], NULL};
    if (argc > 2 && strcmp(argv[2], "spawn") == 0) {
        if (posix_spawn(&pid, argv[1], NULL, NULL, args, environ) != 0) return 3;
    } else {
        pid = fork();
        if (pid == 0) {
            execv(argv[1], args);
            _exit(127);
        }
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
