/* fork_plugin.c - a fork child meets a stack its parent met first: argv[1] is
 * libhsplugin.so. The parent calls plugin_leak() once and forks; the child
 * calls it again through the very same frames and _exits. The child's trace
 * must name the module of a stack it did not discover itself.
 * Known figures: each process leaks 256 B from plugin_leak() in
 * libhsplugin.so; both exit 0. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink;
static volatile int calls = 2; /* volatile: one loop body, one call site, for both processes */

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    void *(*leak)(void) = (void *(*)(void))dlsym(h, "plugin_leak");
    if (!leak) return 1;
    pid_t pid = 1;
    for (int i = 0; i < calls; i++) {
        sink = leak();
        if (pid == 0) _exit(0); /* the child, after its call */
        pid = fork();
        if (pid != 0) break; /* the parent, after its call */
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
