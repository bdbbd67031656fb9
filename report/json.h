/* json.h - a small JSON reader. It reads snapshot files (untrusted input: depth
 * and every escape are bounded) and, in the tests, heapsnap's own reports,
 * field by field ("totals.allocations", "leaks.0.stack.0.function"). */
#ifndef HEAPSNAP_JSON_H
#define HEAPSNAP_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
    enum json_type type;
    bool boolean;
    long long integer; /* numbers: exact when integral */
    double number;
    char *string;
    size_t n;
    char **keys;         /* objects */
    struct json **items; /* arrays and objects */
};

struct json *json_parse(const char *text); /* NULL on a syntax error or nesting deeper than 64 */
void json_free(struct json *j);
/* Dotted path; array indexes are numbers. NULL when absent. */
const struct json *json_get(const struct json *j, const char *path);
long long json_int(const struct json *j, const char *path);       /* -1 when absent */
const char *json_str(const struct json *j, const char *path);     /* NULL when absent or null */
size_t json_len(const struct json *j, const char *path);          /* array length, 0 when absent */
bool json_bool(const struct json *j, const char *path);           /* false when absent or not a boolean */

#endif
