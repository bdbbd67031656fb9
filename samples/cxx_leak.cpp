// cxx_leak.cpp - C++ new/delete seen through malloc. Known figures: a 48 B
// Widget leaked from leak_widget(); new int[10] and a delete'd Widget freed.
#include <cstdint>


struct Widget {
    std::uint64_t a[6];
};
static_assert(sizeof(Widget) == 48, "Widget is 48 bytes");

Widget *volatile sink;

__attribute__((noinline)) Widget *leak_widget() { return new Widget(); }

__attribute__((noinline)) void balanced()
{
    int *v = new int[10];
    v[0] = 1;
    delete[] v;
    delete new Widget();
}

int main()
{
    sink = leak_widget();
    sink = nullptr;
    balanced();
    return 0;
}
