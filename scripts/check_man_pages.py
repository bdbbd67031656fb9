#!/usr/bin/env python3
"""check_man_pages.py - owns the check of heapsnap's man pages as built: each
page scdoc made renders under man(1) and groff(1) without a warning; the
plain text scripts/man_to_help.py makes of the same source says the same
words, in the same order, as man shows (so `heapsnap help` and `man` agree,
and the converter reads scdoc's markup as scdoc does); the help text fits 80
columns; a command's page has the sections of the contract, in order, and
documents --help.

usage: check_man_pages.py BUILT_DIR PAGE.scd...   (BUILT_DIR holds scdoc's NAME.SECTION files)
Exit 0: all good; 1: a page failed (each problem on its own line); 77: no groff to check with.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import man_to_help  # noqa: E402

COMMAND_SECTIONS = ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXIT STATUS', 'EXAMPLES', 'SEE ALSO']
ENV = dict(os.environ, LC_ALL='C.UTF-8', MANWIDTH='80', MAN_KEEP_FORMATTING='')


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, env=ENV)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def man_words(roff):
    """The words man shows, without the header and footer lines (one line per paragraph: nothing is hyphenated)."""
    rc, out, err = run(['groff', '-man', '-Tascii', '-rLL=4000n', '-rHY=0', '-P-cbou', roff])
    if rc != 0 or err:
        return None, f'groff -Tascii failed: {err.strip()}'
    lines = [line for line in out.split('\n') if line.strip()]
    return ' '.join(lines[1:-1]).split(), None


def check(built, scd):
    problems = []
    base = os.path.basename(scd)[:-len('.scd')]
    roff = os.path.join(built, base)
    if not os.path.exists(roff):
        return [f'{roff}: not built']
    if shutil.which('man'):
        rc, _, err = run(['man', '-l', roff])
        if rc != 0 or err:
            problems.append(f'man -l {base}: status {rc}: {err.strip()}')
    rc, _, err = run(['groff', '-ww', '-man', '-z', roff])
    if rc != 0 or err:
        problems.append(f'groff -ww -man -z {base}: status {rc}: {err.strip()}')
    try:
        name, text = man_to_help.render(scd)
    except man_to_help.PageError as e:
        return problems + [str(e)]
    want, err = man_words(roff)
    if err:
        problems.append(f'{base}: {err}')
    else:
        got = text.split()
        if got != want:
            at = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
            problems.append(f'{base}: the help text says {" ".join(got[max(0, at - 4):at + 4])!r}, man '
                            f'{" ".join(want[max(0, at - 4):at + 4])!r} (word {at})')
    for n, line in enumerate(text.split('\n'), start=1):
        if len(line) > 80:
            problems.append(f'{base}: help line {n} is {len(line)} columns wide (80 at most): {line.strip()!r}')
    sections = [line for line in text.split('\n') if line and not line[0].isspace()]
    if base.startswith('heapsnap-'):
        if sections != COMMAND_SECTIONS:
            problems.append(f'{base}: sections {sections}, not {COMMAND_SECTIONS}')
        if not re.search(r'^    --help$', text, re.M):
            problems.append(f'{base}: OPTIONS does not document --help')
    return problems


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().split('\n\n')[1], file=sys.stderr)
        return 2
    if not shutil.which('groff'):
        print('check_man_pages.py: no groff here: nothing checked', file=sys.stderr)
        return 77
    built, pages = sys.argv[1], sys.argv[2:]
    problems = []
    for scd in pages:
        problems += check(built, scd)
    for p in problems:
        print(p, file=sys.stderr)
    print(f'check_man_pages.py: {len(pages)} pages, {len(problems)} problems')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
