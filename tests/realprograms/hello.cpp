// hello.cpp - what the g++ and clang rows compile: enough of the standard
// library to make the compilers allocate, small enough to build in a second.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

int main()
{
    std::map<std::string, int> m;
    for (int i = 0; i < 1000; i++)
        m[std::to_string(i)] = i;
    long sum = 0;
    for (const auto &kv : m)
        sum += kv.second;
    std::vector<int> v(100, 3);
    std::printf("hello %zu %ld %d\n", m.size(), sum, v[5]);
    return 0;
}
