/* test_fmt.c - sizes print exactly as tracemalloc's _format_size prints them
 * at every unit boundary (expected strings taken from CPython 3.11). */
#include <criterion/criterion.h>

#include "../report/fmt.h"

static void expect_size(double v, bool sign, const char *want)
{
    char got[64];
    fmt_size(got, sizeof got, v, sign);
    cr_expect_str_eq(got, want, "fmt_size(%.0f, %d)", v, sign);
}

Test(fmt, tracemalloc_size_boundaries)
{
    expect_size(0, false, "0 B");
    expect_size(10239, false, "10239 B");
    expect_size(10240, false, "10.0 KiB");
    expect_size(102297, false, "99.9 KiB");
    expect_size(102399, false, "100.0 KiB");
    expect_size(102400, false, "100 KiB");
    expect_size(1048576, false, "1024 KiB");
    expect_size(5368709120.0, false, "5120 MiB");
    expect_size(3298534883328.0, false, "3072 GiB");
    expect_size(21990232555520000.0, false, "20000 TiB");
}

Test(fmt, tracemalloc_signed_sizes)
{
    expect_size(0, true, "+0 B");
    expect_size(-1, true, "-1 B");
    expect_size(-30720, true, "-30.0 KiB");
    expect_size(-10240, true, "-10.0 KiB");
    expect_size(199680, true, "+195 KiB");
}
