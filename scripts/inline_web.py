#!/usr/bin/env python3
"""Builds heapsnap's self-contained HTML report template from web/.

Owns the build-time inlining: web/template.html gets web/report.css,
web/report.js and the pinned vendor files from web/node_modules written into
it (each vendor file preceded by its licence), so that the page heapsnap html
writes needs nothing but itself. Two outputs:

  --c-out FILE      a C source defining heapsnap_html_template (the template,
                    still holding the @HEAPSNAP_DATA@ placeholder) and
                    heapsnap_html_template_len; with --depfile, every file
                    read, for ninja
  --html-out FILE --data JSON
                    the finished page for a JSON document, substituted exactly
                    as heapsnap html does: for developing the page and for
                    tests/browser without the C side

Output depends only on the input files' contents: no dates, no paths, no
network.
"""
import argparse
import json
import os
import sys

PLACEHOLDER = "@HEAPSNAP_DATA@"

# The vendor files inlined, in load order. Each is (package, file in the
# package, kind). Licences come from the package's own LICENSE file; a bundle
# that carries other packages inside it names them in "bundles" so that their
# licences travel with it too.
VENDOR = [
    {"package": "uplot", "file": "dist/uPlot.min.css", "kind": "css"},
    {"package": "d3-selection", "file": "dist/d3-selection.min.js", "kind": "js"},
    {
        "package": "d3-flame-graph",
        "file": "dist/d3-flamegraph.min.js",
        "kind": "js",
        # webpack bundled these d3 modules into d3-flamegraph.min.js
        "bundles": [
            "d3-array", "d3-color", "d3-dispatch", "d3-ease", "d3-format", "d3-hierarchy", "d3-interpolate",
            "d3-scale", "d3-selection", "d3-time", "d3-time-format", "d3-timer", "d3-transition", "internmap",
        ],
    },
    {"package": "uplot", "file": "dist/uPlot.iife.min.js", "kind": "js"},
]

# Markers in web/template.html that this script replaces, each exactly once.
MARK_VENDOR_CSS = "/*@inline:vendor-css@*/"
MARK_REPORT_CSS = "/*@inline:report-css@*/"
MARK_VENDOR_JS = "/*@inline:vendor-js@*/"
MARK_REPORT_JS = "/*@inline:report-js@*/"


class BuildError(Exception):
    pass


def read_text(path, deps):
    deps.append(path)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise BuildError(f"{path} is missing")


def package_dir(web_dir, package):
    path = os.path.join(web_dir, "node_modules", package)
    if not os.path.isdir(path):
        raise BuildError(f"{path} is missing: run scripts/setup (it runs npm ci in web/)")
    return path


def package_version(web_dir, package, deps):
    meta = json.loads(read_text(os.path.join(package_dir(web_dir, package), "package.json"), deps))
    return meta["version"]


def licence_text(web_dir, package, deps):
    pdir = package_dir(web_dir, package)
    for name in ("LICENSE", "LICENSE.md", "LICENSE.txt", "license"):
        path = os.path.join(pdir, name)
        if os.path.exists(path):
            return read_text(path, deps).strip()
    raise BuildError(f"{pdir} has no LICENSE file")


def licence_comment(web_dir, entry, deps):
    """One comment block holding the licence of the file and of everything bundled in it."""
    main = entry["package"]
    parts = [f"{main} {package_version(web_dir, main, deps)}: {entry['file']}\n\n{licence_text(web_dir, main, deps)}"]
    # Bundled packages with the same licence text are listed together, once.
    by_text = {}
    for package in entry.get("bundles", []):
        text = licence_text(web_dir, package, deps)
        by_text.setdefault(text, []).append(package)
    # No versions: the bundle holds those its authors built it with, the
    # licence texts come from the versions npm installed beside it.
    for text, names in by_text.items():
        parts.append(f"Bundled in this file: {', '.join(names)}\n\n{text}")
    body = "\n\n----\n\n".join(parts)
    if "*/" in body:
        raise BuildError(f"the licence of {main} contains */ and cannot go in a comment")
    return "/*! " + body + "\n*/\n"


def check_inlinable(name, text, closing):
    """Text inlined in <script> or <style> must not end the element early."""
    lowered = text.lower()
    if closing in lowered or "<!--" in lowered:
        raise BuildError(f"{name} contains {closing} or <!--, which would break the inlined page")
    if PLACEHOLDER in text:
        raise BuildError(f"{name} contains the data placeholder {PLACEHOLDER}")


def replace_once(template, marker, text):
    if template.count(marker) != 1:
        raise BuildError(f"web/template.html must contain {marker} exactly once")
    return template.replace(marker, text)


def build_template(web_dir, deps):
    template = read_text(os.path.join(web_dir, "template.html"), deps)
    if template.count(PLACEHOLDER) != 1:
        raise BuildError(f"web/template.html must contain {PLACEHOLDER} exactly once")

    vendor = {"css": [], "js": []}
    for entry in VENDOR:
        path = os.path.join(package_dir(web_dir, entry["package"]), entry["file"])
        code = read_text(path, deps)
        closing = "</style" if entry["kind"] == "css" else "</script"
        check_inlinable(path, code, closing)
        vendor[entry["kind"]].append(licence_comment(web_dir, entry, deps) + code.strip() + "\n")

    report_css = read_text(os.path.join(web_dir, "report.css"), deps)
    report_js = read_text(os.path.join(web_dir, "report.js"), deps)
    check_inlinable("web/report.css", report_css, "</style")
    check_inlinable("web/report.js", report_js, "</script")

    page = template
    page = replace_once(page, MARK_VENDOR_CSS, "".join(vendor["css"]))
    page = replace_once(page, MARK_REPORT_CSS, report_css)
    page = replace_once(page, MARK_VENDOR_JS, "".join(vendor["js"]))
    page = replace_once(page, MARK_REPORT_JS, report_js)
    assert page.count(PLACEHOLDER) == 1
    return page


def c_source(page):
    data = page.encode("utf-8")
    lines = [
        "/* Generated by scripts/inline_web.py from web/: do not edit. The HTML report",
        " * template with every script and style inlined; heapsnap html substitutes the",
        " * JSON document for the one " + PLACEHOLDER + " in it. */",
        "const char heapsnap_html_template[] = {",
    ]
    # A byte array, not a string literal: string literals this long are beyond
    # what C11 requires compilers to accept. Bytes above 127 are written as
    # character constants, which take the value a char holds for that byte
    # whether char is signed or not.
    def byte(b):
        return str(b) if b < 128 else "'\\x%02x'" % b

    for i in range(0, len(data), 24):
        lines.append("    " + ",".join(byte(b) for b in data[i:i + 24]) + ",")
    lines.append("    0};")
    lines.append(f"const unsigned long heapsnap_html_template_len = {len(data)}UL;")
    return "\n".join(lines) + "\n"


def html_with_data(page, data_path, deps):
    document = read_text(data_path, deps)
    json.loads(document)  # bad JSON is the caller's mistake: say so here, not in the browser
    # As heapsnap html does: the document may not close the script element it sits in.
    document = document.strip().replace("<", "\\u003c")
    return page.replace(PLACEHOLDER, document, 1)


def write(path, text):
    """Replaces the file whole, so that a failed build leaves no half-written output."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-dir", required=True)
    parser.add_argument("--c-out")
    parser.add_argument("--depfile")
    parser.add_argument("--html-out")
    parser.add_argument("--data")
    args = parser.parse_args()
    if not args.c_out and not args.html_out:
        parser.error("give --c-out or --html-out")
    if args.html_out and not args.data:
        parser.error("--html-out needs --data")

    deps = []
    try:
        page = build_template(args.web_dir, deps)
        if args.c_out:
            write(args.c_out, c_source(page))
            if args.depfile:
                quoted = " ".join(os.path.abspath(d).replace(" ", "\\ ") for d in deps)
                write(args.depfile, f"{args.c_out}: {quoted}\n")
        if args.html_out:
            write(args.html_out, html_with_data(page, args.data, deps))
    except (BuildError, json.JSONDecodeError) as e:
        print(f"inline_web.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
