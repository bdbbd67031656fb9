/* shim_api.c - what heapsnap.h reaches in the shim, and the markers.
 *
 * Custom allocators' objects (heapsnap_pool_*) are REC_POOL records: blocks
 * of their own in every report, with the stack of the annotation. They are
 * left out of the live counters below: a pool's free does not say the size,
 * and the shim keeps no table of blocks to look it up. *
 * Markers (REC_MARKER) name moments a snapshot can be taken at: the program's
 * own heapsnap_snapshot() calls, a snapshot signal, an interval, heap growth.
 * They go into the calling thread's stream like any record.
 *
 * The live counters answer heapsnap_traced_memory() and drive growth
 * snapshots. Each thread keeps a private delta of usable bytes
 * (malloc_usable_size: the requested size is not known at free) and adds it to
 * the shared total only once it passes 64 KiB, so the shared line is written
 * once per 64 KiB of allocation churn, not per event. Each thread also keeps
 * the highest total it has seen (its last view of the shared total plus its own
 * delta) and folds it into the shared peak when it flushes. So the figures are
 * exact in a single-threaded program and within 64 KiB per other thread in a
 * multi-threaded one; reports, which replay the trace, count requested bytes
 * exactly. */
#include "shim.h"
#include "../trace/varint.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

_Atomic bool shim_paused;

static _Atomic int64_t live_current, live_peak;
static _Atomic uint32_t live_epoch; /* bumped by heapsnap_reset_peak(): older thread views no longer count */
static _Atomic uint64_t growth_mark;     /* peak at the last growth marker */
static _Atomic uint64_t interval_deadline; /* monotonic ns of the next interval marker */
static uint64_t start_mono;
static _Atomic uint32_t interval_count;

static void marker_write(struct shim_thread *t, const char *label, uint64_t at)
{
    size_t len = strnlen(label, 1024);
    if (!emit_prepare(t, len + 1 + 2 * VARINT_MAX)) return;
    uint8_t *p = t->pos;
    *p++ = REC_MARKER;
    p = emit_stamp(t, p, at);
    p = varint_put(p, len);
    memcpy(p, label, len);
    emit_commit(t, p + len);
}

static void seconds_label(char *buf, size_t cap, const char *kind, uint64_t mono)
{
    uint64_t ms = (mono - start_mono) / 1000000u;
    snprintf(buf, cap, "%s:%llu.%03llus", kind, (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
}

static void peak_raise(int64_t v)
{
    int64_t peak = atomic_load_explicit(&live_peak, memory_order_relaxed);
    while (v > peak && !atomic_compare_exchange_weak(&live_peak, &peak, v)) {
    }
}

SHIM_COLD void live_flush(struct shim_thread *t)
{
    int64_t cur = atomic_fetch_add_explicit(&live_current, t->live_pending, memory_order_relaxed) + t->live_pending;
    t->live_pending = 0;
    uint32_t epoch = atomic_load(&live_epoch);
    if (t->live_epoch == epoch) peak_raise(t->live_peak_view);
    peak_raise(cur);
    t->live_base = cur;
    t->live_peak_view = cur;
    t->live_epoch = epoch;
    uint64_t step = shim_config.growth_bytes;
    if (!step || cur <= 0) return;
    uint64_t mark = atomic_load(&growth_mark);
    if ((uint64_t)cur >= mark + step && atomic_compare_exchange_strong(&growth_mark, &mark, (uint64_t)cur)) {
        char label[64];
        snprintf(label, sizeof label, "growth:%lld", (long long)cur);
        marker_write(t, label, shim_ticks());
    }
}

SHIM_COLD void api_slow_checks(struct shim_thread *t)
{
    if (t->pending_marker) {
        /* A snapshot signal arrived while this thread was inside the shim. */
        char label[64];
        seconds_label(label, sizeof label, "signal", shim_mono_ns());
        uint64_t at = t->pending_marker;
        t->pending_marker = 0;
        marker_write(t, label, at);
    }
    if (t->events_to_clock == 0) {
        t->events_to_clock = EVENTS_PER_CLOCK_CHECK;
        uint64_t deadline = atomic_load_explicit(&interval_deadline, memory_order_relaxed);
        if (!deadline) return;
        uint64_t now = shim_mono_ns();
        if (now < deadline) return;
        /* One thread wins the deadline; an idle stretch yields one marker, at
         * the first event after it (the heap did not change meanwhile). */
        uint64_t next = deadline + shim_config.interval_ns;
        if (next <= now) next = now + shim_config.interval_ns;
        if (!atomic_compare_exchange_strong(&interval_deadline, &deadline, next)) return;
        char label[64];
        snprintf(label, sizeof label, "interval:%u", atomic_fetch_add(&interval_count, 1) + 1);
        marker_write(t, label, shim_ticks());
    }
}

static void on_snapshot_signal(int sig)
{
    (void)sig;
    struct shim_thread *t = &shim_tls;
    if (atomic_load(&shim_state) != SHIM_ACTIVE) return;
    if (t->in_shim) {
        t->pending_marker = shim_ticks(); /* written when this thread leaves the shim */
        return;
    }
    t->in_shim++;
    char label[64];
    seconds_label(label, sizeof label, "signal", shim_mono_ns());
    marker_write(t, label, shim_ticks());
    t->in_shim--;
}

static struct sigaction snapshot_signal_before;

void api_init(void)
{
    if (shim_attached) { /* a trace of its own from now: counters from zero */
        atomic_store(&live_current, 0);
        atomic_store(&live_peak, 0);
        atomic_fetch_add(&live_epoch, 1);
    }
    start_mono = shim_mono_ns();
    if (shim_config.interval_ns) atomic_store(&interval_deadline, start_mono + shim_config.interval_ns);
    if (shim_config.snapshot_signal > 0 && shim_config.snapshot_signal < NSIG) {
        struct sigaction sa = {.sa_handler = on_snapshot_signal, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(shim_config.snapshot_signal, &sa, &snapshot_signal_before);
    }
}

void api_stop(void)
{
    if (shim_config.snapshot_signal > 0 && shim_config.snapshot_signal < NSIG)
        sigaction(shim_config.snapshot_signal, &snapshot_signal_before, NULL);
    atomic_store(&interval_deadline, 0);
}

/* ---- heapsnap.h -------------------------------------------------------- */

SHIM_EXPORT int heapsnap_shim_is_tracing(void)
{
    return atomic_load(&shim_state) == SHIM_ACTIVE && !atomic_load(&shim_paused);
}

SHIM_EXPORT void heapsnap_shim_snapshot(const char *label)
{
    struct shim_thread *t = &shim_tls;
    if (atomic_load(&shim_state) != SHIM_ACTIVE || t->in_shim) return;
    t->in_shim++;
    marker_write(t, label && *label ? label : "snapshot", shim_ticks());
    t->in_shim--;
}

SHIM_EXPORT void heapsnap_shim_traced_memory(size_t *current, size_t *peak)
{
    struct shim_thread *t = &shim_tls;
    live_flush(t);
    int64_t c = atomic_load(&live_current), p = atomic_load(&live_peak);
    if (current) *current = c > 0 ? (size_t)c : 0;
    if (peak) *peak = p > 0 ? (size_t)p : 0;
}

SHIM_EXPORT void heapsnap_shim_reset_peak(void)
{
    struct shim_thread *t = &shim_tls;
    live_flush(t);
    atomic_fetch_add(&live_epoch, 1);
    atomic_store(&live_peak, atomic_load(&live_current));
    t->live_epoch = atomic_load(&live_epoch);
}

/* ---- leak checks ------------------------------------------------------ */

/* `heapsnap run` does the scan from outside (shim_run.c asks it); the marker
 * names the moment in the trace: TRACE@leak-check:N. */
static _Atomic uint32_t leak_seq;
uintptr_t shim_exit_frame;

uint64_t shim_leak_check_from(uintptr_t stack_from, enum run_request kind)
{
    struct shim_thread *t = &shim_tls;
    if (!shim_config.checks || !spool_header() || getpid() != shim_traced_pid()) return 0;
    lsan_program_ready(); /* its own suppressions judge this check too */
    char label[64];
    snprintf(label, sizeof label, "leak-check:%u", atomic_fetch_add(&leak_seq, 1) + 1);
    if (!t->in_shim) {
        t->in_shim++;
        marker_write(t, label, shim_ticks());
        t->in_shim--;
    }
    uint64_t failing = 0;
    run_ask(kind, stack_from, &failing);
    return failing;
}

/* The caller's stack counts from this frame up: deeper slots (a function
 * that returned just before, our own frames) hold stale pointers that would
 * make a lost block look reachable. __builtin_unwind_init() spills the
 * caller's callee-saved registers, which may hold its live pointers, into this
 * frame, just below the frame address: the window keeps them in the scan. */
SHIM_EXPORT __attribute__((noinline)) void heapsnap_shim_leak_check(void)
{
    __builtin_unwind_init();
    shim_leak_check_from((uintptr_t)__builtin_frame_address(0) - 64, RUN_REQ_LEAK_CHECK);
}

/* ---- LSan's controls ---------------------------------------------------- */

void api_ignore(struct shim_thread *t, uintptr_t p)
{
    if (!emit_prepare(t, 1 + 2 * VARINT_MAX)) return;
    uint8_t *w = t->pos;
    *w++ = REC_IGNORE;
    w = emit_stamp(t, w, shim_ticks());
    w = varint_put_signed(w, (int64_t)(p - ptr_last(t)));
    ptr_hide(t, p);
    emit_commit(t, w);
}

static void api_root(uintptr_t p, size_t len, bool on)
{
    struct shim_thread *t = &shim_tls;
    if (atomic_load(&shim_state) != SHIM_ACTIVE || t->in_shim) return;
    t->in_shim++;
    if (emit_prepare(t, 1 + 4 * VARINT_MAX)) {
        uint8_t *w = t->pos;
        *w++ = REC_ROOT;
        w = emit_stamp(t, w, shim_ticks());
        w = varint_put(w, p);
        w = varint_put(w, len);
        w = varint_put(w, on);
        emit_commit(t, w);
    }
    t->in_shim--;
}

SHIM_EXPORT void heapsnap_shim_ignore(const void *p)
{
    struct shim_thread *t = &shim_tls;
    if (!p || atomic_load(&shim_state) != SHIM_ACTIVE || t->in_shim) return;
    t->in_shim++;
    api_ignore(t, (uintptr_t)p);
    t->in_shim--;
}

SHIM_EXPORT void heapsnap_shim_disable(void) { shim_tls.leak_disabled++; }
SHIM_EXPORT void heapsnap_shim_enable(void)
{
    if (shim_tls.leak_disabled > 0) shim_tls.leak_disabled--;
}
SHIM_EXPORT void heapsnap_shim_register_root(const void *p, size_t len) { api_root((uintptr_t)p, len, true); }
SHIM_EXPORT void heapsnap_shim_unregister_root(const void *p, size_t len) { api_root((uintptr_t)p, len, false); }

SHIM_EXPORT void heapsnap_shim_pause(void) { atomic_store(&shim_paused, true); }
SHIM_EXPORT void heapsnap_shim_resume(void) { atomic_store(&shim_paused, false); }

/* ---- custom allocators ------------------------------------------------ */

static void pool_record(struct shim_thread *t, enum pool_op op, uintptr_t pool, uintptr_t p, size_t size,
                        uint32_t stack)
{
    if (!emit_prepare(t, 1 + 6 * VARINT_MAX)) return;
    uint8_t *w = t->pos;
    *w++ = REC_POOL;
    w = emit_stamp(t, w, shim_ticks());
    w = varint_put(w, op);
    w = varint_put(w, pool);
    w = varint_put_signed(w, (int64_t)(p - ptr_last(t)));
    ptr_hide(t, p);
    w = varint_put(w, size);
    w = varint_put(w, stack);
    emit_commit(t, w);
}

static bool pool_call_begins(struct shim_thread *t)
{
    return !t->in_shim && record_begin(t);
}

SHIM_EXPORT void heapsnap_shim_pool_alloc(const void *pool, const void *p, size_t size)
{
    struct shim_thread *t = &shim_tls;
    /* Paused, new blocks are not recorded: a pool's as malloc's. A kernel
     * address is nobody's object (and a reader could not key it). */
    if (!p || ((uintptr_t)p & POOL_KEY_BIT) || atomic_load(&shim_paused) || !pool_call_begins(t)) return;
    uint32_t stack = stack_capture(t);
    pool_record(t, POOL_ALLOC, (uintptr_t)pool, (uintptr_t)p, size, stack);
    if (t->leak_disabled) api_ignore(t, (uintptr_t)p);
    t->in_shim--;
}

SHIM_EXPORT void heapsnap_shim_pool_free(const void *pool, const void *p)
{
    struct shim_thread *t = &shim_tls;
    if (!p || ((uintptr_t)p & POOL_KEY_BIT) || !pool_call_begins(t)) return;
    pool_record(t, POOL_FREE, (uintptr_t)pool, (uintptr_t)p, 0, 0);
    t->in_shim--;
}

SHIM_EXPORT void heapsnap_shim_pool_destroy(const void *pool)
{
    struct shim_thread *t = &shim_tls;
    if (!pool || !pool_call_begins(t)) return; /* pool 0 holds the malloc-like blocks of no pool */
    pool_record(t, POOL_DESTROY, (uintptr_t)pool, ptr_last(t), 0, 0);
    t->in_shim--;
}
