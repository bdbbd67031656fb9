/* emit.c - the per-thread record writer. Each thread owns one chunk (a slot of
 * the trace file) at a time and appends records to it with no lock and no
 * shared write; taking the next chunk is the only shared step. The hot path
 * (shim_malloc.c) encodes straight into the chunk and calls emit_commit. */
#include "shim.h"
#include "../trace/varint.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic uint32_t next_stream;

uint32_t shim_gettid(void) { return (uint32_t)shim_sys(SYS_gettid, 0, 0, 0); }

uint64_t shim_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Slow path: the thread's first record, or its chunk is full. */
SHIM_COLD static bool emit_next_chunk(struct shim_thread *t)
{
    uint32_t gen = atomic_load_explicit(&shim_generation, memory_order_relaxed);
    if (t->generation != gen) { /* a new trace (attached again): the old chunk was the old trace's */
        t->generation = gen;
        t->stream = 0;
        t->chunk = NULL;
        t->live_pending = t->live_base = t->live_peak_view = 0; /* the old trace's counts */
    }
    if (!t->stream) {
        t->stream = atomic_fetch_add_explicit(&next_stream, 1, memory_order_relaxed) + 1;
        t->tid = shim_gettid();
        t->seq = 0;
    }
    if (t->chunk) { /* `heapsnap run` may now pack this one while we write the next */
        atomic_fetch_or_explicit((_Atomic uint32_t *)&t->chunk->flags, CHUNK_SEALED, memory_order_release);
        /* We never touch it again: its pages leave our page tables (the
         * program's RSS), not the page cache, where its records stay (a shared
         * file mapping's dirty pages are written back, not dropped) until the
         * packer has them and frees the disk blocks. */
        shim_sys(SYS_madvise, (long)t->chunk, TRACE_SLOT_SIZE, MADV_DONTNEED);
    }
    struct chunk_header *c = spool_take_slot();
    t->chunk = c;
    if (!c) return false;
    c->flags = 0;
    c->stream = t->stream;
    c->seq = t->seq++;
    c->tid = t->tid;
    c->raw_len = 0;
    c->stored_len = 0;
    atomic_store_explicit((_Atomic uint32_t *)&c->magic, TRACE_CHUNK_MAGIC, memory_order_release);
    t->pos = (uint8_t *)(c + 1);
    t->end = (uint8_t *)c + TRACE_SLOT_SIZE;
    t->last_ticks = 0;
    ptr_hide(t, 0);
    /* Every chunk opens with a calibration point: a reader converts ticks to
     * time from these, and each chunk decodes on its own. */
    uint8_t *p = t->pos;
    *p++ = REC_CLOCK;
    p = varint_put(p, shim_ticks());
    p = varint_put(p, shim_mono_ns());
    emit_commit(t, p);
    return true;
}

bool emit_prepare(struct shim_thread *t, size_t need)
{
    shim_assert(need <= TRACE_SLOT_SIZE / 2);
    if (likely(t->chunk && t->pos + need <= t->end &&
               t->generation == atomic_load_explicit(&shim_generation, memory_order_relaxed)))
        return true;
    if (emit_next_chunk(t)) return true;
    spool_count_lost(1);
    return false;
}

void emit_bytes_record(struct shim_thread *t, uint8_t type, const void *a, size_t alen)
{
    if (alen > TRACE_SLOT_SIZE / 4) alen = TRACE_SLOT_SIZE / 4;
    if (!emit_prepare(t, alen + 1 + 2 * VARINT_MAX)) return;
    uint8_t *p = t->pos;
    *p++ = type;
    p = emit_stamp(t, p, shim_ticks());
    p = varint_put(p, alen);
    memcpy(p, a, alen);
    emit_commit(t, p + alen);
}

static size_t read_small_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    size_t len = 0;
    ssize_t n;
    while (len < cap && (n = read(fd, buf + len, cap - len)) > 0) len += (size_t)n;
    close(fd);
    return len;
}

static uint8_t *put_string(uint8_t *p, const char *s, size_t len)
{
    p = varint_put(p, len);
    memcpy(p, s, len);
    return p + len;
}

/* The process record: what was run, and where. Strings are clipped so the
 * record always fits a chunk. */
void emit_process_record(struct shim_thread *t)
{
    char exe[4096], cmd[8192], cwd[4096];
    ssize_t elen = readlink("/proc/self/exe", exe, sizeof exe);
    if (elen < 0) elen = 0;
    size_t clen = read_small_file("/proc/self/cmdline", cmd, sizeof cmd);
    size_t wlen = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    if (!emit_prepare(t, 1 + 3 * VARINT_MAX + (size_t)elen + clen + wlen)) return;
    uint8_t *p = t->pos;
    *p++ = REC_PROCESS;
    p = put_string(p, exe, (size_t)elen);
    p = put_string(p, cmd, clen);
    p = put_string(p, cwd, wlen);
    emit_commit(t, p);
}

/* In the atfork prepare handler, the last to run: the blocks this process has
 * now are the ones its child starts with (`heapsnap run` gives them to the
 * child's trace). Frees after this stamp cannot have happened in the child. */
void emit_fork(void)
{
    struct shim_thread *t = &shim_tls;
    if (atomic_load(&shim_state) != SHIM_ACTIVE || t->in_shim || getpid() != shim_traced_pid()) return;
    t->in_shim++;
    if (emit_prepare(t, 1 + VARINT_MAX)) {
        uint8_t *p = t->pos;
        *p++ = REC_FORK;
        p = emit_stamp(t, p, shim_ticks());
        emit_commit(t, p);
        t->fork_ticks = t->last_ticks; /* the stamp just written */
        t->fork_parent = getpid();
    }
    t->in_shim--;
}

void emit_exec(const char *path)
{
    struct shim_thread *t = &shim_tls;
    if (atomic_load(&shim_state) != SHIM_ACTIVE || t->in_shim) return;
    t->in_shim++;
    emit_bytes_record(t, REC_EXEC, path, strnlen(path, 4096));
    t->in_shim--;
}
