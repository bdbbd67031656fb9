/* unwind.h - the fast unwinder (HEAPSNAP_UNWIND=fast): a stepper driven by
 * each module's .eh_frame (unwind_cfi.c) and each thread's memory of its
 * last walk (unwind_memo.c). docs/DESIGN.md, "The fast unwinder", has the
 * argument. */
#ifndef HEAPSNAP_UNWIND_H
#define HEAPSNAP_UNWIND_H

#include "shim.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* What stepping needs of a frame on x86_64: CFA rules name rsp or rbp, and
 * rbp is the only callee-saved register a rule may base the CFA on. */
struct cfi_regs {
    uintptr_t ip, sp, bp;
};

enum cfi_step { CFI_STEP_OK, CFI_STEP_END, CFI_STEP_UNSUPPORTED };

/* The rules, found once per return address and kept in one process-wide
 * direct-mapped table of packed 64-bit words: a lookup is one relaxed load,
 * a miss writes one word, so threads share what they learn without a lock
 * and the hot path writes nothing. A packed rule: tag (the ip's bits above
 * the index) in the top 31 bits; below, CFA offset (22 bits), rbp's save
 * slot / 8 relative to the CFA as a signed byte (0: unchanged), CFA from rbp
 * (1 bit), kind (2 bits). */
#define CFI_CACHE_BITS 16
#define CFI_CACHE_SIZE (1u << CFI_CACHE_BITS)
#define RULE_TAG_SHIFT 33
#define RULE_CFA_OFF_MAX ((1u << 22) - 1)
enum cfi_kind { KIND_EMPTY, KIND_OK, KIND_END, KIND_UNSUPPORTED };
extern _Atomic uint64_t cfi_cache[CFI_CACHE_SIZE];
extern _Atomic uint32_t cfi_generation; /* bumped when rules are forgotten (a dlclose) */
uint64_t cfi_rule_find(uintptr_t pc);

static SHIM_HOT uint64_t cfi_rule(uintptr_t pc)
{
    uint32_t idx = (uint32_t)((pc ^ (pc >> CFI_CACHE_BITS)) & (CFI_CACHE_SIZE - 1));
    uint64_t tag = pc >> CFI_CACHE_BITS;
    uint64_t w = atomic_load_explicit(&cfi_cache[idx], memory_order_relaxed);
    if (__builtin_expect((w >> RULE_TAG_SHIFT) == tag && (w & 3) != KIND_EMPTY, 1)) return w;
    w = cfi_rule_find(pc);
    /* User-space addresses fit the tag (47 bits); others are looked up each time. */
    if (tag < (1ull << (64 - RULE_TAG_SHIFT)))
        atomic_store_explicit(&cfi_cache[idx], w | tag << RULE_TAG_SHIFT, memory_order_relaxed);
    return w;
}

/* Steps from the frame r (r->ip a return address into it) to its caller.
 * *ra_slot gets where the caller's ip was read, *bp_slot where its rbp was
 * (0: rbp was not saved, the caller's is the same). Reads only words
 * between r->sp and the stack's end, which the caller bounds with lo/hi (a
 * CFA outside them is UNSUPPORTED). */
static SHIM_HOT enum cfi_step cfi_step(struct cfi_regs *r, uintptr_t lo, uintptr_t hi, uintptr_t *ra_slot,
                                       uintptr_t *bp_slot)
{
    uint64_t w = cfi_rule(r->ip - 1);
    if (__builtin_expect((w & 3) != KIND_OK, 0)) return (w & 3) == KIND_END ? CFI_STEP_END : CFI_STEP_UNSUPPORTED;
    uintptr_t cfa = ((w & 4) ? r->bp : r->sp) + ((w >> 11) & RULE_CFA_OFF_MAX);
    int bp_slot8 = (int8_t)(uint8_t)(w >> 3);
    /* The caller's frame is further out on the same stack, or the rule is
     * not about this stack (an rbp that is no frame pointer). */
    if (cfa <= r->sp || cfa > hi || cfa - 8 < lo || cfa + (intptr_t)bp_slot8 * 8 < lo) return CFI_STEP_UNSUPPORTED;
    *ra_slot = cfa - 8;
    *bp_slot = bp_slot8 ? cfa + (intptr_t)bp_slot8 * 8 : 0;
    if (bp_slot8) r->bp = *(const uintptr_t *)*bp_slot;
    r->ip = *(const uintptr_t *)*ra_slot;
    r->sp = cfa;
    return r->ip == 0 ? CFI_STEP_END : CFI_STEP_OK;
}

/* unwind_memo.c: up to `want` return addresses of the calling thread,
 * innermost first, as unw_backtrace gives them but without our own frames;
 * ips has room for UNWIND_OWN_SLACK more (it may ask libunwind). */
#define UNWIND_OWN_SLACK 8
int memo_backtrace(void **ips, int want);
void memo_init(void);
#endif
