/* leaks_formats.c - loss records for CI: JUnit XML (one failing testcase per
 * record; GitLab, Jenkins) and SARIF 2.1.0 (GitHub code scanning); docs/LEAKS.md
 * has the shapes. */
#include "fmt.h"
#include "leaks.h"

#include <string.h>

static const char *const rule_ids[4] = {"leak/reachable", "leak/definite", "leak/indirect", "leak/possible"};
static const char *const kind_words[4] = {"still reachable", "definitely lost", "indirectly lost", "possibly lost"};

static void headline(struct strbuf *b, const struct leak_record *r)
{
    sb_printf(b, "%llu bytes in %llu blocks %s", (unsigned long long)(r->bytes + r->indirect_bytes),
              (unsigned long long)r->blocks, kind_words[r->kind]);
}

static void frame_line(struct strbuf *b, const struct sym_frame *f)
{
    sb_puts(b, f->function);
    if (f->file) sb_printf(b, " (%s:%d)", f->file, f->line);
    if (f->module) sb_printf(b, " [%s]", f->module);
}

static bool listed(const struct leak_record *r, unsigned kinds)
{
    return !r->suppressed_by && (kinds & (1u << r->kind));
}

void leaks_print_junit(FILE *out, const struct leak_report *r, unsigned kinds)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) n += listed(&r->records[i], kinds);
    struct strbuf b = {0};
    const char *exe = r->snap.exe ? r->snap.exe : "?";
    sb_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"heapsnap leaks: ");
    fmt_xml_text(&b, exe);
    sb_printf(&b, " (pid %llu)\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"0\">\n",
              (unsigned long long)r->snap.hdr.pid, n ? n : 1, n);
    if (!n) sb_puts(&b, "    <testcase classname=\"heapsnap.leaks\" name=\"no leaks\" time=\"0\"/>\n");
    for (size_t i = 0; i < r->n; i++) {
        const struct leak_record *rec = &r->records[i];
        if (!listed(rec, kinds)) continue;
        struct strbuf name = {0}, stack = {0};
        headline(&name, rec);
        if (rec->nframes) {
            sb_puts(&name, " at ");
            frame_line(&name, &rec->frames[0]);
        }
        for (size_t k = 0; k < rec->nframes; k++) {
            sb_puts(&stack, k ? "\n    by " : "    at ");
            frame_line(&stack, &rec->frames[k]);
        }
        sb_puts(&b, "    <testcase classname=\"heapsnap.leaks\" name=\"");
        fmt_xml_text(&b, name.s);
        sb_puts(&b, "\" time=\"0\">\n      <failure message=\"");
        struct strbuf msg = {0};
        headline(&msg, rec);
        fmt_xml_text(&b, msg.s);
        sb_printf(&b, "\" type=\"%s\">", rule_ids[rec->kind]);
        fmt_xml_text(&b, stack.s);
        sb_puts(&b, "</failure>\n    </testcase>\n");
        sb_free(&name);
        sb_free(&stack);
        sb_free(&msg);
    }
    sb_puts(&b, "  </testsuite>\n</testsuites>\n");
    fwrite(b.s, 1, b.len, out);
    sb_free(&b);
}

/* A fingerprint that survives line shifts: the kind and the frames'
 * functions and modules, hashed (FNV-1a 64). */
static uint64_t fingerprint(const struct leak_record *r)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[3];
    for (size_t k = 0; k <= r->nframes; k++) {
        parts[0] = k == 0 ? rule_ids[r->kind] : r->frames[k - 1].function;
        parts[1] = k == 0 ? "" : r->frames[k - 1].module ? r->frames[k - 1].module : "";
        parts[2] = "\n";
        for (int p = 0; p < 3; p++)
            for (const char *c = parts[p]; *c; c++) h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    }
    return h;
}

/* The file as the repository names it: relative to root when under it. */
static void artifact(struct strbuf *b, const char *file, const char *root)
{
    size_t n = root ? strlen(root) : 0;
    sb_puts(b, "{\"physicalLocation\": {\"artifactLocation\": {\"uri\": ");
    if (n && strncmp(file, root, n) == 0 && file[n] == '/') {
        fmt_json_string(b, file + n + 1);
    } else {
        struct strbuf uri = {0};
        sb_printf(&uri, "file://%s", file);
        fmt_json_string(b, uri.s);
        sb_free(&uri);
    }
}

void leaks_print_sarif(FILE *out, const struct leak_report *r, unsigned kinds, const char *source_root)
{
    static const char *const short_desc[4] = {
        "Heap memory still reachable at exit", "Heap memory definitely lost", "Heap memory indirectly lost",
        "Heap memory possibly lost"};
    static const char *const full_desc[4] = {
        "A block still pointed to by a chain of pointers from a global, a thread's stack or a register when the "
        "process ended.",
        "A block that nothing points to any more: its memory can never be freed.",
        "A block reachable only from definitely lost blocks: it is lost with them.",
        "A block reached only through a pointer into its middle: lost, or kept by a pointer that is not to its "
        "start."};
    struct strbuf b = {0};
    sb_puts(&b, "{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n  \"version\": \"2.1.0\",\n"
                "  \"runs\": [{\n    \"tool\": {\"driver\": {\"name\": \"heapsnap\", \"version\": \"" HEAPSNAP_VERSION
                "\", \"rules\": [");
    for (int k = 0; k < 4; k++) {
        sb_printf(&b, "%s\n      {\"id\": \"%s\", \"shortDescription\": {\"text\": \"%s\"}, \"fullDescription\": "
                      "{\"text\": \"%s\"}, \"help\": {\"text\": \"%s Allocated at the location shown; the full stack "
                      "is in the code flow.\"}, \"defaultConfiguration\": {\"level\": \"%s\"}}",
                  k ? "," : "", rule_ids[k], short_desc[k], full_desc[k], full_desc[k],
                  k == LEAK_POSSIBLE || k == LEAK_REACHABLE ? "warning" : "error");
    }
    sb_puts(&b, "]}},\n    \"results\": [");
    size_t emitted = 0;
    for (size_t i = 0; i < r->n && emitted < 25000; i++) { /* GitHub takes 25,000 results a run */
        const struct leak_record *rec = &r->records[i];
        if (!listed(rec, kinds)) continue;
        const struct sym_frame *where = NULL;
        size_t n = source_root ? strlen(source_root) : 0;
        for (size_t k = 0; k < rec->nframes && !where; k++) /* the first frame in the user's own code */
            if (rec->frames[k].file && n && strncmp(rec->frames[k].file, source_root, n) == 0) where = &rec->frames[k];
        for (size_t k = 0; k < rec->nframes && !where; k++)
            if (rec->frames[k].file) where = &rec->frames[k];
        struct strbuf msg = {0};
        headline(&msg, rec);
        if (rec->nframes) {
            sb_puts(&msg, ", allocated in ");
            sb_puts(&msg, rec->frames[0].function);
        }
        sb_printf(&b, "%s\n      {\"ruleId\": \"%s\", \"level\": \"%s\", \"message\": {\"text\": ", emitted++ ? "," : "",
                  rule_ids[rec->kind], rec->kind == LEAK_POSSIBLE || rec->kind == LEAK_REACHABLE ? "warning" : "error");
        fmt_json_string(&b, msg.s);
        sb_free(&msg);
        sb_puts(&b, "}, \"locations\": [");
        if (where) {
            artifact(&b, where->file, source_root);
            sb_printf(&b, "}, \"region\": {\"startLine\": %d}}}", where->line > 0 ? where->line : 1);
        }
        sb_puts(&b, "], \"codeFlows\": [{\"threadFlows\": [{\"locations\": [");
        size_t shown = 0;
        for (size_t k = 0; k < rec->nframes; k++) {
            const struct sym_frame *f = &rec->frames[k];
            sb_puts(&b, shown++ ? ", {\"location\": " : "{\"location\": ");
            if (f->file) {
                artifact(&b, f->file, source_root);
                sb_printf(&b, "}, \"region\": {\"startLine\": %d}}, \"message\": {\"text\": ", f->line > 0 ? f->line : 1);
            } else {
                sb_puts(&b, "{\"message\": {\"text\": ");
            }
            struct strbuf fl = {0};
            frame_line(&fl, f);
            fmt_json_string(&b, fl.s);
            sb_free(&fl);
            sb_puts(&b, "}}}");
        }
        sb_printf(&b, "]}]}], \"partialFingerprints\": {\"heapsnapStack/v1\": \"%016llx\"}}",
                  (unsigned long long)fingerprint(rec));
    }
    sb_puts(&b, emitted ? "\n    ]\n  }]\n}\n" : "]\n  }]\n}\n");
    fwrite(b.s, 1, b.len, out);
    sb_free(&b);
}
