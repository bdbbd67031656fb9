/* main.c - the heapsnap command: dispatch to a subcommand. */
#include "cmds.h"
#include "opts.h"
#include "shim_find.h"

#include <stdio.h>
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
    "      --no-leak-check       do not classify unfreed blocks by reachability at the end\n"
    "      --fail-on-leak[=KINDS]     exit --leak-exitcode (23) when blocks of KINDS (default\n"
    "                                 definite,indirect) leak in any process of the run\n"
    "      --leak-exitcode N, --max-leaked BYTES, --suppressions FILE, --no-default-suppressions\n"
    "      --snapshot-signal SIG      a marker each time the program gets SIG (e.g. USR2)\n"
    "      --snapshot-interval SECS   a marker every SECS seconds\n"
    "      --snapshot-growth BYTES    a marker each time the heap passes its peak by BYTES (K, M, G suffixes)\n"
    "      --html FILE                write the HTML report of the program's trace (heapsnap html) at the end\n"
    "      --pprof-dir DIR            while it runs, a pprof file per process and interval in DIR\n"
    "                                 (heap-PID-SEQ-FROM-UNTIL.pb.gz: alloc_* of the interval, inuse_* at its end)\n"
    "      --pprof-every SECS         the interval (default 10)\n"
    "  attach PID [-o TRACE] [--duration SECS] [--leak-check] [--frames N] [--unwind M] [--sample-rate B]\n"
    "                            trace a running process until Ctrl-C, SIGTERM, the duration or `detach PID`,\n"
    "                            then leave it as it was; --leak-check: its blocks since the attach, classified\n"
    "  detach PID                end an attach (the attach's own command, or a killed one's)\n"
    "  report TRACE [--format text|json] [--top N] [--max-frames N]   the report of a trace, on stdout\n"
    "      --top N               allocation stacks listed per section (default 10, 0: all)\n"
    "      --max-frames N        frames listed per stack, innermost first (default 256, 0: all)\n"
    "  pack TRACE...             compress traces left open by a crash (reports read both); removes\n"
    "                            the temporaries of packers that died; a corrupt trace is left as it is\n"
    "\n"
    "  SOURCE is TRACE[@POINT] or a snapshot file; POINT is exit (default), peak, SECONDSs\n"
    "  (e.g. 12.5s) or a marker label (LABEL, or LABEL#N when it occurs more than once;\n"
    "  heapsnap's own markers also by order: signal#2, interval#N, growth#N, leak-check#N)\n"
    "  stats SOURCE [--by lineno|function|file|module|traceback] [--cumulative] [--limit N]\n"
    "        [--include PATTERN]... [--exclude PATTERN]... [--all-frames] [--skip-function PATTERN]...\n"
    "        [--max-frames N] [--sort-by size|count|calls] [--format text|json]   tracemalloc's statistics()\n"
    "  diff OLD NEW [the options of stats]     tracemalloc's Snapshot.compare_to()\n"
    "  snapshot SOURCE -o FILE   a self-contained, symbolized snapshot file (a CI baseline)\n"
    "  leaks TRACE[@leak-check:N] [--kinds K,...] [--format text|json|junit|sarif] [--source-root DIR]\n"
    "        [--suppressions FILE]... [--gen-suppressions] [--fail-on-leak[=KINDS]] ...\n"
    "                            memcheck's loss records and LEAK SUMMARY\n"
    "  check OLD NEW --max-growth BYTES [--by KEY] [--exitcode N]   fail (23) when a group grew more\n"
    "  timeline TRACE [--resolution SECONDS] [--format text|json|csv]   heap over time, with markers\n"
    "  html SOURCE [-o FILE.html]     one self-contained page: the heap over time, flame graphs, leaks\n"
    "  html OLD NEW [-o FILE.html]    a differential flame graph of two sources\n"
    "  flamegraph SOURCE [--value inuse|allocated|calls|leaked] [-o FILE.svg]   a static flame graph\n"
    "  export SOURCE --format pprof|folded|massif|speedscope -o FILE [--value V] [--include P]... [--exclude P]...\n"
    "        [--all-frames]\n"
    "                            for go tool pprof, flamegraph.pl, ms_print, speedscope (docs/EXPORTS.md)\n"
    "  help COMMAND              the command's manual page (as `man heapsnap-COMMAND`); every command has --help\n"
    "\n"
    "Without `run`: LD_PRELOAD=/path/to/libheapsnap.so HEAPSNAP_OUTPUT=DIR PROGRAM\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        /* and the library `run` would preload: which one, and whether it is ours */
        char shim[4096], version[80], err[8400];
        printf("heapsnap %s\n", HEAPSNAP_VERSION);
        if (shim_find(shim, sizeof shim, err, sizeof err) < 0) {
            printf("library: none found\n");
            fflush(stdout);
            die("%s", err);
        }
        bool tagged = shim_version(shim, version, sizeof version);
        printf("library: %s (%s)\n", shim, tagged ? version : "no version tag");
        fflush(stdout);
        if (shim_check_version(shim, err, sizeof err) < 0) die("%s", err);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) { /* `heapsnap help run`: the manual page, as `man heapsnap-run` shows it */
        if (argc < 3) {
            fputs(usage, stdout);
            return 0;
        }
        if (argc > 3) die_usage("help: one command at a time (heapsnap help run)");
        if (!help_print(argv[2])) die_usage("help: no command '%s' (heapsnap --help lists them)", argv[2]);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "report") == 0) return cmd_report(argc - 1, argv + 1);
    if (strcmp(argv[1], "pack") == 0) return cmd_pack(argc - 1, argv + 1);
    if (strcmp(argv[1], "stats") == 0) return cmd_stats(argc - 1, argv + 1);
    if (strcmp(argv[1], "diff") == 0) return cmd_diff(argc - 1, argv + 1);
    if (strcmp(argv[1], "snapshot") == 0) return cmd_snapshot(argc - 1, argv + 1);
    if (strcmp(argv[1], "timeline") == 0) return cmd_timeline(argc - 1, argv + 1);
    if (strcmp(argv[1], "leaks") == 0) return cmd_leaks(argc - 1, argv + 1);
    if (strcmp(argv[1], "check") == 0) return cmd_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "html") == 0) return cmd_html(argc - 1, argv + 1);
    if (strcmp(argv[1], "flamegraph") == 0) return cmd_flamegraph(argc - 1, argv + 1);
    if (strcmp(argv[1], "export") == 0) return cmd_export(argc - 1, argv + 1);
    if (strcmp(argv[1], "attach") == 0) return cmd_attach(argc - 1, argv + 1);
    if (strcmp(argv[1], "detach") == 0) return cmd_detach(argc - 1, argv + 1);
    die_usage("unknown command '%s' (see heapsnap --help)", argv[1]);
}
