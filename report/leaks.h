/* leaks.h - the blocks live at a leak check, by reachability: memcheck's
 * loss records (one per allocation stack and kind), its LEAK SUMMARY, the
 * suppressions that applied, and the gate on them. */
#ifndef HEAPSNAP_LEAKS_H
#define HEAPSNAP_LEAKS_H

#include <stdio.h>

#include "snap.h"
#include "suppress.h"

enum { KIND_SUPPRESSED = 4, KIND_COUNT = 5 };

struct leak_record {
    const struct snap_stack *stack;
    const struct sym_frame *frames;
    size_t nframes;
    unsigned kind; /* enum leak_kind */
    struct supp *suppressed_by;
    uint64_t bytes, blocks, indirect_bytes; /* bytes: direct; indirect: under the definitely lost ones */
};

struct leak_report {
    struct snap snap;
    struct leak_record *records; /* largest first */
    size_t n;
    uint64_t bytes[KIND_COUNT], blocks[KIND_COUNT];
    bool check_failed;
    bool check_off;                 /* the program turned its leak checking off: nothing to judge */
    const char *check_note;         /* why it could not run, or was off (in snap) */
    struct supp_list program_supps; /* the program's own LSan suppressions, tried after the caller's */
};

/* Loads TRACE (its last leak check) or TRACE@leak-check:N; SNAP_NO_CHECK
 * when the trace has none (err says why). Still reachable
 * records are symbolized (and matched against suppressions) only with
 * reachable_details: a summary and a gate never show them, and symbolizing a
 * large program's every stack costs more than the check. */
int leaks_load(struct leak_report *r, const char *source, struct supp_list *supps, bool reachable_details, char *err,
               size_t errlen);
/* The same from a snap already made (moved into the report, s is left
 * empty) and a check's results (leaks: owned by the report), without
 * reading a trace: `heapsnap run`'s verdicts, from what it followed. */
int leaks_of_snap(struct leak_report *r, struct snap *s, const struct snap_leak_check *check, struct snap_leak *leaks,
                  size_t nleaks, struct supp_list *supps);
/* From a whole trace already replayed to its end (s, moved into the report),
 * when its last leak check came after its last event: the check's heap is
 * the one at hand, no second replay. -1 (s untouched) otherwise. */
int leaks_of_replay(struct leak_report *r, struct snap *s, struct supp_list *supps, bool reachable_details);
void leaks_free(struct leak_report *r);

/* The program's own LSan suppressions recorded in s (REC_SUPPRESSIONS),
 * appended to l; one line on stderr for text that does not parse. */
void leaks_program_suppressions(const struct snap *s, struct supp_list *l);
/* The summary of a check on a heap that goes on changing (a process still
 * running: a check it asked for), per kind after suppressions (the caller's,
 * then the program's), without taking the snap over or counting the
 * suppressions used. classes: the check's lost blocks, sorted here. */
void leaks_summarize(struct snap *s, struct snap_leak *classes, size_t n, struct supp_list *supps,
                     uint64_t bytes[KIND_COUNT], uint64_t blocks[KIND_COUNT]);

/* kinds: a bit per enum leak_kind. "definite,indirect" etc.; false if unknown. */
bool leaks_parse_kinds(const char *text, unsigned *kinds);
/* Unsuppressed bytes, and blocks, of these kinds. */
uint64_t leaks_bytes_of(const struct leak_report *r, unsigned kinds);
uint64_t leaks_blocks_of(const struct leak_report *r, unsigned kinds);

void leaks_print_text(FILE *out, const struct leak_report *r, unsigned show_kinds);
/* LSan's "Suppressions used" table (nothing when none matched): the
 * caller's, then the program's own. */
void leaks_print_suppressions_used(FILE *out, const struct leak_report *r, const struct supp_list *supps);
void leaks_print_summary(FILE *out, const struct leak_report *r);
void leaks_print_json(FILE *out, const struct leak_report *r, unsigned show_kinds, const struct supp_list *supps);
void leaks_print_suppressions(FILE *out, const struct leak_report *r, unsigned show_kinds);
/* leaks_formats.c */
void leaks_print_junit(FILE *out, const struct leak_report *r, unsigned show_kinds);
void leaks_print_sarif(FILE *out, const struct leak_report *r, unsigned show_kinds, const char *source_root);

#endif
