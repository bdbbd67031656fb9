#!/usr/bin/env python3
"""man_to_help.py - owns the plain-text rendering of heapsnap's man pages
(docs/man/*.scd) for `heapsnap help COMMAND` and `heapsnap COMMAND --help`,
written as one C file that defines

    struct help_page { const char *name; const char *text; };
    const struct help_page help_pages[] = {{"heapsnap", "..."}, ..., {NULL, NULL}};

name is the page's name without "heapsnap-" and without its section (run,
report, ..., heapsnap, heapsnap.h); text is what man shows, less bold and
underline: section headings in capitals at column 0, text indented by 4
spaces and by 4 more per tab of the source (an option's description: 8),
literal blocks verbatim one level further in, the source's line breaks kept
(nothing is wrapped, so the pages are wrapped by hand).

It also enforces the OPTIONS contract that tests and shell completion rely
on: every option is introduced by one line at column 0,
`*-x*, *--long-name* _VALUE_` (the short form, the value and the comma
optional; `*--opt*[=_VALUE_]` for an optional value), followed by its
description indented by a tab, and nothing else there starts with `*-`.

Inline markup follows scdoc 1.11: `*` toggles bold; `_` toggles underline
when the last ordinary character before it is not alphanumeric, or when it
closes an underline and the next character is not alphanumeric (so
snake_case stays as it is); `*`, `+`, escapes and markup leave "the last
ordinary character" unchanged. `\\x` is x, also in literal blocks. A
trailing `++` (a forced line break) is dropped: line breaks are kept anyway.

usage: man_to_help.py [-o FILE.c] PAGE.scd...   (without -o: standard output)
"""
import argparse
import os
import re
import sys

TEXT_INDENT = 4  # a section's text; each tab of the source adds as much again
PREAMBLE = re.compile(r'^([A-Za-z0-9_.-]+)\(([0-9A-Za-z]+)\)(\s+"[^"]*"){0,2}\s*$')
# scdoc starts a table at a line such as "[[ ...", "|  ...", "]- ...".
TABLE_ROW = re.compile(r'^[\[|\]][\[\]\-<=> ] ')
OPTION_LINE = re.compile(r'^(\*-[A-Za-z0-9?]\*, )?\*--[a-z0-9]+(-[a-z0-9]+)*\*'
                         r'( _[A-Z][A-Z0-9_]*_|\[=_[A-Z][A-Z0-9_]*_\])?$')


class PageError(Exception):
    pass


class Inline:
    """scdoc's inline markup, removed; its state runs across the lines of a paragraph."""

    def __init__(self, where):
        self.where = where
        self.bold = None  # (line, column) where it was opened, or None
        self.underline = None

    def line(self, text, lineno):
        out = []
        last = '\n'  # a line starts after a newline: not alphanumeric
        i = 0
        while i < len(text):
            c = text[i]
            nxt = text[i + 1] if i + 1 < len(text) else '\n'
            if c == '\\':
                if i + 1 >= len(text):
                    raise PageError(f'{self.where}:{lineno}: a \\ ends the line: escape it as \\\\')
                out.append(text[i + 1])
                i += 2
                continue
            if c == '*':
                self.bold = None if self.bold else (lineno, i + 1)
            elif c == '_' and (not last.isalnum() or (self.underline and not nxt.isalnum())):
                self.underline = None if self.underline else (lineno, i + 1)
            elif c == '+':
                out.append(c)
            else:
                out.append(c)
                if c != '_':
                    last = c
            i += 1
        rendered = ''.join(out)
        return rendered[:-2] if rendered.endswith('++') and text.endswith('++') else rendered

    def end_paragraph(self, lineno):
        for mark, opened in (('*', self.bold), ('_', self.underline)):
            if opened:
                raise PageError(f'{self.where}:{opened[0]}:{opened[1]}: {mark} is not closed before the paragraph '
                                f'ends at line {lineno}')


def tabs_of(line):
    n = len(line) - len(line.lstrip('\t'))
    return n, line[n:]


def check_options_line(where, lineno, raw, in_options, pending_option):
    """The OPTIONS contract, line by line; returns the option line still waiting for its description."""
    depth, rest = tabs_of(raw)
    if not in_options:
        return None
    if rest.startswith('*-') and depth == 0:
        if not OPTION_LINE.match(raw):
            raise PageError(f'{where}:{lineno}: an option line must read *-x*, *--long-name* _VALUE_ '
                            f'(short form, value optional; *--opt*[=_VALUE_] for an optional value): {raw!r}')
        if pending_option:
            raise PageError(f'{where}:{pending_option}: an option without a description (a tab-indented line)')
        return lineno
    if rest.lstrip(' ').startswith('*-'):
        raise PageError(f'{where}:{lineno}: in OPTIONS only option lines, at column 0, start with *-: {raw!r}')
    if pending_option and raw.strip():
        if depth == 0:
            raise PageError(f'{where}:{pending_option}: an option without a description (a tab-indented line)')
        return None
    return pending_option


def render(path):
    """Returns (name, text) of one page."""
    where = os.path.basename(path)
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().split('\n')
    except (OSError, UnicodeDecodeError) as e:
        raise PageError(f'{path}: {e}') from e
    if lines and lines[-1] == '':
        lines.pop()
    if not lines or not PREAMBLE.match(lines[0]):
        raise PageError(f'{where}:1: the first line must be scdoc\'s preamble, NAME(SECTION)')
    name, section = PREAMBLE.match(lines[0]).group(1, 2)
    if where != f'{name}.{section}.scd':
        raise PageError(f'{where}:1: the preamble names {name}({section}): the file should be {name}.{section}.scd')
    short = name[len('heapsnap-'):] if name.startswith('heapsnap-') else name

    out = []
    inline = Inline(where)
    literal_depth = None  # tabs before the ``` that opened the literal block we are in
    in_options = False
    pending_option = None
    sections = []
    after_heading = False  # only blank lines since the last heading

    def blank():
        if out and out[-1] != '':
            out.append('')

    for lineno, raw in enumerate(lines[1:], start=2):
        if '\r' in raw:
            raise PageError(f'{where}:{lineno}: a carriage return: the page must have Unix line ends')
        depth, rest = tabs_of(raw)
        if literal_depth is not None:
            if rest == '```':
                literal_depth = None
                continue
            body = raw[min(depth, literal_depth):].expandtabs(8)
            text = re.sub(r'\\(.)', r'\1', body)
            indent = TEXT_INDENT * (literal_depth + 2)
            out.append((' ' * indent + text).rstrip() if text.strip() else '')
            continue
        if rest == '```':
            inline.end_paragraph(lineno)
            literal_depth = depth
            after_heading = False
            continue
        if raw.startswith(';') and (len(raw) == 1 or raw[1] == ' '):
            continue  # scdoc's comment
        pending_option = check_options_line(where, lineno, raw, in_options, pending_option)
        if not raw.strip():
            inline.end_paragraph(lineno)
            if not after_heading:  # as man: a heading's text follows it on the next line
                blank()
            continue
        heading = re.match(r'^(#{1,2}) (.+)$', raw)
        if heading:
            inline.end_paragraph(lineno)
            if pending_option:
                raise PageError(f'{where}:{pending_option}: an option without a description (a tab-indented line)')
            title = heading.group(2).strip()
            if len(heading.group(1)) == 1:
                title = title.upper()
                sections.append(title)
                in_options = title == 'OPTIONS'
                blank()
                out.append(title)
            else:
                blank()
                out.append('  ' + title)
            after_heading = True
            continue
        if raw.startswith('#'):
            raise PageError(f'{where}:{lineno}: a heading is "# NAME" or "## NAME": {raw!r}')
        if TABLE_ROW.match(rest):
            raise PageError(f'{where}:{lineno}: scdoc tables are not rendered as help text: use indented lines')
        text = inline.line(rest, lineno)
        out.append((' ' * (TEXT_INDENT * (depth + 1)) + text).rstrip())
        after_heading = False
    if literal_depth is not None:
        raise PageError(f'{where}: a literal block (```) is not closed at the end of the page')
    inline.end_paragraph(len(lines))
    if pending_option:
        raise PageError(f'{where}:{pending_option}: an option without a description (a tab-indented line)')
    if 'NAME' not in sections:
        raise PageError(f'{where}: the page has no NAME section')
    while out and out[-1] == '':
        out.pop()
    while out and out[0] == '':
        out.pop(0)
    return short, '\n'.join(out) + '\n'


def c_string(text, indent):
    """text as adjacent C string literals, one per line of text, ASCII only."""
    pieces = []
    for line in text.splitlines(keepends=True):
        s = []
        prev = ''
        for byte in line.encode('utf-8'):
            ch = chr(byte)
            if ch == '\\':
                s.append('\\\\')
            elif ch == '"':
                s.append('\\"')
            elif ch == '\n':
                s.append('\\n')
            elif ch == '?' and prev == '?':
                s.append('\\?')  # no trigraph: -std=c11 reads ??( as [
            elif byte < 0x20 or byte >= 0x7f:
                s.append('\\%03o' % byte)  # three digits: a digit after it cannot join the escape
            else:
                s.append(ch)
            prev = ch
        pieces.append('"' + ''.join(s) + '"')
    return ('\n' + ' ' * indent).join(pieces) if pieces else '""'


def write_c(pages, sources):
    names = ', '.join(os.path.basename(s) for s in sources)
    out = ['/* help_pages.c - generated by scripts/man_to_help.py from the man pages in docs/man',
           ' * (' + names.replace('*/', '* /') + '): do not edit; edit the .scd pages. */',
           '#include <stddef.h>',
           '',
           'struct help_page {',
           '    const char *name;',
           '    const char *text;',
           '};',
           '',
           'const struct help_page help_pages[] = {']
    for name, text in pages:
        out.append('    {' + c_string(name, 0) + ',')
        out.append('     ' + c_string(text, 5) + '},')
    out.append('    {NULL, NULL},')
    out.append('};')
    return '\n'.join(out) + '\n'


def main():
    ap = argparse.ArgumentParser(description='heapsnap man pages (scdoc) to a C file of plain-text help pages')
    ap.add_argument('-o', '--output', help='the C file to write (default: standard output)')
    ap.add_argument('pages', nargs='+', metavar='PAGE.scd')
    args = ap.parse_args()
    pages, seen = [], {}
    try:
        for path in args.pages:
            name, text = render(path)
            if name in seen:
                raise PageError(f'{path}: page "{name}" is also {seen[name]}')
            seen[name] = path
            pages.append((name, text))
    except PageError as e:
        print(f'man_to_help.py: {e}', file=sys.stderr)
        return 1
    c = write_c(pages, args.pages)
    if not args.output:
        sys.stdout.write(c)
        return 0
    tmp = f'{args.output}.tmp.{os.getpid()}'
    try:
        with open(tmp, 'w', encoding='ascii') as f:
            f.write(c)
        os.replace(tmp, args.output)
    except OSError as e:
        print(f'man_to_help.py: {args.output}: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
