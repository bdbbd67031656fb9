/* fork_child.c - fork without exec. Known figures: the parent leaks 100 B from
 * parent_leak(); the child leaks 200 B from child_leak() and exits 5; the
 * parent exits with the child's status. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink;

__attribute__((noinline)) void *parent_leak(void) { return malloc(100); }
__attribute__((noinline)) void *child_leak(void) { return malloc(200); }

int main(void)
{
    sink = parent_leak();
    sink = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        sink = child_leak();
        sink = NULL;
        exit(5);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
