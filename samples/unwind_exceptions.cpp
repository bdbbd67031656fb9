// unwind_exceptions.cpp - C++ exceptions thrown through frames that allocated,
// for comparing stack captures (tests/test_unwind.c): the exception unwinder
// reads the same return addresses a stack capture does.
//
// Each phase prints what was caught where and the destructors that ran, in
// order. A Tracked object allocates 64 B in its constructor; its destructor
// frees them and allocates a 32 B note (then the journal's copy of it), so
// destructors allocate while an exception passes through their frames.
//   through: through() 4 levels, then dive() 30 levels deep, a Tracked per
//     level; std::runtime_error thrown at the bottom, caught in main.
//   rethrow: thrown 20 levels deep, caught 12 levels deep, where a 48 B note
//     is allocated, then `throw;`; caught again 6 levels deep, the same;
//     caught in main.
//   nested: try { try { throw A } catch (A) { throw B } } catch (B), 8 levels
//     deep; then std::out_of_range thrown 10 levels deep and wrapped by
//     std::throw_with_nested at 4; main unwraps it with std::rethrow_if_nested.
//   exception_ptr: std::current_exception() 20 levels deep, returned up to
//     main, rethrown with std::rethrow_exception 15 levels deep and caught 5.
//   qsort: a comparator (a C callback inside libc's qsort, 6 levels deep) that
//     allocates a std::string per call and throws at its 40th; caught in main.
//   calm: 50 levels deep and back without an exception.
// Tracked objects: 34 + 21 + 9 + 10 + 20 + 15 + 6 + 50 = 165. Exit 0.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

// These recursions end in a throw or pthread_exit, which GCC's check for
// recursion without an end does not count as one.
#pragma GCC diagnostic ignored "-Winfinite-recursion"

#define NOINLINE __attribute__((noinline))

static std::vector<std::string> *journal;

struct Tracked {
    int level;
    char *block;
    explicit Tracked(int l) : level(l), block(static_cast<char *>(std::malloc(64))) { block[0] = char(l); }
    ~Tracked()
    {
        std::free(block);
        char *note = static_cast<char *>(std::malloc(32));
        std::snprintf(note, 32, "~Tracked %d", level);
        journal->push_back(note);
        std::free(note);
    }
    Tracked(const Tracked &) = delete;
    Tracked &operator=(const Tracked &) = delete;
};

static void print_journal(const char *phase)
{
    std::string line;
    for (size_t i = 0; i < journal->size(); i++)
        line += (i ? ", " : "") + (*journal)[i];
    std::printf("%s: %s\n", phase, line.c_str());
    journal->clear();
}

static NOINLINE int dive(int level, int depth)
{
    Tracked t(level);
    if (level == depth) throw std::runtime_error("bottom of dive at " + std::to_string(depth));
    return dive(level + 1, depth) + t.level;
}

static NOINLINE void through(int level)
{
    Tracked t(level);
    if (level < 3)
        through(level + 1);
    else
        dive(0, 29);
}

static NOINLINE void rethrow_dive(int level)
{
    Tracked t(level);
    if (level == 20) throw std::logic_error("rethrown");
    if (level == 12 || level == 6) {
        try {
            rethrow_dive(level + 1);
        } catch (const std::logic_error &e) {
            char *note = static_cast<char *>(std::malloc(48));
            std::snprintf(note, 48, "caught at %d: %s", level, e.what());
            journal->push_back(note);
            std::free(note);
            throw;
        }
        return;
    }
    rethrow_dive(level + 1);
}

struct A {
    int v;
};
struct B {
    std::string why;
};

static NOINLINE void nested_try(int level)
{
    Tracked t(level);
    if (level < 7) {
        nested_try(level + 1);
        return;
    }
    try {
        try {
            Tracked inner(100);
            throw A{level};
        } catch (const A &a) {
            journal->push_back("caught A " + std::to_string(a.v));
            throw B{"from A at " + std::to_string(a.v)};
        }
    } catch (const B &b) {
        journal->push_back("caught B " + b.why);
    }
}

static NOINLINE void nest_thrower(int level)
{
    Tracked t(level);
    if (level == 9) throw std::out_of_range("innermost");
    try {
        nest_thrower(level + 1);
    } catch (...) {
        if (level == 4) std::throw_with_nested(std::runtime_error("wrapped at 4"));
        throw;
    }
}

static NOINLINE std::exception_ptr caught_here()
{
    try {
        throw std::runtime_error("captured at 19");
    } catch (...) {
        return std::current_exception();
    }
}

static NOINLINE std::exception_ptr capture(int level)
{
    Tracked t(level);
    return level < 19 ? capture(level + 1) : caught_here();
}

static NOINLINE void release(int level, const std::exception_ptr &p)
{
    Tracked t(level);
    if (level < 14)
        release(level + 1, p);
    else
        std::rethrow_exception(p);
}

static NOINLINE void catch_released(int level, const std::exception_ptr &p)
{
    Tracked t(level);
    if (level < 4) {
        catch_released(level + 1, p);
        return;
    }
    try {
        release(level + 1, p);
    } catch (const std::runtime_error &e) {
        journal->push_back(std::string("caught released at 4: ") + e.what());
    }
}

static int comparisons;

static int throwing_compare(const void *a, const void *b)
{
    std::string *note = new std::string(64, 'c');
    comparisons++;
    bool stop = comparisons == 40;
    delete note;
    if (stop) throw std::runtime_error("comparator gave up at call 40");
    int x = *static_cast<const int *>(a), y = *static_cast<const int *>(b);
    return (x > y) - (x < y);
}

static NOINLINE void sort_deep(int level, int *v, size_t n)
{
    Tracked t(level);
    if (level < 5)
        sort_deep(level + 1, v, n);
    else
        std::qsort(v, n, sizeof *v, throwing_compare);
}

static NOINLINE long calm(int level)
{
    Tracked t(level);
    return level < 49 ? calm(level + 1) + level : level;
}

int main()
{
    journal = new std::vector<std::string>;
    try {
        through(0);
    } catch (const std::runtime_error &e) {
        journal->push_back(std::string("main caught: ") + e.what());
    }
    print_journal("through");

    try {
        rethrow_dive(0);
    } catch (const std::logic_error &e) {
        journal->push_back(std::string("main caught: ") + e.what());
    }
    print_journal("rethrow");

    nested_try(0);
    try {
        nest_thrower(0);
    } catch (const std::runtime_error &e) {
        journal->push_back(std::string("main caught: ") + e.what());
        try {
            std::rethrow_if_nested(e);
        } catch (const std::out_of_range &inner) {
            journal->push_back(std::string("nested: ") + inner.what());
        }
    }
    print_journal("nested");

    std::exception_ptr p = capture(0);
    journal->push_back("captured");
    catch_released(0, p);
    p = nullptr;
    print_journal("exception_ptr");

    int values[64];
    for (int i = 0; i < 64; i++)
        values[i] = (i * 37) % 64;
    try {
        sort_deep(0, values, 64);
    } catch (const std::runtime_error &e) {
        journal->push_back(std::string("main caught: ") + e.what());
    }
    print_journal("qsort");

    long s = calm(0);
    std::printf("calm: %ld, %zu destructors\n", s, journal->size());
    journal->clear();
    delete journal;
    return 0;
}
