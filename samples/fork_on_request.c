/* fork_on_request.c - forks on request, and its children wait. Commands on
 * stdin, one a line: "fork" makes a child that waits for a signal and
 * answers "child PID" on stdout. It prints "ready" first and ends at the end
 * of its input; its children end with it. They allocate nothing. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void)
{
    puts("ready");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (strcmp(line, "fork\n") != 0) continue;
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (;;)
                pause();
        }
        printf("child %d\n", (int)pid);
        fflush(stdout);
    }
    return 0;
}
