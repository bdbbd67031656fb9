/* report_text.c - the report people read: totals, then the blocks still live
 * at the end and the blocks live at the peak, grouped by allocation stack,
 * largest first. Exact byte counts are always printed next to the rounded
 * ones: a figure to act on must not be rounded away. */
#include "fmt.h"
#include "report.h"
#include "symbols.h"

void report_end_words(const struct snap *s, char *out, size_t cap)
{
    const struct trace_header *h = &s->hdr;
    switch (h->end_how) {
    case END_EXIT: snprintf(out, cap, "exited with status %d", h->end_code); return;
    case END_EXIT_NOCODE: snprintf(out, cap, "exited normally"); return;
    case END_DETACHED: snprintf(out, cap, "detached (the process ran on)"); return;
    case END_UNDERSCORE_EXIT: snprintf(out, cap, "exited through _exit(%d)", h->end_code); return;
    case END_SIGNAL: snprintf(out, cap, "was killed by %s", fmt_signal_name(h->end_code)); return;
    default:
        if (s->exec_path) snprintf(out, cap, "exec'd %s", s->exec_path);
        else snprintf(out, cap, "ended without a trace of how (killed by SIGKILL, or still running)");
    }
}

static void plural(char *out, size_t cap, uint64_t n, const char *one)
{
    snprintf(out, cap, "%llu %s%s", (unsigned long long)n, one, n == 1 ? "" : "s");
}

static void bytes_words(char *out, size_t cap, uint64_t bytes, uint64_t blocks)
{
    char h[32], b[48];
    fmt_size(h, sizeof h, (double)bytes, false);
    plural(b, sizeof b, blocks, "block");
    if (bytes < 10240) snprintf(out, cap, "%s in %s", h, b);
    else snprintf(out, cap, "%s (%llu bytes) in %s", h, (unsigned long long)bytes, b);
}

static void print_stack(FILE *out, const struct snap *s, const struct snap_stack *st, size_t max_frames)
{
    size_t n;
    const struct sym_frame *f = symbols_stack(s, st, &n);
    size_t shown = max_frames && max_frames < n ? max_frames : n;
    if (n == 0) fprintf(out, "      (no stack recorded)\n");
    for (size_t i = 0; i < shown; i++) {
        fprintf(out, "      %s %s", i == 0 ? "at" : "by", f[i].function);
        if (f[i].file) fprintf(out, " (%s:%d)", f[i].file, f[i].line);
        if (f[i].module) fprintf(out, " [%s]", f[i].module);
        if (f[i].inlined) fprintf(out, " (inlined)");
        fputc('\n', out);
    }
    if (shown < n)
        fprintf(out, "      ... and %zu more frame%s (heapsnap report --max-frames 0 lists them all)\n", n - shown,
                n - shown == 1 ? "" : "s");
}

static void section(FILE *out, const struct snap *s, const struct report_options *o, bool at_peak)
{
    size_t n;
    struct snap_stack **v = snap_sorted(s, at_peak, &n);
    size_t shown = o->top && o->top < n ? o->top : n;
    if (n == 0) {
        free(v);
        return;
    }
    fprintf(out, "\n%s (%zu of %zu allocation stacks):\n",
            at_peak ? "Live at the peak, by allocation stack" : "Still live at the end, by allocation stack", shown,
            n);
    for (size_t i = 0; i < shown; i++) {
        const struct snap_stack *st = v[i];
        int k = at_peak ? 1 : 0;
        char w[128];
        bytes_words(w, sizeof w, st->fig_bytes[k], st->fig_blocks[k]);
        fprintf(out, "  %s, allocated\n", w);
        print_stack(out, s, st, o->max_frames);
    }
    free(v);
}

/* heaptrack's "most calls to allocation functions": where the allocator is
 * called most, freed or not (what to batch or pool). */
static void calls_section(FILE *out, const struct snap *s, const struct report_options *o)
{
    size_t n;
    struct snap_stack **v = snap_sorted_by_calls(s, &n);
    size_t shown = o->top && o->top < n ? o->top : n;
    if (n) fprintf(out, "\nMost allocation calls, by allocation stack (%zu of %zu allocation stacks):\n", shown, n);
    for (size_t i = 0; i < shown; i++) {
        const struct snap_stack *st = v[i];
        char calls[48], size[32];
        plural(calls, sizeof calls, st->fig_calls, "call");
        fmt_size(size, sizeof size, (double)st->fig_bytes_allocated, false);
        fprintf(out, "  %s (%llu temporary), %s allocated\n", calls, (unsigned long long)st->fig_temporary, size);
        print_stack(out, s, st, o->max_frames);
    }
    free(v);
}

void report_text(FILE *out, const struct snap *s, const struct report_options *o)
{
    const char *exe = s->exe && *s->exe ? s->exe : "?";
    const char *slash = strrchr(exe, '/');
    char end[600], dur[32], peak[128], live[128], at[32];
    report_end_words(s, end, sizeof end);
    uint64_t last = s->hdr.end_how != END_UNKNOWN && s->hdr.end_ticks > s->last_ticks ? s->hdr.end_ticks : s->last_ticks;
    fmt_duration(dur, sizeof dur, snap_seconds(s, last));
    fprintf(out, "heapsnap: %s (pid %llu) %s after %s\n", slash ? slash + 1 : exe, (unsigned long long)s->hdr.pid,
            end, dur);
    if (s->cmdline) fprintf(out, "  command:           %s\n", s->cmdline);
    if (o->trace_path) fprintf(out, "  trace:             %s\n", o->trace_path);
    if (s->hdr.sample_rate) {
        char rate[32];
        fmt_size(rate, sizeof rate, (double)s->hdr.sample_rate, false);
        fprintf(out, "  sampled:           1 in %s allocated: calls, blocks and bytes below are estimates\n", rate);
    }
    fprintf(out, "  allocation calls:  %llu (of which realloc %llu)\n", (unsigned long long)s->allocations,
            (unsigned long long)s->reallocs);
    fprintf(out, "  frees:             %llu\n", (unsigned long long)s->frees);
    /* heaptrack's measure: freed before its thread allocated anything else */
    fprintf(out, "  temporary allocs:  %llu (%.1f%% of calls)\n", (unsigned long long)s->temporary,
            s->allocations ? 100.0 * (double)s->temporary / (double)s->allocations : 0.0);
    bytes_words(peak, sizeof peak, s->peak_bytes, s->peak_blocks);
    fmt_duration(at, sizeof at, snap_seconds(s, s->peak_ticks));
    fprintf(out, "  peak heap:         %s, at %s\n", peak, at);
    bytes_words(live, sizeof live, s->cur_bytes, s->cur_blocks);
    fprintf(out, "  still live at end: %s\n", live);
    if (s->mmaps || s->mremaps) { /* the program's own mappings: malloc's are in the heap's figures */
        char now[128], top[128];
        fmt_size(now, sizeof now, (double)s->map_cur_bytes, false);
        fmt_size(top, sizeof top, (double)s->map_peak_bytes, false);
        fmt_duration(at, sizeof at, snap_seconds(s, s->map_peak_ticks));
        fprintf(out, "  mapped at end:     %s in %llu range%s (mmap, mremap, brk by the program itself)\n", now,
                (unsigned long long)s->map_cur_regions, s->map_cur_regions == 1 ? "" : "s");
        fprintf(out, "  peak mapped:       %s, at %s\n", top, at);
    }
    uint64_t rss_ticks, rss = snap_rss_peak(s, &rss_ticks);
    if (rss) {
        char top[32];
        fmt_size(top, sizeof top, (double)rss, false);
        fmt_duration(at, sizeof at, snap_seconds(s, rss_ticks));
        fprintf(out, "  peak RSS sampled:  %s, at %s (%zu samples)\n", top, at, s->nrss);
    }
    if (s->hdr.peak_rss_kib) {
        char rss[32];
        fmt_size(rss, sizeof rss, (double)s->hdr.peak_rss_kib * 1024, false);
        fprintf(out, "  peak RSS:          %s (the process's resident memory at most, heapsnap's own in it)\n", rss);
    }
    if (s->inherited_blocks)
        fprintf(out, "  blocks it had from its parent at fork: %llu\n", (unsigned long long)s->inherited_blocks);
    if (s->hdr.flags & TRACE_F_ATTACHED)
        fprintf(out, "  attached to the running process: blocks it allocated before are not known\n");
    if (s->unmatched_frees)
        fprintf(out, "  frees of blocks allocated before tracing: %llu\n", (unsigned long long)s->unmatched_frees);
    if (s->hdr.lost_events)
        fprintf(out, "  events not recorded: %u\n", s->hdr.lost_events);
    if (s->truncated)
        fprintf(out, "  recording stopped early (the disk was full, or the trace could not grow): figures cover what "
                     "came before\n");
    if (s->hdr.flags & TRACE_F_ALLOCATOR_BEFORE)
        fprintf(out, "  the program's malloc is not heapsnap's (its own, or a library's found first): its "
                     "allocations were not seen\n");
    if (s->hdr.flags & TRACE_F_CUT)
        fprintf(out, "  the trace file is cut short (it ends inside a slot): "
                     "figures cover the records before the cut\n");
    if (s->nmarkers) {
        fprintf(out, "  markers (snapshot points, TRACE@LABEL):\n");
        for (size_t i = 0; i < s->nmarkers; i++) {
            char when[32];
            fmt_duration(when, sizeof when, snap_seconds(s, s->markers[i].ticks));
            fprintf(out, "    %-12s %s\n", when, s->markers[i].label);
        }
    }
    section(out, s, o, false);
    section(out, s, o, true);
    calls_section(out, s, o);
}
