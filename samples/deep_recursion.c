/* deep_recursion.c - recursion N levels deep (argument, default 300) with one
 * allocation per level, kept: N groups, each its own stack, the deepest
 * N + a few frames. The report of such a program must stay bounded.
 * Level k (1 = the outermost call) allocates 16 * k bytes, so the deepest
 * stack is the largest group and groups sort deepest first.
 * Known figures (N = 300): 300 allocation calls, 16 * 300 * 301 / 2 =
 * 722400 B in 300 blocks live at the end. */
#include <stdlib.h>

void *kept[100000];
void *volatile sink;

__attribute__((noinline)) void descend(int level, int depth)
{
    kept[level - 1] = malloc(16 * (size_t)level);
    if (level < depth) descend(level + 1, depth);
    sink = kept[0]; /* not a tail call: every level keeps its frame */
}

int main(int argc, char **argv)
{
    int depth = argc > 1 ? atoi(argv[1]) : 300;
    if (depth < 1 || depth > 100000) return 2;
    descend(1, depth);
    return 0;
}
