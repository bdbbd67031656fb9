/* unwind_memo.c - the fast unwinder: each thread remembers its last walk and
 * a capture steps only the frames that are new, then checks the rest.
 *
 * A walk is a list of frames (ip, sp, rbp). Stepping from a frame to its
 * caller is a function of the frame's registers (the rule for its ip says
 * which words to read) and of the two words it reads: the return address
 * and, where the rule says so, the saved rbp. So when a new walk meets a
 * frame with the same ip, sp and rbp as a frame of the remembered walk, the
 * remembered frames beyond it are right exactly as long as those words still
 * hold what they held: checking that is two loads per frame, with no rule to
 * look up, where stepping is a rule lookup and dependent loads. Nothing is
 * written to the program's stack and nothing is trusted that was not read
 * again, so the result is always the one a full walk would give.
 *
 * Most code keeps no frame pointer and uses rbp as it likes: a caller's
 * rbp saved by its callee changes from one call to the next (a loop
 * counter, a pointer). The words a walk reads matter only where they feed
 * what the walk does next, so each remembered frame also knows whether the
 * walk from it outward uses its rbp at all (some frame further out bases
 * its CFA on rbp before rbp is reloaded from the stack): where it does
 * not, a saved rbp that changed is not a reason to step again, nor is a
 * different rbp a reason not to match the frame.
 *
 * The remembered walk is kept outermost frame first, so that a capture
 * rewrites only the frames that changed. Only the thread's own stack is
 * walked this way; a capture elsewhere (a coroutine's stack), one the
 * stepper cannot follow (signal frames, code without unwind rules) or one
 * that interrupts another (a signal handler) asks libunwind. */
#include "shim.h"
#include "unwind.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#define MEMO_MAX 1024 /* frames remembered; a capture of more asks libunwind */

/* rbp is kept disguised (XOR SHIM_PTR_MASK): where it is no frame pointer
 * it may hold a heap pointer, and a leak check scanning our memory would
 * call that block reachable. */
struct memo_frame {
    uintptr_t ip, sp, bp_hidden;
    uintptr_t bp_slot; /* where the step to the caller read its rbp; 0: the same rbp */
};
#define HIDE(bp) ((bp) ^ SHIM_PTR_MASK)

/* Our own frames on top of a capture (this function, stack_capture, the
 * wrapper the program called) are the same few frames for each entry point,
 * and their rules name rsp only: so where each one keeps its return address
 * is a fixed offset from this function's sp. Checked like the frames of a
 * walk (the words must hold the same own ips), they cost no step. */
#define OWN_MAX 6
#define OWN_PATHS 4
struct memo_own_path {
    uint32_t n;                    /* own frames; ip[0] is this function's */
    int32_t bp_off;                /* the program's rbp: saved at sp + bp_off, or (-1) untouched */
    uintptr_t ip[OWN_MAX];
    uint32_t slot_off[OWN_MAX];    /* where own frame i keeps its return address, from sp */
};

struct memo {
    uint32_t n;         /* f[0, n): the last walk, outermost first */
    uint32_t outer_end; /* f[0] is the stack's last frame */
    uintptr_t end_slot; /* ... because the return address read here was 0 (0: its rule says it is the last) */
    uint32_t busy;      /* a capture is running: one interrupting it only reads */
    uint32_t own_next;  /* the path to replace next */
    uint32_t generation; /* cfi_generation the walk was made in */
    uintptr_t lo, hi;   /* the thread's own stack */
    uintptr_t other_lo, other_hi; /* the last other stack a capture ran on */
    bool grows;         /* lo moves down as the stack grows (the main thread's) */
    uintptr_t floor;    /* ... but never below this (RLIMIT_STACK) */
    struct memo *next_free;
    struct memo_own_path own[OWN_PATHS];
    struct memo_frame f[MEMO_MAX];
    bool uses_bp[MEMO_MAX]; /* the walk from f[x] outward uses f[x]'s rbp */
    struct memo_frame fresh[MEMO_MAX]; /* this capture's frames, innermost first */
};

static __thread struct memo *memo_current __attribute__((tls_model("initial-exec")));
#define MEMO_DEAD ((struct memo *)1)

static struct memo *memo_free_list;
static atomic_flag memo_free_lock = ATOMIC_FLAG_INIT;
static pthread_key_t memo_key;
static bool memo_key_made;

/* ---- the thread's stack ------------------------------------------------ */

/* The mapping that holds sp (proc_maps.c). Once per thread, and again when
 * the main thread's stack has grown past what we knew. */
static bool stack_bounds(uintptr_t sp, uintptr_t *lo, uintptr_t *hi, bool *grows)
{
    struct maps_range r;
    if (!maps_find(sp, &r)) return false;
    *lo = r.lo, *hi = r.hi, *grows = r.is_main_stack;
    return true;
}

static SHIM_HOT void regs_here(struct cfi_regs *r)
{
    __asm__ volatile("leaq 0(%%rip), %0\n\tmovq %%rsp, %1\n\tmovq %%rbp, %2" : "=r"(r->ip), "=r"(r->sp), "=r"(r->bp));
}

static void memo_thread_ends(void *p)
{
    struct memo *m = p;
    memo_current = MEMO_DEAD; /* destructors after this one walk with libunwind */
    while (atomic_flag_test_and_set_explicit(&memo_free_lock, memory_order_acquire)) {}
    m->next_free = memo_free_list;
    memo_free_list = m;
    atomic_flag_clear_explicit(&memo_free_lock, memory_order_release);
}

SHIM_COLD static struct memo *memo_for_thread(uintptr_t sp)
{
    if (memo_current == MEMO_DEAD || !memo_key_made) return NULL;
    while (atomic_flag_test_and_set_explicit(&memo_free_lock, memory_order_acquire)) {}
    struct memo *m = memo_free_list;
    if (m) memo_free_list = m->next_free;
    atomic_flag_clear_explicit(&memo_free_lock, memory_order_release);
    if (!m) m = arena_alloc(sizeof *m);
    if (!m) {
        memo_current = MEMO_DEAD;
        return NULL;
    }
    m->n = m->outer_end = m->busy = m->own_next = 0;
    memset(m->own, 0, sizeof m->own);
    m->generation = atomic_load(&cfi_generation);
    m->other_lo = m->other_hi = 0;
    struct rlimit rl;
    if (!stack_bounds(sp, &m->lo, &m->hi, &m->grows)) {
        memo_current = MEMO_DEAD;
        return NULL;
    }
    m->floor = m->grows && getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur < m->hi ? m->hi - rl.rlim_cur : 0;
    memo_current = m;
    pthread_setspecific(memo_key, m);
    return m;
}

void memo_init(void) { memo_key_made = pthread_key_create(&memo_key, memo_thread_ends) == 0; }

static SHIM_HOT uintptr_t word(uintptr_t at) { return *(const uintptr_t *)at; }

/* libunwind's walk, without our own frames: ips has room for want +
 * UNWIND_OWN_SLACK. */
static int full_walk(void **ips, int want)
{
    int n = unw_backtrace(ips, want + UNWIND_OWN_SLACK), skip = 0;
    while (skip < n && modules_is_own_ip((uintptr_t)ips[skip])) skip++;
    n -= skip;
    if (n > want) n = want;
    if (n > 0 && skip) memmove(ips, ips + skip, (size_t)n * sizeof *ips);
    return n > 0 ? n : 0;
}

/* From this function's registers to the first frame of the program's:
 * through a remembered path if one holds, else stepped (and remembered). */
static SHIM_HOT bool skip_own_frames(struct memo *m, struct cfi_regs *r)
{
    uintptr_t sp0 = r->sp;
    for (unsigned p = 0; p < OWN_PATHS; p++) {
        const struct memo_own_path *o = &m->own[p];
        if (o->n == 0 || o->ip[0] != r->ip) continue;
        unsigned i = 1;
        while (i < o->n && word(sp0 + o->slot_off[i - 1]) == o->ip[i]) i++;
        if (i < o->n) continue;
        uintptr_t ip = word(sp0 + o->slot_off[o->n - 1]);
        if (modules_is_own_ip(ip)) continue;
        r->ip = ip;
        r->sp = sp0 + o->slot_off[o->n - 1] + 8;
        if (o->bp_off >= 0) r->bp = word(sp0 + (uint32_t)o->bp_off);
        return true;
    }
    struct memo_own_path path = {.bp_off = -1};
    while (modules_is_own_ip(r->ip)) {
        uintptr_t slot, bp_slot;
        if (path.n == OWN_MAX || (cfi_rule(r->ip - 1) & 4)) path.n = OWN_MAX + 1; /* not rememberable */
        else path.ip[path.n] = r->ip;
        if (cfi_step(r, m->lo, m->hi, &slot, &bp_slot) != CFI_STEP_OK) return false;
        if (path.n <= OWN_MAX - 1) {
            path.slot_off[path.n++] = (uint32_t)(slot - sp0);
            if (bp_slot) path.bp_off = (int32_t)(bp_slot - sp0);
        }
    }
    if (path.n >= 1 && path.n <= OWN_MAX) m->own[m->own_next++ % OWN_PATHS] = path;
    return true;
}

/* The new remembered walk: the outer frames found by stepping out (e[0..ne),
 * innermost first), the checked frames f[i..j], the new inner frames
 * (fresh[0..k), innermost first); whether its outermost frame is the stack's
 * end, and where the 0 that said so was read (0: its rule did). */
static void memo_rebuild(struct memo *m, int i, int j, const struct memo_frame *e, int ne, int k, bool end,
                         uintptr_t end_slot)
{
    int kept = j - i + 1;
    /* uses_bp[x] depends on the ips of f[0..x] and on whether f[0] is the
     * end: it holds for the frames that kept their ips and places. Outer
     * frames stepped again mostly come out the same (a caller's rbp
     * changed, not the calls). */
    int from = ne + (kept > 0 ? kept : 0);
    if (ne != i || end != (bool)m->outer_end) {
        from = 0;
    } else {
        for (int x = 0; x < ne; x++)
            if (m->f[x].ip != e[ne - 1 - x].ip) {
                from = x;
                break;
            }
    }
    if (ne != i && kept > 0) memmove(m->f + ne, m->f + i, (size_t)kept * sizeof *m->f);
    for (int x = 0; x < ne; x++) m->f[ne - 1 - x] = e[x];
    for (int x = 0; x < k; x++) m->f[ne + kept + k - 1 - x] = m->fresh[x];
    m->n = (uint32_t)(ne + kept + k);
    m->outer_end = end;
    m->end_slot = end_slot;
    /* Beyond f[0] the walk is unknown unless f[0] is the end: then assume
     * the worst. A frame uses its rbp if its CFA is based on it, or if it
     * leaves rbp as it is for its caller, which uses it. */
    for (uint32_t x = (uint32_t)from; x < m->n; x++) {
        uint64_t w = cfi_rule(m->f[x].ip - 1);
        bool outer_uses = x == 0 ? !end : m->uses_bp[x - 1];
        m->uses_bp[x] = (w & 4) || ((int8_t)(uint8_t)(w >> 3) == 0 && outer_uses);
    }
}

int memo_backtrace(void **ips, int want)
{
    struct cfi_regs r;
    regs_here(&r);
    struct memo *m = memo_current;
    if (unlikely(!m || m == MEMO_DEAD)) {
        m = memo_for_thread(r.sp);
        if (!m) return full_walk(ips, want);
    }
    if (unlikely(m->busy || want > MEMO_MAX / 2 || want <= 0)) return full_walk(ips, want);
    if (unlikely(r.sp < m->lo || r.sp >= m->hi)) {
        /* The main thread's stack grows down; a coroutine's stack is not
         * ours, and not worth reading /proc again while we stay on it. */
        uintptr_t lo, hi;
        bool grows;
        if (!m->grows || r.sp >= m->hi || r.sp < m->floor || (r.sp >= m->other_lo && r.sp < m->other_hi))
            return full_walk(ips, want);
        if (!stack_bounds(r.sp, &lo, &hi, &grows)) return full_walk(ips, want);
        if (hi != m->hi) {
            m->other_lo = lo, m->other_hi = hi;
            return full_walk(ips, want);
        }
        m->lo = lo;
    }
    m->busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    uint32_t gen = atomic_load_explicit(&cfi_generation, memory_order_relaxed);
    if (unlikely(m->generation != gen)) {
        m->n = 0;
        memset(m->own, 0, sizeof m->own);
        m->generation = gen;
    }
    if (!skip_own_frames(m, &r)) goto fallback;

    struct memo_frame *f = m->f, *fresh = m->fresh;
    int j = (int)m->n - 1, k = 0, out = 0;
    uintptr_t slot = 0, bp_slot = 0;
    /* New frames, innermost first, until one is a remembered frame. */
    for (;;) {
        if (k == want) {
            memo_rebuild(m, 0, -1, NULL, 0, k, false, 0);
            goto done;
        }
        while (j >= 0 && f[j].sp < r.sp) j--;
        if (j >= 0 && f[j].sp == r.sp && f[j].ip == r.ip && (!m->uses_bp[j] || f[j].bp_hidden == HIDE(r.bp))) break;
        fresh[k] = (struct memo_frame){r.ip, r.sp, HIDE(r.bp), 0};
        ips[out++] = (void *)r.ip;
        slot = 0; /* stays 0 where the rule, not a word read, ends the walk */
        enum cfi_step st = cfi_step(&r, m->lo, m->hi, &slot, &bp_slot);
        fresh[k++].bp_slot = bp_slot;
        if (st == CFI_STEP_END) {
            memo_rebuild(m, 0, -1, NULL, 0, k, true, slot);
            goto done;
        }
        if (st != CFI_STEP_OK) goto fallback;
    }

    /* f[j] is this frame: the remembered frames beyond it hold while the
     * words their steps read do. */
    int i = j;
    bool broke = false;
    ips[out++] = (void *)f[i].ip;
    while (out < want && i > 0) {
        const struct memo_frame *a = &f[i], *b = &f[i - 1];
        if (word(b->sp - 8) != b->ip || (a->bp_slot && m->uses_bp[i - 1] && HIDE(word(a->bp_slot)) != b->bp_hidden)) {
            broke = true;
            break;
        }
        ips[out++] = (void *)b->ip;
        i--;
    }
    if (out == want && !broke) {
        /* f[0, i) were not needed: kept unchecked, as hints for later. */
        if (j + 1 + k > MEMO_MAX)
            memo_rebuild(m, i, j, NULL, 0, k, false, 0);
        else
            memo_rebuild(m, 0, j, NULL, 0, k, m->outer_end, m->end_slot);
        goto done;
    }
    /* The end too is a word read, where a return address read as 0 ended
     * the walk: a caller may be there now. */
    if (!broke && i == 0 && m->outer_end && (!m->end_slot || word(m->end_slot) == 0)) {
        memo_rebuild(m, 0, j, NULL, 0, k, true, m->end_slot);
        goto done;
    }
    /* Beyond f[i] the stack is not (or no longer) known: step out, from
     * the rbp f[i] has now, read again through the kept frames' save
     * slots. The remembered one went unchecked where no remembered frame
     * beyond used it, but those frames have changed and a new caller may
     * base its CFA on it; the kept frames remember the rbps they have now,
     * as the rebuilt walk may count on them. */
    uintptr_t bp = r.bp;
    f[j].bp_hidden = HIDE(bp);
    for (int x = j; x > i; x--) {
        if (f[x].bp_slot) bp = word(f[x].bp_slot);
        f[x - 1].bp_hidden = HIDE(bp);
    }
    struct memo_frame *outer = fresh + k;
    int ne = 0;
    bool end = false;
    struct cfi_regs q = {f[i].ip, f[i].sp, bp};
    while (out < want) {
        slot = 0;
        enum cfi_step st = cfi_step(&q, m->lo, m->hi, &slot, &bp_slot);
        if (ne == 0) f[i].bp_slot = bp_slot;
        else outer[ne - 1].bp_slot = bp_slot;
        if (st == CFI_STEP_END) {
            end = true;
            break;
        }
        if (st != CFI_STEP_OK) goto fallback;
        outer[ne++] = (struct memo_frame){q.ip, q.sp, HIDE(q.bp), 0};
        ips[out++] = (void *)q.ip;
    }
    memo_rebuild(m, i, j, outer, ne, k, end, end ? slot : 0);

done:
    atomic_signal_fence(memory_order_seq_cst);
    m->busy = 0;
    return out;

fallback:
    m->n = 0;
    atomic_signal_fence(memory_order_seq_cst);
    m->busy = 0;
    return full_walk(ips, want);
}
