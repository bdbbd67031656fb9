/* export_pprof.c - pprof's profile.proto (report/profile.proto, google/pprof's
 * own), built with protobuf-c and gzipped with zlib. One Sample per kept stack
 * with alloc_objects, alloc_space, inuse_objects and inuse_space; one Location
 * per return address, its inline chain as Lines innermost first; one Mapping
 * per module a location is in, with the module's range, file and build ID, so
 * that pprof can name a stripped module's addresses from its unstripped build
 * found elsewhere. What each field holds: docs/EXPORTS.md, "pprof". */
#include "export.h"
#include "profile.pb-c.h"

#include <assert.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum { SAMPLE_ALLOC_OBJECTS, SAMPLE_ALLOC_SPACE, SAMPLE_INUSE_OBJECTS, SAMPLE_INUSE_SPACE, SAMPLE_TYPES };

static const char *const sample_type_names[SAMPLE_TYPES][2] = {
    {"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"}, {"inuse_space", "bytes"}};

struct pp_string {
    char *s;
    int64_t index;
    UT_hash_handle hh;
};

/* Functions and locations are found by a key of their own fields, so that
 * equal ones are written once whatever stack meets them first. */
struct pp_entry {
    void *key;
    size_t keylen;
    uint64_t id;
    UT_hash_handle hh;
};

struct pp_mapping {
    const struct snap_module *module;
    size_t index;
    UT_hash_handle hh;
};

struct pprof_builder {
    const struct snap *snap; /* NULL for a snapshot file: no addresses, no modules */
    struct pp_string *strings_by_text;
    char **strings;
    size_t nstrings, strings_cap;
    struct pp_entry *functions_by_key, *locations_by_key;
    Perftools__Profiles__Function **functions;
    size_t nfunctions, functions_cap;
    Perftools__Profiles__Location **locations;
    size_t *location_mapping; /* per location: its mapping's index + 1, 0 for none */
    size_t nlocations, locations_cap, location_mapping_cap;
    struct pp_mapping *mappings_by_module;
    Perftools__Profiles__Mapping **mappings;
    size_t nmappings, mappings_cap;
    Perftools__Profiles__Sample **samples;
    size_t nsamples, samples_cap;
    Perftools__Profiles__Label *labels[2];
    size_t nlabels;
    uint64_t *key; /* scratch: a location's key */
    size_t key_cap;
};

static int64_t pp_string(struct pprof_builder *b, const char *s)
{
    if (!s) s = "";
    struct pp_string *e;
    HASH_FIND(hh, b->strings_by_text, s, strlen(s), e);
    if (e) return e->index;
    e = xcalloc(1, sizeof *e);
    e->s = xstrndup(s, strlen(s));
    e->index = (int64_t)b->nstrings;
    b->strings = xgrow_zeroed(b->strings, &b->strings_cap, b->nstrings, sizeof *b->strings);
    b->strings[b->nstrings++] = e->s;
    HASH_ADD_KEYPTR(hh, b->strings_by_text, e->s, strlen(e->s), e);
    return e->index;
}

static uint64_t pp_function(struct pprof_builder *b, const char *name, const char *file)
{
    struct strbuf key = {0};
    sb_puts(&key, name);
    sb_add(&key, "", 1);
    sb_puts(&key, file ? file : "");
    struct pp_entry *e;
    HASH_FIND(hh, b->functions_by_key, key.s, key.len, e);
    if (e) {
        sb_free(&key);
        return e->id;
    }
    Perftools__Profiles__Function *f = xmalloc(sizeof *f);
    perftools__profiles__function__init(f);
    f->id = b->nfunctions + 1;
    f->name = pp_string(b, name);
    /* symbols.c keeps only the demangled name: the one it has is the system's too */
    f->system_name = f->name;
    f->filename = pp_string(b, file);
    f->start_line = 0; /* the function's first line is not among what symbols.c gives */
    b->functions = xgrow_zeroed(b->functions, &b->functions_cap, b->nfunctions, sizeof *b->functions);
    b->functions[b->nfunctions++] = f;
    e = xcalloc(1, sizeof *e);
    e->key = key.s;
    e->keylen = key.len;
    e->id = f->id;
    HASH_ADD_KEYPTR(hh, b->functions_by_key, e->key, e->keylen, e);
    return e->id;
}

/* pprof reads a mapping as a line of /proc/PID/maps: memory_start lies at
 * file_offset in the file. A module's range starts at its lowest PT_LOAD
 * segment (lo = bias + p_vaddr), so the offset is that segment's p_offset.
 * It is read from the module's file when that is still there and has the
 * segment; otherwise 0, where the linkers put the lowest segment (it holds
 * the ELF header, which the shim reads at the start of the module). */
static uint64_t module_file_offset(const struct snap_module *m)
{
    int fd = m->path ? open(m->path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) return 0;
    uint64_t offset = 0;
    elf_version(EV_CURRENT);
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    size_t n;
    if (e && elf_kind(e) == ELF_K_ELF && elf_getphdrnum(e, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            GElf_Phdr ph;
            if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD || ph.p_vaddr != m->lo - m->bias) continue;
            offset = ph.p_offset;
            break;
        }
    }
    if (e) elf_end(e);
    close(fd);
    return offset;
}

/* The mapping's index + 1. */
static size_t pp_mapping(struct pprof_builder *b, const struct snap_module *m)
{
    struct pp_mapping *e;
    HASH_FIND_PTR(b->mappings_by_module, &m, e);
    if (e) return e->index + 1;
    Perftools__Profiles__Mapping *msg = xmalloc(sizeof *msg);
    perftools__profiles__mapping__init(msg);
    msg->memory_start = m->lo;
    /* to the end of its last page, as /proc/PID/maps has it: pprof takes an
     * unaligned range for a kernel's and looks for _stext */
    msg->memory_limit = (m->hi + 4095) & ~(uint64_t)4095;
    msg->file_offset = module_file_offset(m);
    msg->filename = pp_string(b, m->path);
    char hex[2 * sizeof m->build_id + 1];
    assert(m->build_id_len <= sizeof m->build_id);
    for (size_t i = 0; i < m->build_id_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", m->build_id[i]);
    hex[2 * m->build_id_len] = 0;
    msg->build_id = pp_string(b, hex);
    /* until an address without a symbol is met: while it is set, pprof does
     * not look for the module to name again what symbols.c named */
    msg->has_functions = true;
    b->mappings = xgrow_zeroed(b->mappings, &b->mappings_cap, b->nmappings, sizeof *b->mappings);
    b->mappings[b->nmappings] = msg;
    e = xcalloc(1, sizeof *e);
    e->module = m;
    e->index = b->nmappings++;
    HASH_ADD_PTR(b->mappings_by_module, module, e);
    return e->index + 1;
}

/* Whether symbols.c found nothing for this address and named it
 * "module+0xOFFSET" (from the module's bias): a stripped module. */
static bool unsymbolized(const struct sym_frame *f, size_t n, const struct snap_module *m)
{
    if (!m || n != 1 || f->file || !f->module) return false;
    char name[600];
    snprintf(name, sizeof name, "%s+0x%llx", f->module, (unsigned long long)(f->ip - m->bias));
    return strcmp(name, f->function) == 0;
}

/* The location of one return address: frames f[0..n) are its inline chain,
 * innermost first (all but the last inlined into the next). A snapshot file's
 * frames have no address: each is a location of its own, at address 0. */
static uint64_t pp_location(struct pprof_builder *b, const struct sym_frame *f, size_t n, uint64_t when)
{
    uint64_t ip = f[0].ip;
    const struct snap_module *m = b->snap && ip ? snap_module_for(b->snap, ip, when) : NULL;
    size_t mapping = m ? pp_mapping(b, m) : 0;
    /* An address with no symbol keeps its module+offset name, and its
     * mapping says it lacks functions: pprof then symbolizes it again from a
     * copy of the module with the same build ID where it finds one (the
     * unstripped build, PPROF_BINARY_PATH), and shows the name otherwise. */
    if (unsymbolized(f, n, m)) b->mappings[mapping - 1]->has_functions = false;
    size_t keylen = 2 + 2 * n;
    b->key = xgrow_zeroed(b->key, &b->key_cap, keylen - 1, sizeof *b->key);
    b->key[0] = mapping;
    b->key[1] = ip;
    for (size_t i = 0; i < n; i++) {
        b->key[2 + 2 * i] = pp_function(b, f[i].function, f[i].file);
        b->key[3 + 2 * i] = (uint64_t)f[i].line;
    }
    struct pp_entry *e;
    HASH_FIND(hh, b->locations_by_key, b->key, keylen * sizeof *b->key, e);
    if (e) return e->id;
    Perftools__Profiles__Location *loc = xmalloc(sizeof *loc);
    perftools__profiles__location__init(loc);
    loc->id = b->nlocations + 1;
    loc->address = ip;
    loc->n_line = n;
    loc->line = xmalloc(n * sizeof *loc->line);
    for (size_t i = 0; i < n; i++) {
        loc->line[i] = xmalloc(sizeof *loc->line[i]);
        perftools__profiles__line__init(loc->line[i]);
        loc->line[i]->function_id = b->key[2 + 2 * i];
        loc->line[i]->line = f[i].line;
    }
    if (mapping) {
        Perftools__Profiles__Mapping *msg = b->mappings[mapping - 1];
        for (size_t i = 0; i < n; i++) {
            msg->has_filenames |= f[i].file != NULL;
            msg->has_line_numbers |= f[i].line > 0;
        }
        /* lines come from DWARF, whose inlined scopes symbols.c expands */
        msg->has_inline_frames = msg->has_line_numbers;
    }
    b->locations = xgrow_zeroed(b->locations, &b->locations_cap, b->nlocations, sizeof *b->locations);
    b->location_mapping =
        xgrow_zeroed(b->location_mapping, &b->location_mapping_cap, b->nlocations, sizeof *b->location_mapping);
    b->location_mapping[b->nlocations] = mapping;
    b->locations[b->nlocations++] = loc;
    e = xcalloc(1, sizeof *e);
    e->keylen = keylen * sizeof *b->key;
    e->key = xmalloc(e->keylen);
    memcpy(e->key, b->key, e->keylen);
    e->id = loc->id;
    HASH_ADD_KEYPTR(hh, b->locations_by_key, e->key, e->keylen, e);
    return e->id;
}

/* frames innermost first, as symbols_stack() gives them; when is the time
 * the stack was met, which picks the module an address was in. The stack
 * starts at its call site: the wrappers above it allocated for it, and
 * pprof then gives each function the bytes `heapsnap stats` gives it (as
 * pprof's own heap profiles leave malloc out). */
static void pp_sample(struct pprof_builder *b, const struct sym_frame *frames, size_t n, uint64_t when,
                      const int64_t values[SAMPLE_TYPES])
{
    const struct symsnap_trace t = {.frames = frames, .nframes = n};
    const struct stats_options none = {0};
    size_t site = stats_call_site(&none, &t); /* where `heapsnap stats` counts the bytes */
    frames += site;
    n -= site;
    Perftools__Profiles__Sample *s = xmalloc(sizeof *s);
    perftools__profiles__sample__init(s);
    s->location_id = xmalloc((n ? n : 1) * sizeof *s->location_id);
    for (size_t i = 0; i < n;) {
        size_t chain = 1;
        while (i + chain < n && frames[i + chain - 1].inlined && frames[i + chain].ip == frames[i].ip)
            chain++;
        s->location_id[s->n_location_id++] = pp_location(b, frames + i, chain, when);
        i += chain;
    }
    s->n_value = SAMPLE_TYPES;
    s->value = xmalloc(SAMPLE_TYPES * sizeof *s->value);
    memcpy(s->value, values, SAMPLE_TYPES * sizeof *s->value);
    s->n_label = b->nlabels;
    s->label = b->labels; /* shared by every sample: packing only reads them */
    b->samples = xgrow_zeroed(b->samples, &b->samples_cap, b->nsamples, sizeof *b->samples);
    b->samples[b->nsamples++] = s;
}

static uint64_t stack_time(const struct symsnap_trace *t) { return t->stack ? t->stack->seen_ticks : 0; }

static void add_samples(struct pprof_builder *b, const struct profile *p)
{
    for (size_t i = 0; i < p->ss.ntraces; i++) {
        const struct symsnap_trace *t = &p->ss.traces[i];
        if (p->stack_of[i] == UINT32_MAX) continue; /* left out by the filters */
        const int64_t values[SAMPLE_TYPES] = {(int64_t)t->calls, (int64_t)t->allocated, (int64_t)t->count,
                                              (int64_t)t->size};
        pp_sample(b, t->frames, t->nframes, stack_time(t), values);
    }
}

/* The leak check's records are kept by profile.c as stacks of its document
 * (function, file, line, module: no address). A stack that also allocated up
 * to the point has a trace of ss with the same frames, addresses included;
 * one that did not (a point before its allocations) gets address-less
 * locations, as a snapshot file's frames do. */
static void add_leaked_samples(struct pprof_builder *b, const struct profile *p)
{
    size_t *trace_of = xmalloc((p->doc.nstacks ? p->doc.nstacks : 1) * sizeof *trace_of);
    for (size_t k = 0; k < p->doc.nstacks; k++)
        trace_of[k] = SIZE_MAX;
    for (size_t i = p->ss.ntraces; i-- > 0;)
        if (p->stack_of[i] != UINT32_MAX) trace_of[p->stack_of[i]] = i;
    const struct html_view *v = &p->views[VALUE_LEAKED];
    for (size_t r = 0; r < v->n; r++) {
        const int64_t values[SAMPLE_TYPES] = {0, 0, (int64_t)v->rows[r].count, (int64_t)v->rows[r].value};
        size_t i = trace_of[v->rows[r].stack];
        if (i != SIZE_MAX) {
            const struct symsnap_trace *t = &p->ss.traces[i];
            pp_sample(b, t->frames, t->nframes, stack_time(t), values);
            continue;
        }
        const struct html_stack *hs = p->doc.stacks[v->rows[r].stack];
        struct sym_frame *frames = xcalloc(hs->n ? hs->n : 1, sizeof *frames);
        for (uint32_t k = 0; k < hs->n; k++) {
            const struct html_frame *hf = p->doc.frames[hs->frames[hs->n - 1 - k]];
            frames[k] = (struct sym_frame){
                .function = hf->function, .file = *hf->file ? hf->file : NULL, .line = hf->line, .module = hf->module};
        }
        pp_sample(b, frames, hs->n, 0, values);
        free(frames);
    }
    free(trace_of);
}

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

static void add_labels(struct pprof_builder *b, const struct profile *p)
{
    if (p->ss.pid) {
        Perftools__Profiles__Label *l = xmalloc(sizeof *l);
        perftools__profiles__label__init(l);
        l->key = pp_string(b, "pid");
        l->num = (int64_t)p->ss.pid;
        b->labels[b->nlabels++] = l;
    }
    /* the program's file name, or the first word of the command a snapshot file kept */
    char *name = NULL;
    if (p->ss.snap && p->ss.snap->exe) {
        name = xstrndup(base_name(p->ss.snap->exe), strlen(base_name(p->ss.snap->exe)));
    } else if (p->ss.command && *p->ss.command) {
        const char *first = p->ss.command;
        name = xstrndup(first, strcspn(first, " "));
        const char *base = base_name(name);
        memmove(name, base, strlen(base) + 1);
    }
    if (name && *name) {
        Perftools__Profiles__Label *l = xmalloc(sizeof *l);
        perftools__profiles__label__init(l);
        l->key = pp_string(b, "process");
        l->str = pp_string(b, name);
        b->labels[b->nlabels++] = l;
    }
    free(name);
}

static Perftools__Profiles__ValueType *value_type(struct pprof_builder *b, const char *type, const char *unit)
{
    Perftools__Profiles__ValueType *vt = xmalloc(sizeof *vt);
    perftools__profiles__value_type__init(vt);
    vt->type = pp_string(b, type);
    vt->unit = pp_string(b, unit);
    return vt;
}

/* pprof takes mapping[0] as the main binary (its name and build ID head
 * every report): the program's module goes first, the rest in the order
 * met. Ids follow the final order. */
static void number_mappings(struct pprof_builder *b)
{
    size_t main_index = 0;
    const char *exe = b->snap ? b->snap->exe : NULL;
    for (size_t i = 0; exe && i < b->nmappings; i++) {
        if (strcmp(b->strings[b->mappings[i]->filename], exe) != 0) continue;
        main_index = i;
        break;
    }
    size_t *id_of = xmalloc((b->nmappings ? b->nmappings : 1) * sizeof *id_of);
    Perftools__Profiles__Mapping **ordered = xmalloc((b->nmappings ? b->nmappings : 1) * sizeof *ordered);
    size_t next = 0;
    if (b->nmappings) ordered[next] = b->mappings[main_index], id_of[main_index] = ++next;
    for (size_t i = 0; i < b->nmappings; i++)
        if (i != main_index) ordered[next] = b->mappings[i], id_of[i] = ++next;
    for (size_t i = 0; i < b->nmappings; i++)
        ordered[i]->id = i + 1;
    for (size_t i = 0; i < b->nlocations; i++)
        b->locations[i]->mapping_id = b->location_mapping[i] ? id_of[b->location_mapping[i] - 1] : 0;
    free(b->mappings);
    b->mappings = ordered;
    free(id_of);
}

static void entries_free(struct pp_entry **table)
{
    struct pp_entry *e, *et;
    HASH_ITER(hh, *table, e, et)
    {
        HASH_DEL(*table, e);
        free(e->key);
        free(e);
    }
}

static void builder_free(struct pprof_builder *b, Perftools__Profiles__Profile *prof)
{
    struct pp_string *s, *st;
    HASH_ITER(hh, b->strings_by_text, s, st)
    {
        HASH_DEL(b->strings_by_text, s);
        free(s->s);
        free(s);
    }
    entries_free(&b->functions_by_key);
    entries_free(&b->locations_by_key);
    struct pp_mapping *m, *mt;
    HASH_ITER(hh, b->mappings_by_module, m, mt)
    {
        HASH_DEL(b->mappings_by_module, m);
        free(m);
    }
    for (size_t i = 0; i < b->nfunctions; i++)
        free(b->functions[i]);
    for (size_t i = 0; i < b->nlocations; i++) {
        for (size_t k = 0; k < b->locations[i]->n_line; k++)
            free(b->locations[i]->line[k]);
        free(b->locations[i]->line);
        free(b->locations[i]);
    }
    for (size_t i = 0; i < b->nmappings; i++)
        free(b->mappings[i]);
    for (size_t i = 0; i < b->nsamples; i++) {
        free(b->samples[i]->location_id);
        free(b->samples[i]->value);
        free(b->samples[i]);
    }
    for (size_t i = 0; i < b->nlabels; i++)
        free(b->labels[i]);
    for (size_t i = 0; i < prof->n_sample_type; i++)
        free(prof->sample_type[i]);
    free(prof->sample_type);
    free(prof->period_type);
    free(prof->comment);
    free(b->strings);
    free(b->functions);
    free(b->locations);
    free(b->location_mapping);
    free(b->mappings);
    free(b->samples);
    free(b->key);
}

/* gzip (pprof reads plain protobuf too, but the format asks for gzip);
 * no name and no time in the gzip header, so one source gives one file. */
static int gzip_append(struct strbuf *out, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        snprintf(err, errlen, "pprof export: zlib: %s", z.msg ? z.msg : "cannot start compressing");
        return -1;
    }
    size_t bound = deflateBound(&z, len);
    uint8_t *buf = xmalloc(bound);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)bound;
    int rc = len > UINT32_MAX || bound > UINT32_MAX ? Z_BUF_ERROR : deflate(&z, Z_FINISH);
    if (rc == Z_STREAM_END)
        sb_add(out, (const char *)buf, z.total_out);
    else
        snprintf(err, errlen, "pprof export: zlib: %s", z.msg ? z.msg : "profile too large to compress");
    deflateEnd(&z);
    free(buf);
    return rc == Z_STREAM_END ? 0 : -1;
}

int export_pprof(struct strbuf *out, const struct profile *p, enum profile_value default_value, char *err,
                 size_t errlen)
{
    struct pprof_builder b = {.snap = p->ss.snap};
    Perftools__Profiles__Profile prof;
    perftools__profiles__profile__init(&prof);
    pp_string(&b, ""); /* string_table[0] must be "" */
    prof.n_sample_type = SAMPLE_TYPES;
    prof.sample_type = xmalloc(SAMPLE_TYPES * sizeof *prof.sample_type);
    for (int i = 0; i < SAMPLE_TYPES; i++)
        prof.sample_type[i] = value_type(&b, sample_type_names[i][0], sample_type_names[i][1]);
    int preferred = default_value == VALUE_ALLOCATED ? SAMPLE_ALLOC_SPACE
                    : default_value == VALUE_CALLS   ? SAMPLE_ALLOC_OBJECTS
                                                     : SAMPLE_INUSE_SPACE;
    prof.default_sample_type = prof.sample_type[preferred]->type;
    prof.period_type = value_type(&b, "space", "bytes");
    /* a sampled trace: the period is its rate, as in Go's heap profiles; the
     * values are already the estimates (docs/SAMPLING.md) */
    prof.period = p->ss.sample_rate ? (int64_t)p->ss.sample_rate : 1;
    /* the alloc_* values cover the process from its start (or the window) to the point */
    prof.duration_nanos = (int64_t)((p->window_s > 0 ? p->window_s : p->ss.time_s) * 1e9);
    if (p->ss.snap && p->ss.snap->hdr.start_realtime_ns)
        prof.time_nanos = (int64_t)p->ss.snap->hdr.start_realtime_ns + (int64_t)(p->ss.time_s * 1e9);

    add_labels(&b, p);
    if (default_value == VALUE_LEAKED)
        add_leaked_samples(&b, p);
    else
        add_samples(&b, p);
    number_mappings(&b);

    /* what pprof prints above every report */
    struct strbuf text = {0};
    int64_t comments[4];
    size_t ncomments = 0;
    if (p->title) {
        sb_puts(&text, p->title);
    } else {
        sb_printf(&text, "heapsnap export of %s", p->ss.source);
        if (!strchr(p->ss.source, '@') && p->ss.point) sb_printf(&text, " at %s", p->ss.point);
    }
    comments[ncomments++] = pp_string(&b, text.s);
    if (p->ss.command) {
        text.len = 0;
        sb_printf(&text, "command: %s", p->ss.command);
        comments[ncomments++] = pp_string(&b, text.s);
    }
    if (p->ss.sample_rate) {
        text.len = 0;
        sb_printf(&text, "sampled: 1 in %llu bytes allocated; the values are estimates",
                  (unsigned long long)p->ss.sample_rate);
        comments[ncomments++] = pp_string(&b, text.s);
    }
    sb_free(&text);
    if (default_value == VALUE_LEAKED)
        comments[ncomments++] = pp_string(&b, "inuse_* are the blocks the last leak check found lost (definitely, "
                                              "indirectly, possibly); alloc_* are 0");
    else if (!p->has_totals)
        comments[ncomments++] = pp_string(&b, "a snapshot file holds the live heap only: alloc_* are 0");
    prof.n_comment = ncomments;
    prof.comment = xmalloc(ncomments * sizeof *prof.comment);
    memcpy(prof.comment, comments, ncomments * sizeof *prof.comment);

    prof.n_sample = b.nsamples;
    prof.sample = b.samples;
    prof.n_mapping = b.nmappings;
    prof.mapping = b.mappings;
    prof.n_location = b.nlocations;
    prof.location = b.locations;
    prof.n_function = b.nfunctions;
    prof.function = b.functions;
    prof.n_string_table = b.nstrings;
    prof.string_table = b.strings;

    size_t len = perftools__profiles__profile__get_packed_size(&prof);
    uint8_t *packed = xmalloc(len ? len : 1);
    size_t packed_len = perftools__profiles__profile__pack(&prof, packed);
    assert(packed_len == len);
    int rc = gzip_append(out, packed, packed_len, err, errlen);
    free(packed);
    builder_free(&b, &prof);
    return rc;
}
