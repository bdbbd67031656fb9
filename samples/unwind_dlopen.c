/* unwind_dlopen.c - dlopen by a bare name after allocations deep in frames,
 * for comparing stack captures (tests/test_unwind.c). Linked with RUNPATH
 * $ORIGIN and nothing else that finds libhsplugin.so (samples/plugin.c, beside
 * this program), so the load works only if glibc sees this program as
 * dlopen's caller: the loader takes the caller from dlopen's return address.
 *
 * Three rounds, at depths 25, 3 and 60: the frames on the way down allocate
 * (descend_alloc, 24 B each, freed on the way up: 26 + 4 + 61 = 91), at the
 * bottom dlopen("libhsplugin.so"), plugin_leak() (256 B, freed) and dlclose.
 * Each round prints whether the library loaded, from which directory (the
 * program's, or not), and plugin_leak's block. Exit 0, or 1 when a load
 * failed. */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

void *volatile keep; /* every block escapes through it: GCC drops a malloc/free pair it can see whole */
static char program_dir[PATH_MAX];

static NOINLINE int load_plugin(int depth)
{
    void *h = dlopen("libhsplugin.so", RTLD_NOW);
    if (!h) {
        printf("depth %d: dlopen failed: %s\n", depth, dlerror());
        return 1;
    }
    struct link_map *map = NULL;
    dlinfo(h, RTLD_DI_LINKMAP, &map);
    char found[PATH_MAX];
    snprintf(found, sizeof found, "%s", map ? map->l_name : "");
    void *(*leak)(void) = (void *(*)(void))dlsym(h, "plugin_leak");
    void *block = leak ? leak() : NULL;
    printf("depth %d: loaded from %s, plugin_leak gave %s\n", depth,
           strcmp(dirname(found), program_dir) == 0 ? "the program's directory" : "elsewhere",
           block ? "a block" : "nothing");
    free(block);
    dlclose(h);
    return 0;
}

static NOINLINE void *descend_alloc(int level)
{
    char *p = malloc(24);
    keep = p;
    p[0] = (char)level;
    return p;
}

static NOINLINE int descend(int level, int depth)
{
    void *mine = descend_alloc(level);
    int rc = level < depth ? descend(level + 1, depth) : load_plugin(depth);
    free(mine);
    return rc;
}

int main(void)
{
    ssize_t n = readlink("/proc/self/exe", program_dir, sizeof program_dir - 1);
    if (n <= 0) return 2;
    program_dir[n] = 0;
    dirname(program_dir);
    int rc = descend(0, 25);
    rc |= descend(0, 3);
    rc |= descend(0, 60);
    return rc;
}
