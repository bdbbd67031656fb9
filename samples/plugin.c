/* plugin.c - built as libhsplugin.so: leaks 256 B from plugin_leak(). */
#include <stdlib.h>

__attribute__((noinline)) void *plugin_leak(void) { return malloc(256); }
