/* static_prog.c - linked statically: heapsnap run must refuse it. */
int main(void) { return 0; }
