/* mappings.c - mappings with exactly known sizes, for mapped memory by call
 * site (4 KiB pages). Each site is a function of its own; at the end, live:
 *   map_anon()        20480 B: 5 pages, anonymous, never unmapped
 *   map_file()        12288 B: a 3-page file mapped MAP_PRIVATE (10000 bytes
 *                     asked for: the kernel maps whole pages)
 *   map_holed()       24576 B: 8 pages mapped, the middle 2 unmapped (a split)
 *   map_for_remap()       0 B: 2 pages, moved by remap_grow()
 *   remap_grow()      65536 B: those 2 pages grown to 16 (MREMAP_MAYMOVE)
 *   map_fixed_over()   8192 B: 2 pages MAP_FIXED over the first 2 of
 *                     map_replaced()'s 6, which keeps 16384 B
 *   map_and_drop()        0 B: 4 pages mapped and unmapped again (the
 *                     mapped peak has them: 16384 B at that site)
 *   grow_break()       8192 B: sbrk(8192), the program's own break
 *   heap_block()       1000 B of heap in one block (no mapping)
 *   big_heap_block()   1 MiB of heap in one block, which glibc's malloc maps
 *                     with its own internal mmap: heap, never mapped
 *   unseen_mapping()      0 B: 4 pages mapped by a raw system call (as if
 *                     before tracing), then unmapped: an unmap of a range
 *                     the trace never saw mapped changes nothing
 * Failed calls return what they return without heapsnap, errno too (the
 * program exits 3 otherwise): munmap of an unaligned address (EINVAL), mmap
 * of a bad descriptor (EBADF), mremap of an unaligned address (EINVAL).
 * Mapped at the end: 20480+12288+24576+65536+8192+16384+8192 = 155648 B in 8
 * ranges (map_holed's two halves) from 7 sites. The mapped peak is while
 * map_and_drop()'s 4 pages are there, before grow_break(): 163840 B.
 * mmap-like calls: 8 (grow_break's sbrk among them), unmaps 3, remaps 1.
 * Heap at the end: 1000 + 1048576 B in 2 blocks.
 *
 * With "rss", afterwards: 100 ms idle, then 32 MiB anonymous from
 * touch_pages() with every page written, then 200 ms idle, so that samples
 * of the resident set every 10 ms see it grow by at least 32 MiB.
 * No stdio before the end: nothing else maps. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <stdint.h>
#include <unistd.h>

#define PAGE 4096u
#define RSS_BYTES (32u << 20)

/* Global, so that the stores are kept and the heap blocks stay reachable. */
void *keep[16];

static void must(int ok)
{
    if (!ok) _exit(3);
}

static void *anon(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    must(p != MAP_FAILED);
    return p;
}

/* Each site calls mmap itself: a site is the function that calls it. */
__attribute__((noinline)) static void map_anon(void)
{
    keep[0] = mmap(NULL, 5 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    must(keep[0] != MAP_FAILED);
}

__attribute__((noinline)) static void map_file(const char *dir)
{
    char path[4096];
    strcpy(path, dir);
    strcat(path, "/mappings.data.XXXXXX");
    int fd = mkstemp(path);
    must(fd >= 0);
    unlink(path);
    must(ftruncate(fd, 3 * PAGE) == 0);
    keep[1] = mmap(NULL, 10000, PROT_READ, MAP_PRIVATE, fd, 0);
    must(keep[1] != MAP_FAILED);
    close(fd);
}

__attribute__((noinline)) static void map_holed(void)
{
    char *p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    must(p != MAP_FAILED);
    must(munmap(p + 3 * PAGE, 2 * PAGE) == 0);
    keep[2] = p;
}

__attribute__((noinline)) static void *map_for_remap(void)
{
    void *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    must(p != MAP_FAILED);
    return p;
}

__attribute__((noinline)) static void remap_grow(void *p)
{
    keep[3] = mremap(p, 2 * PAGE, 16 * PAGE, MREMAP_MAYMOVE);
    must(keep[3] != MAP_FAILED);
}

__attribute__((noinline)) static char *map_replaced(void)
{
    char *p = mmap(NULL, 6 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    must(p != MAP_FAILED);
    return p;
}

__attribute__((noinline)) static void map_fixed_over(char *p)
{
    void *q = mmap(p, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    must(q == p);
    keep[4] = p;
}

__attribute__((noinline)) static void map_and_drop(void)
{
    void *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    must(p != MAP_FAILED);
    must(munmap(p, 4 * PAGE) == 0);
}

__attribute__((noinline)) static void grow_break(void)
{
    keep[5] = sbrk(8192);
    must(keep[5] != (void *)-1);
}

__attribute__((noinline)) static void heap_block(void)
{
    keep[6] = malloc(1000);
    must(keep[6] != NULL);
}

__attribute__((noinline)) static void big_heap_block(void)
{
    keep[8] = malloc(1u << 20);
    must(keep[8] != NULL);
}

__attribute__((noinline)) static void unseen_mapping(void)
{
    long p = syscall(SYS_mmap, 0L, 4L * PAGE, (long)(PROT_READ | PROT_WRITE), (long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 0L);
    must(p > 0 || p < -4096);
    must(munmap((void *)p, 4 * PAGE) == 0);
}

__attribute__((noinline)) static void failed_calls(void)
{
    errno = 0;
    must(munmap((void *)(uintptr_t)1, PAGE) == -1 && errno == EINVAL);
    errno = 0;
    must(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, -1, 0) == MAP_FAILED && errno == EBADF);
    errno = 0;
    must(mremap((void *)(uintptr_t)1, PAGE, 2 * PAGE, MREMAP_MAYMOVE) == MAP_FAILED && errno == EINVAL);
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

__attribute__((noinline)) static void touch_pages(void)
{
    char *p = anon(RSS_BYTES);
    for (size_t i = 0; i < RSS_BYTES; i += PAGE) p[i] = 1;
    keep[7] = p;
}

int main(int argc, char **argv)
{
    const char *dir = getenv("TMPDIR");
    map_anon();
    map_file(dir && *dir ? dir : "/tmp");
    map_holed();
    remap_grow(map_for_remap());
    map_fixed_over(map_replaced());
    map_and_drop();
    grow_break();
    heap_block();
    big_heap_block();
    unseen_mapping();
    failed_calls();
    if (argc > 1 && strcmp(argv[1], "rss") == 0) {
        nap(100);
        touch_pages();
        nap(200);
    }
    return 0;
}
