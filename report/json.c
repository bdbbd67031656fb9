/* json.c - see json.h. Recursive descent over a NUL-terminated string, with
 * the depth bounded so a hostile file cannot exhaust the stack. Allocation
 * failures abort through xmalloc: a snapshot file is small. */
#include "json.h"

#include <ctype.h>
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
        char *end;
        j->type = JSON_NUMBER;
        j->number = strtod(ps->p, &end);
        j->integer = strtoll(ps->p, NULL, 10);
        if (end == ps->p) ps->bad = true;
        ps->p = end;
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
