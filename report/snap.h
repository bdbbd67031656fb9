/* snap.h - a replayed trace: every allocation event applied in time order to
 * a table of live blocks, with per-stack totals, the exact peak and the blocks
 * still live at the end. The reports (report_*.c) read only this. */
#ifndef HEAPSNAP_SNAP_H
#define HEAPSNAP_SNAP_H

#include "blockmap.h"
#include "regionmap.h"
#include "util.h"
#include "../trace/trace_read.h"

struct snap_module {
    struct snap_module *next;
    uint32_t id;
    uint64_t bias, lo, hi;
    uint64_t loaded_ticks, unloaded_ticks; /* UINT64_MAX: never unloaded */
    char *path;
    uint8_t build_id[64];
    size_t build_id_len;
    void *sym; /* symbols.c's state for this module */
};

/* One stack id of the trace. The replay accounts per id; afterwards ids with
 * equal frames (two threads met one new stack at once) are merged into their
 * canonical stack, whose fig_* sum them. */
struct snap_stack {
    uint32_t id;
    UT_hash_handle hh;        /* by id */
    UT_hash_handle hh_frames; /* by frames, on canonical stacks only */
    struct snap_stack *canon; /* set by the replay's end */
    uint32_t nframes, filled;
    uint64_t *key;            /* key[0] = nframes, key[1..] = instruction pointers; NULL until its record */
    uint64_t seen_ticks;      /* when it first appeared: picks the module map */
    uint64_t live_bytes, live_blocks;
    uint64_t peak_bytes, peak_blocks, saved_gen; /* see stack_touch() */
    uint64_t fig_bytes[2], fig_blocks[2];        /* canonical: [0] at the point, [1] at the peak */
    /* Up to the point: allocation calls and bytes, and of them the temporary
     * ones (freed before the thread allocated again, heaptrack's measure). */
    uint64_t calls, bytes_allocated, temporary, temporary_bytes;
    uint64_t fig_calls, fig_bytes_allocated, fig_temporary, fig_temporary_bytes; /* canonical: summed */
    /* Mapped memory (snap_mapped.c): bytes and ranges live from this stack's
     * mappings, kept as the heap's above (map_saved_gen against map_gen);
     * and heap and mapped together at the peak of the two together. */
    uint64_t map_live_bytes, map_live_regions;
    uint64_t map_peak_bytes, map_peak_regions, map_saved_gen;
    uint64_t all_peak_bytes, all_peak_blocks, all_saved_gen;
    uint64_t map_calls, map_bytes_mapped; /* mmap, mremap and brk calls, and the bytes they mapped */
    uint64_t fig_map_bytes[2], fig_map_regions[2], fig_all_bytes[2], fig_all_blocks[2]; /* canonical, as fig_bytes */
    uint64_t fig_map_calls, fig_map_bytes_mapped;
};

/* Which memory a snapshot's figures are of (stats --memory): heap blocks,
 * the program's own mappings, or both. */
enum snap_memory { SNAP_MEMORY_HEAP, SNAP_MEMORY_MAPPED, SNAP_MEMORY_ALL };

/* A sample of the process's resident set (REC_RSS). */
struct snap_rss {
    uint64_t ticks, resident, file;
};

/* What an event hook (snap->hook) is called for. A realloc is two events: a
 * free, then an allocation (realloc set on both). */
struct snap_event {
    enum { SNAP_EV_ALLOC, SNAP_EV_FREE, SNAP_EV_MAP /* mapped memory changed: no block */ } kind;
    bool realloc;
    bool known;                /* a free: of a block that was live (else unmatched) */
    bool temporary;            /* a free: of the thread's latest allocation, with none since */
    uint32_t stream;
    uint64_t ptr, size;        /* a free: the block's size (0 when unknown) */
    struct snap_stack *stack;  /* the block's allocation stack (NULL: unknown) */
    uint64_t born_ticks;       /* a free: when the block was allocated */
};

struct snap_leak_check {
    uint64_t ticks;
    uint32_t seq, status; /* status 0: done; else the check could not run (enum check_status) */
    size_t first, n;      /* its records in snap.leaks */
    char *note;           /* why it could not run, or what it could not see */
};

struct snap_leak {
    uint64_t ptr, indirect;
    uint32_t kind; /* enum leak_kind */
};

struct snap_marker {
    char *label;
    uint64_t ticks;
};

/* A moment to take a snapshot at: the end, the exact peak, a time since the
 * start, or a marker (the nth one with that label, 1-based). */
enum point_kind { POINT_EXIT, POINT_PEAK, POINT_TIME, POINT_MARKER, POINT_LEAK_CHECK /* nth = seq, 0: the last */ };
struct snap_point {
    enum point_kind kind;
    double seconds;
    char label[512];
    unsigned nth; /* 0: the label must be unique */
};

struct snap;
/* Called after each applied event (timeline). */
typedef void (*snap_event_hook)(const struct snap *s, uint64_t ticks, void *ctx);

struct snap {
    struct trace_header hdr;
    char *exe, *cmdline, *cwd, *exec_path;
    uint64_t exec_ticks;
    struct snap_module *modules;
    struct snap_stack *stacks, *canon_stacks;
    struct blockmap live;
    struct snap_stack **stack_index; /* by id, for ids up to nstack_index */
    size_t nstack_index;
    uint64_t allocations, frees, reallocs, unmatched_frees, replaced_blocks, events;
    uint64_t temporary; /* allocations freed before their thread allocated again */
    uint64_t sample_draws; /* a sampled trace: calls weighed so far (each draw its own) */
    uint64_t inherited_blocks; /* a fork child's blocks from its parent (REC_INHERIT) */
    uint64_t cur_bytes, cur_blocks, peak_bytes, peak_blocks, peak_ticks, gen;
    uint64_t first_ticks, last_ticks;
    double ns_per_tick;
    uint64_t origin_ticks, origin_mono; /* a calibration point */
    uint64_t start_mono;
    uint64_t last_clock_ticks; /* the latest calibration point: about the end */
    bool truncated;
    struct snap_marker *markers; /* in time order */
    size_t nmarkers;
    struct snap_point point;
    uint64_t stop_ticks;  /* events after this are not applied (POINT_TIME, POINT_MARKER) */
    bool at_peak;         /* figures are those at the peak (POINT_PEAK) */
    snap_event_hook hook;
    void *hook_ctx;
    struct snap_event ev; /* the event the hook is called for */
    /* Called when the merge reaches a REC_FORK: the live blocks are the
     * heap the child starts with (snap_follow.c keeps them for it). */
    void (*fork_hook)(const struct snap *s, uint64_t ticks, void *ctx);
    void *fork_ctx;
    /* Leak checks: the 1 MiB regions small blocks ever lived in (key region+1),
     * when asked for; and the classifications recorded by `heapsnap run`. */
    bool track_heap_regions;
    bool live_only;         /* only the live blocks, with their stacks: no figures (a follower for leak checks) */
    struct blockmap heap_regions;
    uint64_t last_region;   /* the key last added to heap_regions */
    struct snap_leak_check *checks;
    size_t nchecks;
    struct snap_leak *leaks; /* every check's records, in order */
    size_t nleaks;
    const struct snap_leak_check *check; /* POINT_LEAK_CHECK: the check chosen */
    struct snap_root { uint64_t ptr, len; } *roots; /* registered by the program, live at the point */
    size_t nroots;
    /* The program's mappings (snap_mapped.c), their totals and peak, and
     * those of heap and mapped memory together (all_*: cur_bytes +
     * map_cur_bytes, with its own peak). */
    enum snap_memory memory; /* which of them snap_figures gives: the caller sets it (the replay keeps all) */
    struct regionmap mapped;
    uint64_t map_cur_bytes, map_cur_regions, map_peak_bytes, map_peak_regions, map_peak_ticks, map_gen;
    uint64_t all_peak_bytes, all_peak_blocks, all_peak_ticks, all_gen;
    uint64_t mmaps, munmaps, mremaps; /* calls seen (brk and sbrk count as mmap or munmap) */
    struct snap_rss *rss; /* RSS samples by `heapsnap run`, in time order */
    size_t nrss;
    /* Pool objects (REC_POOL) live in `live` too, keyed with POOL_KEY_BIT set;
     * here each one's pool (size: the pool's address), for a pool's destroy. */
    struct blockmap pool_members;
    /* The program's own LSan suppressions (REC_SUPPRESSIONS), by origin - 1. */
    struct strbuf program_suppressions[2];
};

/* A block's address from its key in `live` (a pool object's has POOL_KEY_BIT). */
static inline uint64_t snap_block_addr(uint64_t key) { return key & ~POOL_KEY_BIT; }
static inline bool snap_is_pool_object(uint64_t key) { return (key & POOL_KEY_BIT) != 0; }

#define SNAP_HEAP_REGION_SHIFT 20
#define SNAP_SMALL_BLOCK (128u * 1024) /* below malloc's mmap threshold: lives in an arena */

/* "exit", "peak", "12.5s", "LABEL" or "LABEL#N"; false with a reason in err. */
bool snap_parse_point(const char *text, struct snap_point *p, char *err, size_t errlen);
/* A stack's figures at the snapshot's point, of s->memory. */
void snap_figures(const struct snap *s, const struct snap_stack *st, uint64_t *bytes, uint64_t *blocks);
/* A stack's calls up to the point and the bytes they allocated (or mapped), of s->memory. */
void snap_call_figures(const struct snap *s, const struct snap_stack *st, uint64_t *calls, uint64_t *bytes);
/* When the peak of s->memory was. */
uint64_t snap_peak_ticks(const struct snap *s);
/* "heap", "mapped" or "all"; false for anything else. */
bool snap_parse_memory(const char *text, enum snap_memory *out);
/* The highest RSS sample, or 0 with none (and its time in *ticks). */
uint64_t snap_rss_peak(const struct snap *s, uint64_t *ticks);

/* Replays the trace up to point (NULL: the end). hook, if not NULL, sees
 * every event applied. Returns 0, or -1 with a reason in err, or
 * SNAP_NO_CHECK when the point is the last leak check and there is none. */
#define SNAP_NO_CHECK (-2)
int snap_load(struct snap *s, const char *path, const struct snap_point *point, snap_event_hook hook, void *ctx,
              char *err, size_t errlen);
/* The same, recording the regions the heap ever used (for leak checks). */
int snap_load_opts(struct snap *s, const char *path, const struct snap_point *point, bool track_heap_regions,
                   char *err, size_t errlen);
void snap_free(struct snap *s);
/* Merges equal stacks (two ids, the same frames) and sums their figures at
 * the point and at the peak: the last step of a load, for a snap built
 * another way (snap_follow.c) too. */
void snap_finish_stacks(struct snap *s);
/* Seconds since the process started, and back (as TRACE@SECONDSs reads them). */
double snap_seconds(const struct snap *s, uint64_t ticks);
uint64_t snap_ticks_at(const struct snap *s, double seconds);
/* The stamp of the trace's last record (its streams' last chunks read), or
 * its recorded end: where a run without a recorded end really stopped. */
uint64_t snap_trace_end_ticks(const struct snap *s, const char *path);
/* "signal", "interval", "growth" or "leak-check" for the markers heapsnap
 * writes itself; NULL for the program's own. */
const char *snap_marker_kind(const char *label);
struct snap_module *snap_module_for(const struct snap *s, uint64_t ip, uint64_t when);
/* Canonical stacks with blocks at the point (at_peak: at the peak), largest
 * first; the caller frees the array. */
struct snap_stack **snap_sorted(const struct snap *s, bool at_peak, size_t *n);
/* Canonical stacks that allocated up to the point, most allocation calls first. */
struct snap_stack **snap_sorted_by_calls(const struct snap *s, size_t *n);

#endif
