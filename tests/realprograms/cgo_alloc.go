// cgo_alloc.go - a Go program built with cgo (so dynamically linked) whose C
// allocations are known: 20,000 C.malloc/C.free pairs from Go, 10,000
// malloc/free pairs inside C, and one 4096-byte block leaked on purpose (its
// only pointer dies in leak_one), which memcheck and heapsnap must both call
// definitely lost. It ends through C's exit(): a Go program's return skips
// libc's atexit handlers, where heaptrack writes its last buffered events.
package main

/*
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int churn(int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++) {
        char *p = malloc(64 + i % 100);
        snprintf(p, 64, "%d", i);
        sum += p[0] - '0';
        free(p);
    }
    return sum;
}

static void __attribute__((noinline)) leak_one(void)
{
    char *p = malloc(4096);
    snprintf(p, 4096, "leaked on purpose");
    fputs(p[0] == 'l' ? "" : "?", stdout);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

func main() {
	sum := 0
	for i := 0; i < 20000; i++ {
		p := C.malloc(C.size_t(32 + i%200))
		C.memset(p, C.int(i%7), 32)
		sum += int(*(*byte)(unsafe.Pointer(p)))
		C.free(p)
	}
	fmt.Println("go-cgo", sum, int(C.churn(10000)))
	C.leak_one()
	C.exit(0)
}
