/* shim_fd.c - heapsnap's own descriptors inside the traced process: the trace
 * file (spool.c), the socket to `heapsnap run` (leak-check requests), and the
 * pipe libunwind opens to test whether an address is readable (it writes a
 * byte from the address into the pipe when it unwinds a frame it has no
 * unwind information for).
 *
 * The program may close every descriptor it did not open (daemons do, with a
 * close loop, close_range or closefrom) and then open a file of its own, which
 * gets the lowest free number: if that were heapsnap's old number, heapsnap
 * would write its trace into the program's file. Three layers keep that from
 * happening (docs/DESIGN.md, "descriptors"):
 *
 * 1. Our descriptors live high (just under 1024, or the soft limit if lower),
 *    never at the low numbers a program's next open() returns.
 * 2. close, close_range, closefrom, dup2, dup3 and syscall() are interposed:
 *    closing one of ours is refused with EBADF, as if it were not open (what
 *    valgrind does for its own), a range is split around ours, and a dup onto
 *    one of ours moves ours out of the way first.
 * 3. A descriptor is never used on trust: every use (rare: a new 16 MiB trace
 *    segment, a leak-check request) first checks with fstat that it is still
 *    the file or socket we opened. A raw syscall the interposition cannot see
 *    may close it; then the trace file is reopened by its absolute path, and a
 *    lost socket is reported as such.
 *
 * Users take the descriptor lock for the span of their use, so a relocation
 * never changes a number under them. */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A libc-style result (-1 and errno) from shim_sys's -errno. */
static long as_libc(long r)
{
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

struct owned_fd {
    _Atomic int fd; /* -1: none */
    dev_t dev;
    ino_t ino;
    bool cloexec;
};

static struct owned_fd owned[FD_OWNED_COUNT] = {{.fd = -1}, {.fd = -1}, {.fd = -1}, {.fd = -1}};
static atomic_flag fd_lock = ATOMIC_FLAG_INIT;

/* libc's close is kept for its cancellation point; the others are plain
 * system calls, made directly (they are not cancellation points). */
static int (*real_close)(int);
static long (*real_syscall)(long, ...);

void fd_init(void)
{
    real_close = (__typeof__(real_close))shim_next("close");
    real_syscall = (__typeof__(real_syscall))shim_next("syscall");
}

static void fd_lock_take(void)
{
    while (atomic_flag_test_and_set_explicit(&fd_lock, memory_order_acquire)) {
    }
}
static void fd_lock_drop(void) { atomic_flag_clear_explicit(&fd_lock, memory_order_release); }

/* The lowest number for our descriptors: near the top of what select() can
 * see, or of the soft limit when that is lower. Not the soft limit itself
 * when it is large: the kernel sizes a process's descriptor table by its
 * highest descriptor, and fork copies that table. */
static int fd_floor(void)
{
    struct rlimit rl;
    rlim_t top = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top) top = rl.rlim_cur;
    return top > 64 ? (int)top - 32 : 3;
}

static int dup_high(int fd, bool cloexec, int floor)
{
    return (int)shim_sys(SYS_fcntl, fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, floor);
}

static int move_high(int fd, bool cloexec)
{
    if (fd >= fd_floor()) return fd; /* already out of the way (the socket `heapsnap run` placed) */
    int high = dup_high(fd, cloexec, fd_floor());
    if (high < 0) return fd; /* no room up there: keep the number it has */
    shim_sys(SYS_close, fd, 0, 0);
    return high;
}

static bool same_file(int fd, dev_t dev, ino_t ino)
{
    struct stat st;
    return shim_sys(SYS_fstat, fd, (long)&st, 0) == 0 && st.st_dev == dev && st.st_ino == ino;
}

int fd_adopt(enum fd_owned which, int fd, bool cloexec)
{
    struct stat st;
    if (fd < 0 || shim_sys(SYS_fstat, fd, (long)&st, 0) != 0) return -1;
    fd = move_high(fd, cloexec);
    fd_lock_take();
    owned[which].dev = st.st_dev;
    owned[which].ino = st.st_ino;
    owned[which].cloexec = cloexec;
    atomic_store(&owned[which].fd, fd);
    fd_lock_drop();
    return fd;
}

int fd_reopen(enum fd_owned which, const char *path, int flags)
{
    int fd = (int)shim_sys(SYS_openat, AT_FDCWD, (long)path, flags | O_CLOEXEC);
    if (fd < 0) return -1;
    if (!same_file(fd, owned[which].dev, owned[which].ino)) { /* renamed over, or another file now */
        shim_sys(SYS_close, fd, 0, 0);
        return -1;
    }
    fd = move_high(fd, owned[which].cloexec);
    atomic_store(&owned[which].fd, fd);
    return fd;
}

int fd_use_begin(enum fd_owned which)
{
    fd_lock_take();
    int fd = atomic_load(&owned[which].fd);
    if (fd >= 0 && !same_file(fd, owned[which].dev, owned[which].ino)) {
        /* Closed behind our back (a raw syscall), perhaps reused by the
         * program: the number is no longer ours, and must not be closed. */
        atomic_store(&owned[which].fd, -1);
        fd = -1;
    }
    if (fd < 0) fd_lock_drop();
    return fd;
}

void fd_use_end(void) { fd_lock_drop(); }

void fd_forget(enum fd_owned which, bool close_it)
{
    fd_lock_take();
    int fd = atomic_exchange(&owned[which].fd, -1);
    if (fd >= 0 && close_it && same_file(fd, owned[which].dev, owned[which].ino)) shim_sys(SYS_close, fd, 0, 0);
    fd_lock_drop();
}

static bool is_owned(int fd)
{
    if (fd < 0) return false;
    for (int i = 0; i < FD_OWNED_COUNT; i++)
        if (atomic_load_explicit(&owned[i].fd, memory_order_relaxed) == fd) return true;
    return false;
}

/* Before the program's descriptor `fd` replaces one of ours: ours moves. */
static void make_way(int fd)
{
    for (int i = 0; i < FD_OWNED_COUNT; i++) {
        if (atomic_load(&owned[i].fd) != fd) continue;
        int moved = dup_high(fd, owned[i].cloexec, fd_floor());
        if (moved < 0) moved = dup_high(fd, owned[i].cloexec, 3);
        atomic_store(&owned[i].fd, moved < 0 ? -1 : moved); /* no room: ours is lost, not theirs */
    }
}

/* ---- the interposed functions ------------------------------------------ */

static int refuse_ebadf(void)
{
    errno = EBADF;
    return -1;
}

static enum fd_owned which_owned(int fd)
{
    for (int i = 0; i < FD_OWNED_COUNT; i++)
        if (atomic_load_explicit(&owned[i].fd, memory_order_relaxed) == fd) return (enum fd_owned)i;
    return FD_OWNED_COUNT;
}

SHIM_EXPORT int close(int fd)
{
    if (unlikely(is_owned(fd))) {
        if (!shim_tls.in_shim) return refuse_ebadf();
        fd_forget(which_owned(fd), true); /* our own dependency closing its own descriptor */
        return 0;
    }
    if (unlikely(!real_close)) return (int)as_libc(shim_sys(SYS_close, fd, 0, 0));
    return real_close(fd);
}

/* Calls close_range on [lo, hi] without our descriptors. */
static int close_range_around(unsigned lo, unsigned hi, int flags)
{
    int rc = 0;
    while (lo <= hi) {
        unsigned stop = hi;
        for (int i = 0; i < FD_OWNED_COUNT; i++) {
            int fd = atomic_load(&owned[i].fd);
            if (fd >= 0 && (unsigned)fd >= lo && (unsigned)fd <= stop) stop = (unsigned)fd - 1;
        }
        if (stop + 1 != lo) { /* [lo, stop] holds none of ours */
            long r = as_libc(shim_sys(SYS_close_range, lo, stop, flags));
            if (r != 0) rc = -1;
            if (stop == hi) break;
        }
        lo = stop + 2; /* past the descriptor of ours at stop + 1 */
        if (lo == 0) break; /* wrapped past UINT_MAX */
    }
    return rc;
}

SHIM_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
    if (lo > hi) {
        errno = EINVAL;
        return -1;
    }
    fd_lock_take();
    int rc = close_range_around(lo, hi, flags);
    fd_lock_drop();
    return rc;
}

SHIM_EXPORT void closefrom(int lo)
{
    if (lo < 0) lo = 0;
    fd_lock_take();
    if (close_range_around((unsigned)lo, ~0u, 0) != 0) {
        /* Old kernels: the slow way, as glibc does. */
        for (int fd = lo; fd < 65536; fd++)
            if (!is_owned(fd)) shim_sys(SYS_close, fd, 0, 0);
    }
    fd_lock_drop();
}

SHIM_EXPORT int dup2(int old, int fd)
{
    if (unlikely(is_owned(fd)) && old != fd) {
        fd_lock_take();
        make_way(fd);
        int rc = (int)as_libc(shim_sys(SYS_dup2, old, fd, 0));
        fd_lock_drop();
        return rc;
    }
    return (int)as_libc(shim_sys(SYS_dup2, old, fd, 0));
}

SHIM_EXPORT int dup3(int old, int fd, int flags)
{
    if (unlikely(is_owned(fd)) && old != fd) {
        fd_lock_take();
        make_way(fd);
        int rc = (int)as_libc(shim_sys(SYS_dup3, old, fd, flags));
        fd_lock_drop();
        return rc;
    }
    return (int)as_libc(shim_sys(SYS_dup3, old, fd, flags));
}

/* libunwind keeps the numbers of the pipe it made in statics of its own, and
 * reads, writes and (finding it gone) closes them by number. After a detach
 * closed it, those numbers may become the program's: so a later attach puts
 * a new pipe back on the same numbers, or refuses. */
static int released_pipe[2] = {-1, -1};

/* libunwind makes its pipe while heapsnap captures a stack (in_shim): both
 * ends become ours, out of the program's way. Anyone else's pipe is theirs. */
static int pipe_common(int fds[2], int flags)
{
    int rc = (int)as_libc(shim_sys(SYS_pipe2, (long)fds, flags, 0));
    if (rc == 0 && shim_tls.in_shim) {
        fds[0] = fd_adopt(FD_UNWIND_READ, fds[0], (flags & O_CLOEXEC) != 0);
        fds[1] = fd_adopt(FD_UNWIND_WRITE, fds[1], (flags & O_CLOEXEC) != 0);
    }
    return rc;
}

SHIM_EXPORT int pipe2(int fds[2], int flags) { return pipe_common(fds, flags); }
SHIM_EXPORT int pipe(int fds[2]) { return pipe_common(fds, 0); }

/* syscall(SYS_close_range, ...) and friends reach the kernel through libc's
 * syscall(): the same rules. Six arguments are always passed on, as glibc's
 * own syscall() reads six registers whatever the caller gave. */
SHIM_EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    switch (number) {
    case SYS_close:
        if (is_owned((int)a1)) return refuse_ebadf();
        break;
    case SYS_write: /* libunwind's probe of an address, into its pipe: only if the pipe is still ours */
        if (shim_tls.in_shim && ((int)a1 == atomic_load(&owned[FD_UNWIND_WRITE].fd) || (int)a1 == released_pipe[1])) {
            int fd = fd_use_begin(FD_UNWIND_WRITE);
            if (fd < 0) return refuse_ebadf();
            long r = as_libc(shim_sys(SYS_write, fd, a2, a3));
            fd_use_end();
            return r;
        }
        break;
    case SYS_close_range: return close_range((unsigned)a1, (unsigned)a2, (int)a3);
    case SYS_dup2: return dup2((int)a1, (int)a2);
    case SYS_dup3: return dup3((int)a1, (int)a2, (int)a3);
    default: break;
    }
    if (unlikely(!real_syscall)) return as_libc(shim_sys6(number, a1, a2, a3, a4, a5, a6));
    return real_syscall(number, a1, a2, a3, a4, a5, a6);
}

void fd_after_fork(void) { fd_lock_drop(); }

void fd_release_all(void)
{
    int r = atomic_load(&owned[FD_UNWIND_READ].fd), w = atomic_load(&owned[FD_UNWIND_WRITE].fd);
    if (r >= 0 && w >= 0) released_pipe[0] = r, released_pipe[1] = w;
    for (int i = 0; i < FD_OWNED_COUNT; i++) fd_forget((enum fd_owned)i, true);
}

bool fd_restore_unwind_pipe(void)
{
    if (released_pipe[0] < 0) return true;
    if (shim_sys(SYS_fcntl, released_pipe[0], F_GETFD, 0) != -EBADF ||
        shim_sys(SYS_fcntl, released_pipe[1], F_GETFD, 0) != -EBADF)
        return false;
    int fds[2];
    if (shim_sys(SYS_pipe2, (long)fds, O_CLOEXEC | O_NONBLOCK, 0) != 0) return false;
    bool ok = true;
    for (int i = 0; i < 2; i++) {
        ok = ok && shim_sys(SYS_dup3, fds[i], released_pipe[i], O_CLOEXEC) == released_pipe[i];
        shim_sys(SYS_close, fds[i], 0, 0);
    }
    if (!ok) return false;
    fd_adopt(FD_UNWIND_READ, released_pipe[0], true); /* already high: kept where it is */
    fd_adopt(FD_UNWIND_WRITE, released_pipe[1], true);
    return true;
}
