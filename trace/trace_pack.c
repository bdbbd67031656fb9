/* trace_pack.c - OPEN -> PACKED. Reads slots with pread (the file may still be
 * growing), codes the used slots of each thread 16 at a time as a unit
 * (trace_unit.c; a slot whose records a unit cannot code goes as one zstd
 * frame) into a temporary file, and renames it over the original at the end,
 * so a reader never sees a half-packed trace. Every slot is bound-checked:
 * the file may be the remains of a crash.
 *
 * A packer beside a running program (`heapsnap run`) frees the disk blocks of
 * the slots it has packed, so a long run does not hold its records twice.
 * Those records then exist only in its temporary, PATH.PID.packing, where each
 * chunk (each member of a unit) names the slot it came from. If that packer dies (killed, or it stopped
 * waiting for a daemon), the next one (the shim at the program's end, `heapsnap
 * pack`) takes those chunks over and packs only the slots they lack: nothing
 * the program recorded is lost. Temporaries of dead packers that hold no
 * such records are removed by packer_remove_stale. */
#include "trace_pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define PACK_LEVEL 1 /* a chunk as it is (one a unit cannot code): runs at exit or beside the program */
#define PUNCH_SLOTS 256u /* 16 MiB */
/* Sealed slots that wait for the rest of their unit, in all the streams:
 * past this, they are packed as they are (their disk blocks would be held). */
#define PENDING_MAX 256u

/* Per slot (trace_packer.done). */
enum {
    SLOT_TODO = 0,
    SLOT_PACKED = 1,
    SLOT_PUNCHED = 2,
    SLOT_EMPTY = 3,  /* nothing to keep, nothing freed */
    SLOT_PENDING = 4 /* sealed, waiting in trace_packer.pending for its unit */
};

static bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool read_at(int fd, void *buf, size_t len, off_t off)
{
    return pread(fd, buf, len, off) == (ssize_t)len;
}

static int fail(char *err, size_t errlen, const char *path, const char *why)
{
    snprintf(err, errlen, "%s: %s", path, why);
    return -1;
}

static size_t slots_of(const struct stat *st)
{
    return st->st_size > TRACE_HEADER_SIZE ? ((size_t)st->st_size - TRACE_HEADER_SIZE) / TRACE_SLOT_SIZE : 0;
}

static bool ensure_done(struct trace_packer *p, size_t nslots)
{
    if (nslots <= p->done_cap) return true;
    uint8_t *d = realloc(p->done, nslots);
    if (!d) return false;
    memset(d + p->done_cap, 0, nslots - p->done_cap);
    p->done = d;
    p->done_cap = nslots;
    return true;
}

/* ---- temporaries of other packers ---------------------------------------------- */

/* A packer holds an exclusive lock on its temporary while it lives (the lock
 * goes with it, however it dies; a pid may be reused). */
static bool held_by_a_packer(const char *tmp)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    bool held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* Calls fn for each PATH.PID.packing (exactly the name packer_begin gives)
 * but our own, with its name and whether its packer is still alive, and for
 * each PATH.PID.left (one a packer handed over when it stopped early: it is
 * no one's). */
static void each_temporary(const char *path, void (*fn)(const char *tmp, long pid, bool alive, void *ctx), void *ctx)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d || !blen) {
        if (d) closedir(d);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strncmp(name, base, blen) != 0 || name[blen] != '.') continue;
        const char *digits = name + blen + 1;
        size_t nd = strspn(digits, "0123456789");
        bool left = nd > 0 && strcmp(digits + nd, ".left") == 0;
        if (nd == 0 || nd > 9 || (!left && strcmp(digits + nd, ".packing") != 0)) continue;
        long pid = strtol(digits, NULL, 10);
        if (pid <= 0 || (!left && pid == (long)getpid())) continue;
        char tmp[8192];
        snprintf(tmp, sizeof tmp, "%s%s", slash ? dir : "", name);
        fn(tmp, pid, !left && held_by_a_packer(tmp), ctx);
    }
    closedir(d);
}

struct adopt_ctx {
    struct trace_packer *p;
    size_t nslots;
    long busy_pid; /* a live packer that punched: we must not pack beside it */
    int error;
};

/* Copies the chunks of a dead packer's temporary that came from raw slots
 * and are not ours yet, up to the first that is not whole (it died writing). */
static void adopt_one(const char *tmp, long pid, bool alive, void *ctx)
{
    struct adopt_ctx *a = ctx;
    struct trace_packer *p = a->p;
    if (alive) {
        a->busy_pid = pid;
        return;
    }
    if (a->error) return;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    struct trace_header id;
    /* Made for this very trace (a file of the same name from another run, or
     * planted, is not): its first page is a copy of the trace's header. */
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !read_at(fd, &id, sizeof id, 0) ||
        memcmp(id.magic, TRACE_MAGIC, 8) != 0 || id.session != p->origin.session || id.pid != p->origin.pid ||
        id.start_realtime_ns != p->origin.start_realtime_ns) {
        if (fd >= 0) close(fd);
        return;
    }
    const size_t hs = sizeof(struct chunk_header);
    size_t size = (size_t)st.st_size;
    for (size_t off = TRACE_HEADER_SIZE; off + hs <= size;) {
        struct chunk_header ch;
        struct unit_member m[UNIT_MAX_MEMBERS];
        size_t n = 1;
        if (!read_at(fd, &ch, hs, (off_t)off)) break;
        bool unit = ch.flags == CHUNK_UNIT;
        if (ch.magic != TRACE_CHUNK_MAGIC || (ch.flags != CHUNK_ZSTD && !unit) ||
            (!unit && ch.raw_len > TRACE_MAX_CHUNK_RAW) || ch.stored_len > (unit ? UNIT_MAX_STORED : p->zcap) ||
            ch.stored_len > size - off - hs || !read_at(fd, p->ubuf, ch.stored_len, (off_t)(off + hs)))
            break;
        if (unit) n = unit_members(p->ubuf, ch.stored_len, m);
        else m[0].slot = ch.slot;
        if (n == 0) break;
        /* A unit is taken whole or not at all: all its slots are ours to fill. */
        bool take = true;
        for (size_t i = 0; i < n; i++)
            take &= m[i].slot != 0 && (size_t)m[i].slot - 1 < a->nslots && !p->done[m[i].slot - 1];
        if (take) {
            if (!write_all(p->out, &ch, hs) || !write_all(p->out, p->ubuf, ch.stored_len)) {
                a->error = errno ? errno : EIO;
                break;
            }
            for (size_t i = 0; i < n; i++) {
                /* Its raw slot is a hole, most likely: ours to give back now. */
                size_t slot = (size_t)m[i].slot - 1;
                struct chunk_header raw;
                bool gone = !read_at(p->in, &raw, hs, (off_t)TRACE_HEADER_SIZE + (off_t)slot * TRACE_SLOT_SIZE) ||
                            raw.magic != TRACE_CHUNK_MAGIC;
                p->done[slot] = gone ? SLOT_PUNCHED : SLOT_PACKED;
                if (gone) p->punched++;
            }
        }
        off += hs + ch.stored_len;
    }
    close(fd);
    char **v = realloc(p->adopted, (p->nadopted + 1) * sizeof *v);
    if (v) {
        p->adopted = v;
        if ((v[p->nadopted] = strdup(tmp))) p->nadopted++;
    }
}

/* The trace says some slots were packed elsewhere and freed: their chunks
 * are in a temporary, which we take over. */
static int adopt_temporaries(struct trace_packer *p, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(p->in, &st) != 0) return fail(err, errlen, p->path, strerror(errno));
    struct adopt_ctx a = {.p = p, .nslots = slots_of(&st)};
    if (!ensure_done(p, a.nslots)) return fail(err, errlen, p->path, "out of memory");
    each_temporary(p->path, adopt_one, &a);
    if (a.error) {
        snprintf(err, errlen, "%s: cannot write the packed trace: %s", p->tmp, strerror(a.error));
        return -1;
    }
    if (a.busy_pid) {
        char why[160];
        snprintf(why, sizeof why, "being packed by pid %ld, which holds part of its records: let it finish", a.busy_pid);
        return fail(err, errlen, p->path, why);
    }
    return 0;
}

int packer_begin(struct trace_packer *p, const char *path, bool punch, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->in = p->out = -1;
    snprintf(p->path, sizeof p->path, "%s", path);
    p->punch = punch;
    p->in = open(path, (punch ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    struct trace_header hdr;
    if (p->in < 0) return fail(err, errlen, path, strerror(errno));
    if (!read_at(p->in, &hdr, sizeof hdr, 0) || memcmp(hdr.magic, TRACE_MAGIC, 8) != 0) {
        packer_abort(p);
        return fail(err, errlen, path, "not a heapsnap trace");
    }
    if (hdr.version < TRACE_VERSION_MIN || hdr.version > TRACE_VERSION) {
        char why[128];
        snprintf(why, sizeof why, "trace format version %u, this heapsnap packs version %u", hdr.version,
                 TRACE_VERSION);
        packer_abort(p);
        return fail(err, errlen, path, why);
    }
    if (hdr.state == TRACE_PACKED) {
        packer_abort(p);
        return 1;
    }
    if (hdr.state != TRACE_OPEN || hdr.header_size != TRACE_HEADER_SIZE || hdr.slot_size != TRACE_SLOT_SIZE) {
        packer_abort(p);
        return fail(err, errlen, path, "corrupt trace header");
    }
    p->origin = hdr;
    snprintf(p->tmp, sizeof p->tmp, "%s.%ld.packing", path, (long)getpid());
    /* Ours alone: not a file or link someone left under that name (a pid of
     * ours before is dead, or it would be us). */
    p->out = open(p->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (p->out < 0 && errno == EEXIST && unlink(p->tmp) == 0)
        p->out = open(p->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (p->out < 0 || flock(p->out, LOCK_EX | LOCK_NB) != 0 ||
        pwrite(p->out, &hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
        int e = errno;
        if (p->out < 0) p->tmp[0] = 0; /* not ours to remove */
        packer_abort(p);
        return fail(err, errlen, p->tmp, strerror(e));
    }
    p->zcap = ZSTD_compressBound(TRACE_SLOT_SIZE);
    p->zbuf = malloc(p->zcap);
    p->slot = malloc(TRACE_SLOT_SIZE);
    p->cctx = ZSTD_createCCtx();
    p->coder = unit_coder_new();
    p->unit_raw = malloc((size_t)UNIT_MAX_MEMBERS * TRACE_SLOT_SIZE);
    p->ubuf = malloc(UNIT_MAX_STORED > p->zcap ? UNIT_MAX_STORED : p->zcap);
    if (!p->zbuf || !p->slot || !p->cctx || !p->coder || !p->unit_raw || !p->ubuf ||
        lseek(p->out, TRACE_HEADER_SIZE, SEEK_SET) < 0) {
        packer_abort(p);
        return fail(err, errlen, path, "out of memory");
    }
    if ((hdr.flags & TRACE_F_PUNCHED) && adopt_temporaries(p, err, errlen) < 0) {
        packer_abort(p);
        return -1;
    }
    return 0;
}

/* slot: the raw slot's index plus one, 0 for records made outside the process. */
static bool pack_slot(struct trace_packer *p, const struct chunk_header *in, const void *records, uint32_t raw_len,
                      uint32_t slot)
{
    size_t z = ZSTD_compressCCtx(p->cctx, p->zbuf, p->zcap, records, raw_len, PACK_LEVEL);
    if (ZSTD_isError(z)) return false;
    struct chunk_header h = *in;
    h.magic = TRACE_CHUNK_MAGIC;
    h.flags = CHUNK_ZSTD;
    h.raw_len = raw_len;
    h.stored_len = (uint32_t)z;
    h.slot = slot;
    return write_all(p->out, &h, sizeof h) && write_all(p->out, p->zbuf, z);
}

enum pack_mode pack_mode_of_env(void)
{
    const char *v = getenv("HEAPSNAP_PACK");
    if (!v || !*v || strcmp(v, "auto") == 0) return PACK_AUTO;
    if (strcmp(v, "units") == 0) return PACK_UNITS;
    if (strcmp(v, "chunks") == 0) return PACK_CHUNKS;
    return PACK_MODE_BAD;
}

void packer_beside(struct trace_packer *p) { p->mode = pack_mode_of_env(); }

/* n chunks of one stream (in sequence order, their records at raw[i]) as one
 * unit, or each as it is if the unit coder cannot take them. */
static bool pack_unit(struct trace_packer *p, const struct unit_member *m, const uint8_t *const *raw, size_t n,
                      uint32_t stream, bool as_unit)
{
    const uint8_t *payload;
    size_t len;
    uint32_t total = 0;
    for (size_t i = 0; i < n; i++) total += m[i].raw_len;
    if (as_unit && unit_encode(p->coder, m, raw, n, UNIT_LEVEL, &payload, &len) == 0 && len <= UNIT_MAX_STORED) {
        struct chunk_header h = {.magic = TRACE_CHUNK_MAGIC, .flags = CHUNK_UNIT, .stream = stream, .seq = m[0].seq,
                                 .tid = m[0].tid, .raw_len = total, .stored_len = (uint32_t)len};
        return write_all(p->out, &h, sizeof h) && write_all(p->out, payload, len);
    }
    for (size_t i = 0; i < n; i++) {
        struct chunk_header h = {.stream = stream, .seq = m[i].seq, .tid = m[i].tid};
        if (!pack_slot(p, &h, raw[i], m[i].raw_len, m[i].slot)) return false;
    }
    return true;
}

static int by_seq(const void *a, const void *b)
{
    const struct unit_member *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The slots a stream has waiting, as one unit. */
static int pack_pending(struct trace_packer *p, struct pack_pending *e, char *err, size_t errlen)
{
    const size_t hs = sizeof(struct chunk_header);
    struct unit_member m[UNIT_MAX_MEMBERS];
    const uint8_t *raw[UNIT_MAX_MEMBERS];
    for (uint32_t i = 0; i < e->n; i++) {
        off_t off = (off_t)TRACE_HEADER_SIZE + (off_t)e->slot[i] * TRACE_SLOT_SIZE;
        struct chunk_header ch;
        if (!read_at(p->in, &ch, hs, off)) return fail(err, errlen, p->path, "read error");
        uint32_t raw_len = ch.raw_len > TRACE_SLOT_SIZE - hs ? (uint32_t)(TRACE_SLOT_SIZE - hs) : ch.raw_len;
        m[i] = (struct unit_member){.seq = ch.seq, .tid = ch.tid, .raw_len = raw_len, .slot = e->slot[i] + 1};
    }
    qsort(m, e->n, sizeof m[0], by_seq);
    for (uint32_t i = 0; i < e->n; i++) {
        uint8_t *buf = p->unit_raw + (size_t)i * TRACE_SLOT_SIZE;
        off_t off = (off_t)TRACE_HEADER_SIZE + (off_t)(m[i].slot - 1) * TRACE_SLOT_SIZE + (off_t)hs;
        if (!read_at(p->in, buf, m[i].raw_len, off)) return fail(err, errlen, p->path, "read error");
        raw[i] = buf;
    }
    if (!pack_unit(p, m, raw, e->n, e->stream, !p->quick)) {
        snprintf(err, errlen, "%s: cannot write the packed trace: %s", p->tmp, strerror(errno));
        return -1;
    }
    for (uint32_t i = 0; i < e->n; i++) p->done[m[i].slot - 1] = SLOT_PACKED;
    p->packed_unpunched += e->n;
    p->pending_slots -= e->n;
    e->n = 0;
    return 0;
}

/* A sealed slot joins its stream's unit; the unit is packed once full. */
static int add_pending(struct trace_packer *p, uint32_t stream, size_t slot, size_t *packed, char *err, size_t errlen)
{
    struct pack_pending *e = NULL;
    for (size_t i = 0; i < p->npending && !e; i++)
        if (p->pending[i].stream == stream) e = &p->pending[i];
    if (!e) {
        if (p->npending == p->pending_cap) {
            size_t cap = p->pending_cap ? p->pending_cap * 2 : 16;
            struct pack_pending *v = realloc(p->pending, cap * sizeof *v);
            if (!v) return fail(err, errlen, p->path, "out of memory");
            p->pending = v;
            p->pending_cap = cap;
        }
        e = &p->pending[p->npending++];
        e->stream = stream;
        e->n = 0;
    }
    e->slot[e->n++] = (uint32_t)slot;
    p->done[slot] = SLOT_PENDING;
    p->pending_slots++;
    if (e->n < UNIT_MAX_MEMBERS && !p->quick) return 0;
    *packed += e->n;
    return pack_pending(p, e, err, errlen);
}

static int flush_pending(struct trace_packer *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->npending; i++)
        if (p->pending[i].n && pack_pending(p, &p->pending[i], err, errlen) < 0) return -1;
    p->npending = 0;
    return 0;
}

/* Before the first hole: the trace says where those records went. The
 * header is shared with the running shim, which sets flags of its own: an
 * atomic or through a shared mapping, never a read-modify-write of the file. */
static bool say_punched(struct trace_packer *p)
{
    if (p->punched) return true;
    struct trace_header *h = mmap(NULL, TRACE_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, p->in, 0);
    if (h == MAP_FAILED) return false;
    atomic_fetch_or((_Atomic uint32_t *)&h->flags, TRACE_F_PUNCHED);
    munmap(h, TRACE_HEADER_SIZE);
    return true;
}

/* The writer never returns to a sealed slot: the disk blocks of packed ones
 * that no one else will read are given back, in runs. A hole punched in a
 * file mapped by the program's threads takes those pages from their page
 * tables (every one of their CPUs is interrupted): once per 16 MiB packed,
 * not per slot. Any slot may wait (a thread that idles holds its slot open),
 * so runs are found anywhere, not only after the last punched one. */
static void punch_packed(struct trace_packer *p, size_t nslots)
{
    while (p->punch_from < nslots && (p->done[p->punch_from] == SLOT_PUNCHED || p->done[p->punch_from] == SLOT_EMPTY))
        p->punch_from++;
    size_t start = SIZE_MAX;
    for (size_t i = p->punch_from; i <= nslots; i++) {
        bool can = i < nslots && p->done[i] == SLOT_PACKED && (!p->may_punch || p->may_punch(p->punch_ctx, i));
        if (can && start == SIZE_MAX) start = i;
        if (can || start == SIZE_MAX) continue;
        if (!say_punched(p)) return;
        off_t off = (off_t)TRACE_HEADER_SIZE + (off_t)start * TRACE_SLOT_SIZE;
        if (fallocate(p->in, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)(i - start) * TRACE_SLOT_SIZE) == 0) {
            memset(p->done + start, SLOT_PUNCHED, i - start);
            p->punched += i - start;
            p->packed_unpunched -= p->packed_unpunched < i - start ? p->packed_unpunched : i - start;
        }
        start = SIZE_MAX;
    }
}

int packer_step(struct trace_packer *p, bool everything, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(p->in, &st) != 0) return fail(err, errlen, p->path, strerror(errno));
    const size_t hs = sizeof(struct chunk_header);
    size_t nslots = slots_of(&st);
    if (!ensure_done(p, nslots)) return fail(err, errlen, p->path, "out of memory");
    size_t packed = 0;
    bool more = false;
    p->quick = p->mode == PACK_CHUNKS || (!everything && p->mode == PACK_AUTO && cpu_wait_busy(&p->cpu));
    while (p->first_open < nslots && p->done[p->first_open]) p->first_open++;
    for (size_t i = p->first_open; i < nslots; i++) {
        if (p->done[i]) continue;
        if (!everything && p->step_slots && packed >= p->step_slots) {
            more = true;
            break;
        }
        off_t off = (off_t)TRACE_HEADER_SIZE + (off_t)i * TRACE_SLOT_SIZE;
        struct chunk_header ch;
        if (!read_at(p->in, &ch, hs, off)) break;
        if (ch.magic != TRACE_CHUNK_MAGIC) continue; /* not taken yet */
        if (!everything && !(ch.flags & CHUNK_SEALED)) continue;
        if (ch.raw_len == 0) {
            p->done[i] = SLOT_EMPTY;
            continue;
        }
        if (add_pending(p, ch.stream, i, &packed, err, errlen) < 0) return -1;
    }
    /* The end, or too many slots waiting: the units go as they are. */
    if ((everything || p->pending_slots > PENDING_MAX) && flush_pending(p, err, errlen) < 0) return -1;
    /* A second without a punch (the program writes slowly, or waits): the
     * rest too. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    bool while_ago = now.tv_sec > p->punched_at + 1;
    if (p->punch && (p->packed_unpunched >= PUNCH_SLOTS || (while_ago && p->packed_unpunched > 0))) {
        punch_packed(p, nslots);
        p->punched_at = now.tv_sec;
    }
    return more ? 1 : 0;
}

/* The header's flags are shared with the running shim: changed with an
 * atomic through a shared mapping, never a read-modify-write of the file. */
static bool clear_punched(struct trace_packer *p)
{
    struct trace_header *h = mmap(NULL, TRACE_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, p->in, 0);
    if (h == MAP_FAILED) return false;
    atomic_fetch_and((_Atomic uint32_t *)&h->flags, ~(uint32_t)TRACE_F_PUNCHED);
    munmap(h, TRACE_HEADER_SIZE);
    return true;
}

/* Writes a chunk's records back into its raw slot: the records first, then
 * the header that says they are there. */
static bool write_back(struct trace_packer *p, size_t slot, uint32_t stream, const struct unit_member *m,
                       const void *records)
{
    const size_t hs = sizeof(struct chunk_header);
    struct chunk_header raw = {.magic = TRACE_CHUNK_MAGIC, .flags = CHUNK_SEALED, .stream = stream, .seq = m->seq,
                               .tid = m->tid, .raw_len = m->raw_len};
    off_t at = (off_t)TRACE_HEADER_SIZE + (off_t)slot * TRACE_SLOT_SIZE;
    return pwrite(p->in, records, m->raw_len, at + (off_t)hs) == (ssize_t)m->raw_len &&
           pwrite(p->in, &raw, hs, at) == (ssize_t)hs;
}

int packer_give_back(struct trace_packer *p, char *err, size_t errlen)
{
    if (!p->punched) return 0;
    const size_t hs = sizeof(struct chunk_header);
    int fd = open(p->tmp, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        return fail(err, errlen, p->tmp, strerror(errno));
    }
    size_t size = (size_t)st.st_size;
    for (size_t off = TRACE_HEADER_SIZE; off + hs <= size && p->punched;) {
        struct chunk_header ch;
        bool unit = false;
        if (!read_at(fd, &ch, hs, (off_t)off) || ch.magic != TRACE_CHUNK_MAGIC ||
            (ch.flags != CHUNK_ZSTD && !(unit = ch.flags == CHUNK_UNIT)) ||
            ch.stored_len > (unit ? UNIT_MAX_STORED : p->zcap) || ch.stored_len > size - off - hs ||
            !read_at(fd, p->ubuf, ch.stored_len, (off_t)(off + hs)))
            break;
        struct unit_member m[UNIT_MAX_MEMBERS];
        size_t n = unit ? unit_members(p->ubuf, ch.stored_len, m) : 1;
        if (!unit) m[0] = (struct unit_member){.seq = ch.seq, .tid = ch.tid, .raw_len = ch.raw_len, .slot = ch.slot};
        bool wanted = false;
        for (size_t i = 0; i < n; i++)
            wanted |= m[i].slot != 0 && m[i].slot - 1u < p->done_cap && p->done[m[i].slot - 1] == SLOT_PUNCHED;
        if (wanted && unit && unit_decode_begin(p->coder, p->ubuf, ch.stored_len) < 0) break;
        bool ok = n > 0;
        for (size_t i = 0; ok && wanted && i < n; i++) {
            long got;
            if (unit) got = unit_decode_next(p->coder, p->slot);
            else {
                size_t z = ZSTD_decompress(p->slot, TRACE_SLOT_SIZE - hs, p->ubuf, ch.stored_len);
                got = ZSTD_isError(z) ? -1 : (long)z;
            }
            ok = got >= 0 && (uint32_t)got == m[i].raw_len && m[i].raw_len <= TRACE_SLOT_SIZE - hs;
            size_t slot = (size_t)m[i].slot - 1;
            if (!ok || m[i].slot == 0 || slot >= p->done_cap || p->done[slot] != SLOT_PUNCHED) continue;
            if (!write_back(p, slot, ch.stream, &m[i], p->slot)) {
                int e = errno;
                close(fd);
                return fail(err, errlen, p->path, strerror(e ? e : EIO));
            }
            p->done[slot] = SLOT_PACKED;
            p->punched--;
        }
        if (unit) unit_decode_end(p->coder);
        if (!ok) break;
        off += hs + ch.stored_len;
    }
    close(fd);
    if (p->punched) return fail(err, errlen, p->tmp, "some freed slots are missing from it");
    if (!clear_punched(p)) return fail(err, errlen, p->path, strerror(errno));
    return 0;
}

#define EXTERNAL_CHUNK (TRACE_MAX_CHUNK_RAW - 1024)

bool rec_chunks_fits(const struct rec_chunks *c, size_t len)
{
    return c->n > 0 && c->len[c->n - 1] + len <= EXTERNAL_CHUNK;
}

bool rec_chunks_add(struct rec_chunks *c, const uint8_t *rec, size_t len)
{
    bool fresh = !rec_chunks_fits(c, len);
    if (fresh) {
        uint8_t **b = realloc(c->buf, (c->n + 1) * sizeof *b);
        size_t *l = realloc(c->len, (c->n + 1) * sizeof *l);
        if (!b || !l) abort(); /* out of memory in heapsnap run itself */
        c->buf = b;
        c->len = l;
        c->buf[c->n] = malloc(EXTERNAL_CHUNK);
        if (!c->buf[c->n]) abort();
        c->len[c->n++] = 0;
    }
    memcpy(c->buf[c->n - 1] + c->len[c->n - 1], rec, len);
    c->len[c->n - 1] += len;
    return fresh;
}

void rec_chunks_free(struct rec_chunks *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->buf[i]);
    free(c->buf);
    free(c->len);
    memset(c, 0, sizeof *c);
}

int packer_add_external(struct trace_packer *p, const struct rec_chunks *c, uint32_t stream, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->n; i += UNIT_MAX_MEMBERS) {
        size_t n = c->n - i < UNIT_MAX_MEMBERS ? c->n - i : UNIT_MAX_MEMBERS;
        struct unit_member m[UNIT_MAX_MEMBERS];
        const uint8_t *raw[UNIT_MAX_MEMBERS];
        for (size_t k = 0; k < n; k++) {
            m[k] = (struct unit_member){.seq = (uint32_t)(i + k), .raw_len = (uint32_t)c->len[i + k]};
            raw[k] = c->buf[i + k];
        }
        if (!pack_unit(p, m, raw, n, stream, true)) {
            snprintf(err, errlen, "%s: cannot write the packed trace: %s", p->tmp, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int packer_commit(struct trace_packer *p, uint32_t end_how, int32_t end_code, char *err, size_t errlen)
{
    char page[TRACE_HEADER_SIZE];
    struct trace_header hdr;
    if (!read_at(p->in, page, sizeof page, 0)) {
        packer_abort(p);
        return fail(err, errlen, p->path, "read error");
    }
    memcpy(&hdr, page, sizeof hdr);
    hdr.state = TRACE_PACKED;
    hdr.version = TRACE_VERSION; /* its chunks may be units, whatever version wrote it OPEN */
    if (hdr.end_how == END_UNKNOWN && end_how != END_UNKNOWN) {
        hdr.end_how = end_how;
        hdr.end_code = end_code;
    }
    memcpy(page, &hdr, sizeof hdr);
    if (pwrite(p->out, page, sizeof page, 0) != (ssize_t)sizeof page || close(p->out) != 0) {
        p->out = -1;
        snprintf(err, errlen, "%s: cannot write the packed trace: %s", p->tmp, strerror(errno));
        packer_abort(p);
        return -1;
    }
    p->out = -1;
    if (rename(p->tmp, p->path) != 0) {
        snprintf(err, errlen, "%s: %s", p->path, strerror(errno));
        packer_abort(p);
        return -1;
    }
    p->tmp[0] = 0;
    for (size_t i = 0; i < p->nadopted; i++) unlink(p->adopted[i]); /* all in the trace now */
    packer_abort(p); /* frees what is left; the temporary is gone */
    return 0;
}

void packer_abort(struct trace_packer *p)
{
    if (p->out >= 0) close(p->out);
    if (p->tmp[0] && !p->punched) unlink(p->tmp);
    if (p->tmp[0] && p->punched) { /* the only copy of those slots: handed over to the next packer */
        char left[sizeof p->tmp];
        snprintf(left, sizeof left, "%s.%ld.left", p->path, (long)getpid());
        rename(p->tmp, left);
    }
    for (size_t i = 0; i < p->nadopted; i++) free(p->adopted[i]);
    free(p->adopted);
    if (p->in >= 0) close(p->in);
    if (p->cctx) ZSTD_freeCCtx(p->cctx);
    free(p->zbuf);
    free(p->slot);
    free(p->done);
    unit_coder_free(p->coder);
    free(p->unit_raw);
    free(p->pending);
    free(p->ubuf);
    cpu_wait_close(&p->cpu);
    memset(p, 0, sizeof *p);
    p->in = p->out = -1;
}

struct stale_ctx {
    void (*removed)(const char *tmp, long pid, void *ctx);
    void *ctx;
    size_t count;
};

static void remove_one(const char *tmp, long pid, bool alive, void *ctx)
{
    struct stale_ctx *c = ctx;
    if (alive || unlink(tmp) != 0) return;
    c->count++;
    if (c->removed) c->removed(tmp, pid, c->ctx);
}

size_t packer_remove_stale(const char *path, void (*removed)(const char *tmp, long pid, void *ctx), void *ctx)
{
    struct trace_header h;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool keep = fd >= 0 && read_at(fd, &h, sizeof h, 0) && h.state == TRACE_OPEN && (h.flags & TRACE_F_PUNCHED);
    if (fd >= 0) close(fd);
    if (keep) return 0; /* they hold records found nowhere else: packing takes them over */
    struct stale_ctx c = {.removed = removed, .ctx = ctx};
    each_temporary(path, remove_one, &c);
    return c.count;
}

int trace_pack(const char *path, uint32_t end_how, int32_t end_code, char *err, size_t errlen)
{
    struct trace_packer p;
    int rc = packer_begin(&p, path, false, err, errlen);
    if (rc != 0) return rc;
    if (packer_step(&p, true, err, errlen) < 0) {
        packer_abort(&p);
        return -1;
    }
    return packer_commit(&p, end_how, end_code, err, errlen);
}
