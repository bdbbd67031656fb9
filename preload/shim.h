/* shim.h - what the shim's files share: the real allocator behind us, the
 * process-wide state, and the per-thread state the hot path lives on.
 *
 * Data flow inside the shim: an interposed call (shim_malloc.c) captures its
 * stack (stack.c), encodes a record into the calling thread's current chunk
 * (emit.c), and the chunk is a slot of the mmap'd trace file (spool.c). */
#ifndef HEAPSNAP_SHIM_H
#define HEAPSNAP_SHIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "../trace/trace_format.h"
#include "../trace/trace_ticks.h"
#include "../trace/varint.h"

#define SHIM_HOT __attribute__((always_inline)) inline
#define SHIM_COLD __attribute__((noinline, cold))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define SHIM_EXPORT __attribute__((visibility("default")))

#ifdef NDEBUG
#define shim_assert(x) ((void)0)
#else
void shim_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define shim_assert(x) ((x) ? (void)0 : shim_assert_fail(#x, __FILE__, __LINE__))
#endif

struct shim_real {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
};
extern struct shim_real shim_real;
/* The allocator shim_real names is glibc's own (every function of it is
 * libc.so.6's): a block's usable size is then read from its chunk header
 * (shim_malloc.c). */
extern bool shim_heap_is_glibc;

enum shim_state { SHIM_UNINIT = 0, SHIM_INITIALIZING, SHIM_ACTIVE, SHIM_OFF };
extern _Atomic int shim_state;

/* Settings read once from the environment (see docs/DESIGN.md). */
struct shim_config {
    unsigned frames;      /* user frames kept per stack, 1..65535 */
    bool follow;          /* trace fork children and exec'd programs */
    pid_t parent_packs;   /* `heapsnap run` packs this pid's traces itself */
    uint64_t session;
    char output_dir[1024];
    char output_file[1024]; /* claimed by the first process that starts */
    int snapshot_signal;      /* 0: none */
    uint64_t interval_ns;     /* 0: no interval snapshots */
    uint64_t growth_bytes;    /* 0: no growth snapshots */
    bool checks;              /* a `heapsnap run` answers leak-check requests */
    pid_t run_pid;            /* that `heapsnap run`: a check stops waiting when it is gone */
    unsigned leak_check_timeout_ms;
    enum shim_unwind { UNWIND_FULL, UNWIND_FAST, UNWIND_CHECK } unwind; /* HEAPSNAP_UNWIND: full, fast, check */
    uint64_t sample_rate; /* HEAPSNAP_SAMPLE_RATE: 0 records every allocation */
    uint64_t sample_seed; /* HEAPSNAP_SAMPLE_SEED: 0 draws one */
};
extern struct shim_config shim_config;

/* Per-thread state. initial-exec TLS: reading it never calls into the loader
 * (or malloc), which the general-dynamic model may do on first access. */
struct shim_thread {
    int in_shim;        /* >0 while heapsnap's own code runs: its allocations pass through */
    uint32_t stream;    /* 0 until the thread's first event */
    uint32_t tid;
    uint32_t seq;       /* chunks taken so far */
    uint32_t generation;/* shim_generation when this state was set up */
    struct chunk_header *chunk;
    uint8_t *pos, *end;
    uint64_t last_ticks;
    uint64_t last_ptr_hidden; /* the chunk's last pointer, XOR SHIM_PTR_MASK: see ptr_hide() */
    void **deep_buf;    /* stack buffer for --frames beyond the on-stack size */
    int64_t live_pending;     /* usable bytes not yet added to live_current (shim_api.c) */
    int64_t live_base;        /* live_current as this thread last saw it */
    int64_t live_peak_view;   /* highest live_base + live_pending since then */
    uint32_t live_epoch;      /* heapsnap_reset_peak() count when the view began */
    uint64_t pending_marker;  /* ticks of a snapshot signal that arrived inside the shim */
    uint32_t events_to_clock; /* events left before the next interval check */
    int leak_disabled;        /* heapsnap_disable() depth: allocations now are not leaks */
    uint64_t fork_ticks;      /* stamp of this thread's last REC_FORK: a fork child's inheritance point */
    pid_t fork_parent;        /* the process that wrote it: the fork child's parent */
    int64_t sample_left;      /* sampling: bytes to allocate before the next sample (sample.c) */
    uint64_t sample_rng;      /* sampling: this thread's generator; 0 until its first draw */
};
extern __thread struct shim_thread shim_tls __attribute__((tls_model("initial-exec")));

/* The writer keeps the last pointer it recorded, for delta coding. Kept as
 * is, it would be a root to a block in every thread's TLS, and a leak check
 * would call a lost block reachable: so it is kept disguised. */
#define SHIM_PTR_MASK 0xa5a5a5a5a5a5a5a5ull
static SHIM_HOT uint64_t ptr_last(const struct shim_thread *t) { return t->last_ptr_hidden ^ SHIM_PTR_MASK; }
static SHIM_HOT void ptr_hide(struct shim_thread *t, uint64_t p) { t->last_ptr_hidden = p ^ SHIM_PTR_MASK; }

/* Bumped in a fork child: per-thread and per-stack state of an older
 * generation belongs to the parent's trace. */
extern _Atomic uint32_t shim_generation;

/* shim_init.c */
void shim_init(void);
void shim_reattach(void);
void *shim_next(const char *name);
SHIM_COLD bool shim_should_record_slow(struct shim_thread *t);
/* Set as the process's runtime frees its last state at the end: those frees
 * are recorded, and the memory left to the kernel (shim_init.c). */
extern _Atomic bool shim_exit_frees_kept;

/* Whether an interposed call is the program's to record (shim_init.c). */
static SHIM_HOT bool shim_should_record(struct shim_thread *t)
{
    if (likely(atomic_load_explicit(&shim_state, memory_order_acquire) == SHIM_ACTIVE)) return t->in_shim == 0;
    return shim_should_record_slow(t);
}

/* Opens a record (in_shim up) if recording is still on. A detach
 * (shim_attach.c) holds every thread with in_shim at 0 outside our code, then
 * turns recording off: a thread held inside the real function its wrapper
 * called sees that here, after its in_shim is up, and touches nothing of the
 * trace. The fence keeps the compiler from loading the state first. */
static SHIM_HOT bool record_begin(struct shim_thread *t)
{
    t->in_shim++;
    atomic_signal_fence(memory_order_seq_cst);
    if (likely(atomic_load_explicit(&shim_state, memory_order_relaxed) == SHIM_ACTIVE)) return true;
    t->in_shim--;
    return false;
}

/* A record's stamp: rdtsc is synchronized across cores here, but a migration
 * must never make a thread's delta negative. */
static SHIM_HOT uint64_t shim_ticks_after(const struct shim_thread *t, uint64_t now)
{
    return now < t->last_ticks ? t->last_ticks : now;
}

/* A record's stamp: written as the delta from the thread's last one, which
 * it becomes. */
static SHIM_HOT uint8_t *emit_stamp(struct shim_thread *t, uint8_t *w, uint64_t now)
{
    now = shim_ticks_after(t, now);
    w = varint_put(w, now - t->last_ticks);
    t->last_ticks = now;
    return w;
}
void shim_finish(uint32_t how, int code, uintptr_t stack_from, bool pack);
void shim_open_trace(uint64_t fork_ticks);
pid_t shim_traced_pid(void);

/* arena.c: heapsnap's own memory, never from the intercepted allocator. */
void *arena_alloc(size_t size);
void arena_after_fork(void);

/* The trace's time unit (trace/trace_ticks.h): shared with heapsnap run. */
static SHIM_HOT uint64_t shim_ticks(void) { return trace_ticks_now(); }
uint64_t shim_mono_ns(void);

/* A system call made directly, not through libc's syscall() (which the shim
 * interposes, shim_fd.c). Returns the kernel's result: -errno on failure. */
static inline long shim_sys6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#else
#error "the shim makes its own system calls on x86_64 only"
#endif
}
static inline long shim_sys(long n, long a1, long a2, long a3) { return shim_sys6(n, a1, a2, a3, 0, 0, 0); }
uint32_t shim_gettid(void);

/* shim_fd.c: the descriptors heapsnap owns in the process, kept out of the
 * program's reach. */
enum fd_owned { FD_TRACE, FD_CONTROL, FD_UNWIND_READ, FD_UNWIND_WRITE, FD_OWNED_COUNT };
void fd_init(void);
/* Takes fd as ours (moved to a high number); returns its number, or -1. */
int fd_adopt(enum fd_owned which, int fd, bool cloexec);
/* Opens path again as `which` if it is still the file adopted before. */
int fd_reopen(enum fd_owned which, const char *path, int flags);
/* The descriptor, checked to be ours still, with the descriptor lock held
 * until fd_use_end; -1 (and no lock) when it is gone. */
int fd_use_begin(enum fd_owned which);
void fd_use_end(void);
void fd_forget(enum fd_owned which, bool close_it);
void fd_after_fork(void);
/* Detached: every descriptor of ours closed. */
void fd_release_all(void);
/* Attached again: libunwind's pipe back on the numbers it remembers, or false. */
bool fd_restore_unwind_pipe(void);

/* proc_maps.c: the mapping that holds an address, from /proc/self/maps
 * (system calls only: safe where stdio and malloc are not). */
struct maps_range {
    uintptr_t lo, hi;
    bool readable, writable;
    bool is_main_stack; /* "[stack]": the kernel grows it down */
};
bool maps_find(uintptr_t addr, struct maps_range *r);

/* got_patch.c: a running process's calls redirected to the shim (attach). */
struct got_target {
    const char *name;
    void *ours;
    bool keep; /* heapsnap.h's entry points: left pointing at us after detach */
};
/* Patches the slots of every loaded module; returns how many. *busy: modules
 * being relocated by a dlopen right now, left for a later pass. */
int got_patch_all(const struct got_target *targets, size_t n, unsigned *busy);
/* Writes back what every patched slot held; returns how many. */
unsigned got_restore_all(void);
void got_after_fork(void);
/* The function the process's calls of name reach (not a program's PLT entry). */
void *got_real_function(const char *name);

/* spool.c: the trace file. */
int spool_create(const char *path, const struct trace_header *hdr);
struct chunk_header *spool_take_slot(void);
struct trace_header *spool_header(void);
const char *spool_path(void);
void spool_forget(void); /* fork child, or detached: drop the trace's mappings and descriptor */
void spool_count_lost(uint32_t n);

/* emit.c: per-thread record writer. */
bool emit_prepare(struct shim_thread *t, size_t need);
static SHIM_HOT void emit_commit(struct shim_thread *t, uint8_t *end_of_record)
{
    t->pos = end_of_record;
    /* The release store is what makes the record durable: a reader (or the
     * packer after SIGKILL) trusts exactly raw_len bytes. */
    atomic_store_explicit((_Atomic uint32_t *)&t->chunk->raw_len,
                          (uint32_t)(end_of_record - (uint8_t *)(t->chunk + 1)), memory_order_release);
}
void emit_bytes_record(struct shim_thread *t, uint8_t type, const void *a, size_t alen);
void emit_process_record(struct shim_thread *t);
void emit_exec(const char *path);
void emit_fork(void);

/* stack.c */
uint32_t stack_capture(struct shim_thread *t);
void stack_init(void);
bool stack_in_signal_handler(void);

/* modules.c */
void modules_init(void);
/* Writes the modules of a stack about to be written that the trace lacks. */
void modules_note_stack(struct shim_thread *t, const uintptr_t *ips, unsigned n);
void modules_reset(void);
extern uintptr_t shim_own_lo, shim_own_hi; /* our own code: never a call site */
static SHIM_HOT bool modules_is_own_ip(uintptr_t ip) { return ip - shim_own_lo < shim_own_hi - shim_own_lo; }

/* sample.c: HEAPSNAP_SAMPLE_RATE. Each allocated byte is sampled with
 * probability 1/rate (the gap to the next sample is drawn from an
 * exponential distribution per thread), so an allocation of size bytes is
 * sampled with probability 1 - exp(-size/rate). An unsampled allocation
 * costs a subtraction; a free looks its block up in the set of sampled live
 * blocks, which only sampled allocations and frees write. */
SHIM_COLD bool sample_draw(struct shim_thread *t);
static SHIM_HOT bool sample_alloc(struct shim_thread *t, size_t size)
{
    t->sample_left -= (int64_t)(size ? size : 1);
    return unlikely(t->sample_left <= 0) && sample_draw(t);
}
/* A sampled block joins the set; returns what it adds to the live counters. */
int64_t sample_note(uintptr_t p, size_t size);
/* A new trace: the sampled blocks of the old one are forgotten. */
void sample_forget(void);
/* The same with its weight known: a block taken out that stays (a failed realloc). */
int64_t sample_keep(uintptr_t p, int64_t weight);
/* Whether p is a sampled live block; if so it leaves the set and *weighed
 * gets what it added to the live counters. */
bool sample_take_slow(uintptr_t p, int64_t *weighed);
struct sample_set {
    unsigned bits;
    size_t used, gone;       /* live keys and tombstones */
    _Atomic uintptr_t *keys; /* block addresses; SET_EMPTY, SET_GONE (a removed one: probes go on past it) */
    int64_t *weighed;        /* what each added to the live counters */
};
#define SET_EMPTY 0u
#define SET_GONE 1u
extern _Atomic(struct sample_set *) sample_set_current;

static SHIM_HOT size_t set_slot(const struct sample_set *s, uintptr_t p)
{
    return (size_t)(((uint64_t)p >> 4) * 0x9e3779b97f4a7c15ull >> (64 - s->bits));
}

/* Whether p is a sampled live block: a probe without a lock, most often of
 * one empty slot. */
static SHIM_HOT bool sample_contains(uintptr_t p)
{
    const struct sample_set *s = atomic_load_explicit(&sample_set_current, memory_order_acquire);
    if (unlikely(!s)) return false;
    size_t mask = ((size_t)1 << s->bits) - 1;
    for (size_t i = set_slot(s, p);; i = (i + 1) & mask) {
        uintptr_t k = atomic_load_explicit(&s->keys[i], memory_order_relaxed);
        if (k == p) return true;
        if (k == SET_EMPTY) return false;
    }
}
/* What a sampled block of size bytes stands for, in bytes (size / p). */
int64_t sample_weigh(size_t size);

/* shim_api.c: heapsnap.h's functions, markers, and the live counters behind
 * heapsnap_traced_memory and growth snapshots. */
extern _Atomic bool shim_paused;
void api_init(void);
/* Detached: the snapshot signal's disposition given back. */
void api_stop(void);
SHIM_COLD void live_flush(struct shim_thread *t);
SHIM_COLD void api_slow_checks(struct shim_thread *t);
/* REC_IGNORE for a block the program asked heapsnap not to report. */
void api_ignore(struct shim_thread *t, uintptr_t p);
/* Asks `heapsnap run` to classify the live blocks now (kind: LEAK_CHECK, or
 * LSan's FINAL_CHECK), with the requesting thread's stack scanned only above
 * stack_from (0: from its SP), and waits. Returns the blocks that fail the
 * gate's rule (0: none, or no answer). */
uint64_t shim_leak_check_from(uintptr_t stack_from, enum run_request kind);
/* Set when the program leaves through main's return or exit(): the exiting
 * thread's frames below it are exit's and the destructors', dead. */
extern uintptr_t shim_exit_frame;
#define LIVE_FLUSH_BYTES (64 * 1024)
#define EVENTS_PER_CLOCK_CHECK 256

/* Called after every recorded event: keeps the live counters and takes the
 * rare paths (a signal marker to write, an interval to check) off the hot
 * path with one branch each. */
static SHIM_HOT void api_after_event(struct shim_thread *t, int64_t usable_delta)
{
    t->live_pending += usable_delta;
    int64_t view = t->live_base + t->live_pending;
    if (view > t->live_peak_view) t->live_peak_view = view; /* thread-local: exact, no shared write */
    if (unlikely(t->live_pending >= LIVE_FLUSH_BYTES || t->live_pending <= -LIVE_FLUSH_BYTES)) live_flush(t);
    /* events_to_clock is 0 in a new thread: it checks on its first event. */
    if (unlikely(t->pending_marker != 0 || t->events_to_clock == 0)) api_slow_checks(t);
    else t->events_to_clock--;
}

/* shim_run.c: asks `heapsnap run` (enum run_request, with its req_arg) and
 * waits for its answer; false without one. run_ask also gives the value it
 * answered with (FREEZE: 1 when the other threads are held). */
bool run_request(enum run_request kind, uint64_t arg);
bool run_ask(enum run_request kind, uint64_t arg, uint64_t *answer);
/* Whether `heapsnap run` let this process go (then no request is made). */
bool run_note_let_go(void);
void run_after_fork(void);

/* shim_mmap.c: mmap, munmap, mremap, brk and sbrk, recorded as the program's mappings. */
void mmap_resolve_real(void);

/* shim_attach.c: loaded into a running process by `heapsnap attach`. */
extern bool shim_attached;
/* Whether this library was loaded after libc (by dlopen, not preloaded). */
bool attach_loaded_late(void);
/* The value `heapsnap attach` gave for an environment variable's name. */
const char *attach_setting(const char *name);
/* A message for the user: stderr, or under attach what the command reads. */
void shim_tell(const char *msg, size_t n);

/* shim_process.c */
void process_install_hooks(void);
void process_strip_preload(void);
void process_strip_preload_in(char **env); /* the same in another environment array */

/* heapsnap.h's entry points that LSan's share (shim_api.c). */
void heapsnap_shim_ignore(const void *p);
void heapsnap_shim_disable(void);
void heapsnap_shim_enable(void);
void heapsnap_shim_register_root(const void *p, size_t len);
void heapsnap_shim_unregister_root(const void *p, size_t len);

/* shim_lsan.c: LeakSanitizer's interface and the program's LSan hooks. */
/* A program with a sanitizer runtime of its own is not traced: true if
 * this one is (said on stderr; it is started again without heapsnap where
 * it can be). Before anything else of the shim runs. */
bool lsan_refuse_sanitized(void);
/* The program's hooks read (once, when its main starts or it first asks for
 * a check) and what they say written into the trace. */
void lsan_program_ready(void);
/* A new trace (a fork child's) gets what the hooks said too. */
void lsan_after_open_trace(void);

#endif
