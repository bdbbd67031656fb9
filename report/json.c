/* json.c - see json.h. Recursive descent over a NUL-terminated string, with
 * the depth bounded so a hostile file cannot exhaust the stack. Allocation
 * failures abort through xmalloc: a snapshot file is small. */
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define JSON_MAX_DEPTH 64

struct parser {
    const char *p;
    bool bad;
    int depth;
};

static void skip(struct parser *ps)
{
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

static struct json *value(struct parser *ps);

static char *string(struct parser *ps)
{
    if (*ps->p != '"') {
        ps->bad = true;
        return NULL;
    }
    ps->p++;
    size_t cap = 16, len = 0;
    char *s = xmalloc(cap);
    while (*ps->p && *ps->p != '"') {
        char c = *ps->p++;
        if (c == '\\') {
            char e = *ps->p;
            if (!e) break;
            ps->p++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                char hex[5] = {0};
                for (int i = 0; i < 4; i++) {
                    if (!isxdigit((unsigned char)ps->p[i])) {
                        ps->bad = true;
                        break;
                    }
                    hex[i] = ps->p[i];
                }
                if (ps->bad) break;
                ps->p += 4;
                long u = strtol(hex, NULL, 16);
                c = u < 0x80 ? (char)u : '?'; /* heapsnap writes \u only for control bytes */
                break;
            }
            default: c = e;
            }
        }
        if (len + 2 > cap) s = xrealloc(s, cap *= 2);
        s[len++] = c;
    }
    if (*ps->p != '"') ps->bad = true;
    else ps->p++;
    s[len] = 0;
    return s;
}

/* A number exactly as JSON spells it: strtod alone would also take "nan",
 * "inf", hex and a leading '+', and a reader deciding whether a size is sane
 * must see what the file said. Python's json writes NaN, Infinity and
 * -Infinity for its floats' non-finite values: those are read as what they
 * are, so the snapshot reader can refuse them by name. */
static void number(struct parser *ps, struct json *j)
{
    static const struct {
        const char *word;
        double value;
    } non_finite[] = {{"NaN", NAN}, {"Infinity", INFINITY}, {"-Infinity", -INFINITY}};
    j->type = JSON_NUMBER;
    for (size_t i = 0; i < sizeof non_finite / sizeof *non_finite; i++) {
        size_t len = strlen(non_finite[i].word);
        if (strncmp(ps->p, non_finite[i].word, len) == 0) {
            j->number = non_finite[i].value;
            ps->p += len;
            return;
        }
    }
    const char *p = ps->p;
    bool integral = true;
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (isdigit((unsigned char)*p)) while (isdigit((unsigned char)*p)) p++;
    else ps->bad = true;
    if (!ps->bad && *p == '.') {
        integral = false;
        if (!isdigit((unsigned char)*++p)) ps->bad = true;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (!ps->bad && (*p == 'e' || *p == 'E')) {
        integral = false;
        if (*++p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) ps->bad = true;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (ps->bad) return;
    char *end;
    j->number = strtod(ps->p, &end);
    if (end != p) ps->bad = true; /* the grammar above is stricter than strtod: never wider */
    errno = 0;
    long long whole = strtoll(ps->p, NULL, 10);
    if (integral && errno != ERANGE) j->integer = whole; /* exact beyond 2^53 */
    else if (j->number >= -0x1p63 && j->number < 0x1p63 && j->number == (double)(long long)j->number)
        j->integer = (long long)j->number; /* 1e3 */
    ps->p = p;
}

static void add(struct json *j, char *key, struct json *v)
{
    j->items = xrealloc(j->items, (j->n + 1) * sizeof *j->items);
    j->keys = xrealloc(j->keys, (j->n + 1) * sizeof *j->keys);
    j->items[j->n] = v;
    j->keys[j->n] = key;
    j->n++;
}

static struct json *value(struct parser *ps)
{
    skip(ps);
    struct json *j = xcalloc(1, sizeof *j);
    char c = *ps->p;
    if (c == '{' || c == '[') {
        if (++ps->depth > JSON_MAX_DEPTH) {
            ps->bad = true;
            return j;
        }
        j->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
        char close = c == '{' ? '}' : ']';
        ps->p++;
        skip(ps);
        if (*ps->p == close) {
            ps->p++;
            ps->depth--;
            return j;
        }
        while (!ps->bad) {
            skip(ps);
            char *key = NULL;
            if (j->type == JSON_OBJECT) {
                key = string(ps);
                skip(ps);
                if (*ps->p++ != ':') ps->bad = true;
            }
            add(j, key, value(ps));
            skip(ps);
            if (*ps->p == ',') ps->p++;
            else if (*ps->p == close) {
                ps->p++;
                break;
            } else ps->bad = true;
        }
        ps->depth--;
    } else if (c == '"') {
        j->type = JSON_STRING;
        j->string = string(ps);
    } else if (strncmp(ps->p, "true", 4) == 0 || strncmp(ps->p, "false", 5) == 0) {
        j->type = JSON_BOOL;
        j->boolean = c == 't';
        ps->p += j->boolean ? 4 : 5;
    } else if (strncmp(ps->p, "null", 4) == 0) {
        ps->p += 4;
    } else if (!c) {
        ps->bad = true;
    } else {
        number(ps, j);
    }
    return j;
}

struct json *json_parse(const char *text)
{
    struct parser ps = {.p = text};
    struct json *j = value(&ps);
    skip(&ps);
    if (ps.bad || *ps.p) {
        json_free(j);
        return NULL;
    }
    return j;
}

void json_free(struct json *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->n; i++) {
        json_free(j->items[i]);
        free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->string);
    free(j);
}

const struct json *json_get(const struct json *j, const char *path)
{
    char buf[256];
    strncpy(buf, path, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, ".")) {
        const struct json *next = NULL;
        if (j->type == JSON_ARRAY && isdigit((unsigned char)tok[0])) {
            size_t i = strtoul(tok, NULL, 10);
            if (i < j->n) next = j->items[i];
        } else if (j->type == JSON_OBJECT) {
            for (size_t i = 0; i < j->n; i++)
                if (strcmp(j->keys[i], tok) == 0) next = j->items[i];
        }
        j = next;
    }
    return j;
}

long long json_int(const struct json *j, const char *path)
{
    const struct json *v = json_get(j, path);
    return v && v->type == JSON_NUMBER ? v->integer : -1;
}

const char *json_str(const struct json *j, const char *path)
{
    const struct json *v = json_get(j, path);
    return v && v->type == JSON_STRING ? v->string : NULL;
}

size_t json_len(const struct json *j, const char *path)
{
    const struct json *v = json_get(j, path);
    return v && v->type == JSON_ARRAY ? v->n : 0;
}

bool json_bool(const struct json *j, const char *path)
{
    const struct json *v = json_get(j, path);
    return v && v->type == JSON_BOOL && v->boolean;
}
