#!/usr/bin/env node
// Checks the HTML report page itself against the fixtures, in headless
// Chromium through probe.mjs:
//
//   node tests/browser/check_page.mjs [REPO_ROOT]
//
// Each fixture is made into a page as heapsnap html would
// (scripts/inline_web.py --html-out), probed once with many --eval
// expressions, and what the page shows (flame graph nodes, tooltip text,
// tables, search) is compared with numbers this script computes from the
// fixture's JSON on its own. Prints one line per failure and
// "N passed, N failed"; exits 1 when any failed, 2 when it could not run.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.argv[2] || path.join(here, '..', '..'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heapsnap-check-page-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

let passed = 0;
let failed = 0;

function check(name, ok, detail) {
    if (ok) passed++;
    else {
        failed++;
        console.log('FAIL ' + name + (detail !== undefined ? ': ' + detail : ''));
    }
}

function equal(name, got, want) {
    const a = JSON.stringify(got);
    const b = JSON.stringify(want);
    check(name, a === b, 'got ' + a + ', want ' + b);
}

function page(fixture) {
    const html = path.join(tmp, path.basename(fixture, '.json') + '.html');
    execFileSync('python3', [
        path.join(root, 'scripts', 'inline_web.py'),
        '--web-dir',
        path.join(root, 'web'),
        '--html-out',
        html,
        '--data',
        fixture,
    ]);
    return html;
}

// Runs the probe with the expressions and returns its JSON, results keyed
// like the expressions object.
function probe(html, exprs) {
    const keys = Object.keys(exprs);
    const args = [path.join(here, 'probe.mjs'), html];
    for (const k of keys) args.push('--eval', exprs[k]);
    let out;
    try {
        out = JSON.parse(execFileSync('node', args, { encoding: 'utf8' }));
    } catch (e) {
        console.log('check_page: the probe failed: ' + (e.stderr || e.message).toString().trim());
        process.exit(2);
    }
    const results = {};
    keys.forEach((k, i) => (results[k] = out.results[i]));
    return { ...out, results };
}

// Each stack as its frames, root first, from the document's prefix tree.
function withPaths(doc) {
    const nodes = doc.stack_nodes;
    const path = (leaf) => {
        const out = [];
        for (let n = leaf; n >= 0; n = nodes[2 * n]) out.unshift(nodes[2 * n + 1]);
        return out;
    };
    return { ...doc, stacks: doc.stacks.map(path) };
}

// The fixture's own answer: per function name, the rows' values summed over
// the stacks that hold the name (once per stack, whatever the recursion).
function expectedFrames(doc, rows, { fold = false } = {}) {
    const out = {};
    for (const row of rows) {
        let stack = doc.stacks[row[0]];
        if (fold) {
            const own = stack.filter((f) => !doc.frames[f].lib);
            stack = own.length ? own : stack.slice(0, 1);
        }
        for (const name of new Set(stack.map((f) => doc.frames[f].fn))) {
            const t = out[name] || (out[name] = { value: 0, count: 0 });
            t.value += row[1];
            t.count += row[2];
        }
    }
    return out;
}

function sorted(o) {
    return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function liveAt(doc, k) {
    const by = new Map();
    for (const [s, a, f, b, n] of doc.temporal) {
        if (a <= k && (f === -1 || f > k)) {
            const [ob, on] = by.get(s) || [0, 0];
            by.set(s, [ob + b, on + n]);
        }
    }
    return [...by].map(([s, [b, n]]) => [s, b, n]);
}

function allocatedIn(doc, i, j) {
    const by = new Map();
    for (const [s, a, f, b, n] of doc.temporal) {
        if (i < a && a <= j && (f === -1 || f > j)) {
            const [ob, on] = by.get(s) || [0, 0];
            by.set(s, [ob + b, on + n]);
        }
    }
    return [...by].map(([s, [b, n]]) => [s, b, n]);
}

const sum = (rows, i = 1) => rows.reduce((a, r) => a + r[i], 0);

function checkReport() {
    const fixture = path.join(here, 'fixtures', 'report.json');
    const doc = withPaths(JSON.parse(fs.readFileSync(fixture, 'utf8')));
    const views = [
        'peak',
        'end',
        'allocated',
        'calls',
        'temporary',
        'leaked:definite',
        'leaked:indirect',
        'leaked:possible',
        'leaked:reachable',
    ];
    const exprs = { views: 'heapsnapTest.views()' };
    for (const v of views) {
        exprs['frames ' + v] = `(heapsnapTest.show(${JSON.stringify(v)}), heapsnapTest.frames())`;
        exprs['total ' + v] = 'heapsnapTest.total()';
    }
    exprs['frames folded'] = '(heapsnapTest.show("peak"), heapsnapTest.set("fold", true), heapsnapTest.frames())';
    exprs['title folded'] = 'heapsnapTest.title()';
    exprs['frames callers'] =
        '(heapsnapTest.set("fold", false), heapsnapTest.set("callers", true), heapsnapTest.frames())';
    exprs['reset'] = '(heapsnapTest.set("callers", false), heapsnapTest.reset())';
    exprs['tooltip build_cache'] = 'heapsnapTest.tooltip("build_cache")';
    exprs['tooltip unsymbolized'] = 'heapsnapTest.tooltip("0x7f12a3b4c5d6")';
    exprs['tooltip absent'] = 'heapsnapTest.tooltip("no_such_function")';
    exprs['search build'] = 'heapsnapTest.search("BUILD")';
    exprs['search recurse'] = 'heapsnapTest.search("recurse")';
    exprs['search none'] = 'heapsnapTest.search("zzz")';
    exprs['search clear'] = 'heapsnapTest.search("")';
    exprs['table peak'] = 'heapsnapTest.table()';
    exprs['title peak'] = 'heapsnapTest.title()';
    exprs['zoom recurse'] = 'heapsnapTest.zoom("recurse")';
    exprs['total zoomed'] = 'heapsnapTest.total()';
    exprs['frames zoomed'] = 'heapsnapTest.frames()';
    exprs['reset zoom'] = 'heapsnapTest.reset()';
    for (let k = 0; k < doc.timeline.t.length; k++)
        exprs['point ' + k] = `(heapsnapTest.selectPoint(${k}), [heapsnapTest.total(), heapsnapTest.frames()])`;
    exprs['title point'] = '(heapsnapTest.selectPoint(8), heapsnapTest.title())';
    for (const m of doc.markers)
        exprs['marker ' + m.label] =
            `(heapsnapTest.selectMarker(${JSON.stringify(m.label)}), [heapsnapTest.total(), heapsnapTest.title()])`;
    exprs['range'] = '(heapsnapTest.selectRange(10, 20), [heapsnapTest.frames(), heapsnapTest.title()])';
    exprs['range table'] = 'heapsnapTest.table()';
    exprs['back'] = '(document.getElementById("temporal-back").click(), heapsnapTest.title())';
    exprs['leak records'] = 'heapsnapTest.leakRecords()';
    exprs['chart click'] = `(() => {
        const o = document.querySelector("#chart .u-over"), r = o.getBoundingClientRect();
        // x runs from t[0] = 0 to t[last] = 0.5 s: a quarter of the way is 0.125 s, the marker "warm".
        const at = (x) => ({bubbles: true, view: window, button: 0, movementX: 3, clientX: r.left + x * r.width, clientY: r.top + r.height / 2});
        const click = (x) => { o.dispatchEvent(new MouseEvent("mousedown", at(x))); document.dispatchEvent(new MouseEvent("mouseup", at(x))); o.dispatchEvent(new MouseEvent("click", at(x))); return heapsnapTest.title(); };
        const drag = (x0, x1) => { o.dispatchEvent(new MouseEvent("mousemove", at(x0))); o.dispatchEvent(new MouseEvent("mousedown", at(x0)));
            o.dispatchEvent(new MouseEvent("mousemove", at((x0 + x1) / 2))); o.dispatchEvent(new MouseEvent("mousemove", at(x1)));
            document.dispatchEvent(new MouseEvent("mouseup", at(x1))); o.dispatchEvent(new MouseEvent("click", at(x1))); return heapsnapTest.title(); };
        return [click(0.25), click(0.3), drag(0.2, 0.6)];
    })()`;

    const out = probe(page(fixture), exprs);
    const r = out.results;
    equal('report: console errors', out.console_errors, []);
    equal('report: requests', out.requests, []);
    check('report: ready in 20 s', out.ready_ms > 0 && out.ready_ms < 20000, out.ready_ms);
    equal('report: views', r.views, views);
    for (const v of views) {
        const rows = v.startsWith('leaked:') ? doc.views.leaked[v.slice(7)] : doc.views[v];
        equal('report: frames of ' + v, sorted(r['frames ' + v]), sorted(expectedFrames(doc, rows)));
        equal('report: total of ' + v, r['total ' + v], sum(rows));
    }
    equal(
        'report: frames folded',
        sorted(r['frames folded']),
        sorted(expectedFrames(doc, doc.views.peak, { fold: true }))
    );
    check('report: title says folded', /library frames folded/.test(r['title folded']), r['title folded']);
    equal(
        'report: frames of the callers view',
        sorted(r['frames callers']),
        sorted(expectedFrames(doc, doc.views.peak))
    );
    equal(
        'report: tooltip of build_cache',
        r['tooltip build_cache'],
        'build_cache\nsamples/phases.c:42, 47 · phases\n104,000 bytes (102 KiB) · 53 blocks\n87.0% of 119,576 bytes'
    );
    equal('report: tooltip of an unsymbolized frame', r['tooltip unsymbolized'], null); // not live at the peak
    equal('report: tooltip of no function', r['tooltip absent'], null);
    equal(
        'report: search BUILD',
        [r['search build'].matches, r['search build'].value, r['search build'].count],
        [1, 104000, 53]
    );
    // recurse is three frames deep in one stack: three matches, counted once.
    equal('report: search recurse', [r['search recurse'].matches, r['search recurse'].value], [3, 8000]);
    equal(
        'report: search with no match',
        [r['search none'].matches, r['search none'].value, r['search none'].text],
        [0, 0, '“zzz” matches no frame']
    );
    equal('report: search cleared', [r['search clear'].matches, r['search clear'].text], [0, '']);
    equal(
        'report: call sites at the peak',
        r['table peak'].map((x) => [x.function, x.site, x.bytes, x.blocks]),
        [
            ['xstrdup', 'samples/util.c:12', 47000, 65],
            ['build_cache', 'samples/phases.c:47', 40000, 1],
            ['build_cache', 'samples/phases.c:42', 16000, 4],
            ['make_node', 'samples/tree.cc:15', 8480, 10],
            ['_dl_allocate_tls', 'ld-linux-x86-64.so.2', 4096, 1],
            ['parse_line', 'samples/phases.c:30', 3000, 3],
            ['leak_some', 'samples/phases.c:80', 1000, 1],
        ]
    );
    equal(
        'report: title of the peak',
        r['title peak'],
        'Live at the peak (0.250 s): 119,576 bytes (117 KiB) · 85 blocks'
    );
    equal(
        'report: zoom into recurse',
        [r['zoom recurse'], r['total zoomed'], r['frames zoomed'].main],
        [true, 8000, { value: 8000, count: 4 }]
    );
    for (let k = 0; k < doc.timeline.t.length; k++) {
        const [total, frames] = r['point ' + k];
        equal(
            'report: live at point ' + k,
            [total, sorted(frames)],
            [doc.timeline.bytes[k], sorted(expectedFrames(doc, liveAt(doc, k)))]
        );
    }
    equal(
        'report: title of a point',
        r['title point'],
        'Live at 0.100000 s (point 8): 41,736 bytes (40.8 KiB) · 66 blocks'
    );
    for (const m of doc.markers) {
        const [total, title] = r['marker ' + m.label];
        equal('report: marker ' + m.label, total, doc.timeline.bytes[m.point]);
        check(
            'report: title names marker ' + m.label,
            title.startsWith('Live at marker “' + m.label + '” (' + m.kind + ', '),
            title
        );
    }
    equal('report: range 10-20', sorted(r['range'][0]), sorted(expectedFrames(doc, allocatedIn(doc, 10, 20))));
    equal(
        'report: title of range 10-20',
        r['range'][1],
        'Allocated after 0.125000 s up to 0.250000 s and still live at 0.250000 s (points 10–20): 68,480 bytes (66.9 KiB) · 19 blocks'
    );
    equal(
        'report: call sites of range 10-20',
        r['range table'].map((x) => [x.function, x.bytes]),
        [
            ['build_cache', 40000],
            ['build_cache', 16000],
            ['make_node', 8480],
            ['parse_line', 3000],
            ['leak_some', 1000],
        ]
    );
    equal('report: back to the views', r['back'], 'Live at the peak (0.250 s): 119,576 bytes (117 KiB) · 85 blocks');
    equal(
        'report: leak records',
        r['leak records'].map((x) => [x.kind, x.bytes, x.blocks, x.stack]),
        [
            ['still reachable', 4096, 1, '_dl_allocate_tls'],
            ['still reachable', 3000, 3, 'parse_line ← build_cache ← main'],
            ['still reachable', 2000, 20, 'xstrdup ← load_config ← main'],
            ['possibly lost', 1200, 2, 'make_node ← recurse ← recurse ← recurse ← …'],
            ['definitely lost', 1000, 1, 'leak_some ← main'],
            ['indirectly lost', 480, 6, 'make_node ← leak_some ← main'],
        ]
    );
    const [onMarker, onPoint, onRange] = r['chart click'];
    check('report: a click on a marker line picks the marker', onMarker.startsWith('Live at marker “warm”'), onMarker);
    check('report: a click picks the nearest point', onPoint.startsWith('Live at 0.150000 s (point 12): '), onPoint);
    check(
        'report: a drag picks a range',
        onRange.startsWith(
            'Allocated after 0.100000 s up to 0.300000 s and still live at 0.300000 s (points 8–24): 54,880 bytes'
        ),
        onRange
    );
}

function checkDiff() {
    const fixture = path.join(here, 'fixtures', 'diff.json');
    const doc = withPaths(JSON.parse(fs.readFileSync(fixture, 'utf8')));
    const out = probe(page(fixture), {
        views: 'heapsnapTest.views()',
        frames: 'heapsnapTest.frames()',
        total: 'heapsnapTest.total()',
        tooltip: 'heapsnapTest.tooltip("build_cache")',
        table: 'heapsnapTest.table()',
        old: '(heapsnapTest.set("widths", "old"), [heapsnapTest.total(), heapsnapTest.title()])',
    });
    const r = out.results;
    equal('diff: console errors', out.console_errors, []);
    equal('diff: requests', out.requests, []);
    equal('diff: views', r.views, ['diff']);
    const newRows = doc.diff.filter((d) => d[2] > 0).map((d) => [d[0], d[2], d[4]]);
    const want = expectedFrames(doc, newRows);
    const got = {};
    for (const [k, v] of Object.entries(r.frames)) got[k] = { value: v.value, count: v.count };
    equal('diff: frames (new bytes)', sorted(got), sorted(want));
    equal('diff: total', r.total, sum(doc.diff, 2));
    equal(
        'diff: tooltip of build_cache',
        r.tooltip,
        'build_cache\nsamples/phases.c:42 · phases\nnew 3,000 bytes (2.93 KiB) in 3 blocks\nold 45,000 bytes (43.9 KiB) in 45 blocks\nshrunk by -42,000 bytes (-41.0 KiB), -42 blocks'
    );
    equal(
        'diff: first row (largest growth)',
        [r.table[0].function, r.table[0].old, r.table[0].new, r.table[0].delta],
        ['parse_line', 0, 3000, 3000]
    );
    equal(
        'diff: last row (largest shrink)',
        [r.table.at(-1).function, r.table.at(-1).delta, r.table.at(-1).deltaBlocks],
        ['xstrdup', -45000, -45]
    );
    equal('diff: widths by old bytes', r.old[0], sum(doc.diff, 1));
}

checkReport();
checkDiff();
console.log(passed + ' passed, ' + failed + ' failed');
process.exit(failed ? 1 : 0);
