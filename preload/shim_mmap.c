/* shim_mmap.c - the program's own mappings: mmap, mmap64, munmap, mremap, brk
 * and sbrk interposed, each successful call recorded with its stack
 * (REC_MMAP, REC_MUNMAP, REC_MREMAP), as shim_malloc.c records the malloc
 * family: no lock, no allocation, errno and the result as the real call left
 * them.
 *
 * What is seen is what the program and its libraries call through these
 * symbols. glibc's malloc maps its arenas and large blocks with internal
 * calls that never reach us, so a byte is counted as heap or as mapped,
 * never both. heapsnap's own mappings (the trace's segments, the arena,
 * libunwind's pools, the packer's) are all made with in_shim set, and pass
 * through unrecorded.
 *
 * Lengths are recorded as the kernel maps them: in whole pages. An unmap is
 * stamped before the call (another thread may be handed the range the moment
 * it returns, and its mapping must sort after) and written after it
 * succeeded; a mapping is stamped once it exists. */
/* Both symbols are defined here, so neither may be renamed to the other: with
 * _FILE_OFFSET_BITS=64 (as the project builds, and as many programs do)
 * <sys/mman.h> makes every call to mmap one to mmap64. */
#undef _FILE_OFFSET_BITS
#include "shim.h"
#include "../trace/varint.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static void *(*real_mmap64)(void *, size_t, int, int, int, off64_t);
static int (*real_munmap)(void *, size_t);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);
static int (*real_brk)(void *);
static void *(*real_sbrk)(intptr_t);
static uintptr_t page_mask = 4095;

void mmap_resolve_real(void)
{
    unsigned long page = getauxval(AT_PAGESZ);
    if (page && (page & (page - 1)) == 0) page_mask = page - 1;
    real_mmap = (__typeof__(real_mmap))shim_next("mmap");
    real_mmap64 = (__typeof__(real_mmap64))shim_next("mmap64");
    real_munmap = (__typeof__(real_munmap))shim_next("munmap");
    real_mremap = (__typeof__(real_mremap))shim_next("mremap");
    real_brk = (__typeof__(real_brk))shim_next("brk");
    real_sbrk = (__typeof__(real_sbrk))shim_next("sbrk");
}

static uint64_t pages(uint64_t len) { return (len + page_mask) & ~(uint64_t)page_mask; }

/* ---- records ------------------------------------------------------------ */

static void record_map(struct shim_thread *t, uintptr_t p, uint64_t len, enum map_kind kind, int prot, int flags)
{
    if (atomic_load_explicit(&shim_paused, memory_order_relaxed) || !record_begin(t)) return;
    uint32_t stack = stack_capture(t);
    if (emit_prepare(t, 1 + 7 * VARINT_MAX)) {
        uint8_t *w = t->pos;
        *w++ = REC_MMAP;
        w = emit_stamp(t, w, shim_ticks());
        w = varint_put_signed(w, (int64_t)(p - ptr_last(t)));
        ptr_hide(t, p);
        w = varint_put(w, len);
        w = varint_put(w, stack);
        w = varint_put(w, (uint64_t)kind);
        w = varint_put(w, (uint32_t)prot);
        w = varint_put(w, (uint32_t)flags);
        emit_commit(t, w);
    }
    t->in_shim--;
}

static void record_unmap(struct shim_thread *t, uintptr_t p, uint64_t len, uint64_t stamp)
{
    if (!record_begin(t)) return;
    if (emit_prepare(t, 1 + 3 * VARINT_MAX)) {
        uint8_t *w = t->pos;
        *w++ = REC_MUNMAP;
        w = emit_stamp(t, w, stamp);
        w = varint_put_signed(w, (int64_t)(p - ptr_last(t)));
        ptr_hide(t, p);
        w = varint_put(w, len);
        emit_commit(t, w);
    }
    t->in_shim--;
}

static void record_remap(struct shim_thread *t, uint64_t before, uintptr_t old, uint64_t old_len, uintptr_t p,
                         uint64_t new_len, int flags)
{
    if (!record_begin(t)) return;
    uint32_t stack = stack_capture(t);
    if (emit_prepare(t, 1 + 8 * VARINT_MAX)) {
        uint8_t *w = t->pos;
        *w++ = REC_MREMAP;
        before = shim_ticks_after(t, before);
        uint64_t after = shim_ticks();
        if (after < before) after = before;
        w = varint_put(w, before - t->last_ticks);
        w = varint_put_signed(w, (int64_t)(old - ptr_last(t)));
        w = varint_put(w, old_len);
        w = varint_put(w, after - before);
        w = varint_put_signed(w, (int64_t)(p - old));
        w = varint_put(w, new_len);
        w = varint_put(w, (uint32_t)flags);
        w = varint_put(w, stack);
        t->last_ticks = after;
        ptr_hide(t, p);
        emit_commit(t, w);
    }
    t->in_shim--;
}

/* ---- the interposed functions -------------------------------------------- */

/* Before the real functions are resolved (a constructor that runs before
 * ours, or our own init), the system calls are made directly, as glibc's
 * wrappers would make them. */
static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (off & (off_t)page_mask) { /* glibc's check: the kernel would take the offset in pages */
        errno = EINVAL;
        return MAP_FAILED;
    }
    long r = shim_sys6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, (long)off);
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return MAP_FAILED;
    }
    return (void *)r;
}

static void *map_common(void *(*real)(void *, size_t, int, int, int, off_t), void *addr, size_t len, int prot,
                        int flags, int fd, off_t off)
{
    struct shim_thread *t = &shim_tls;
    bool rec = shim_should_record(t);
    void *p = real ? real(addr, len, prot, flags, fd, off) : sys_mmap(addr, len, prot, flags, fd, off);
    if (!rec || p == MAP_FAILED) return p;
    int saved = errno;
    record_map(t, (uintptr_t)p, pages(len), flags & MAP_ANONYMOUS ? MAP_KIND_ANON : MAP_KIND_FILE, prot, flags);
    errno = saved;
    return p;
}

SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return map_common(real_mmap, addr, len, prot, flags, fd, off);
}

SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    return map_common(real_mmap64 ? real_mmap64 : real_mmap, addr, len, prot, flags, fd, off);
}

SHIM_EXPORT int munmap(void *addr, size_t len)
{
    struct shim_thread *t = &shim_tls;
    bool rec = shim_should_record(t);
    uint64_t before = rec ? shim_ticks() : 0;
    int rc;
    if (real_munmap) {
        rc = real_munmap(addr, len);
    } else {
        long r = shim_sys(SYS_munmap, (long)addr, (long)len, 0);
        if (r < 0) errno = (int)-r;
        rc = r < 0 ? -1 : 0;
    }
    if (!rec || rc != 0) return rc;
    int saved = errno;
    record_unmap(t, (uintptr_t)addr, pages(len), before);
    errno = saved;
    return rc;
}

SHIM_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *want = NULL;
    if (flags & MREMAP_FIXED) { /* the fifth argument exists only then */
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    struct shim_thread *t = &shim_tls;
    bool rec = shim_should_record(t);
    uint64_t before = rec ? shim_ticks() : 0;
    void *p;
    if (real_mremap) {
        p = real_mremap(old, old_len, new_len, flags, want);
    } else {
        long r = shim_sys6(SYS_mremap, (long)old, (long)old_len, (long)new_len, flags, (long)want, 0);
        if (r < 0 && r > -4096) errno = (int)-r;
        p = r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
    }
    if (!rec || p == MAP_FAILED) return p;
    int saved = errno;
    record_remap(t, before, (uintptr_t)old, pages(old_len), (uintptr_t)p, pages(new_len), flags);
    errno = saved;
    return p;
}

/* The break: only through glibc's own brk and sbrk, which keep the break
 * glibc's malloc reads (__curbrk) current. glibc's malloc moves it with
 * internal calls, unseen; a program that moves it itself is recorded as
 * mapping (MAP_KIND_BRK) or unmapping what lies between the old break and
 * the new. */
static void resolve_break(void)
{
    if (!real_brk) real_brk = (__typeof__(real_brk))shim_next("brk");
    if (!real_sbrk) real_sbrk = (__typeof__(real_sbrk))shim_next("sbrk");
}

static void record_break_move(struct shim_thread *t, uintptr_t from, uintptr_t to, uint64_t before)
{
    int saved = errno;
    if (to > from) record_map(t, from, to - from, MAP_KIND_BRK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    else if (to < from) record_unmap(t, to, from - to, before);
    errno = saved;
}

SHIM_EXPORT int brk(void *addr)
{
    resolve_break();
    if (!real_brk || !real_sbrk) {
        errno = ENOMEM;
        return -1;
    }
    struct shim_thread *t = &shim_tls;
    bool rec = shim_should_record(t);
    uint64_t before = rec ? shim_ticks() : 0;
    uintptr_t from = rec ? (uintptr_t)real_sbrk(0) : 0;
    int rc = real_brk(addr);
    if (rec && rc == 0) record_break_move(t, from, (uintptr_t)real_sbrk(0), before);
    return rc;
}

SHIM_EXPORT void *sbrk(intptr_t increment)
{
    resolve_break();
    if (!real_sbrk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    struct shim_thread *t = &shim_tls;
    bool rec = increment != 0 && shim_should_record(t);
    uint64_t before = rec ? shim_ticks() : 0;
    void *old = real_sbrk(increment);
    if (rec && old != (void *)-1)
        record_break_move(t, (uintptr_t)old, (uintptr_t)old + (uintptr_t)increment, before);
    return old;
}
