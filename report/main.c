/* main.c - the heapsnap command: dispatch to a subcommand. */
#include "cmds.h"

#include <string.h>

static const char usage[] =
    "usage: heapsnap COMMAND [ARGS]\n"
    "\n"
    "  run [OPTIONS] -- PROGRAM [ARGS...]   run PROGRAM under heapsnap, write its trace, print a summary\n"
    "      -o, --output FILE     trace file of PROGRAM (default heapsnap.PROGRAM.PID.trace here)\n"
    "      --frames N            stack frames kept per allocation, 1..65535 (default 64)\n"
    "      --no-follow           do not trace fork children and programs PROGRAM execs\n"
    "      --format text|json   summary format (default text), on stderr\n"
    "      --top N               allocation stacks listed per section (default 5)\n"
    "      -q, --quiet           no summary\n"
    "  report TRACE [--format text|json] [--top N]   the report of a trace, on stdout\n"
    "  pack TRACE...             compress traces left open by a crash (reports read both)\n"
    "\n"
    "Without `run`: LD_PRELOAD=/path/to/libheapsnap.so HEAPSNAP_OUTPUT=DIR PROGRAM\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("heapsnap " HEAPSNAP_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "report") == 0) return cmd_report(argc - 1, argv + 1);
    if (strcmp(argv[1], "pack") == 0) return cmd_pack(argc - 1, argv + 1);
    die_usage("unknown command '%s' (see heapsnap --help)", argv[1]);
}
