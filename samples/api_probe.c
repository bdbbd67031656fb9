/* api_probe.c - includes heapsnap.h and links no heapsnap library: exits 1
 * when it runs under heapsnap, 0 otherwise. */
#include "heapsnap.h"

int main(void) { return heapsnap_active(); }
