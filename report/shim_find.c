/* shim_find.c - see shim_find.h. The library's version is read from its
 * file (a tag the shim carries, SHIM_VERSION_TAG), not by loading it: loaded
 * into this process it would start tracing it. */
#include "shim_find.h"
#include "util.h"
#include "../trace/trace_format.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int shim_find(char *out, size_t cap, char *err, size_t errlen)
{
    const char *env = getenv("HEAPSNAP_LIB");
    if (env && *env) {
        if (access(env, R_OK) != 0) return snprintf(err, errlen, "HEAPSNAP_LIB=%s: %s", env, strerror(errno)), -1;
        snprintf(out, cap, "%s", env);
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) *slash = 0;
        /* In the build tree: build/report/heapsnap next to build/preload/. */
        snprintf(out, cap, "%s/../preload/libheapsnap.so", self);
        if (access(out, R_OK) == 0 && realpath(out, self)) {
            snprintf(out, cap, "%s", self);
            return 0;
        }
    }
    snprintf(out, cap, "%s/libheapsnap.so", HEAPSNAP_LIBDIR);
    if (access(out, R_OK) != 0)
        return snprintf(err, errlen, "cannot find libheapsnap.so (looked in %s; set HEAPSNAP_LIB)", HEAPSNAP_LIBDIR),
               -1;
    return 0;
}

bool shim_version(const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    bool found = false;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        const char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            size_t taglen = strlen(SHIM_VERSION_TAG);
            const char *tag = memmem(map, (size_t)st.st_size, SHIM_VERSION_TAG, taglen);
            if (tag) {
                const char *v = tag + taglen, *end = map + st.st_size;
                size_t len = 0;
                while (v + len < end && v[len] && len < 64)
                    len++;
                snprintf(out, cap, "%.*s", (int)len, v);
                found = len > 0;
            }
            munmap((void *)map, (size_t)st.st_size);
        }
    }
    close(fd);
    return found;
}

int shim_check_version(const char *path, char *err, size_t errlen)
{
    char version[80], self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    snprintf(self + (n > 0 ? n : 0), sizeof self - (size_t)(n > 0 ? n : 0), "%s", n > 0 ? "" : "heapsnap");
    if (!shim_version(path, version, sizeof version))
        return snprintf(err, errlen, "%s is not a heapsnap library (no version tag), %s is heapsnap %s", path, self,
                        HEAPSNAP_VERSION),
               -1;
    if (strcmp(version, HEAPSNAP_VERSION) != 0)
        return snprintf(err, errlen, "%s is heapsnap %s but %s is %s: install them together (or set HEAPSNAP_LIB)",
                        self, HEAPSNAP_VERSION, path, version),
               -1;
    return 0;
}
