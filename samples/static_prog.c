/* static_prog.c - linked statically: heapsnap run and attach must refuse it.
 * With an argument, it sleeps that many seconds first (something to attach to). */
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 1) sleep((unsigned)atoi(argv[1]));
    return 0;
}
