/* spool.c - the trace file while the process runs. The file is grown and
 * mapped in segments (MAP_SHARED), and threads take fixed-size slots from it:
 * what a thread writes into its slot is in the page cache at once, so it
 * survives SIGKILL, abort and crashes without any flush.
 *
 * Cost model: one shared atomic per slot (64 KiB of records, thousands of
 * events), one fallocate and one mmap per 16 MiB segment. Blocks are reserved
 * with posix_fallocate before a slot is handed out, so a full disk stops the
 * trace cleanly instead of killing the program with SIGBUS; when a whole
 * segment does not fit, smaller reservations fill the disk to its last slot.
 *
 * The descriptor is needed only to grow the file; it is one of the shim's
 * owned descriptors (shim_fd.c), checked before every use, and reopened by
 * the trace's absolute path if the program closed it behind our back. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SEG_SLOTS 256u /* 16 MiB segments */
#define SEG_BYTES ((size_t)SEG_SLOTS * TRACE_SLOT_SIZE)
#define MAX_SEGS 16384u /* 256 GiB of trace */
_Static_assert((uint64_t)MAX_SEGS * SEG_SLOTS == TRACE_MAX_SLOTS, "the readers' bound is the writer's");

static struct trace_header *spool_hdr;
static char spool_name[4096];
static _Atomic uint64_t next_slot;
static _Atomic(uint8_t *) seg_base[MAX_SEGS];
static _Atomic uint32_t segs_mapped;
static _Atomic uint64_t slots_reserved; /* slots backed by disk blocks */
static _Atomic bool spool_full;
static atomic_flag grow_lock = ATOMIC_FLAG_INIT;

int spool_create(const char *path, const struct trace_header *hdr)
{
    struct rlimit fsize;
    if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur < TRACE_HEADER_SIZE) return -EFBIG; /* see spool_reserve */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    int e = posix_fallocate(fd, 0, TRACE_HEADER_SIZE);
    void *h = e ? MAP_FAILED : mmap(NULL, TRACE_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        if (!e) e = errno;
        shim_sys(SYS_close, fd, 0, 0);
        unlink(path);
        return -e;
    }
    memcpy(h, hdr, sizeof *hdr);
    fd_adopt(FD_TRACE, fd, true);
    spool_hdr = h;
    snprintf(spool_name, sizeof spool_name, "%s", path);
    atomic_store(&next_slot, 0);
    atomic_store(&segs_mapped, 0);
    atomic_store(&slots_reserved, 0);
    atomic_store(&spool_full, false);
    return 0;
}

struct trace_header *spool_header(void) { return spool_hdr; }
const char *spool_path(void) { return spool_name; }

void spool_count_lost(uint32_t n)
{
    if (spool_hdr) atomic_fetch_add_explicit((_Atomic uint32_t *)&spool_hdr->lost_events, n, memory_order_relaxed);
}

/* what: "cannot grow", or why the descriptor is gone. */
static SHIM_COLD void spool_stop(int err, const char *what)
{
    if (atomic_exchange(&spool_full, true)) return;
    atomic_fetch_or((_Atomic uint32_t *)&spool_hdr->flags, TRACE_F_TRUNCATED);
    char msg[512];
    int n = snprintf(msg, sizeof msg, "heapsnap: %s %s (%s): recording stopped, the trace keeps what came before\n",
                     what, spool_name, strerror(err));
    if (n > 0) shim_tell(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* Reserves disk blocks up to slot idx: a segment at a time, or less when the
 * disk is nearly full. */
static bool spool_reserve(int fd, uint64_t idx)
{
    /* A file size limit (ulimit -f) is the program's: growing past it would
     * raise SIGXFSZ, which kills the program. Stop at the limit instead. */
    struct rlimit fsize;
    uint64_t limit = getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY ? fsize.rlim_cur : UINT64_MAX;
    while (atomic_load(&slots_reserved) <= idx) {
        uint64_t have = atomic_load(&slots_reserved);
        uint64_t want = SEG_SLOTS - have % SEG_SLOTS; /* up to the segment's end */
        int err = 0;
        for (; want >= 1; want /= 2) {
            off_t off = (off_t)TRACE_HEADER_SIZE + (off_t)have * TRACE_SLOT_SIZE;
            err = (uint64_t)off + want * TRACE_SLOT_SIZE > limit ? EFBIG
                                                                : posix_fallocate(fd, off, (off_t)(want * TRACE_SLOT_SIZE));
            if (err == 0 || have + want / 2 <= idx) break; /* a smaller step would not reach idx */
        }
        if (err) {
            spool_stop(err, "cannot grow");
            return false;
        }
        atomic_store(&slots_reserved, have + want);
    }
    return true;
}

/* Our trace descriptor, checked (held until fd_use_end), or -1 with the
 * recording stopped: the program closed it and the file cannot be reopened. */
static int spool_fd_begin(void)
{
    int fd = fd_use_begin(FD_TRACE);
    if (fd >= 0) return fd;
    if (fd_reopen(FD_TRACE, spool_name, O_RDWR) >= 0 && (fd = fd_use_begin(FD_TRACE)) >= 0) {
        atomic_fetch_or((_Atomic uint32_t *)&spool_hdr->flags, TRACE_F_REOPENED);
        return fd;
    }
    spool_stop(errno ? errno : EBADF, "the program closed heapsnap's descriptor of");
    return -1;
}

static SHIM_COLD uint8_t *spool_grow(uint64_t idx)
{
    uint32_t seg = (uint32_t)(idx / SEG_SLOTS);
    while (atomic_flag_test_and_set_explicit(&grow_lock, memory_order_acquire)) {
    }
    uint8_t *base = NULL;
    int fd = atomic_load(&spool_full) ? -1 : spool_fd_begin();
    if (fd >= 0 && spool_reserve(fd, idx)) {
        base = atomic_load(&seg_base[seg]);
        for (uint32_t s = atomic_load(&segs_mapped); !base && s <= seg; s++) {
            /* Mapped whole; only reserved slots are ever handed out. */
            off_t off = (off_t)TRACE_HEADER_SIZE + (off_t)s * (off_t)SEG_BYTES;
            void *m = mmap(NULL, SEG_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
            if (m == MAP_FAILED) {
                spool_stop(errno, "cannot map");
                break;
            }
            atomic_store_explicit(&seg_base[s], m, memory_order_release);
            atomic_store(&segs_mapped, s + 1);
            if (s == seg) base = m;
        }
    }
    if (fd >= 0) fd_use_end();
    atomic_flag_clear_explicit(&grow_lock, memory_order_release);
    return base;
}

struct chunk_header *spool_take_slot(void)
{
    if (!spool_hdr || atomic_load_explicit(&spool_full, memory_order_relaxed)) return NULL;
    uint64_t idx = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed);
    uint64_t seg = idx / SEG_SLOTS;
    if (seg >= MAX_SEGS) {
        spool_stop(EFBIG, "cannot grow");
        return NULL;
    }
    uint8_t *base = atomic_load_explicit(&seg_base[seg], memory_order_acquire);
    if (unlikely(!base || idx >= atomic_load_explicit(&slots_reserved, memory_order_acquire))) base = spool_grow(idx);
    if (!base) return NULL;
    return (struct chunk_header *)(base + (idx % SEG_SLOTS) * TRACE_SLOT_SIZE);
}

/* In a fork child: the mappings are shared with the parent's file, so the child
 * must never write through them again. Detaching (shim_attach.c): the trace
 * as it is now is the whole trace. */
void spool_forget(void)
{
    atomic_flag_clear(&grow_lock); /* held by a thread the child does not have, perhaps */
    uint32_t n = atomic_load(&segs_mapped);
    for (uint32_t s = 0; s < n; s++) {
        uint8_t *b = atomic_load(&seg_base[s]);
        if (b) munmap(b, SEG_BYTES);
        atomic_store(&seg_base[s], NULL);
    }
    if (spool_hdr) munmap(spool_hdr, TRACE_HEADER_SIZE);
    fd_forget(FD_TRACE, true);
    spool_hdr = NULL;
    spool_name[0] = 0;
    atomic_store(&segs_mapped, 0);
    atomic_store(&slots_reserved, 0);
    atomic_store(&spool_full, false);
}
