/* suppress.c - see suppress.h. LSan patterns match a frame's function, file
 * or module anywhere in the stack, as a substring unless anchored with ^ or $.
 * Valgrind frame lists match from the innermost frame; heapsnap's stacks start
 * below the allocator, so leading fun: lines naming the malloc family or
 * operator new (as `--gen-suppressions=all` writes them) match no frame. */
#include "suppress.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../trace/trace_format.h"

/* The one-time allocations a clean program still holds at exit, which
 * memcheck and heaptrack report and users hate: thread DTVs (pointed to from
 * the thread control block by dtv+1, an interior pointer), and the loader's
 * own bookkeeping. */
static const char *const builtin[] = {
    "_dl_allocate_tls", "_dl_new_object", "_dl_map_object", "_dl_check_map_versions", "__libc_early_init",
    "_dl_init_paths", "dl_open_worker", "_dlerror_run",
};

static char *dup(const char *s) { return xstrndup(s, strlen(s)); }

static void add_lsan(struct supp_list *l, const char *text, bool is_builtin)
{
    struct supp s = {.name = dup(text), .builtin = is_builtin};
    size_t len = strlen(text);
    const char *colon = strrchr(text, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
        s.file = xstrndup(text, (size_t)(colon - text)); /* file.c:LINE */
        s.line = atoi(colon + 1);
    } else {
        bool head = text[0] == '^', tail = len > 0 && text[len - 1] == '$';
        struct strbuf b = {0};
        if (!head) sb_puts(&b, "*");
        sb_add(&b, text + head, len - head - tail);
        if (!tail) sb_puts(&b, "*");
        s.pattern = b.s;
    }
    l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = s;
}

void supp_add_builtin(struct supp_list *l)
{
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++) {
        char pat[128];
        snprintf(pat, sizeof pat, "^%s$", builtin[i]);
        add_lsan(l, pat, true);
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static unsigned parse_kinds(const char *v)
{
    unsigned k = 0;
    if (strstr(v, "all")) return 0;
    if (strstr(v, "definite")) k |= 1u << LEAK_DEFINITE;
    if (strstr(v, "indirect")) k |= 1u << LEAK_INDIRECT;
    if (strstr(v, "possible")) k |= 1u << LEAK_POSSIBLE;
    if (strstr(v, "reachable")) k |= 1u << LEAK_REACHABLE;
    return k;
}

static int supp_parse(struct supp_list *l, FILE *f, const char *path, char *err, size_t errlen)
{
    char line[4096];
    int lineno = 0;
    struct supp *block = NULL; /* a valgrind block being read */
    int block_line = 0, state = 0; /* 1: name next, 2: tool next, 3: frames */
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *t = trim(line);
        if (!*t || t[0] == '#') continue;
        if (!block && strcmp(t, "{") == 0) {
            l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
            block = &l->v[l->n++];
            *block = (struct supp){.valgrind = true};
            block_line = lineno;
            state = 1;
            continue;
        }
        if (block) {
            if (strcmp(t, "}") == 0) {
                if (state < 3 || !block->nframes) {
                    snprintf(err, errlen, "%s:%d: incomplete suppression block", path, block_line);
                    fclose(f);
                    return -1;
                }
                block = NULL;
            } else if (state == 1) {
                block->name = dup(t);
                state = 2;
            } else if (state == 2) {
                if (strcmp(t, "Memcheck:Leak") != 0) {
                    /* Another kind of memcheck error: not ours, skip the block. */
                    free(block->name);
                    l->n--;
                    block = NULL;
                    int depth = 1;
                    while (depth && fgets(line, sizeof line, f)) {
                        lineno++;
                        if (strcmp(trim(line), "}") == 0) depth--;
                    }
                    continue;
                }
                state = 3;
            } else if (strncmp(t, "match-leak-kinds:", 17) == 0) {
                block->kinds = parse_kinds(t + 17);
            } else if (strncmp(t, "fun:", 4) == 0 || strncmp(t, "obj:", 4) == 0 || strcmp(t, "...") == 0 ||
                       strncmp(t, "src:", 4) == 0) {
                block->frames = xrealloc(block->frames, (block->nframes + 1) * sizeof *block->frames);
                block->frames[block->nframes++] = dup(t);
            } else {
                snprintf(err, errlen, "%s:%d: not a suppression frame: %s", path, lineno, t);
                fclose(f);
                return -1;
            }
            continue;
        }
        if (strncmp(t, "leak:", 5) == 0 && t[5]) {
            add_lsan(l, t + 5, false);
            continue;
        }
        snprintf(err, errlen, "%s:%d: not a suppression (leak:PATTERN or a { ... } block): %s", path, lineno, t);
        fclose(f);
        return -1;
    }
    fclose(f);
    if (block) {
        snprintf(err, errlen, "%s:%d: suppression block not closed", path, block_line);
        return -1;
    }
    return 0;
}

int supp_load(struct supp_list *l, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return supp_parse(l, f, path, err, errlen);
}

int supp_load_text(struct supp_list *l, const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    if (!len) return 0;
    FILE *f = fmemopen((void *)text, len, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
        return -1;
    }
    return supp_parse(l, f, name, err, errlen);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0 && (a == b || s[a - b - 1] == '/');
}

static bool lsan_match(const struct supp *s, const struct sym_frame *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s->file) {
            if (f[i].file && f[i].line == s->line && ends_with(f[i].file, s->file)) return true;
            continue;
        }
        if (fnmatch(s->pattern, f[i].function, 0) == 0) return true;
        if (f[i].file && fnmatch(s->pattern, f[i].file, 0) == 0) return true;
        if (f[i].module && fnmatch(s->pattern, f[i].module, 0) == 0) return true;
    }
    return false;
}

static bool frame_pat(const char *p, const struct sym_frame *f)
{
    if (strncmp(p, "fun:", 4) == 0) return fnmatch(p + 4, f->function, 0) == 0;
    if (strncmp(p, "src:", 4) == 0) { /* src:file.c or src:file.c:LINE */
        if (!f->file) return false;
        char name[1024];
        snprintf(name, sizeof name, "%s", p + 4);
        char *colon = strrchr(name, ':');
        int line = 0;
        if (colon && colon[1]) line = atoi(colon + 1), *colon = 0;
        return ends_with(f->file, name) && (!line || line == f->line);
    }
    /* obj: names the module file; ours keeps the file name only */
    const char *base = strrchr(p + 4, '/');
    return f->module && (fnmatch(p + 4, f->module, 0) == 0 || (base && fnmatch(base + 1, f->module, 0) == 0) ||
                         fnmatch(p + 4, f->module, FNM_PATHNAME) == 0);
}

static bool is_allocator_pat(const char *p)
{
    static const char *const names[] = {"malloc", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign",
                                        "aligned_alloc", "valloc", "pvalloc", "operator new*", "_Zn*"};
    if (strncmp(p, "fun:", 4) != 0) return false;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (fnmatch(names[i], p + 4, 0) == 0) return true;
    return false;
}

static bool vg_match_from(char **pat, size_t np, const struct sym_frame *f, size_t nf)
{
    if (np == 0) return true; /* the listed frames matched; deeper ones do not matter */
    if (strcmp(pat[0], "...") == 0) {
        for (size_t skip = 0; skip <= nf; skip++)
            if (vg_match_from(pat + 1, np - 1, f + skip, nf - skip)) return true;
        return false;
    }
    return nf > 0 && frame_pat(pat[0], &f[0]) && vg_match_from(pat + 1, np - 1, f + 1, nf - 1);
}

static bool vg_match(const struct supp *s, const struct sym_frame *f, size_t n, unsigned kind)
{
    if (s->kinds && !(s->kinds & (1u << kind))) return false;
    size_t lead = 0;
    while (lead < s->nframes && is_allocator_pat(s->frames[lead])) lead++;
    return vg_match_from(s->frames + lead, s->nframes - lead, f, n);
}

struct supp *supp_match(struct supp_list *l, const struct sym_frame *f, size_t n, unsigned kind)
{
    for (size_t i = 0; i < l->n; i++) {
        struct supp *s = &l->v[i];
        if (s->valgrind ? vg_match(s, f, n, kind) : lsan_match(s, f, n)) return s;
    }
    return NULL;
}

void supp_free(struct supp_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        struct supp *s = &l->v[i];
        free(s->name);
        free(s->pattern);
        free(s->file);
        for (size_t k = 0; k < s->nframes; k++) free(s->frames[k]);
        free(s->frames);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}
