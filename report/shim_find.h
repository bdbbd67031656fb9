/* shim_find.h - which libheapsnap.so `heapsnap run` preloads, and whether it
 * is this command's own version: HEAPSNAP_LIB, else the build tree beside the
 * command, else the installed library directory. */
#ifndef HEAPSNAP_SHIM_FIND_H
#define HEAPSNAP_SHIM_FIND_H

#include <stdbool.h>
#include <stddef.h>

/* The library's path in out, or -1 with a reason. */
int shim_find(char *out, size_t cap, char *err, size_t errlen);
/* The version the library was built as (its tag), or false if it has none. */
bool shim_version(const char *path, char *out, size_t cap);
/* 0 when the library at path is this command's version, else -1 with a
 * reason naming both (the command's path and version, the library's). */
int shim_check_version(const char *path, char *err, size_t errlen);

#endif
