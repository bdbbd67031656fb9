// roots_cxx.cpp - the one-time allocations of glibc and libstdc++ in a C++
// program that uses iostream, and how each way out treats them. Each argv word
// is a mode, run in order; the last may end the process.
//
// libstdc++ allocates its emergency exception-handling pool (72,704 B) when it
// is loaded, whatever the program does; std::cout (synchronized with stdio)
// writes through glibc's stdout, whose buffer is 4096 B when stdout is not a
// terminal (1024 B on a tty). memcheck calls __gnu_cxx::__freeres (frees the
// pool) and __libc_freeres (frees the stdout buffer, unmaps cached thread
// stacks) when the process exits by the exit_group system call, so on a
// return from main, exit(), _exit() or exit() in another thread, but not at a
// fatal signal.
//
// valgrind 3.19 `--leak-check=full`, default options otherwise (glibc 2.36,
// libstdc++ of GCC 12, x86-64), bytes/blocks; kinds not named are 0/0. "All
// freed" is memcheck's "All heap blocks were freed -- no leaks are possible",
// printed instead of a LEAK SUMMARY.
//
//   mode                 default            --run-cxx-freeres=no   --run-libc-freeres=no   both =no
//   (none), exit, _exit  all freed          reachable 72704/1      all freed               reachable 72704/1
//   cout [exit|_exit]    all freed          reachable 72704/1      reachable 4096/1        reachable 76800/2
//   abort, segv          reachable 72704/1 with every option
//   cout abort|segv      reachable 76800/2 with every option
//   thread_exit          possible 288/1, and reachable 72704/1 with --run-cxx-freeres=no
//   cout thread_exit     possible 288/1, and reachable 72704/1 without cxx freeres,
//                        4096/1 without libc freeres, 76800/2 without both
// (possible 288/1: the DTV of the thread that called exit(), alive at the scan.)
// Exit status: abort 134, segv 139 (killed by the signal), else 0.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <pthread.h>
#include <unistd.h>

static void *exit_from_thread(void *) { std::exit(0); }

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *m = argv[i];
        if (std::strcmp(m, "cout") == 0) {
            std::cout << "roots_cxx" << std::endl;
        } else if (std::strcmp(m, "exit") == 0) {
            std::exit(0);
        } else if (std::strcmp(m, "_exit") == 0) {
            _exit(0);
        } else if (std::strcmp(m, "abort") == 0) {
            std::abort();
        } else if (std::strcmp(m, "segv") == 0) {
            int *volatile nowhere = nullptr;
            *nowhere = 1;
        } else if (std::strcmp(m, "thread_exit") == 0) {
            pthread_t t;
            if (pthread_create(&t, nullptr, exit_from_thread, nullptr) != 0) std::abort();
            pthread_join(t, nullptr);
        } else {
            std::cerr << "roots_cxx: unknown mode " << m << '\n';
            return 2;
        }
    }
    return 0;
}
