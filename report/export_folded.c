/* export_folded.c - folded stacks, flamegraph.pl's input: one line per
 * stack, frames root first separated by ';', then a space and the value.
 * A frame is its function name; the characters the format gives a meaning
 * to (';' between frames, a newline between stacks) are replaced, so a C++
 * name cannot split a stack. */
#include "export.h"

static void folded_name(struct strbuf *b, const char *name)
{
    size_t from = 0, i = 0;
    for (; name[i]; i++) {
        if (name[i] != ';' && name[i] != '\n' && name[i] != '\r') continue;
        sb_add(b, name + from, i - from);
        sb_puts(b, name[i] == ';' ? ":" : " ");
        from = i + 1;
    }
    sb_add(b, name + from, i - from);
}

int export_folded(struct strbuf *out, const struct profile *p, enum profile_value value, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    const struct html_view *v = &p->views[value];
    for (size_t i = 0; i < v->n; i++) {
        const struct html_stack *s = p->doc.stacks[v->rows[i].stack];
        if (!v->rows[i].value) continue;
        if (s->n == 0) sb_puts(out, "[no stack]");
        for (uint32_t k = 0; k < s->n; k++) {
            if (k) sb_puts(out, ";");
            folded_name(out, p->doc.frames[s->frames[k]]->function);
        }
        sb_printf(out, " %llu\n", (unsigned long long)v->rows[i].value);
    }
    return 0;
}
