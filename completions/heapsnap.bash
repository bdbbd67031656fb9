# bash completion for heapsnap: commands, each command's options (read from
# `heapsnap help COMMAND`, the manual page the command itself carries),
# signal names for --snapshot-signal, the values of the options that take a
# word, and TRACE@POINT: the points of a trace (peak, exit, its markers).

_heapsnap_options()
{
    # the option lines of the page: "  -o, --output FILE", "  --frames N"
    "$1" help "$2" 2>/dev/null | grep -Eo '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' | grep -Eo -- '--[a-z][a-z-]*'
}

_heapsnap_points()
{
    # TRACE@: the trace's markers (by label), the peak, the end and its leak checks
    local bin=$1 trace=$2
    printf '%s\n' peak exit
    "$bin" report --format json --top 1 --max-frames 1 "$trace" 2>/dev/null |
        grep -Eo '"label": "([^"\\]|\\.)*"' | sed -e 's/^"label": "//' -e 's/"$//'
}

_heapsnap()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion -n @=: || return
    else
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi
    local bin=${words[0]}
    local commands="run attach detach report pack stats diff snapshot timeline leaks check html flamegraph export help"
    if ((cword == 1)); then
        COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
        return
    fi
    local cmd=${words[1]}
    case $cmd in
    help)
        ((cword == 2)) && COMPREPLY=($(compgen -W "${commands% help} heapsnap.h" -- "$cur"))
        return
        ;;
    run)
        # after PROGRAM, the words are the program's own
        local i
        for ((i = 2; i < cword; i++)); do
            case ${words[i]} in
            --) return ;;
            -o | --output | --frames | --unwind | --sample-rate | --format | --top | --html | --pprof-dir | --pprof-every | \
                --snapshot-signal | --snapshot-interval | --snapshot-growth | --leak-exitcode | --max-leaked | \
                --suppressions | --rss-interval) ((i++)) ;;
            -*) ;;
            *) return ;;
            esac
        done
        ;;
    esac
    # attach and detach take a process id
    if [[ ($cmd == attach || $cmd == detach) && $cur != -* && $prev != -o && $prev != --* ]]; then
        COMPREPLY=($(compgen -W "$(ps -eo pid= 2>/dev/null)" -- "$cur"))
        return
    fi
    case $prev in
    --snapshot-signal)
        COMPREPLY=($(compgen -W "USR1 USR2 HUP INT TERM QUIT ALRM WINCH RTMIN RTMIN+1 RTMIN+2 RTMIN+3" -- "$cur"))
        return
        ;;
    --unwind) COMPREPLY=($(compgen -W "full fast check" -- "$cur")); return ;;
    --by) COMPREPLY=($(compgen -W "lineno function file module traceback" -- "$cur")); return ;;
    --sort-by) COMPREPLY=($(compgen -W "size count calls" -- "$cur")); return ;;
    --memory) COMPREPLY=($(compgen -W "heap mapped all" -- "$cur")); return ;;
    --value) COMPREPLY=($(compgen -W "inuse allocated calls leaked" -- "$cur")); return ;;
    --kinds) COMPREPLY=($(compgen -W "definite indirect possible reachable" -- "$cur")); return ;;
    --format)
        case $cmd in
        export) COMPREPLY=($(compgen -W "pprof folded massif speedscope" -- "$cur")) ;;
        leaks) COMPREPLY=($(compgen -W "text json junit sarif" -- "$cur")) ;;
        timeline) COMPREPLY=($(compgen -W "text json csv" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "text json" -- "$cur")) ;;
        esac
        return
        ;;
    -o | --output | --html | --suppressions) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --pprof-dir | --source-root) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --frames | --top | --limit | --max-frames | --pprof-every | --snapshot-interval | --snapshot-growth | --sample-rate | \
        --leak-exitcode | --max-leaked | --max-growth | --exitcode | --resolution | --rss-interval) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_heapsnap_options "$bin" "$cmd")" -- "$cur"))
        [[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
        return
    fi
    if [[ $cur == *@* ]]; then
        local trace=${cur%@*} IFS=$'\n'
        [[ -f $trace ]] && COMPREPLY=($(compgen -P "$trace@" -W "$(_heapsnap_points "$bin" "$trace")" -- "${cur##*@}"))
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}

complete -F _heapsnap heapsnap
