/* heapsnap's HTML report: reads the JSON document (version 1) that heapsnap
 * html put in #heapsnap-data and draws it: the summary, the heap over time
 * (uPlot), flame graphs of each view (d3-flame-graph), the temporal view
 * picked on the chart, the call-site and leak tables, and, for a diff
 * document, the differential flame graph and its table. window.heapsnapTest
 * at the end lets tests/browser/probe.mjs read what the page shows.
 *
 * Sections, one concern each: formatting; the document and its model; views
 * and the temporal computation; flame graph trees; the flame graph widget;
 * the timeline chart; tables; the summary; the page controller; the test API;
 * start-up. Nothing here touches the network: the page's Content Security
 * Policy forbids it anyway. */
(function () {
    'use strict';

    // ------------------------------------------------------------ formatting
    // Fixed formats, not the reader's locale: tests and bug reports quote the
    // same text on every machine.

    function groupDigits(n) {
        const sign = n < 0 ? '-' : '';
        const s = String(Math.round(Math.abs(n)));
        return sign + s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    }

    const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

    function humanBytes(n) {
        let v = Math.abs(n);
        let u = 0;
        while (v >= 1024 && u < BYTE_UNITS.length - 1) {
            v /= 1024;
            u++;
        }
        const digits = u === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
        return (n < 0 ? '-' : '') + v.toFixed(digits) + ' ' + BYTE_UNITS[u];
    }

    function signed(text, n) {
        return n > 0 ? '+' + text : text;
    }

    function seconds(s) {
        if (s === null || s === undefined || !isFinite(s)) return '?';
        const a = Math.abs(s);
        return s.toFixed(a < 10 ? 3 : a < 100 ? 2 : 1) + ' s';
    }

    // A timeline point's time as `heapsnap stats TRACE@Ts` takes it: to the
    // microsecond, the precision its points are placed at, so two points
    // with different heaps never read alike.
    // A marker's point is at the marker's own moment, to the nanosecond
    // (rounded up, so the time names the heap with the marker's events in).
    function pointTime(s) {
        if (s === null || s === undefined || !isFinite(s)) return '?';
        const us = s * 1e6;
        return s.toFixed(Math.abs(us - Math.round(us)) < 1e-3 ? 6 : 9) + ' s';
    }

    function percent(part, whole) {
        if (!whole) return '0%';
        const p = (100 * part) / whole;
        if (p !== 0 && Math.abs(p) < 0.1) return (p < 0 ? '>-' : '<') + '0.1%';
        return p.toFixed(1) + '%';
    }

    // "1 block", "2 blocks"; bytes also say their size in binary units.
    function quantity(n, unit) {
        if (unit === 'bytes') {
            const exact = groupDigits(n) + (Math.abs(n) === 1 ? ' byte' : ' bytes');
            return Math.abs(n) < 1024 ? exact : exact + ' (' + humanBytes(n) + ')';
        }
        const singular = unit.replace(/s$/, '');
        return groupDigits(n) + ' ' + (Math.abs(n) === 1 ? singular : unit);
    }

    function shortQuantity(n, unit) {
        return unit === 'bytes' ? humanBytes(n) : groupDigits(n);
    }

    // A small DOM builder: el('td', {class: 'num', title: 'x'}, 'text', childNode).
    function el(tag, attrs, ...children) {
        const node = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === null || v === undefined || v === false) continue;
            if (k === 'class') node.className = v;
            else if (k === 'dataset') Object.assign(node.dataset, v);
            else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
            else node.setAttribute(k, v === true ? '' : v);
        }
        for (const c of children.flat()) {
            if (c === null || c === undefined || c === false) continue;
            node.append(c instanceof Node ? c : String(c));
        }
        return node;
    }

    const $ = (id) => document.getElementById(id);

    // ------------------------------------------------- the document and model

    class ReportError extends Error {}

    function loadDocument() {
        const text = $('heapsnap-data').textContent;
        if (text.trim() === '@HEAPSNAP_' + 'DATA@') {
            throw new ReportError(
                'This is the report template without data: make a report with "heapsnap html TRACE -o report.html".'
            );
        }
        let doc;
        try {
            doc = JSON.parse(text);
        } catch (e) {
            throw new ReportError('The report data is not valid JSON: ' + e.message);
        }
        if (!doc || doc.version !== 1) {
            throw new ReportError(
                'This page reads version 1 of the report data, the file has version ' + (doc && doc.version) + '.'
            );
        }
        if (doc.kind !== 'report' && doc.kind !== 'diff')
            throw new ReportError('Unknown report kind "' + doc.kind + '".');
        if (!Array.isArray(doc.frames) || !Array.isArray(doc.stacks) || !Array.isArray(doc.stack_nodes))
            throw new ReportError('The report data has no frames or stacks.');
        doc.stacks = expandStacks(doc.stack_nodes, doc.stacks, doc.frames.length);
        return doc;
    }

    // The document writes stacks as a tree of shared prefixes (stack_nodes:
    // parent, frame pairs; stacks: leaf nodes), so a deep recursion costs
    // nodes, not frames squared. The rest of the page wants each stack as its
    // frames, root first.
    function expandStacks(nodes, leaves, nframes) {
        const n = nodes.length >> 1;
        const depth = new Int32Array(n);
        for (let i = 0; i < n; i++) {
            const parent = nodes[2 * i], frame = nodes[2 * i + 1];
            if (parent >= i || parent < -1 || !(frame >= 0 && frame < nframes))
                throw new ReportError('The report data has a malformed stack tree (node ' + i + ').');
            depth[i] = parent < 0 ? 1 : depth[parent] + 1;
        }
        return leaves.map((leaf) => {
            if (leaf < 0) return [];
            if (!(leaf < n)) throw new ReportError('The report data names a stack node it does not have.');
            const path = new Array(depth[leaf]);
            for (let node = leaf, k = depth[leaf] - 1; node >= 0; node = nodes[2 * node], k--) path[k] = nodes[2 * node + 1];
            return path;
        });
    }

    // What the flame graphs and tables need from frames and stacks, computed
    // once: frames grouped into functions (the flame graph merges calls from
    // different lines of one function into one box), each stack's call site
    // (its innermost frame that is not a library's) and its path with library
    // frames folded into their callers.
    class Model {
        constructor(doc) {
            this.doc = doc;
            this.frames = doc.frames;
            this.stacks = doc.stacks;
            this.funcs = [];
            this.funcOf = new Int32Array(this.frames.length);
            const byKey = new Map();
            this.frames.forEach((f, i) => {
                const key = f.fn + '\0' + f.file + '\0' + f.module;
                let id = byKey.get(key);
                if (id === undefined) {
                    id = this.funcs.length;
                    byKey.set(key, id);
                    this.funcs.push({
                        name: f.fn,
                        lname: f.fn.toLowerCase(),
                        file: f.file,
                        module: f.module,
                        lib: !!f.lib,
                        unsymbolized: /^0x[0-9a-f]+$/i.test(f.fn) && !f.file,
                    });
                }
                this.funcOf[i] = id;
            });
            this.siteOf = new Int32Array(this.stacks.length);
            this.stacks.forEach((st, s) => {
                let site = st.length ? st[st.length - 1] : -1;
                for (let i = st.length - 1; i >= 0; i--) {
                    if (!this.frames[st[i]].lib) {
                        site = st[i];
                        break;
                    }
                }
                this.siteOf[s] = site;
            });
            this.foldedCache = new Map();
        }

        // The stack without library frames: their allocations count for the
        // nearest caller that is not a library's. A stack of library frames
        // only keeps its outermost one, so that nothing disappears.
        folded(s) {
            let path = this.foldedCache.get(s);
            if (!path) {
                const st = this.stacks[s];
                path = st.filter((fr) => !this.frames[fr].lib);
                if (!path.length && st.length) path = [st[0]];
                this.foldedCache.set(s, path);
            }
            return path;
        }

        location(frameIndex) {
            const f = this.frames[frameIndex];
            if (!f) return '';
            if (f.file) return f.line ? f.file + ':' + f.line : f.file;
            return f.module || '';
        }
    }

    // ----------------------------------------------- views and temporal views

    // Each view's rows are [stack, value, count]; what value and count mean
    // differs per view.
    const VIEW_INFO = {
        peak: { tab: 'Live at peak', value: 'bytes', count: 'blocks', what: 'Live at the peak' },
        end: { tab: 'Live at end', value: 'bytes', count: 'blocks', what: 'Live at the end' },
        allocated: { tab: 'Allocated', value: 'bytes', count: 'calls', what: 'Allocated over the whole run' },
        calls: { tab: 'Calls', value: 'calls', count: 'bytes', what: 'Allocation calls over the whole run' },
        temporary: {
            tab: 'Temporary',
            value: 'calls',
            count: 'bytes',
            what: 'Temporary allocations (freed with no other allocation in between on their thread)',
        },
    };
    const LEAK_KINDS = ['definite', 'indirect', 'possible', 'reachable'];
    const LEAK_WORDS = {
        definite: 'definitely lost',
        indirect: 'indirectly lost',
        possible: 'possibly lost',
        reachable: 'still reachable',
    };

    function viewInfo(name) {
        if (name.startsWith('leaked:')) {
            const kind = name.slice(7);
            return { tab: 'Leaked', value: 'bytes', count: 'blocks', what: 'Leaked: ' + (LEAK_WORDS[kind] || kind) };
        }
        return VIEW_INFO[name];
    }

    function availableViews(doc) {
        if (doc.kind === 'diff') return ['diff'];
        const views = doc.views || {};
        const names = Object.keys(VIEW_INFO).filter((v) => Array.isArray(views[v]));
        if (views.leaked) {
            for (const kind of LEAK_KINDS) if (Array.isArray(views.leaked[kind])) names.push('leaked:' + kind);
        }
        return names;
    }

    function viewRows(doc, name) {
        if (name.startsWith('leaked:')) return doc.views.leaked[name.slice(7)];
        return doc.views[name];
    }

    // The "temporal" rows in columns, for the point and range sums below,
    // which run on every click of the chart.
    class Temporal {
        constructor(rows, nStacks) {
            const n = rows ? rows.length : 0;
            this.n = n;
            this.nStacks = nStacks;
            this.s = new Int32Array(n);
            this.a = new Int32Array(n);
            this.f = new Int32Array(n);
            this.bytes = new Float64Array(n);
            this.blocks = new Float64Array(n);
            for (let i = 0; i < n; i++) {
                const r = rows[i];
                this.s[i] = r[0];
                this.a[i] = r[1];
                this.f[i] = r[2];
                this.bytes[i] = r[3];
                this.blocks[i] = r[4];
            }
        }

        // Rows [stack, bytes, blocks] summed per stack over the rows that
        // keep(a, f) accepts.
        sum(keep) {
            const bytes = new Float64Array(this.nStacks);
            const blocks = new Float64Array(this.nStacks);
            const touched = [];
            for (let i = 0; i < this.n; i++) {
                if (!keep(this.a[i], this.f[i])) continue;
                const s = this.s[i];
                if (bytes[s] === 0 && blocks[s] === 0) touched.push(s);
                bytes[s] += this.bytes[i];
                blocks[s] += this.blocks[i];
            }
            touched.sort((x, y) => x - y);
            return touched.map((s) => [s, bytes[s], blocks[s]]);
        }

        // Live at timeline point k: allocated at or before it, not freed by it.
        liveAt(k) {
            return this.sum((a, f) => a <= k && (f === -1 || f > k));
        }

        // Allocated in (t[i], t[j]] and still live at t[j].
        allocatedIn(i, j) {
            return this.sum((a, f) => i < a && a <= j && (f === -1 || f > j));
        }
    }

    // --------------------------------------------------- flame graph trees
    // Rows become the nested {name, value, children} that d3-flame-graph
    // draws. Values are inclusive; each node also keeps its own (self)
    // numbers so that the widget can recount them when zoomed.

    // Every node has the same fields, diff ones included, so that the engine
    // keeps one shape for the hundreds of thousands of them.
    function newNode(func, frame, name) {
        return {
            func,
            frame,
            name,
            frames: null,
            children: null,
            value: 0,
            count: 0,
            selfValue: 0,
            selfCount: 0,
            old: 0,
            new: 0,
            oldCount: 0,
            newCount: 0,
            selfOld: 0,
            selfNew: 0,
            selfOldCount: 0,
            selfNewCount: 0,
            delta: 0,
        };
    }

    function byValueThenName(a, b) {
        return b.value - a.value || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    }

    // rows: [stack, value, count] (report) or [stack, old, new, oldBlocks,
    // newBlocks] (diff). callers: reversed stacks, allocation sites first.
    function buildTree(model, rows, opts) {
        const root = newNode(-1, -1, 'all');
        const diff = !!opts.diff;
        const useOld = diff && opts.widths === 'old';
        // One map for the whole tree, keyed by parent and function: much
        // cheaper than a map per node when there are 200,000 nodes.
        const nodes = [root];
        const childOf = new Map();
        const nFuncs = model.funcs.length + 1;
        for (const row of rows) {
            const s = row[0];
            const value = diff ? (useOld ? row[1] : row[2]) : row[1];
            const count = diff ? (useOld ? row[3] : row[4]) : row[2];
            const path = opts.fold ? model.folded(s) : model.stacks[s];
            const n = path.length;
            let node = root;
            let index = 0;
            for (let i = -1; i < n; i++) {
                if (i >= 0) {
                    const fr = opts.callers ? path[n - 1 - i] : path[i];
                    const func = model.funcOf[fr];
                    const key = index * nFuncs + func;
                    let childIndex = childOf.get(key);
                    if (childIndex === undefined) {
                        childIndex = nodes.length;
                        const child = newNode(func, fr, model.funcs[func].name);
                        nodes.push(child);
                        childOf.set(key, childIndex);
                        (node.children || (node.children = [])).push(child);
                    } else if (nodes[childIndex].frame !== fr) {
                        // Calls from several lines of one function: the tooltip lists them.
                        const child = nodes[childIndex];
                        if (!child.frames) child.frames = [child.frame];
                        if (!child.frames.includes(fr)) child.frames.push(fr);
                    }
                    index = childIndex;
                    node = nodes[index];
                }
                node.value += value;
                node.count += count;
                if (diff) {
                    node.old += row[1];
                    node.new += row[2];
                    node.oldCount += row[3];
                    node.newCount += row[4];
                }
            }
            node.selfValue += value;
            node.selfCount += count;
            if (diff) {
                node.selfOld += row[1];
                node.selfNew += row[2];
                node.selfOldCount += row[3];
                node.selfNewCount += row[4];
            }
        }
        // Widest first, then by name: sorted once here rather than by
        // d3-flame-graph on every zoom, which also keeps frames in place
        // while zooming.
        for (const nd of nodes) {
            if (diff) nd.delta = nd.new - nd.old;
            if (nd.children && nd.children.length > 1) nd.children.sort(byValueThenName);
        }
        return root;
    }

    // ------------------------------------------------ the flame graph widget

    // Colours: your code in oranges, library frames in blues, unsymbolized
    // frames in greys: orange and blue stay apart for every common colour
    // vision deficiency. A search dims everything but its matches, a change
    // of lightness that needs no hue to be seen. The diff colours grown
    // frames red and shrunk ones blue, and the tooltip says which by sign.
    const COLOURS = {
        root: '#c9ced6',
        match: '#de77ae',
        dimmed: '#eceef1',
        unchanged: '#f1f1f1',
    };

    function nameHash(name) {
        let h = 2166136261;
        for (let i = 0; i < name.length; i++) {
            h ^= name.charCodeAt(i);
            h = Math.imul(h, 16777619);
        }
        return (h >>> 0) / 4294967296;
    }

    function frameColour(func) {
        const v = nameHash(func.name);
        if (func.unsymbolized) return 'hsl(220, 8%, ' + (70 + 8 * v).toFixed(1) + '%)';
        if (func.lib) return 'hsl(' + (198 + 16 * v).toFixed(1) + ', 55%, ' + (63 + 12 * v).toFixed(1) + '%)';
        return 'hsl(' + (20 + 22 * v).toFixed(1) + ', 85%, ' + (58 + 14 * (1 - v)).toFixed(1) + '%)';
    }

    // ratio in [-1, 1]: the frame's change over the largest change.
    function diffColour(ratio) {
        if (!ratio) return COLOURS.unchanged;
        const strength = Math.sqrt(Math.min(1, Math.abs(ratio)));
        const lightness = (94 - 42 * strength).toFixed(1) + '%';
        return ratio > 0 ? 'hsl(4, 78%, ' + lightness + ')' : 'hsl(213, 78%, ' + lightness + ')';
    }

    const CELL_HEIGHT = 18;
    // Zooms animate, unless the reader asked their system for less motion.
    const ZOOM_MS = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches ? 0 : 250;

    class FlameGraph {
        // hooks.onZoom(node) after any zoom; hooks.onSearch(result).
        constructor(container, tooltip, model, hooks) {
            this.container = container;
            this.tooltip = tooltip;
            this.model = model;
            this.hooks = hooks;
            this.chart = null;
            this.root = null;
            this.units = { value: 'bytes', count: 'blocks' };
            this.diff = false;
            this.icicle = true;
            this.term = '';
            this.zoomed = null;
            this.focused = null;
            this.pointer = null;
            this.searchResult = { matches: 0, value: 0, count: 0, total: 0 };
            this.live = el('div', { class: 'visually-hidden', 'aria-live': 'polite' });
            container.after(this.live);
            // Where the mouse is, for placing the tooltip: recorded in the
            // capture phase, so before d3-flame-graph's own mouseover handler.
            container.addEventListener('mouseover', (e) => (this.pointer = e), true);
            container.addEventListener('mousemove', (e) => {
                this.pointer = e;
                if (!this.tooltip.hidden && !this.keyboardTip) this.placeTooltip(null);
            });
            container.addEventListener('mouseleave', () => this.hideTooltip());
            container.addEventListener('keydown', (e) => this.onKey(e));
            container.addEventListener('focus', () => {
                if (this.root && !this.focused) this.moveFocus(this.zoomed || this.root);
            });
            container.addEventListener('blur', () => {
                this.setFocusClass(null);
                this.hideTooltip();
            });
        }

        width() {
            return Math.max(200, this.container.clientWidth);
        }

        // Draws a new tree; keeps orientation and search, drops zoom.
        render(tree, opts) {
            this.destroy();
            this.units = opts.units;
            this.diff = !!opts.diff;
            this.maxDelta = 0;
            this.container.classList.toggle('is-empty', tree.value <= 0);
            if (tree.value <= 0) {
                this.container.replaceChildren(
                    el('p', { class: 'empty' }, opts.empty || 'Nothing to show in this view.')
                );
                this.searchResult = { matches: 0, value: 0, count: 0, total: 0 };
                if (this.hooks.onSearch) this.hooks.onSearch(this.searchResult, this.term);
                return;
            }
            this.container.replaceChildren();
            if (this.diff) this.maxDelta = maxAbsDelta(tree);
            const tip = () => {};
            tip.show = (d, element) => this.showTooltip(d, element, false);
            tip.hide = () => this.hideTooltip();
            /* global flamegraph, d3 */
            this.chart = flamegraph()
                .width(this.width())
                .cellHeight(CELL_HEIGHT)
                .minFrameSize(1)
                .transitionDuration(0)
                .inverted(this.icicle)
                .sort(false)
                .selfValue(false)
                .tooltip(tip)
                .setLabelHandler(() => '')
                .setDetailsHandler(() => {})
                .setColorMapper((d) => this.colour(d))
                .setSearchMatch((d, term) => d.depth > 0 && this.model.funcs[d.data.func].lname.includes(term))
                .setSearchHandler((results, sum, total) => this.onSearchResults(results, sum, total))
                .onClick((d) => this.afterZoom(d));
            d3.select(this.container).datum(tree).call(this.chart);
            this.root = d3.select(this.container).datum();
            this.nodes = this.root.descendants();
            this.zoomed = this.root;
            this.settle();
            // Unzoomed, every node's numbers are the tree's own.
            for (const n of this.nodes) {
                const d = n.data;
                n.count = d.count;
                n.old = d.old;
                n.new = d.new;
                n.oldCount = d.oldCount;
                n.newCount = d.newCount;
            }
            // Animate later changes (zoom, orientation) but not the first drawing.
            this.chart.transitionDuration(ZOOM_MS);
            if (this.term) this.search(this.term);
            else this.clearSearchResult();
        }

        // d3-flame-graph gives new frames their width and label in
        // transitions, even of zero length, that land a frame or two later.
        // The first drawing is set here at once, so that a browser taking a
        // picture at load (Firefox's --screenshot) or a test reading the
        // boxes right away sees the graph as drawn.
        settle() {
            const kx = this.chart.width();
            d3.select(this.container)
                .selectAll('g')
                .each(function (d) {
                    const rect = this.querySelector('rect');
                    if (rect) rect.setAttribute('width', (d.x1 - d.x0) * kx);
                    const label = this.querySelector('foreignObject div');
                    if (label) label.textContent = d.data.name;
                });
        }

        clearSearchResult() {
            this.searchResult = { matches: 0, value: 0, count: 0, total: this.root ? this.root.originalValue : 0 };
            if (this.hooks.onSearch) this.hooks.onSearch(this.searchResult, '');
        }

        destroy() {
            if (this.chart) this.chart.destroy();
            this.chart = null;
            this.root = null;
            this.nodes = [];
            this.zoomed = null;
            this.focused = null;
            this.hideTooltip();
            this.container.replaceChildren();
        }

        colour(d) {
            if (this.term) return d.highlight ? COLOURS.match : COLOURS.dimmed;
            if (this.diff) return diffColour(this.maxDelta ? d.data.delta / this.maxDelta : 0);
            if (d.depth === 0) return COLOURS.root;
            return frameColour(this.model.funcs[d.data.func]);
        }

        // d3-flame-graph recomputes node.value when it zooms (hidden siblings
        // count nothing, faded ancestors only through the zoomed frame); the
        // other numbers follow the same rule here so that what the tooltip
        // and the test API read agrees with the widths drawn.
        recount() {
            if (!this.root) return;
            const nodes = this.nodes;
            // Breadth-first order: parents before children, so the reverse
            // order meets children first.
            for (const n of nodes) n.hidden = !!n.data.hide || (n.parent !== null && n.parent.hidden);
            for (let i = nodes.length - 1; i >= 0; i--) {
                const n = nodes[i];
                const d = n.data;
                if (n.hidden) {
                    n.count = n.old = n.new = n.oldCount = n.newCount = 0;
                    continue;
                }
                const own = d.fade ? 0 : 1;
                let count = own * d.selfCount;
                let old = own * d.selfOld;
                let nw = own * d.selfNew;
                let oldCount = own * d.selfOldCount;
                let newCount = own * d.selfNewCount;
                if (n.children) {
                    for (const c of n.children) {
                        count += c.count;
                        old += c.old;
                        nw += c.new;
                        oldCount += c.oldCount;
                        newCount += c.newCount;
                    }
                }
                n.count = count;
                n.old = old;
                n.new = nw;
                n.oldCount = oldCount;
                n.newCount = newCount;
            }
        }

        afterZoom(d) {
            this.zoomed = d;
            this.recount();
            if (this.focused) this.setFocusClass(this.focused);
            if (this.hooks.onZoom) this.hooks.onZoom(d);
        }

        zoomTo(d) {
            if (this.chart && d) this.chart.zoomTo(d);
        }

        resetZoom() {
            if (this.chart) this.chart.resetZoom();
        }

        setOrientation(icicle) {
            this.icicle = icicle;
            if (!this.chart) return;
            this.chart.inverted(icicle).update();
            if (this.focused) this.setFocusClass(this.focused);
        }

        resize() {
            if (!this.chart) return;
            const w = this.width();
            if (w === this.chart.width()) return;
            this.chart.width(w).update();
        }

        // The search is a case-insensitive substring of function names. Its
        // value sums the outermost matching frames only, so that a recursive
        // function is not counted twice.
        search(term) {
            this.term = (term || '').trim().toLowerCase();
            if (!this.chart) {
                this.searchResult = { matches: 0, value: 0, count: 0, total: 0 };
                if (this.hooks.onSearch) this.hooks.onSearch(this.searchResult, this.term);
                return this.searchResult;
            }
            try {
                if (this.term) this.chart.search(this.term);
                else {
                    this.chart.clear();
                    this.clearSearchResult();
                }
            } catch (e) {
                // d3-flame-graph searches by recursion: stacks of some ten
                // thousand frames exhaust the JavaScript stack.
                if (!(e instanceof RangeError)) throw e;
                this.searchResult = {
                    matches: 0,
                    value: 0,
                    count: 0,
                    total: this.root.originalValue,
                    error: 'stacks too deep to search',
                };
                if (this.hooks.onSearch) this.hooks.onSearch(this.searchResult, this.term);
            }
            if (this.focused) this.setFocusClass(this.focused);
            return this.searchResult;
        }

        onSearchResults(results, sum, total) {
            let count = 0;
            for (const n of results) {
                let outer = true;
                for (let p = n.parent; p; p = p.parent) {
                    if (p.highlight) {
                        outer = false;
                        break;
                    }
                }
                if (outer) count += n.count;
            }
            this.searchResult = { matches: results.length, value: sum, count, total };
            if (this.hooks.onSearch) this.hooks.onSearch(this.searchResult, this.term);
        }

        // Per function name, the inclusive total of the graph as drawn now:
        // a frame adds its value only when no frame above it in its stack has
        // the same name, so recursion counts once.
        functionTotals() {
            const out = {};
            if (!this.root) return out;
            // How many frames of each name are open on the current path; an
            // explicit stack, since stacks may be thousands of frames deep.
            const open = new Map();
            const todo = [[this.root, true]];
            while (todo.length) {
                const [n, entering] = todo.pop();
                const name = n.data.name;
                if (!entering) {
                    open.set(name, open.get(name) - 1);
                    continue;
                }
                if (n.depth > 0) {
                    if (!n.value) continue;
                    if (!open.get(name)) {
                        const t = out[name] || (out[name] = { value: 0, count: 0 });
                        t.value += n.value;
                        t.count += n.count;
                        if (this.diff) {
                            t.old = (t.old || 0) + n.old;
                            t.delta = (t.delta || 0) + (n.new - n.old);
                        }
                    }
                    open.set(name, (open.get(name) || 0) + 1);
                    todo.push([n, false]);
                }
                if (n.children) for (let i = n.children.length - 1; i >= 0; i--) todo.push([n.children[i], true]);
            }
            return out;
        }

        elementOf(node) {
            let found = null;
            d3.select(this.container)
                .selectAll('g')
                .each(function (d) {
                    if (d === node) found = this;
                });
            return found;
        }

        // ---- tooltip

        tooltipLines(d) {
            const lines = [];
            const funcs = this.model.funcs;
            if (d.depth === 0) {
                lines.push({ cls: 'tt-name', text: 'all stacks' });
            } else {
                const func = funcs[d.data.func];
                lines.push({ cls: 'tt-name', text: d.data.name });
                let where = func.file ? this.lines(func, d.data.frames || [d.data.frame]) : 'no source file';
                if (func.module) where += ' · ' + func.module;
                if (func.lib) where += ' · library frame';
                if (func.unsymbolized) where += ' · unsymbolized';
                lines.push({ cls: 'tt-where', text: where });
            }
            const total = this.root.originalValue;
            if (this.diff) {
                const delta = d.new - d.old;
                const word = delta > 0 ? 'grown by ' : delta < 0 ? 'shrunk by ' : 'unchanged';
                lines.push({
                    cls: 'tt-value',
                    text: 'new ' + quantity(d.new, 'bytes') + ' in ' + quantity(d.newCount, 'blocks'),
                });
                lines.push({
                    cls: 'tt-value',
                    text: 'old ' + quantity(d.old, 'bytes') + ' in ' + quantity(d.oldCount, 'blocks'),
                });
                lines.push({
                    cls: delta > 0 ? 'tt-grown' : delta < 0 ? 'tt-shrunk' : 'tt-share',
                    text:
                        word +
                        (delta
                            ? signed(quantity(delta, 'bytes'), delta) +
                              ', ' +
                              signed(groupDigits(d.newCount - d.oldCount), d.newCount - d.oldCount) +
                              ' blocks'
                            : ''),
                });
            } else {
                lines.push({
                    cls: 'tt-value',
                    text: quantity(d.value, this.units.value) + ' · ' + quantity(d.count, this.units.count),
                });
                lines.push({
                    cls: 'tt-share',
                    text: percent(d.value, total) + ' of ' + quantity(total, this.units.value).replace(/ \(.*\)$/, ''),
                });
            }
            return lines;
        }

        // "file.c:42, 47": the lines of one function that the frame merges.
        lines(func, frames) {
            const lines = frames.map((fr) => this.model.frames[fr].line).filter((l) => l > 0);
            if (!lines.length) return func.file;
            const shown = lines.slice(0, 6).join(', ') + (lines.length > 6 ? ', …' : '');
            return func.file + ':' + shown;
        }

        showTooltip(d, element, fromKeyboard) {
            if (!this.root) return;
            const tip = this.tooltip;
            tip.replaceChildren(...this.tooltipLines(d).map((l) => el('div', { class: l.cls }, l.text)));
            tip.hidden = false;
            this.keyboardTip = fromKeyboard;
            this.placeTooltip(fromKeyboard ? element : null, element);
        }

        placeTooltip(anchor, element) {
            const tip = this.tooltip;
            let x, y;
            const p = this.pointer;
            if (!anchor && p) {
                x = p.clientX + 14;
                y = p.clientY + 16;
            } else {
                const r = (anchor || element).getBoundingClientRect();
                x = r.left + 8;
                y = r.bottom + 6;
            }
            const w = tip.offsetWidth;
            const h = tip.offsetHeight;
            if (x + w > window.innerWidth - 8) x = Math.max(8, window.innerWidth - w - 8);
            if (y + h > window.innerHeight - 8) y = Math.max(8, y - h - 30);
            tip.style.left = x + 'px';
            tip.style.top = y + 'px';
        }

        hideTooltip() {
            this.tooltip.hidden = true;
        }

        // ---- keyboard: arrows move between frames, Enter/Space zoom in, Escape zooms out

        onKey(e) {
            if (!this.root) return;
            const f = this.focused || this.zoomed || this.root;
            const towardLeaves = this.icicle ? 'ArrowDown' : 'ArrowUp';
            const towardRoot = this.icicle ? 'ArrowUp' : 'ArrowDown';
            const visible = (n) => n && n.value > 0 && this.elementOf(n);
            let next = null;
            if (e.key === towardLeaves && f.children) next = f.children.find(visible);
            else if (e.key === towardRoot) next = f.parent;
            else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
                const sibs = f.parent ? f.parent.children : [f];
                const i = sibs.indexOf(f);
                const step = e.key === 'ArrowLeft' ? -1 : 1;
                for (let j = i + step; j >= 0 && j < sibs.length; j += step) {
                    if (visible(sibs[j])) {
                        next = sibs[j];
                        break;
                    }
                }
            } else if (e.key === 'Enter' || e.key === ' ') {
                this.zoomTo(f);
                this.moveFocus(f);
                e.preventDefault();
                return;
            } else if (e.key === 'Escape') {
                const out = this.zoomed && this.zoomed.parent;
                if (out) {
                    this.zoomTo(out);
                    this.moveFocus(out);
                    e.preventDefault();
                }
                return;
            } else return;
            e.preventDefault();
            if (next && visible(next)) this.moveFocus(next);
        }

        moveFocus(node) {
            this.focused = node;
            const g = this.setFocusClass(node);
            if (g && document.activeElement === this.container) {
                this.showTooltip(node, g, true);
                this.live.textContent = this.tooltipLines(node)
                    .map((l) => l.text)
                    .join('. ');
            }
        }

        setFocusClass(node) {
            let found = null;
            d3.select(this.container)
                .selectAll('g')
                .each(function (d) {
                    const on = d === node;
                    this.classList.toggle('kb-focus', on);
                    if (on) found = this;
                });
            return found;
        }
    }

    function maxAbsDelta(tree) {
        let max = 0;
        const stack = [...(tree.children || [])];
        while (stack.length) {
            const n = stack.pop();
            max = Math.max(max, Math.abs(n.delta));
            if (n.children) stack.push(...n.children);
        }
        return max;
    }

    // ------------------------------------------------------ the timeline chart

    // Marker kinds get colours from Paul Tol's colour-blind-safe set and a
    // dash pattern each, and their label is written next to them.
    const MARKER_STYLE = {
        snapshot: { colour: '#332288', dash: [] },
        signal: { colour: '#cc3311', dash: [6, 3] },
        interval: { colour: '#117733', dash: [2, 3] },
        growth: { colour: '#aa4499', dash: [7, 2, 2, 2] },
        'leak-check': { colour: '#882255', dash: [10, 4] },
    };
    const MARKER_DEFAULT = { colour: '#555555', dash: [4, 4] };
    const SERIES = {
        bytes: { colour: '#0072b2', fill: 'rgba(0, 114, 178, 0.12)' },
        blocks: { colour: '#e69f00' },
        rss: { colour: '#6b6b6b' },
        mapped: { colour: '#009e73' },
    };

    // Tick steps for a bytes axis: round numbers of B, KiB, MiB... so that
    // the labels read 20 KiB, 40 KiB rather than 19.5 KiB, 39.1 KiB.
    const BYTE_INCREMENTS = [];
    for (let unit = 1; unit <= 1024 ** 5; unit *= 1024) {
        for (const m of [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500]) BYTE_INCREMENTS.push(m * unit);
    }

    class TimelineChart {
        // picks: {point(k), range(i, j), marker(m)}: what a click or drag chose.
        constructor(container, readout, doc, picks) {
            this.container = container;
            this.readout = readout;
            this.doc = doc;
            this.tl = doc.timeline;
            this.picks = picks;
            // RSS starts hidden: it is often far above the heap and would flatten its line.
            // Mapped memory shows from the start when the program mapped any: it is memory the heap line does not have.
            this.show = { bytes: true, blocks: false, rss: false, mapped: Array.isArray(doc.timeline.mapped) };
            this.selection = null;
            this.plot = null;
            this.justDragged = false;
            container.addEventListener('keydown', (e) => this.onKey(e));
        }

        build() {
            if (this.plot) this.plot.destroy();
            const tl = this.tl;
            const width = Math.max(300, this.container.clientWidth);
            const series = [{ label: 'time' }];
            const data = [tl.t];
            const axes = [
                {
                    // Ticks to the precision their spacing needs: a 10 ms run labels 0.001 s apart, not "0.001 s" twice.
                values: (u, splits) => {
                    const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 1;
                    const digits = Math.min(6, Math.max(0, Math.ceil(-Math.log10(step) + 1e-9)));
                    return splits.map((s) => s.toFixed(digits) + ' s');
                },
                    grid: { stroke: '#e6e8eb' },
                    ticks: { stroke: '#c9ced6' },
                },
            ];
            const scales = { x: { time: false } };
            const zeroBased = (u, min, max) => [0, max > 0 ? max * 1.08 : 1];
            const dashedBytes = (label, stroke, dash, w, values) => {
                series.push({ label, scale: 'bytes', stroke, dash, width: w, points: { show: false } });
                data.push(values);
            };
            const mapped = this.show.mapped && Array.isArray(tl.mapped);
            if (this.show.bytes || this.show.rss || mapped) {
                scales.bytes = { range: zeroBased };
                axes.push({
                    scale: 'bytes',
                    size: 76,
                    incrs: BYTE_INCREMENTS,
                    values: (u, splits) => splits.map((s) => humanBytes(s)),
                    grid: { stroke: '#e6e8eb' },
                    ticks: { stroke: '#c9ced6' },
                });
            }
            if (this.show.bytes) {
                series.push({
                    label: 'Live bytes',
                    scale: 'bytes',
                    stroke: SERIES.bytes.colour,
                    fill: SERIES.bytes.fill,
                    width: 1.5,
                    points: { show: false },
                });
                data.push(tl.bytes);
                // The most bytes live between two points: a spike between them
                // (the peak itself, mostly) is drawn, not lost.
                if (Array.isArray(tl.high)) dashedBytes('Highest between points', SERIES.bytes.colour, [2, 3], 1, tl.high);
            }
            if (mapped) dashedBytes('Mapped', SERIES.mapped.colour, [], 1.5, tl.mapped);
            if (this.show.rss) dashedBytes('RSS', SERIES.rss.colour, [5, 4], 1.25, tl.rss);
            if (this.show.blocks) {
                scales.blocks = { range: zeroBased };
                const onlyBlocks = !this.show.bytes && !this.show.rss && !mapped;
                axes.push({
                    scale: 'blocks',
                    side: onlyBlocks ? 3 : 1,
                    size: 64,
                    values: (u, splits) => splits.map((s) => groupDigits(s)),
                    grid: { show: onlyBlocks, stroke: '#e6e8eb' },
                    ticks: { stroke: '#c9ced6' },
                });
                series.push({
                    label: 'Live blocks',
                    scale: 'blocks',
                    stroke: SERIES.blocks.colour,
                    width: 1.5,
                    points: { show: false },
                });
                data.push(tl.blocks);
            }
            /* global uPlot */
            this.plot = new uPlot(
                {
                    width,
                    height: 280,
                    scales,
                    series,
                    axes,
                    legend: { show: false },
                    padding: [28, 12, 0, 0],
                    cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 7 } },
                    hooks: {
                        draw: [(u) => this.drawOverlay(u)],
                        setSelect: [(u) => this.onSelect(u)],
                        setCursor: [(u) => this.showReadout(u.cursor.idx)],
                    },
                },
                data,
                this.container
            );
            this.plot.over.addEventListener('click', (e) => this.onClick(e));
            this.plot.over.addEventListener('mouseleave', () => this.showReadout(null));
            this.showReadout(null);
        }

        resize() {
            if (!this.plot) return;
            const w = Math.max(300, this.container.clientWidth);
            if (w !== this.plot.width) this.plot.setSize({ width: w, height: 280 });
        }

        setSeries(name, on) {
            this.show[name] = on;
            this.build();
        }

        setSelection(sel) {
            this.selection = sel;
            if (this.plot) this.plot.redraw(false);
            this.showReadout(null);
        }

        xOf(u, k) {
            return u.valToPos(this.tl.t[k], 'x', true);
        }

        // Peak, markers and the selection, drawn on the chart's canvas after
        // the series. Labels go in up to three rows so that close markers do
        // not overwrite each other; the marker list below has them all.
        drawOverlay(u) {
            const ctx = u.ctx;
            const pr = uPlot.pxRatio;
            const { left, top, width, height } = u.bbox;
            ctx.save();
            ctx.beginPath();
            ctx.rect(left, top - 26 * pr, width, height + 26 * pr);
            ctx.clip();
            ctx.font = 11 * pr + 'px system-ui, sans-serif';
            ctx.textBaseline = 'top';

            const sel = this.selection;
            if (sel && sel.kind === 'range') {
                const x0 = this.xOf(u, sel.i);
                const x1 = this.xOf(u, sel.j);
                ctx.fillStyle = 'rgba(17, 17, 17, 0.08)';
                ctx.fillRect(x0, top, x1 - x0, height);
                ctx.strokeStyle = '#111';
                ctx.lineWidth = 1.5 * pr;
                ctx.setLineDash([]);
                for (const x of [x0, x1]) {
                    ctx.beginPath();
                    ctx.moveTo(x, top);
                    ctx.lineTo(x, top + height);
                    ctx.stroke();
                }
            }

            ctx.textAlign = 'left';
            // A label sits right of its line, or left of it near the right edge.
            const placed = [];
            const place = (x, text) => {
                const w = ctx.measureText(text).width + 10 * pr;
                const x0 = x + w > left + width ? x - w : x;
                for (let row = 0; row < 3; row++) {
                    if (placed.every((p) => p.row !== row || x0 > p.x0 + p.w || x0 + w < p.x0)) {
                        placed.push({ x0, w, row });
                        return { x0, w, row };
                    }
                }
                return null;
            };
            const drawLabel = (spot, text, colour) => {
                const y = top - 22 * pr + spot.row * 15 * pr;
                ctx.fillStyle = 'rgba(255, 255, 255, 0.92)';
                ctx.fillRect(spot.x0 + 2 * pr, y - 1 * pr, spot.w - 4 * pr, 14 * pr);
                ctx.fillStyle = colour;
                ctx.fillText(text, spot.x0 + 5 * pr, y);
            };
            const vline = (x, colour, dash, widthPx) => {
                ctx.strokeStyle = colour;
                ctx.lineWidth = widthPx * pr;
                ctx.setLineDash(dash.map((d) => d * pr));
                ctx.beginPath();
                ctx.moveTo(x, top);
                ctx.lineTo(x, top + height);
                ctx.stroke();
            };

            // The exact peak, at its own time and height: it is seldom on a point.
            const peak = this.doc.header && this.doc.header.peak;
            const labels = [];
            if (peak && isFinite(peak.time_s) && isFinite(peak.bytes)) {
                const x = u.valToPos(peak.time_s, 'x', true);
                vline(x, '#000', [], 1.25);
                if (this.show.bytes) {
                    const y = u.valToPos(peak.bytes, 'bytes', true);
                    ctx.fillStyle = '#000';
                    ctx.beginPath();
                    ctx.arc(x, y, 3.5 * pr, 0, 2 * Math.PI);
                    ctx.fill();
                }
                labels.push({ x, text: 'peak ' + humanBytes(peak.bytes), colour: '#000' });
            }
            for (const m of this.doc.markers || []) {
                if (!(m.point >= 0 && m.point < this.tl.t.length)) continue;
                const style = MARKER_STYLE[m.kind] || MARKER_DEFAULT;
                const x = this.xOf(u, m.point);
                vline(x, style.colour, style.dash, 1.25);
                labels.push({ x, text: m.label, colour: style.colour });
            }
            if (sel && sel.kind === 'point') {
                const x = this.xOf(u, sel.k);
                vline(x, '#111', [], 2.5);
                labels.push({ x, text: 'selected ' + pointTime(this.tl.t[sel.k]), colour: '#111', first: true });
            }
            // The selection's label first, so that it always finds a row.
            labels.sort((a, b) => (b.first ? 1 : 0) - (a.first ? 1 : 0));
            for (const l of labels) {
                const spot = place(l.x, l.text);
                if (spot) drawLabel(spot, l.text, l.colour);
            }
            ctx.restore();
        }

        onSelect(u) {
            const s = u.select;
            if (s.width < 4) return;
            this.justDragged = true;
            setTimeout(() => (this.justDragged = false), 0);
            const i = u.posToIdx(s.left);
            const j = u.posToIdx(s.left + s.width);
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            if (i === j) this.picks.point(i);
            else this.picks.range(Math.min(i, j), Math.max(i, j));
        }

        onClick(e) {
            if (this.justDragged) return;
            const u = this.plot;
            const x = e.offsetX;
            // A click on a marker's line picks the marker, not just its point.
            for (const m of this.doc.markers || []) {
                if (!(m.point >= 0 && m.point < this.tl.t.length)) continue;
                if (Math.abs(u.valToPos(this.tl.t[m.point], 'x') - x) <= 4) {
                    this.picks.marker(m);
                    return;
                }
            }
            const k = u.posToIdx(x);
            if (k !== null && k >= 0) this.picks.point(k);
        }

        onKey(e) {
            const last = this.tl.t.length - 1;
            const sel = this.selection;
            let k =
                sel && sel.kind === 'point' ? sel.k : sel && sel.kind === 'range' ? sel.j : this.doc.peak_point || 0;
            if (e.key === 'ArrowLeft') k = Math.max(0, k - (e.shiftKey ? 10 : 1));
            else if (e.key === 'ArrowRight') k = Math.min(last, k + (e.shiftKey ? 10 : 1));
            else if (e.key === 'Home') k = 0;
            else if (e.key === 'End') k = last;
            else if (e.key === 'Enter' || e.key === ' ') {
                // keeps k: selects the current point
            } else return;
            e.preventDefault();
            this.picks.point(k);
        }

        showReadout(idx) {
            const tl = this.tl;
            let k = idx;
            let prefix = '';
            if (k === null || k === undefined) {
                const sel = this.selection;
                if (sel && sel.kind === 'point') {
                    k = sel.k;
                    prefix = 'Selected: ';
                } else if (sel && sel.kind === 'range') {
                    this.readout.textContent =
                        'Selected range: after ' +
                        pointTime(tl.t[sel.i]) +
                        ' up to ' +
                        pointTime(tl.t[sel.j]) +
                        ' (points ' +
                        sel.i +
                        '–' +
                        sel.j +
                        ')';
                    return;
                } else {
                    const peak = this.doc.header.peak;
                    this.readout.textContent =
                        'Peak: ' + seconds(peak.time_s) + ' · ' + quantity(peak.bytes, 'bytes') + ' in ' + quantity(peak.blocks, 'blocks');
                    return;
                }
            }
            if (!(k >= 0 && k < tl.t.length)) {
                this.readout.textContent = '';
                return;
            }
            let text =
                prefix +
                pointTime(tl.t[k]) +
                ' (point ' +
                k +
                ') · ' +
                quantity(tl.bytes[k], 'bytes') +
                ' in ' +
                quantity(tl.blocks[k], 'blocks');
            if (Array.isArray(tl.mapped)) text += ' · mapped ' + humanBytes(tl.mapped[k]);
            if (Array.isArray(tl.rss) && tl.rss[k] !== null) text += ' · RSS ' + humanBytes(tl.rss[k]);
            this.readout.textContent = text;
        }
    }

    // ------------------------------------------------------------------ tables

    // A table sortable by any column (click or Enter on its header), showing
    // the first rows with a button for the rest: a report of 50,000 stacks
    // must not make 50,000 table rows before it is shown.
    class SortableTable {
        // columns: [{key, label, num, text(row), value(row), title(row)}]
        constructor(container, columns, opts) {
            this.container = container;
            this.columns = columns;
            this.opts = opts || {};
            this.rows = [];
            this.sortKey = this.opts.sortKey || columns[0].key;
            this.desc = this.opts.desc !== false;
            this.limit = this.opts.limit || 100;
            this.showAll = false;
        }

        setRows(rows) {
            this.rows = rows;
            this.showAll = false;
            this.render();
        }

        sortBy(key) {
            if (key === this.sortKey) this.desc = !this.desc;
            else {
                this.sortKey = key;
                this.desc = !!this.columns.find((c) => c.key === key).num;
            }
            this.render();
        }

        render() {
            const col = this.columns.find((c) => c.key === this.sortKey);
            const get = col.value || col.text;
            const dir = this.desc ? -1 : 1;
            const sorted = this.rows.slice().sort((a, b) => {
                const x = get(a);
                const y = get(b);
                if (x < y) return -dir;
                if (x > y) return dir;
                return 0;
            });
            const shown = this.showAll ? sorted : sorted.slice(0, this.limit);
            const head = el(
                'tr',
                null,
                this.columns.map((c) => {
                    const active = c.key === this.sortKey;
                    return el(
                        'th',
                        {
                            scope: 'col',
                            class: c.num ? 'num' : null,
                            'aria-sort': active ? (this.desc ? 'descending' : 'ascending') : 'none',
                            dataset: { key: c.key },
                        },
                        el(
                            'button',
                            { type: 'button', class: 'sort', onclick: () => this.sortBy(c.key) },
                            c.label,
                            el(
                                'span',
                                { class: 'sort-mark', 'aria-hidden': 'true' },
                                active ? (this.desc ? ' ▼' : ' ▲') : ''
                            )
                        )
                    );
                })
            );
            const body = el(
                'tbody',
                null,
                shown.map((r) =>
                    el(
                        'tr',
                        null,
                        this.columns.map((c) =>
                            el(
                                'td',
                                {
                                    class: [c.num ? 'num' : '', c.cls ? c.cls(r) : ''].join(' ').trim() || null,
                                    title: c.title ? c.title(r) : null,
                                    dataset: c.num ? { key: c.key, value: String(c.value(r)) } : { key: c.key },
                                },
                                c.text(r)
                            )
                        )
                    )
                )
            );
            const table = el('table', { class: 'data' }, el('thead', null, head), body);
            const parts = [table];
            if (!this.rows.length) parts.push(el('p', { class: 'empty' }, this.opts.empty || 'No rows.'));
            if (sorted.length > shown.length) {
                parts.push(
                    el(
                        'button',
                        { type: 'button', class: 'button more', onclick: () => ((this.showAll = true), this.render()) },
                        'Show all ' + groupDigits(sorted.length) + ' rows'
                    )
                );
            }
            this.container.replaceChildren(...parts);
        }

        // What the table shows: one object per row, numbers from the cells'
        // exact values, text as displayed.
        shownRows() {
            return Array.from(this.container.querySelectorAll('tbody tr')).map((tr) => {
                const o = {};
                for (const td of tr.children)
                    o[td.dataset.key] = td.dataset.value !== undefined ? Number(td.dataset.value) : td.textContent;
                return o;
            });
        }
    }

    function nameCell(model, frameIndex) {
        const f = model.frames[frameIndex];
        return f ? f.fn : '?';
    }

    // Rows grouped by call site: the innermost frame of each stack that is
    // not a library's (the innermost frame when all are).
    function groupBySite(model, rows, fieldsOf) {
        const groups = new Map();
        for (const row of rows) {
            const site = model.siteOf[row[0]];
            const f = model.frames[site];
            const key = f ? f.fn + '\0' + f.file + '\0' + f.line + '\0' + f.module : '?';
            let g = groups.get(key);
            if (!g) {
                g = { frame: site, stacks: 0 };
                groups.set(key, g);
            }
            g.stacks++;
            fieldsOf(g, row);
        }
        return Array.from(groups.values());
    }

    function siteColumns(model, units, total) {
        const cols = [
            { key: 'function', label: 'Function', text: (r) => nameCell(model, r.frame), cls: () => 'mono fn' },
            { key: 'site', label: 'Location', text: (r) => model.location(r.frame), cls: () => 'mono loc' },
        ];
        for (const [key, unit] of [
            ['value', units.value],
            ['count', units.count],
        ]) {
            cols.push({
                key: unit,
                label: unit[0].toUpperCase() + unit.slice(1),
                num: true,
                value: (r) => r[key],
                text: (r) => shortQuantity(r[key], unit),
                title: (r) => quantity(r[key], unit),
            });
        }
        cols.push({
            key: 'share',
            label: 'Share',
            num: true,
            value: (r) => (total ? r.value / total : 0),
            text: (r) => percent(r.value, total),
        });
        return cols;
    }

    function stackSummary(model, s, n) {
        const st = model.stacks[s] || [];
        const own = st.filter((fr) => !model.frames[fr].lib);
        const pick = (own.length ? own : st).slice(-n).reverse();
        return pick.map((fr) => model.frames[fr].fn).join(' ← ') + ((own.length ? own : st).length > n ? ' ← …' : '');
    }

    function fullStack(model, s) {
        return (model.stacks[s] || [])
            .slice()
            .reverse()
            .map((fr) => model.frames[fr].fn + (model.location(fr) ? '  ' + model.location(fr) : ''))
            .join('\n');
    }

    // ----------------------------------------------------------------- summary

    function card(title, main, lines, extraClass) {
        return el(
            'div',
            { class: 'card ' + (extraClass || '') },
            el('div', { class: 'card-title' }, title),
            el('div', { class: 'card-main' }, main),
            lines.filter(Boolean).map((l) => el('div', { class: 'card-line' }, l))
        );
    }

    function renderReportSummary(doc) {
        const h = doc.header || {};
        $('page-title').textContent = 'Heap report: ' + (h.exe || 'program');
        document.title = 'heapsnap: ' + (h.command || h.exe || 'report');
        $('page-subtitle').replaceChildren(
            el('code', null, h.command || ''),
            h.pid ? ' · pid ' + h.pid : '',
            ' · ran ' + seconds(h.duration_s),
            h.ended ? ' · ' + h.ended : '',
            h.sample_rate ? ' · sampled, 1 in ' + humanBytes(h.sample_rate) + ' allocated: figures are estimates' : ''
        );
        const cards = [];
        if (h.peak) {
            cards.push(
                card(
                    'Peak heap',
                    humanBytes(h.peak.bytes),
                    [
                        quantity(h.peak.bytes, 'bytes').replace(/ \(.*\)/, '') +
                            ' in ' +
                            quantity(h.peak.blocks, 'blocks'),
                        'at ' + seconds(h.peak.time_s),
                    ],
                    'card-peak'
                )
            );
        }
        if (h.end)
            cards.push(
                card('Live at the end', humanBytes(h.end.bytes), [
                    quantity(h.end.bytes, 'bytes').replace(/ \(.*\)/, '') + ' in ' + quantity(h.end.blocks, 'blocks'),
                ])
            );
        cards.push(
            card('Allocation calls', groupDigits(h.calls || 0), [
                groupDigits(h.frees || 0) + ' frees · ' + groupDigits(h.reallocs || 0) + ' reallocs',
                groupDigits(h.temporary || 0) + ' temporary',
            ])
        );
        cards.push(card('Run', seconds(h.duration_s), [h.ended || '', h.pid ? 'pid ' + h.pid : '']));
        if (h.leaks) {
            const l = h.leaks;
            const def = l.definite || { bytes: 0, blocks: 0 };
            cards.push(
                card(
                    'Leaks',
                    def.bytes ? humanBytes(def.bytes) + ' lost' : 'none lost',
                    LEAK_KINDS.filter((k) => l[k]).map(
                        (k) => LEAK_WORDS[k] + ': ' + humanBytes(l[k].bytes) + ' in ' + quantity(l[k].blocks, 'blocks')
                    ),
                    def.bytes ? 'card-leak' : 'card-ok'
                )
            );
        } else {
            cards.push(card('Leaks', 'not checked', ['no leak check ran in this trace']));
        }
        $('summary').replaceChildren(...cards);
    }

    function renderDiffSummary(doc) {
        const o = doc.old || {};
        const n = doc.new || {};
        const oh = o.header || {};
        const nh = n.header || {};
        $('page-title').textContent = 'Heap difference';
        document.title = 'heapsnap diff: ' + (o.source || '') + ' → ' + (n.source || '');
        $('page-subtitle').replaceChildren(
            el('code', null, o.source || 'old'),
            ' → ',
            el('code', null, n.source || 'new')
        );
        let oldBytes = 0;
        let newBytes = 0;
        let oldBlocks = 0;
        let newBlocks = 0;
        for (const r of doc.diff || []) {
            oldBytes += r[1];
            newBytes += r[2];
            oldBlocks += r[3];
            newBlocks += r[4];
        }
        const delta = newBytes - oldBytes;
        const cards = [
            card('Old', humanBytes(oldBytes), [
                groupDigits(oldBytes) + ' bytes in ' + quantity(oldBlocks, 'blocks'),
                o.source,
                oh.command ? 'of ' + oh.command : '',
            ]),
            card('New', humanBytes(newBytes), [
                groupDigits(newBytes) + ' bytes in ' + quantity(newBlocks, 'blocks'),
                n.source,
                nh.command ? 'of ' + nh.command : '',
            ]),
            card(
                'Change',
                signed(humanBytes(delta), delta),
                [
                    signed(groupDigits(delta), delta) +
                        ' bytes, ' +
                        signed(groupDigits(newBlocks - oldBlocks), newBlocks - oldBlocks) +
                        ' blocks',
                    delta > 0 ? 'grown' : delta < 0 ? 'shrunk' : 'unchanged',
                ],
                delta > 0 ? 'card-leak' : 'card-ok'
            ),
        ];
        $('summary').replaceChildren(...cards);
    }

    // ---------------------------------------------------------- page controller

    class Page {
        constructor(doc) {
            this.doc = doc;
            this.model = new Model(doc);
            this.isDiff = doc.kind === 'diff';
            this.views = availableViews(doc);
            this.state = {
                view: this.isDiff
                    ? 'diff'
                    : this.views.includes(doc.initial)
                      ? doc.initial
                      : this.views.includes('peak')
                        ? 'peak'
                        : this.views[0],
                leakKind: null,
                temporal: null, // {kind: 'point', k, marker} | {kind: 'range', i, j}
                icicle: true,
                callers: false,
                fold: false,
                widths: 'new',
            };
            const firstLeak = this.views.find((v) => v.startsWith('leaked:'));
            this.state.leakKind = firstLeak ? firstLeak.slice(7) : null;
            this.temporal = this.isDiff ? null : new Temporal(doc.temporal, this.model.stacks.length);
            this.flame = new FlameGraph($('flame'), $('tooltip'), this.model, {
                onSearch: (r, term) => this.showSearch(r, term),
                onZoom: () => this.showZoom(),
            });
            this.chart = null;
            this.sites = null;
            this.current = null; // what is drawn: {rows, units, what, diff}
        }

        start() {
            if (this.isDiff) renderDiffSummary(this.doc);
            else renderReportSummary(this.doc);
            this.buildTabs();
            this.wireToolbar();
            if (!this.isDiff && this.doc.timeline && Array.isArray(this.doc.timeline.t) && this.doc.timeline.t.length)
                this.buildTimeline();
            this.buildTables();
            this.refresh();
            let resizeTimer = 0;
            window.addEventListener('resize', () => {
                clearTimeout(resizeTimer);
                resizeTimer = setTimeout(() => {
                    this.flame.resize();
                    if (this.chart) this.chart.resize();
                }, 120);
            });
            // Paper is narrower than the screen: the flame graph scales to
            // it (a viewBox) instead of being cut at the page's edge.
            window.addEventListener('beforeprint', () => {
                const svg = $('flame').querySelector('svg');
                if (!svg) return;
                svg.setAttribute('viewBox', '0 0 ' + svg.getAttribute('width') + ' ' + svg.getAttribute('height'));
                svg.classList.add('print-fit');
            });
            window.addEventListener('afterprint', () => {
                const svg = $('flame').querySelector('svg');
                if (!svg) return;
                svg.removeAttribute('viewBox');
                svg.classList.remove('print-fit');
            });
            document.addEventListener('keydown', (e) => {
                if (e.key === '/' && !/^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName)) {
                    e.preventDefault();
                    $('search').focus();
                }
            });
        }

        // ---- view tabs

        buildTabs() {
            const tabs = $('view-tabs');
            if (this.isDiff) {
                tabs.replaceChildren(el('span', { class: 'tab-static' }, 'Differential, by bytes'));
                return;
            }
            const buttons = [];
            for (const name of Object.keys(VIEW_INFO)) {
                if (!this.views.includes(name)) continue;
                buttons.push(
                    el(
                        'button',
                        {
                            type: 'button',
                            class: 'tab',
                            dataset: { view: name },
                            'aria-pressed': 'false',
                            onclick: () => this.show(name),
                        },
                        VIEW_INFO[name].tab
                    )
                );
                if (name === 'end' && this.state.leakKind) buttons.push(this.leakTab());
            }
            if (this.state.leakKind && !buttons.some((b) => b.classList.contains('leak-tab')))
                buttons.push(this.leakTab());
            tabs.replaceChildren(...buttons);
        }

        leakTab() {
            const kinds = this.views.filter((v) => v.startsWith('leaked:')).map((v) => v.slice(7));
            const select = el(
                'select',
                { id: 'leak-kind', 'aria-label': 'Leak kind', onchange: (e) => this.show('leaked:' + e.target.value) },
                kinds.map((k) => el('option', { value: k }, LEAK_WORDS[k] || k))
            );
            const button = el(
                'button',
                {
                    type: 'button',
                    class: 'tab',
                    dataset: { view: 'leaked' },
                    'aria-pressed': 'false',
                    onclick: () => this.show('leaked:' + select.value),
                },
                'Leaked'
            );
            return el('span', { class: 'leak-tab' }, button, select);
        }

        markTabs() {
            const active = this.state.temporal
                ? null
                : this.state.view.startsWith('leaked:')
                  ? 'leaked'
                  : this.state.view;
            for (const b of $('view-tabs').querySelectorAll('button.tab'))
                b.setAttribute('aria-pressed', String(b.dataset.view === active));
            const sel = $('leak-kind');
            if (sel && this.state.view.startsWith('leaked:')) sel.value = this.state.view.slice(7);
        }

        // ---- toolbar

        wireToolbar() {
            const orient = (icicle) => {
                this.state.icicle = icicle;
                $('orient-icicle').setAttribute('aria-pressed', String(icicle));
                $('orient-flame').setAttribute('aria-pressed', String(!icicle));
                this.flame.setOrientation(icicle);
            };
            $('orient-icicle').addEventListener('click', () => orient(true));
            $('orient-flame').addEventListener('click', () => orient(false));
            $('opt-callers').addEventListener('change', (e) => {
                this.state.callers = e.target.checked;
                this.refresh();
            });
            $('opt-fold').addEventListener('change', (e) => {
                this.state.fold = e.target.checked;
                this.refresh();
            });
            if (this.isDiff) {
                $('diff-width').hidden = false;
                const widths = (w) => {
                    this.state.widths = w;
                    $('width-new').setAttribute('aria-pressed', String(w === 'new'));
                    $('width-old').setAttribute('aria-pressed', String(w === 'old'));
                    this.refresh();
                };
                $('width-new').addEventListener('click', () => widths('new'));
                $('width-old').addEventListener('click', () => widths('old'));
            }
            let searchTimer = 0;
            $('search').addEventListener('input', (e) => {
                clearTimeout(searchTimer);
                searchTimer = setTimeout(() => this.flame.search(e.target.value), 120);
            });
            $('search').addEventListener('keydown', (e) => {
                if (e.key === 'Escape') {
                    e.target.value = '';
                    this.flame.search('');
                }
            });
            $('zoom-reset').addEventListener('click', () => this.flame.resetZoom());
            $('temporal-back').addEventListener('click', () => this.leaveTemporal());
        }

        // ---- timeline

        buildTimeline() {
            $('timeline-section').hidden = false;
            const tl = this.doc.timeline;
            this.chart = new TimelineChart($('chart'), $('chart-readout'), this.doc, {
                point: (k) => this.selectPoint(k),
                range: (i, j) => this.selectRange(i, j),
                marker: (m) => this.selectMarker(m.label),
            });
            if (Array.isArray(tl.rss)) $('series-rss-label').hidden = false;
            if (Array.isArray(tl.mapped)) {
                $('series-mapped-label').hidden = false;
                $('series-mapped').checked = true;
            }
            for (const name of ['bytes', 'blocks', 'rss', 'mapped']) {
                $('series-' + name).addEventListener('change', (e) => this.chart.setSeries(name, e.target.checked));
            }
            this.chart.build();
            const list = $('markers');
            const markers = this.doc.markers || [];
            const items = [];
            // The peak is seldom on a point: its button shows the exact "live at the peak" view.
            const peak = this.doc.header && this.doc.header.peak;
            if (peak && isFinite(peak.time_s)) {
                items.push(
                    el(
                        'button',
                        {
                            type: 'button',
                            class: 'marker marker-peak',
                            onclick: () => this.show('peak'),
                        },
                        el('span', { class: 'marker-dot' }),
                        'peak',
                        el('span', { class: 'marker-meta' }, seconds(peak.time_s))
                    )
                );
            }
            // Each button picks its own marker (labels repeat: "tick" 2,500 times).
            const button = (m, i) => {
                const style = MARKER_STYLE[m.kind] || MARKER_DEFAULT;
                return el(
                    'button',
                    {
                        type: 'button',
                        class: 'marker',
                        dataset: { label: m.label, index: String(i) },
                        onclick: () => this.selectPoint(m.point, m),
                    },
                    el('span', { class: 'marker-dot', style: 'background:' + style.colour }),
                    m.label,
                    el('span', { class: 'marker-meta' }, m.kind + ' · ' + seconds(m.t !== undefined ? m.t : tl.t[m.point]))
                );
            };
            // A long list is cut: the chart has every marker, the list the first ones and a button for the rest.
            const LISTED = 60;
            markers.slice(0, LISTED).forEach((m, i) => items.push(button(m, i)));
            if (markers.length > LISTED) {
                const rest = el(
                    'button',
                    {
                        type: 'button',
                        class: 'marker marker-more',
                        onclick: () => {
                            rest.replaceWith(...markers.slice(LISTED).map((m, i) => button(m, LISTED + i)));
                            this.markMarkers();
                        },
                    },
                    'all ' + groupDigits(markers.length) + ' markers'
                );
                items.push(rest);
            }
            list.replaceChildren(...items);
        }

        selectPoint(k, marker) {
            const n = this.doc.timeline.t.length;
            k = Math.max(0, Math.min(n - 1, Math.round(k)));
            this.state.temporal = { kind: 'point', k, marker: marker || null };
            this.refresh();
        }

        selectRange(i, j) {
            const n = this.doc.timeline.t.length;
            i = Math.max(0, Math.min(n - 1, Math.round(i)));
            j = Math.max(0, Math.min(n - 1, Math.round(j)));
            if (i > j) [i, j] = [j, i];
            if (i === j) return this.selectPoint(i);
            this.state.temporal = { kind: 'range', i, j };
            this.refresh();
        }

        selectMarker(label) {
            const m = (this.doc.markers || []).find((x) => x.label === label);
            if (!m) return false;
            this.selectPoint(m.point, m);
            return true;
        }

        leaveTemporal() {
            this.state.temporal = null;
            this.refresh();
        }

        show(name) {
            if (!this.views.includes(name)) return false;
            this.state.view = name;
            this.state.temporal = null;
            this.refresh();
            return true;
        }

        // ---- what is drawn

        currentRows() {
            const tmp = this.state.temporal;
            const doc = this.doc;
            if (this.isDiff) {
                return { rows: doc.diff || [], units: { value: 'bytes', count: 'blocks' }, diff: true };
            }
            if (tmp) {
                const t = doc.timeline.t;
                if (tmp.kind === 'point') {
                    const at = tmp.marker
                        ? 'at marker “' +
                          tmp.marker.label +
                          '” (' +
                          tmp.marker.kind +
                          ', ' +
                          pointTime(t[tmp.k]) +
                          ', point ' +
                          tmp.k +
                          ')'
                        : 'at ' + pointTime(t[tmp.k]) + ' (point ' + tmp.k + ')';
                    return {
                        rows: this.temporal.liveAt(tmp.k),
                        units: { value: 'bytes', count: 'blocks' },
                        what: 'Live ' + at,
                    };
                }
                return {
                    rows: this.temporal.allocatedIn(tmp.i, tmp.j),
                    units: { value: 'bytes', count: 'blocks' },
                    what:
                        'Allocated after ' +
                        pointTime(t[tmp.i]) +
                        ' up to ' +
                        pointTime(t[tmp.j]) +
                        ' and still live at ' +
                        pointTime(t[tmp.j]) +
                        ' (points ' +
                        tmp.i +
                        '–' +
                        tmp.j +
                        ')',
                };
            }
            const info = viewInfo(this.state.view);
            let what = info.what;
            if (this.state.view === 'peak' && doc.header && doc.header.peak)
                what += ' (' + seconds(doc.header.peak.time_s) + ')';
            return {
                rows: viewRows(doc, this.state.view) || [],
                units: { value: info.value, count: info.count },
                what,
            };
        }

        refresh() {
            const cur = this.currentRows();
            this.current = cur;
            const tree = buildTree(this.model, cur.rows, {
                callers: this.state.callers,
                fold: this.state.fold,
                diff: cur.diff,
                widths: this.state.widths,
            });
            this.flame.render(tree, {
                units: cur.units,
                diff: cur.diff,
                empty: 'Nothing in this view: no ' + (cur.units.value === 'calls' ? 'calls' : 'bytes') + ' to draw.',
            });
            this.showTitle(tree, cur);
            this.showTemporal();
            this.markTabs();
            this.showLegend(cur);
            this.fillTables(cur);
            if (this.chart) {
                this.chart.setSelection(this.state.temporal);
                this.markMarkers();
            }
        }

        // The marker (or peak) whose point is shown is pressed in the list.
        markMarkers() {
            const tmp = this.state.temporal;
            for (const b of $('markers').querySelectorAll('button.marker')) {
                let on = false;
                if (b.classList.contains('marker-more')) continue;
                if (b.dataset.index === undefined) on = !tmp && this.state.view === 'peak';
                else if (tmp && tmp.kind === 'point')
                    on = !!tmp.marker && tmp.marker === (this.doc.markers || [])[Number(b.dataset.index)];
                b.setAttribute('aria-pressed', String(on));
            }
        }

        showTitle(tree, cur) {
            let text;
            if (cur.diff) {
                const d = tree.new - tree.old;
                text =
                    'Change from ' +
                    (this.doc.old.source || 'old') +
                    ' to ' +
                    (this.doc.new.source || 'new') +
                    ': ' +
                    signed(quantity(d, 'bytes'), d) +
                    (this.state.widths === 'old' ? ' (widths: old bytes)' : ' (widths: new bytes)');
            } else {
                text =
                    cur.what +
                    ': ' +
                    quantity(tree.value, cur.units.value) +
                    ' · ' +
                    quantity(tree.count, cur.units.count);
            }
            if (this.state.callers) text += ' · callers view';
            if (this.state.fold) text += ' · library frames folded';
            $('view-title').textContent = text;
        }

        showTemporal() {
            const tmp = this.state.temporal;
            $('temporal-banner').hidden = !tmp;
            if (tmp) {
                $('temporal-text').textContent =
                    tmp.kind === 'point'
                        ? 'Showing the heap at a moment you picked on the chart.'
                        : 'Showing what a range you picked on the chart allocated and kept.';
            }
        }

        showSearch(r, term) {
            const out = $('search-result');
            out.dataset.matches = String(r.matches);
            out.dataset.value = String(r.value);
            out.dataset.count = String(r.count);
            if (!term) {
                out.textContent = '';
                return;
            }
            if (r.error) {
                out.textContent = 'Search failed: ' + r.error + '.';
                return;
            }
            const units = this.current ? this.current.units : { value: 'bytes', count: 'blocks' };
            out.textContent = r.matches
                ? '“' +
                  term +
                  '” matches ' +
                  groupDigits(r.matches) +
                  (r.matches === 1 ? ' frame: ' : ' frames: ') +
                  quantity(r.value, units.value) +
                  ' · ' +
                  quantity(r.count, units.count) +
                  ' · ' +
                  percent(r.value, r.total) +
                  ' of the total'
                : '“' + term + '” matches no frame';
        }

        showZoom() {
            const z = this.flame.zoomed;
            $('zoom-reset').disabled = !z || !z.parent;
        }

        showLegend(cur) {
            const items = [];
            const swatch = (colour, text) =>
                el(
                    'span',
                    { class: 'legend-item' },
                    el('span', { class: 'legend-swatch', style: 'background:' + colour }),
                    text
                );
            if (cur.diff) {
                items.push(
                    el(
                        'span',
                        { class: 'legend-item' },
                        el('span', { class: 'legend-gradient' }),
                        'blue: shrunk · white: unchanged · red: grown (colour by change, width by ' +
                            this.state.widths +
                            ' bytes)'
                    )
                );
            } else {
                items.push(
                    swatch('hsl(30, 85%, 64%)', 'your code'),
                    swatch('hsl(206, 55%, 69%)', 'library frames'),
                    swatch('hsl(220, 8%, 74%)', 'unsymbolized')
                );
                items.push(el('span', { class: 'legend-item' }, 'width: ' + cur.units.value));
            }
            items.push(swatch(COLOURS.match, 'search match'));
            items.push(
                el(
                    'span',
                    { class: 'legend-item legend-help' },
                    'Click a frame to zoom; Escape or “Reset zoom” to go back.'
                )
            );
            $('legend').replaceChildren(...items);
            this.showZoom();
        }

        // ---- tables

        buildTables() {
            const model = this.model;
            if (this.isDiff) {
                $('sites-heading').textContent = 'Change by call site';
                const num = (key, label, unit, isDelta) => ({
                    key,
                    label,
                    num: true,
                    value: (r) => r[key],
                    text: (r) => (isDelta ? signed(shortQuantity(r[key], unit), r[key]) : shortQuantity(r[key], unit)),
                    title: (r) => (isDelta ? signed(quantity(r[key], unit), r[key]) : quantity(r[key], unit)),
                    cls: isDelta ? (r) => (r[key] > 0 ? 'grown' : r[key] < 0 ? 'shrunk' : '') : null,
                });
                this.sites = new SortableTable(
                    $('sites-table'),
                    [
                        {
                            key: 'function',
                            label: 'Function',
                            text: (r) => nameCell(model, r.frame),
                            cls: () => 'mono fn',
                        },
                        { key: 'site', label: 'Location', text: (r) => model.location(r.frame), cls: () => 'mono loc' },
                        num('old', 'Old bytes', 'bytes'),
                        num('new', 'New bytes', 'bytes'),
                        num('delta', 'Change', 'bytes', true),
                        num('oldBlocks', 'Old blocks', 'blocks'),
                        num('newBlocks', 'New blocks', 'blocks'),
                        num('deltaBlocks', 'Block change', 'blocks', true),
                    ],
                    { sortKey: 'delta', desc: true, empty: 'No difference.' }
                );
                return;
            }
            if (Array.isArray(this.doc.leak_records) && this.doc.leak_records.length) {
                $('leaks-section').hidden = false;
                const kindOrder = (k) => LEAK_KINDS.indexOf(k);
                const table = new SortableTable(
                    $('leaks-table'),
                    [
                        {
                            key: 'kind',
                            label: 'Kind',
                            text: (r) => LEAK_WORDS[r.kind] || r.kind,
                            value: (r) => kindOrder(r.kind),
                            cls: (r) => 'kind kind-' + r.kind,
                        },
                        {
                            key: 'bytes',
                            label: 'Bytes',
                            num: true,
                            value: (r) => r.bytes,
                            text: (r) => humanBytes(r.bytes) + (r.indirect_bytes ? ' *' : ''),
                            // memcheck's words: a definitely lost block counts what it alone held.
                            title: (r) =>
                                quantity(r.bytes, 'bytes') +
                                (r.indirect_bytes
                                    ? ' (' + groupDigits(r.direct_bytes) + ' direct, ' + groupDigits(r.indirect_bytes) + ' indirect)'
                                    : ''),
                        },
                        {
                            key: 'blocks',
                            label: 'Blocks',
                            num: true,
                            value: (r) => r.blocks,
                            text: (r) => groupDigits(r.blocks),
                        },
                        {
                            key: 'stack',
                            label: 'Allocated at (innermost first)',
                            text: (r) => stackSummary(model, r.stack, 4),
                            title: (r) => fullStack(model, r.stack),
                            cls: () => 'mono stack',
                        },
                    ],
                    { sortKey: 'bytes', desc: true }
                );
                table.setRows(this.doc.leak_records);
                const l = this.doc.header && this.doc.header.leaks;
                $('leaks-note').textContent = l
                    ? LEAK_KINDS.filter((k) => l[k])
                          .map((k) => LEAK_WORDS[k] + ' ' + humanBytes(l[k].bytes))
                          .join(' · ')
                    : '';
            }
        }

        fillTables(cur) {
            const model = this.model;
            if (cur.diff) {
                const groups = groupBySite(model, cur.rows, (g, r) => {
                    g.old = (g.old || 0) + r[1];
                    g.new = (g.new || 0) + r[2];
                    g.oldBlocks = (g.oldBlocks || 0) + r[3];
                    g.newBlocks = (g.newBlocks || 0) + r[4];
                });
                for (const g of groups) {
                    g.delta = g.new - g.old;
                    g.deltaBlocks = g.newBlocks - g.oldBlocks;
                }
                this.sites.setRows(groups);
                $('sites-note').textContent = 'Grouped by the innermost frame of each stack that is not a library’s.';
                return;
            }
            const total = cur.rows.reduce((a, r) => a + r[1], 0);
            const key = cur.units.value + '/' + cur.units.count;
            // A view with other units gets a new table; the same units keep the reader's sort.
            if (!this.sites || this.sitesKey !== key) {
                this.sites = new SortableTable($('sites-table'), siteColumns(model, cur.units, total), {
                    sortKey: cur.units.value,
                    desc: true,
                    empty: 'No allocations in this view.',
                });
                this.sitesKey = key;
            }
            // The share column divides by this view's total.
            this.sites.columns = siteColumns(model, cur.units, total);
            const groups = groupBySite(model, cur.rows, (g, r) => {
                g.value = (g.value || 0) + r[1];
                g.count = (g.count || 0) + r[2];
            });
            this.sites.setRows(groups);
            $('sites-note').textContent =
                cur.what + ', grouped by the innermost frame of each stack that is not a library’s.';
        }
    }

    // ---------------------------------------------------------------- test API
    // For tests/browser/probe.mjs: each call reads what the page shows (the
    // flame graph's own nodes, the tooltip's and the table's DOM), never the
    // JSON document directly.

    function installTestApi(page) {
        const api = {
            views: () => (page ? page.views.slice() : []),
            show: (name) => (page ? page.show(name) : false),
            pointCount: () => (page && page.chart ? page.doc.timeline.t.length : 0),
            selectPoint: (k) => (page && page.chart ? (page.selectPoint(k), true) : false),
            selectRange: (i, j) => (page && page.chart ? (page.selectRange(i, j), true) : false),
            selectMarker: (label) => (page && page.chart ? page.selectMarker(label) : false),
            reset: () => {
                if (!page) return false;
                $('search').value = '';
                page.flame.search('');
                page.state.temporal = null;
                page.refresh();
                return true;
            },
            frames: () => (page ? page.flame.functionTotals() : {}),
            total: () => (page && page.flame.root ? page.flame.root.value : 0),
            title: () => $('view-title').textContent,
            table: () => (page && page.sites ? page.sites.shownRows() : []),
            leakRecords: () => {
                const rows = [];
                for (const tr of document.querySelectorAll('#leaks-table tbody tr')) {
                    const o = {};
                    for (const td of tr.children)
                        o[td.dataset.key] = td.dataset.value !== undefined ? Number(td.dataset.value) : td.textContent;
                    rows.push(o);
                }
                return rows;
            },
            // Hovers the first drawn node of fnName (breadth first: the one
            // nearest the root) with a real mouse event, and returns the
            // tooltip's lines as the page shows them.
            tooltip: (fnName) => {
                if (!page || !page.flame.root) return null;
                const node = page.flame.root
                    .descendants()
                    .find((n) => n.depth > 0 && n.data.name === fnName && n.value > 0 && page.flame.elementOf(n));
                if (!node) return null;
                const rect = page.flame.elementOf(node).querySelector('rect');
                const r = rect.getBoundingClientRect();
                const opts = {
                    bubbles: true,
                    cancelable: true,
                    view: window,
                    clientX: r.left + Math.min(r.width / 2, 8),
                    clientY: r.top + r.height / 2,
                };
                rect.dispatchEvent(new MouseEvent('mouseover', opts));
                const tip = $('tooltip');
                const text = tip.hidden ? null : Array.from(tip.children, (c) => c.textContent).join('\n');
                rect.dispatchEvent(new MouseEvent('mouseout', opts));
                return text;
            },
            search: (term) => {
                if (!page) return { matches: 0, value: 0 };
                $('search').value = term;
                page.flame.search(term);
                const out = $('search-result').dataset;
                return {
                    matches: Number(out.matches),
                    value: Number(out.value),
                    count: Number(out.count),
                    text: $('search-result').textContent,
                };
            },
            // Zooms into the first drawn node of fnName as a click does.
            zoom: (fnName) => {
                if (!page || !page.flame.root) return false;
                const node = page.flame.root
                    .descendants()
                    .find((n) => n.depth > 0 && n.data.name === fnName && n.value > 0 && page.flame.elementOf(n));
                if (!node) return false;
                page.flame.elementOf(node).dispatchEvent(new MouseEvent('click', { bubbles: true, view: window }));
                return true;
            },
            set: (option, value) => {
                const id = { callers: 'opt-callers', fold: 'opt-fold' }[option];
                if (id) {
                    const box = $(id);
                    if (box.checked !== !!value) box.click();
                    return true;
                }
                if (option === 'orientation') {
                    $(value === 'flame' ? 'orient-flame' : 'orient-icicle').click();
                    return true;
                }
                if (option === 'widths' && page && page.isDiff) {
                    $(value === 'old' ? 'width-old' : 'width-new').click();
                    return true;
                }
                return false;
            },
        };
        window.heapsnapTest = api;
    }

    // ---------------------------------------------------------------- start-up

    function markReady() {
        // After the first frame is painted: d3's transitions, even of zero
        // length, apply on the next animation frame.
        requestAnimationFrame(() =>
            requestAnimationFrame(() =>
                setTimeout(() => {
                    window.heapsnapReadyMs = performance.now();
                    document.body.dataset.ready = '1';
                }, 0)
            )
        );
    }

    function start() {
        let page = null;
        try {
            const doc = loadDocument();
            page = new Page(doc);
            page.start();
        } catch (e) {
            const box = $('load-error');
            box.hidden = false;
            box.textContent = e instanceof ReportError ? e.message : 'The report could not be drawn: ' + e.message;
            document.body.dataset.error = box.textContent;
            if (!(e instanceof ReportError)) console.error(e);
            page = null;
        }
        installTestApi(page);
        markReady();
    }

    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
    else start();
})();
