/* trace_format.h - the on-disk layout of a heapsnap trace, shared by the shim
 * (writer), the packer and the reporter (reader). docs/FORMAT.md is its prose
 * twin: change both in the same commit.
 *
 * A trace is a 4 KiB header followed by chunks. Each chunk holds the records of
 * one thread ("stream"), in the order that thread wrote them. In an OPEN trace
 * the chunks sit in fixed-size slots of a file the shim has mmap'd, so every
 * committed record survives SIGKILL; a PACKED trace stores the same chunks back
 * to back, each compressed with zstd or (version 3) coded with up to 15 more
 * of its thread as a unit (trace_unit.h). */
#ifndef HEAPSNAP_TRACE_FORMAT_H
#define HEAPSNAP_TRACE_FORMAT_H

#include <stdint.h>

#define TRACE_MAGIC "HEAPSNAP"
#define TRACE_VERSION 3 /* 2: fork, inherited blocks, check notes, the exit context in the header; 3: units */
#define TRACE_VERSION_MIN 1
#define TRACE_HEADER_SIZE 4096u
#define TRACE_SLOT_SIZE (64u * 1024u)
#define TRACE_MAX_SLOTS (1u << 22) /* 256 GiB: the shim stops recording there, readers read no further */
#define TRACE_CHUNK_MAGIC 0x4b435348u /* "HSCK" little-endian */
/* A packed chunk decodes to at most one slot of records; anything larger is corrupt. */
#define TRACE_MAX_CHUNK_RAW TRACE_SLOT_SIZE

enum trace_state { TRACE_OPEN = 1, TRACE_PACKED = 2 };

enum trace_flags {
    TRACE_F_TRUNCATED = 1u << 0,       /* the shim stopped recording (disk full, descriptor lost) */
    TRACE_F_REOPENED = 1u << 1,        /* the program closed the trace's descriptor; it was reopened */
    TRACE_F_ALLOCATOR_BEFORE = 1u << 2, /* malloc is bound to a library loaded before heapsnap */
    /* OPEN: slots already packed beside the program (TRACE.PID.packing) had
     * their raw records freed; a packer that finds that file's packer gone
     * takes its chunks over (trace_pack.c). */
    TRACE_F_PUNCHED = 1u << 3,
    /* Set by `heapsnap run` when it stops waiting for the process: no one
     * else will pack its trace, the shim must at the end. */
    TRACE_F_SELF_PACK = 1u << 4,
    /* Set by the shim: the program's __lsan_is_turned_off() returned nonzero,
     * so no leak check is made at its end (the check record says so). */
    TRACE_F_LEAK_CHECK_OFF = 1u << 5,
    /* Set by the shim: it was loaded into a process already running
     * (`heapsnap attach`). Blocks allocated before are unknown, their frees
     * unmatched; the trace ends where the detach came (END_DETACHED). */
    TRACE_F_ATTACHED = 1u << 6,
};

/* What the exit fields of the header say about the thread that ended the process. */
enum exit_context {
    EXIT_CTX_NONE = 0,
    EXIT_CTX_STACK_FROM = 1, /* a normal exit: exit_tid's stack counts only above exit_stack_from */
};

struct trace_header {
    char magic[8];
    uint32_t version;
    uint32_t state;       /* enum trace_state */
    uint32_t header_size; /* TRACE_HEADER_SIZE */
    uint32_t slot_size;   /* TRACE_SLOT_SIZE (OPEN form) */
    uint64_t pid;
    uint64_t ppid;
    uint64_t session;           /* shared by every trace of one `heapsnap run` */
    uint64_t start_realtime_ns; /* CLOCK_REALTIME at start */
    uint32_t frames;            /* maximum stack depth recorded */
    uint32_t flags;             /* enum trace_flags; written by the shim */
    uint32_t lost_events;       /* events that could not be recorded */
    /* How the process ended. Written in place by the shim (exit, _exit, fatal
     * signal) or by the packer from what `heapsnap run` saw; no record is
     * needed, so a signal handler can set it whatever the thread was doing. */
    uint32_t end_how;  /* enum end_how */
    int32_t end_code;  /* exit status or signal number */
    uint32_t req_ack;  /* written by `heapsnap run`: the last request (req_seq) it answered */
    uint64_t end_ticks;
    uint64_t end_mono_ns; /* with end_ticks, a calibration point at the end */
    /* Version 2. How the process left, for the scan at its end (enum exit_context). */
    uint32_t exit_tid;
    uint32_t exit_ctx;
    uint64_t exit_stack_from;
    uint64_t fork_ticks; /* a fork child: when its parent forked (the stamp of the parent's REC_FORK) */
    /* The process's latest request to `heapsnap run` (enum run_request), answered
     * through req_ack. `heapsnap run` reads these; the datagram on its socket
     * only makes it look at once. */
    uint32_t req_seq;
    uint32_t req_kind;
    uint32_t req_tid;
    uint32_t supervisor;    /* written by `heapsnap run`: its pid while it traces the process with ptrace */
    uint64_t req_arg; /* LEAK_CHECK: the requesting thread's stack counts above this; RELEASE: the pid (0: itself) */
    /* The process's peak resident set (VmHWM), in KiB, at its end: written by
     * the shim as it ends, or by `heapsnap run` at the exit stop; 0 unknown
     * (an older trace, or an end nobody saw). The rest of the header page is
     * zero in every trace, so a reader of version 2 takes 0 there as unknown. */
    uint64_t peak_rss_kib;
    /* Sampling (HEAPSNAP_SAMPLE_RATE): each allocated byte was sampled with
     * probability 1/sample_rate and only sampled allocations (and their
     * frees) are recorded; 0: every allocation (as in older traces). A
     * reader weighs each block by 1 / (1 - exp(-size / sample_rate)). */
    uint64_t sample_rate;
};

/* The largest sample_rate a trace may have (the shim and `heapsnap run` take
 * no more): a reader refuses a header with more as corrupt. */
#define TRACE_MAX_SAMPLE_RATE (1ull << 40)

_Static_assert(sizeof(struct trace_header) == 160, "docs/FORMAT.md documents a 160-byte header");

enum chunk_flags {
    CHUNK_ZSTD = 1u << 0,   /* PACKED: the data is one zstd frame */
    CHUNK_SEALED = 1u << 1, /* OPEN: the thread has moved on; the slot will not change */
    CHUNK_UNIT = 1u << 2,   /* PACKED, version 3: the data is a unit of chunks of the stream (trace_unit.h) */
};

struct chunk_header {
    uint32_t magic;      /* TRACE_CHUNK_MAGIC; 0 in a slot not yet used */
    uint32_t flags;      /* enum chunk_flags */
    uint32_t stream;     /* per-process thread serial: never reused, unlike tids */
    uint32_t seq;        /* chunk number within the stream */
    uint32_t tid;        /* kernel thread id, for display */
    uint32_t raw_len;    /* bytes of records (OPEN: committed so far) */
    uint32_t stored_len; /* bytes that follow the header in a PACKED trace */
    uint32_t slot;       /* PACKED: the OPEN slot it was packed from, plus one (0: made outside the process) */
};

_Static_assert(sizeof(struct chunk_header) == 32, "docs/FORMAT.md documents a 32-byte chunk header");

/* Records. Every record is a type byte followed by LEB128 varints ("u") and
 * zigzag varints ("s"). Timed records start with "dt": ticks since the previous
 * timed record of the same chunk (the first one of a chunk is absolute). "ptr"
 * fields are zigzag deltas against the previous pointer of the chunk. */
enum rec_type {
    REC_ALLOC = 1,     /* u dt, s ptr, u size, u stack, u fn (enum alloc_fn) */
    REC_FREE = 2,      /* u dt, s ptr */
    REC_REALLOC = 3,   /* u dt(free half), s old, u dt(alloc half), s new, u size, u stack */
    REC_STACK = 4,     /* u id, u total_frames, u n, n x s ip-delta (first frame innermost) */
    REC_STACK_MORE = 5,/* u id, u n, n x s ip-delta: continues a long REC_STACK */
    REC_MODULE = 6,    /* u dt, u id, u bias, u start, u end, u idlen, id bytes, u plen, path */
    REC_UNLOAD = 7,    /* u dt, u id */
    REC_PROCESS = 8,   /* u exelen, exe, u cmdlen, cmdline (NUL separated), u cwdlen, cwd */
    REC_MARKER = 10,   /* u dt, u len, label */
    REC_CLOCK = 11,    /* u ticks (absolute), u monotonic ns: calibrates ticks */
    REC_EXEC = 12,     /* u dt, u len, path: execve was attempted */
    REC_LEAK_CHECK = 13, /* u ticks (absolute, when the world was stopped), u seq, u status (0 ok), u lost records;
                            the pointer delta base restarts at 0 */
    REC_LEAK = 14,       /* s ptr (delta), u kind (enum leak_kind), u indirect bytes: one unreachable block */
    REC_IGNORE = 15,     /* u dt, s ptr: heapsnap_ignore(), or allocated under heapsnap_disable() */
    REC_ROOT = 16,       /* u dt, u ptr, u len, u on: heapsnap_register_root() (on=1) / unregister (on=0) */
    REC_FORK = 17,       /* u dt: this thread is about to fork (written before the child exists) */
    REC_INHERIT = 18,    /* s ptr (delta), u size, u stack, u flags (bit 0: ignored): a block the process
                            had from its parent at fork; written by `heapsnap run`, applied before any event */
    REC_CHECK_NOTE = 19, /* u seq, str text: why the leak check seq could not run, or is incomplete */
    /* Mappings the program (or a library) made itself: mmap, mremap, brk and
     * sbrk called through their symbols. glibc's malloc maps with internal
     * calls, never seen here, so no byte counts both as heap and as mapped. */
    REC_MMAP = 20,   /* u dt, s ptr, u len, u stack, u kind (enum map_kind), u prot, u flags (mmap's) */
    REC_MUNMAP = 21, /* u dt, s ptr, u len: any part of any mapping (stamped before the call) */
    REC_MREMAP = 22, /* u dt (before the call), s old, u old_len, u dt2 (after it), s new (delta against old),
                        u new_len, u flags (mremap's), u stack */
    REC_RSS = 23,    /* u ticks (absolute), u resident bytes, u of them file-backed or shared bytes: a sample
                        of /proc/PID/statm by `heapsnap run` (stream TRACE_STREAM_RSS) */
    /* u dt, u op (enum pool_op), u pool, s ptr (delta), u size, u stack: a custom allocator's object
     * (heapsnap_pool_*), a block of its own, keyed apart from malloc's (POOL_KEY_BIT) */
    REC_POOL = 24,
    REC_SUPPRESSIONS = 25, /* u origin (enum supp_origin), str text: the program's own LSan suppressions */
};

/* What a REC_POOL record does. An object is a block like malloc's, but its
 * address may lie inside a malloc'd block (the pool's chunk) and even be its
 * first byte: readers key it with POOL_KEY_BIT set, which no user address has. */
enum pool_op {
    POOL_ALLOC = 1,   /* ptr, size, stack: an object of pool (0: a malloc-like block in no pool) */
    POOL_FREE = 2,    /* ptr: that object is gone (size and stack 0) */
    POOL_DESTROY = 3, /* pool: every object of it is gone (ptr, size, stack 0) */
};
#define POOL_KEY_BIT (1ull << 63)

/* Where the text of a REC_SUPPRESSIONS record came from. */
enum supp_origin {
    SUPP_FROM_DEFAULT_SUPPRESSIONS = 1, /* the program's __lsan_default_suppressions() */
    SUPP_FROM_LSAN_OPTIONS = 2,         /* the file LSAN_OPTIONS (or __lsan_default_options) names: suppressions=FILE */
};

/* What a REC_MMAP mapped. */
enum map_kind { MAP_KIND_ANON = 0, MAP_KIND_FILE = 1, MAP_KIND_BRK = 2 /* brk/sbrk moved the break up */ };

/* The external stream `heapsnap run` writes RSS samples in (as it writes
 * leak-check results in 0xffffffff and a fork child's inherited blocks in
 * 0xfffffffe: trace_pack.h). */
#define TRACE_STREAM_RSS 0xfffffffdu

/* Reachability of a block at a leak check (memcheck's kinds). Blocks live at
 * the check and not listed in REC_LEAK records were still reachable. */
enum leak_kind { LEAK_REACHABLE = 0, LEAK_DEFINITE = 1, LEAK_INDIRECT = 2, LEAK_POSSIBLE = 3 };

/* What a traced process asks of `heapsnap run`. */
enum run_request {
    RUN_REQ_SUPERVISE = 1,  /* a new process (first image, exec'd image, fork child): trace me with ptrace */
    RUN_REQ_LEAK_CHECK = 2, /* heapsnap_leak_check(): classify the live blocks now */
    RUN_REQ_RELEASE = 3,    /* let a process go (req_arg: its pid, 0 for the requester): it is about to
                               exec a set-user-ID program, which ptrace would keep from its privileges,
                               or to be traced by the program itself (a debugger): one tracer only */
    RUN_REQ_FREEZE = 4,     /* the process is exiting: hold its other threads still, so that glibc's and
                               libstdc++'s end-of-process cleanup can run (as valgrind runs it) */
    /* __lsan_do_leak_check(): a leak check that stands for the one at the end, which is then not made
     * if it found no leak. LEAK_CHECK and FINAL_CHECK are answered (req_arg) with the blocks that fail
     * the gate's rule, 0 if none. */
    RUN_REQ_FINAL_CHECK = 5,
};

/* The doorbell: a datagram the shim sends to HEAPSNAP_CONTROL_FD with each
 * request (the header holds the same, for when the socket is gone). */
struct run_doorbell {
    uint32_t magic; /* RUN_DOORBELL_MAGIC */
    uint32_t pid, seq, kind;
    char trace[4096]; /* the process's trace file */
};
#define RUN_DOORBELL_MAGIC 0x4b434c48u /* "HLCK" */

enum alloc_fn {
    FN_MALLOC = 0, FN_CALLOC, FN_REALLOC, FN_REALLOCARRAY, FN_POSIX_MEMALIGN,
    FN_ALIGNED_ALLOC, FN_MEMALIGN, FN_VALLOC, FN_PVALLOC, FN_COUNT
};

enum end_how {
    END_UNKNOWN = 0, /* no end record: killed by SIGKILL, or the trace was cut */
    END_EXIT = 1,    /* exit() or return from main; code = status */
    END_UNDERSCORE_EXIT = 2, /* _exit() / _Exit(); code = status */
    END_SIGNAL = 3,  /* killed by a signal; code = signal number */
    END_EXIT_NOCODE = 4, /* exited normally, status not seen in the process */
    END_DETACHED = 5,    /* `heapsnap attach` detached: the process ran on (code 0) */
};

/* The shim carries this string followed by its version (NUL-terminated), so
 * that `heapsnap` can tell which version a libheapsnap.so is without loading it. */
#define SHIM_VERSION_TAG "heapsnap-shim-version="

/* Bounds a reader enforces on untrusted input. */
#define TRACE_MAX_FRAMES 65535u
#define TRACE_MAX_STRING (1u << 20)

#endif
