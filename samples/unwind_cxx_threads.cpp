// unwind_cxx_threads.cpp - threads whose deep frames are unwound by glibc's
// forced unwinding (pthread_exit, pthread_cancel) after they allocated, for
// comparing stack captures (tests/test_unwind.c). Each thread logs its
// destructors and cleanup handlers into its own journal; main prints the
// journals after the joins, so the output is in a fixed order.
//
//   exit: a thread goes 12 levels deep, a Guard per level (allocates 48 B in
//     its constructor; its destructor frees them and allocates a 32 B note,
//     then the journal's copy of it), and calls pthread_exit((void *)42) at
//     the bottom: all 12 destructors run, innermost first, and main sees 42.
//   cancel: a thread goes 15 levels deep (a Guard per level, a
//     pthread_cleanup_push handler at levels 5 and 10 that allocates a 24 B
//     note) and blocks in read() on an empty pipe; main cancels it:
//     destructors and handlers run innermost first, and main sees
//     PTHREAD_CANCELED.
//   std::thread: three threads fill std::vectors through 8, 16 and 24
//     levels (vector growth allocates), each returning a checksum.
// Exit 0.
#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

// These recursions end in a throw or pthread_exit, which GCC's check for
// recursion without an end does not count as one.
#pragma GCC diagnostic ignored "-Winfinite-recursion"

#define NOINLINE __attribute__((noinline))

struct Guard {
    std::vector<std::string> *journal;
    int level;
    char *block;
    Guard(std::vector<std::string> *j, int l) : journal(j), level(l), block(static_cast<char *>(std::malloc(48))) {}
    ~Guard()
    {
        std::free(block);
        char *note = static_cast<char *>(std::malloc(32));
        std::snprintf(note, 32, "~Guard %d", level);
        journal->push_back(note);
        std::free(note);
    }
    Guard(const Guard &) = delete;
    Guard &operator=(const Guard &) = delete;
};

static void print_journal(const char *what, const std::vector<std::string> &journal)
{
    std::string line;
    for (size_t i = 0; i < journal.size(); i++)
        line += (i ? ", " : "") + journal[i];
    std::printf("%s: %s\n", what, line.c_str());
}

static std::vector<std::string> exit_journal, cancel_journal;

static NOINLINE void exit_deep(int level)
{
    Guard g(&exit_journal, level);
    if (level < 11)
        exit_deep(level + 1);
    else
        pthread_exit(reinterpret_cast<void *>(42));
    exit_journal.push_back("not reached");
}

static void *exit_thread(void *)
{
    exit_deep(0);
    return nullptr;
}

static int pipe_fds[2];
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static bool ready;

static void cleanup(void *arg)
{
    int level = static_cast<int>(reinterpret_cast<intptr_t>(arg));
    char *note = static_cast<char *>(std::malloc(24));
    std::snprintf(note, 24, "cleanup %d", level);
    cancel_journal.push_back(note);
    std::free(note);
}

static NOINLINE void cancel_deep(int level);

static NOINLINE void cancel_step(int level)
{
    if (level % 5 == 0 && level > 0) {
        pthread_cleanup_push(cleanup, reinterpret_cast<void *>(static_cast<intptr_t>(level)));
        cancel_deep(level + 1);
        pthread_cleanup_pop(0);
    } else {
        cancel_deep(level + 1);
    }
}

static NOINLINE void cancel_deep(int level)
{
    Guard g(&cancel_journal, level);
    if (level < 14) {
        cancel_step(level);
        return;
    }
    pthread_mutex_lock(&ready_lock);
    ready = true;
    pthread_cond_signal(&ready_cond);
    pthread_mutex_unlock(&ready_lock);
    char c;
    ssize_t n = read(pipe_fds[0], &c, 1); // a cancellation point: never returns
    cancel_journal.push_back("read returned " + std::to_string(n));
}

static void *cancel_thread(void *)
{
    cancel_deep(0);
    return nullptr;
}

static NOINLINE long fill(int level, int depth)
{
    std::vector<long> v;
    for (int i = 0; i <= level; i++)
        v.push_back(i * level);
    long sum = 0;
    for (long x : v)
        sum += x;
    return level < depth ? sum + fill(level + 1, depth) : sum;
}

int main()
{
    pthread_t t;
    void *result;
    pthread_create(&t, nullptr, exit_thread, nullptr);
    pthread_join(t, &result);
    print_journal("exit", exit_journal);
    std::printf("exit: thread returned %ld\n", static_cast<long>(reinterpret_cast<intptr_t>(result)));

    if (pipe(pipe_fds) != 0) return 1;
    pthread_create(&t, nullptr, cancel_thread, nullptr);
    pthread_mutex_lock(&ready_lock);
    while (!ready)
        pthread_cond_wait(&ready_cond, &ready_lock);
    pthread_mutex_unlock(&ready_lock);
    pthread_cancel(t);
    pthread_join(t, &result);
    print_journal("cancel", cancel_journal);
    std::printf("cancel: thread %s\n", result == PTHREAD_CANCELED ? "canceled" : "not canceled");

    long sums[3];
    std::vector<std::thread> threads;
    for (int k = 0; k < 3; k++)
        threads.emplace_back([k, &sums] { sums[k] = fill(0, 8 * (k + 1) - 1); });
    for (auto &th : threads)
        th.join();
    std::printf("std::thread: %ld %ld %ld\n", sums[0], sums[1], sums[2]);
    return 0;
}
