// inline_cxx.cpp - std::make_unique and std::make_shared, inlined at -O2 -g
// into the user's functions that call them (noinline keeps those real).
// Known figures, beside libstdc++'s own emergency exception pool:
//   40 B, 1 block leaked (a Widget), stack innermost first, after operator new:
//     std::make_unique<Widget>() (inlined, libstdc++'s unique_ptr.h)
//     <- keep_widget() (line 26) <- main (line 33)
//   56 B, 1 block (the Widget and its shared_ptr control block) live at the
//   peak and freed by shared_widget's destructor at exit, stack innermost first:
//     std::__new_allocator<...>::allocate ... std::make_shared<Widget>() (all inlined)
//     <- share_widget() (line 29) <- main (line 35)
// The peak holds all three blocks (40 + 56 B and the pool).
#include <cstdint>
#include <memory>

struct Widget {
    std::uint64_t a[5];
};
static_assert(sizeof(Widget) == 40, "Widget is 40 bytes");

Widget *volatile sink;
std::shared_ptr<Widget> shared_widget;

__attribute__((noinline)) void keep_widget()
{
    // release(): the Widget outlives the unique_ptr, a real leak once sink is cleared
    sink = std::make_unique<Widget>().release();
}

__attribute__((noinline)) void share_widget() { shared_widget = std::make_shared<Widget>(); }

int main()
{
    keep_widget();
    sink = nullptr;
    share_widget();
    return 0;
}
