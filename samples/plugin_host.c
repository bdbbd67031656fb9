/* plugin_host.c - dlopens argv[1], calls plugin_leak() and dlcloses the plugin
 * before exit: the 256 B leak must still resolve to plugin_leak in
 * libhsplugin.so although the module is gone. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void *volatile sink;

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    void *(*leak)(void) = (void *(*)(void))dlsym(h, "plugin_leak");
    if (!leak) return 1;
    sink = leak();
    sink = NULL;
    dlclose(h);
    return 0;
}
