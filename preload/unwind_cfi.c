/* unwind_cfi.c - steps one frame with the rules of the module's .eh_frame,
 * the way the compiler wrote them, for the fast unwinder.
 *
 * A rule is what it takes to go from a frame to its caller on x86_64: the
 * CFA is rsp or rbp plus an offset, the return address sits just below the
 * CFA, and rbp is either untouched or saved at a fixed offset from the CFA.
 * That covers compiled code; anything else (CFA or register expressions,
 * signal frames, return addresses kept elsewhere) is UNSUPPORTED and the
 * capture falls back to libunwind, which knows every case.
 *
 * This file finds a rule on a miss of the table that keeps them (unwind.h):
 * the module's .eh_frame_hdr comes from _dl_find_object, which takes no lock
 * (docs/DESIGN.md, "Locks"), then its FDE and CIE programs are run up to the
 * address. */
#include "shim.h"
#include "unwind.h"

#include <dlfcn.h>
#include <string.h>

_Atomic uint64_t cfi_cache[CFI_CACHE_SIZE];
_Atomic uint32_t cfi_generation;

/* A module unloaded leaves its addresses to the next one mapped there, whose
 * code has other rules: after a dlclose every rule is found again, and every
 * thread's remembered walk is dropped (it sees the generation change). No
 * frame of the unloaded module can be on a stack still in use. */
SHIM_EXPORT int dlclose(void *handle)
{
    static int (*real)(void *);
    if (!real) real = (__typeof__(real))shim_next("dlclose");
    int rc = real(handle);
    if (rc == 0) {
        atomic_fetch_add_explicit(&cfi_generation, 1, memory_order_relaxed);
        for (size_t i = 0; i < CFI_CACHE_SIZE; i++) atomic_store_explicit(&cfi_cache[i], 0, memory_order_relaxed);
    }
    return rc;
}

static uint64_t rule_pack(enum cfi_kind kind, bool cfa_rbp, int bp_slot8, uint32_t cfa_off)
{
    return (uint64_t)kind | (uint64_t)cfa_rbp << 2 | (uint64_t)(uint8_t)(int8_t)bp_slot8 << 3 | (uint64_t)cfa_off << 11;
}

/* ---- reading .eh_frame --------------------------------------------------- */

enum {
    DW_EH_PE_absptr = 0x00, DW_EH_PE_uleb128 = 0x01, DW_EH_PE_udata2 = 0x02, DW_EH_PE_udata4 = 0x03,
    DW_EH_PE_udata8 = 0x04, DW_EH_PE_sleb128 = 0x09, DW_EH_PE_sdata2 = 0x0a, DW_EH_PE_sdata4 = 0x0b,
    DW_EH_PE_sdata8 = 0x0c, DW_EH_PE_pcrel = 0x10, DW_EH_PE_datarel = 0x30, DW_EH_PE_indirect = 0x80,
    DW_EH_PE_omit = 0xff
};

struct cfi_cursor {
    const uint8_t *p, *end;
    bool bad;
};

static uint64_t read_uleb(struct cfi_cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; c->p < c->end; shift += 7) {
        uint8_t b = *c->p++;
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    c->bad = true;
    return 0;
}

static int64_t read_sleb(struct cfi_cursor *c)
{
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t b = 0;
    do {
        if (c->p >= c->end) {
            c->bad = true;
            return 0;
        }
        b = *c->p++;
        if (shift < 64) v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= -((int64_t)1 << shift);
    return v;
}

static uint64_t read_fixed(struct cfi_cursor *c, unsigned n)
{
    if ((size_t)(c->end - c->p) < n) {
        c->bad = true;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n); /* x86_64 is little-endian, as the data is */
    c->p += n;
    return v;
}

/* A pointer in one of the DW_EH_PE encodings. datarel is relative to
 * .eh_frame_hdr, the only place it is used here. */
static uintptr_t read_encoded(struct cfi_cursor *c, uint8_t enc, uintptr_t datarel_base)
{
    if (enc == DW_EH_PE_omit) return 0;
    uintptr_t at = (uintptr_t)c->p, v;
    switch (enc & 0x0f) {
    case DW_EH_PE_absptr: v = read_fixed(c, 8); break;
    case DW_EH_PE_uleb128: v = read_uleb(c); break;
    case DW_EH_PE_udata2: v = read_fixed(c, 2); break;
    case DW_EH_PE_udata4: v = read_fixed(c, 4); break;
    case DW_EH_PE_udata8: v = read_fixed(c, 8); break;
    case DW_EH_PE_sleb128: v = (uintptr_t)read_sleb(c); break;
    case DW_EH_PE_sdata2: v = (uintptr_t)(int64_t)(int16_t)read_fixed(c, 2); break;
    case DW_EH_PE_sdata4: v = (uintptr_t)(int64_t)(int32_t)read_fixed(c, 4); break;
    case DW_EH_PE_sdata8: v = read_fixed(c, 8); break;
    default: c->bad = true; return 0;
    }
    switch (enc & 0x70) {
    case 0: break;
    case DW_EH_PE_pcrel: v += at; break;
    case DW_EH_PE_datarel: v += datarel_base; break;
    default: c->bad = true; return 0;
    }
    if (enc & DW_EH_PE_indirect) c->bad = true; /* not in code we can step */
    return v;
}

/* ---- running the CFA program ------------------------------------------- */

enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };
enum rule_how { HOW_SAME, HOW_OFFSET, HOW_UNDEFINED, HOW_OTHER };

struct cfi_row {
    unsigned cfa_reg;
    int64_t cfa_off;
    bool cfa_expr;
    enum rule_how bp_how, ra_how;
    int64_t bp_off, ra_off;
};

struct cie_facts {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc;
    bool has_z, signal_frame;
    const uint8_t *insns, *insns_end;
};

static bool cie_parse(const uint8_t *cie, struct cie_facts *f)
{
    struct cfi_cursor c = {cie, cie + 4, false};
    uint64_t len = read_fixed(&c, 4);
    if (len == 0 || len == 0xffffffffu) return false; /* 64-bit .eh_frame: not from gcc or clang */
    c.end = cie + 4 + len;
    if (read_fixed(&c, 4) != 0) return false; /* not a CIE */
    uint8_t version = (uint8_t)read_fixed(&c, 1);
    const char *aug = (const char *)c.p;
    size_t aug_len = strnlen(aug, (size_t)(c.end - c.p));
    c.p += aug_len + 1;
    f->code_align = read_uleb(&c);
    f->data_align = read_sleb(&c);
    uint64_t ra = version == 1 ? read_fixed(&c, 1) : read_uleb(&c);
    if (c.bad || (version != 1 && version != 3) || ra != REG_RA) return false;
    f->fde_enc = DW_EH_PE_absptr;
    f->has_z = aug[0] == 'z';
    f->signal_frame = false;
    const uint8_t *after_aug = NULL;
    if (f->has_z) {
        uint64_t n = read_uleb(&c);
        after_aug = c.p + n;
    }
    for (size_t i = f->has_z ? 1 : 0; i < aug_len; i++) {
        switch (aug[i]) {
        case 'R': f->fde_enc = (uint8_t)read_fixed(&c, 1); break;
        case 'P': {
            uint8_t enc = (uint8_t)read_fixed(&c, 1);
            read_encoded(&c, enc & 0x7f, 0); /* the personality routine: not needed to step */
            c.bad = false;
            break;
        }
        case 'L': read_fixed(&c, 1); break;
        case 'S': f->signal_frame = true; break;
        default: if (!f->has_z) return false; /* unknown, and no length to skip it by */
        }
    }
    if (after_aug) c.p = after_aug;
    if (c.bad || c.p > c.end) return false;
    f->insns = c.p;
    f->insns_end = c.end;
    return true;
}

#define CFI_REMEMBER_MAX 8

/* Runs one CFA program up to (not past) pc; false on what we do not handle. */
static bool cfi_run(struct cfi_row *row, const struct cfi_row *initial, const struct cie_facts *cie,
                    const uint8_t *p, const uint8_t *end, uintptr_t loc, uintptr_t pc)
{
    struct cfi_row saved[CFI_REMEMBER_MAX];
    unsigned nsaved = 0;
    struct cfi_cursor c = {p, end, false};
    while (c.p < c.end && !c.bad) {
        uint8_t op = *c.p++;
        uint64_t reg = 0, delta = 0;
        int64_t off = 0;
        switch (op >> 6) {
        case 1: delta = op & 0x3f; goto advance;
        case 2:
            reg = op & 0x3f;
            off = (int64_t)read_uleb(&c) * cie->data_align;
            goto set_offset;
        case 3:
            reg = op & 0x3f;
            goto restore;
        }
        switch (op) {
        case 0x00: continue; /* nop */
        case 0x02: delta = read_fixed(&c, 1); goto advance;
        case 0x03: delta = read_fixed(&c, 2); goto advance;
        case 0x04: delta = read_fixed(&c, 4); goto advance;
        case 0x05: reg = read_uleb(&c); off = (int64_t)read_uleb(&c) * cie->data_align; goto set_offset;
        case 0x11: reg = read_uleb(&c); off = read_sleb(&c) * cie->data_align; goto set_offset;
        case 0x06: reg = read_uleb(&c); goto restore;
        case 0x07: /* undefined */
            reg = read_uleb(&c);
            if (reg == REG_RBP) row->bp_how = HOW_UNDEFINED;
            if (reg == REG_RA) row->ra_how = HOW_UNDEFINED;
            continue;
        case 0x08: /* same value */
            reg = read_uleb(&c);
            if (reg == REG_RBP) row->bp_how = HOW_SAME;
            if (reg == REG_RA) row->ra_how = HOW_OTHER;
            continue;
        case 0x09: /* register */
            reg = read_uleb(&c);
            read_uleb(&c);
            if (reg == REG_RBP) row->bp_how = HOW_OTHER;
            if (reg == REG_RA) row->ra_how = HOW_OTHER;
            continue;
        case 0x0a:
            if (nsaved == CFI_REMEMBER_MAX) return false;
            saved[nsaved++] = *row;
            continue;
        case 0x0b:
            if (nsaved == 0) return false;
            *row = saved[--nsaved];
            continue;
        case 0x0c: row->cfa_reg = (unsigned)read_uleb(&c); row->cfa_off = (int64_t)read_uleb(&c); row->cfa_expr = false; continue;
        case 0x12: row->cfa_reg = (unsigned)read_uleb(&c); row->cfa_off = read_sleb(&c) * cie->data_align; row->cfa_expr = false; continue;
        case 0x0d: row->cfa_reg = (unsigned)read_uleb(&c); continue;
        case 0x0e: row->cfa_off = (int64_t)read_uleb(&c); continue;
        case 0x13: row->cfa_off = read_sleb(&c) * cie->data_align; continue;
        case 0x0f: /* def_cfa_expression */
            c.p += read_uleb(&c);
            row->cfa_expr = true;
            continue;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = read_uleb(&c);
            c.p += read_uleb(&c);
            if (reg == REG_RBP) row->bp_how = HOW_OTHER;
            if (reg == REG_RA) row->ra_how = HOW_OTHER;
            continue;
        case 0x14: case 0x15: /* val_offset */
            reg = read_uleb(&c);
            if (op == 0x14) read_uleb(&c);
            else read_sleb(&c);
            if (reg == REG_RBP) row->bp_how = HOW_OTHER;
            if (reg == REG_RA) row->ra_how = HOW_OTHER;
            continue;
        case 0x2e: read_uleb(&c); continue; /* GNU_args_size: a landing pad's business */
        default: return false;
        }
    advance:
        loc += delta * cie->code_align;
        if (loc > pc) return !c.bad;
        continue;
    set_offset:
        if (reg == REG_RBP) row->bp_how = HOW_OFFSET, row->bp_off = off;
        if (reg == REG_RA) row->ra_how = HOW_OFFSET, row->ra_off = off;
        continue;
    restore:
        if (!initial) return false; /* restore inside the CIE's own program */
        if (reg == REG_RBP) row->bp_how = initial->bp_how, row->bp_off = initial->bp_off;
        if (reg == REG_RA) row->ra_how = initial->ra_how, row->ra_off = initial->ra_off;
        continue;
    }
    return !c.bad;
}

/* The FDE for pc through .eh_frame_hdr's sorted table. */
static const uint8_t *fde_find(const uint8_t *hdr, uintptr_t pc)
{
    if (hdr[0] != 1 || hdr[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4)) return NULL;
    struct cfi_cursor c = {hdr + 4, hdr + 4 + 16, false};
    read_encoded(&c, hdr[1], (uintptr_t)hdr); /* .eh_frame itself: the table points into it */
    uint64_t count = read_encoded(&c, hdr[2], (uintptr_t)hdr);
    if (c.bad || count == 0) return NULL;
    const int32_t *table = (const int32_t *)c.p;
    uint64_t lo = 0, hi = count;
    intptr_t rel = (intptr_t)(pc - (uintptr_t)hdr);
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (table[2 * mid] <= rel) lo = mid;
        else hi = mid;
    }
    if (table[2 * lo] > rel) return NULL;
    return hdr + table[2 * lo + 1];
}

/* The rule for the code at pc (a return address minus one), packed. */
SHIM_COLD uint64_t cfi_rule_find(uintptr_t pc)
{
    struct dl_find_object dlfo;
    if (_dl_find_object((void *)pc, &dlfo) != 0 || !dlfo.dlfo_eh_frame) return rule_pack(KIND_UNSUPPORTED, 0, 0, 0);
    const uint8_t *fde = fde_find(dlfo.dlfo_eh_frame, pc);
    if (!fde) return rule_pack(KIND_UNSUPPORTED, 0, 0, 0);
    struct cfi_cursor c = {fde, fde + 8, false};
    uint64_t len = read_fixed(&c, 4);
    if (len == 0 || len == 0xffffffffu) return rule_pack(KIND_UNSUPPORTED, 0, 0, 0);
    c.end = fde + 4 + len;
    uint32_t cie_off = (uint32_t)read_fixed(&c, 4);
    struct cie_facts cie;
    if (cie_off == 0 || !cie_parse(fde + 4 - cie_off, &cie) || cie.signal_frame) return rule_pack(KIND_UNSUPPORTED, 0, 0, 0);
    uintptr_t begin = read_encoded(&c, cie.fde_enc, 0);
    uintptr_t range = read_encoded(&c, cie.fde_enc & 0x0f, 0);
    if (cie.has_z) c.p += read_uleb(&c);
    if (c.bad || pc < begin || pc - begin >= range) return rule_pack(KIND_UNSUPPORTED, 0, 0, 0);

    struct cfi_row row = {.cfa_reg = REG_RSP, .cfa_off = 8, .bp_how = HOW_SAME, .ra_how = HOW_OFFSET, .ra_off = -8};
    if (!cfi_run(&row, NULL, &cie, cie.insns, cie.insns_end, begin, pc)) return rule_pack(KIND_UNSUPPORTED, 0, 0, 0);
    struct cfi_row initial = row;
    if (!cfi_run(&row, &initial, &cie, c.p, c.end, begin, pc)) return rule_pack(KIND_UNSUPPORTED, 0, 0, 0);

    if (row.ra_how == HOW_UNDEFINED) return rule_pack(KIND_END, 0, 0, 0);
    if (row.cfa_expr || (row.cfa_reg != REG_RSP && row.cfa_reg != REG_RBP) || row.cfa_off < 8 ||
        row.cfa_off > RULE_CFA_OFF_MAX || row.ra_how != HOW_OFFSET || row.ra_off != -8 ||
        (row.bp_how != HOW_SAME && row.bp_how != HOW_OFFSET) ||
        (row.bp_how == HOW_OFFSET && (row.bp_off % 8 != 0 || row.bp_off >= 0 || row.bp_off < -127 * 8)))
        return rule_pack(KIND_UNSUPPORTED, 0, 0, 0);
    return rule_pack(KIND_OK, row.cfa_reg == REG_RBP, row.bp_how == HOW_OFFSET ? (int)(row.bp_off / 8) : 0,
                     (uint32_t)row.cfa_off);
}

