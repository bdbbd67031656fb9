#!/usr/bin/env node
// Opens one heapsnap HTML report in headless Chromium and says what happened,
// for the C tests and for people:
//
//   node tests/browser/probe.mjs FILE.html [--screenshots DIR] [--eval EXPR]...
//
// It loads file://FILE, blocks and records every request for anything but
// the file itself, records console errors and uncaught exceptions, waits for
// the page to be ready (window.heapsnapTest set and body[data-ready="1"]),
// evaluates each EXPR in order (awaiting promises), optionally writes one PNG
// per view into DIR, and prints ONE JSON object on stdout:
//
//   {"ready_ms": N, "console_errors": [...], "requests": [...], "results": [...]}
//
// ready_ms is the page's own clock (performance.now(), which starts at the
// navigation) when it declared itself ready. An EXPR that throws gives
// {"error": "message"} in its place. Exit status 0 when the page was probed,
// even with errors listed; otherwise 2 and one line on stderr (no Chromium,
// page never ready within 20 s, ...).
//
// It speaks the DevTools protocol to Chromium over a pipe
// (--remote-debugging-pipe): no library, no port, nothing to install but the
// browser. HEAPSNAP_CHROMIUM overrides the browser's path (default
// /usr/bin/chromium).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const READY_TIMEOUT_MS = 20000;
const VIEWPORT = { width: 1360, height: 900 };

function fail(message) {
    process.stderr.write('probe: ' + message + '\n');
    process.exit(2);
}

function parseArgs(argv) {
    const out = { file: null, screenshots: null, evals: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--screenshots' || a === '--eval') {
            if (i + 1 >= argv.length) fail(a + ' needs a value');
            if (a === '--screenshots') out.screenshots = argv[++i];
            else out.evals.push(argv[++i]);
        } else if (a.startsWith('--')) fail('unknown option ' + a);
        else if (out.file) fail('one FILE.html only');
        else out.file = a;
    }
    if (!out.file) fail('usage: probe.mjs FILE.html [--screenshots DIR] [--eval EXPR]...');
    return out;
}

// One DevTools protocol connection over Chromium's pipe: requests are JSON
// objects separated by NUL bytes, written to fd 3 and read from fd 4.
class Connection {
    constructor(writable, readable) {
        this.writable = writable;
        this.nextId = 1;
        this.pending = new Map();
        this.listeners = [];
        this.closed = null;
        let buffered = '';
        readable.setEncoding('utf8');
        readable.on('data', (chunk) => {
            buffered += chunk;
            let end;
            while ((end = buffered.indexOf('\0')) >= 0) {
                const message = JSON.parse(buffered.slice(0, end));
                buffered = buffered.slice(end + 1);
                this.dispatch(message);
            }
        });
        readable.on('close', () => this.close(new Error('Chromium closed the DevTools pipe')));
        readable.on('error', (e) => this.close(e));
    }

    dispatch(message) {
        if (message.id !== undefined) {
            const p = this.pending.get(message.id);
            if (!p) return;
            this.pending.delete(message.id);
            if (message.error) p.reject(new Error(p.method + ': ' + message.error.message));
            else p.resolve(message.result);
            return;
        }
        for (const l of this.listeners) l(message);
    }

    close(error) {
        if (this.closed) return;
        this.closed = error;
        for (const p of this.pending.values()) p.reject(error);
        this.pending.clear();
    }

    send(method, params = {}, sessionId = undefined) {
        if (this.closed) return Promise.reject(this.closed);
        const id = this.nextId++;
        const message = { id, method, params };
        if (sessionId) message.sessionId = sessionId;
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject, method });
            this.writable.write(JSON.stringify(message) + '\0');
        });
    }

    on(listener) {
        this.listeners.push(listener);
    }
}

function launch(chromium, profileDir) {
    const args = [
        '--headless=new',
        '--remote-debugging-pipe',
        '--user-data-dir=' + profileDir,
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-gpu',
        '--disable-extensions',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-default-apps',
        '--disable-dev-shm-usage',
        '--mute-audio',
        '--hide-scrollbars',
        '--force-device-scale-factor=1',
        '--window-size=' + VIEWPORT.width + ',' + VIEWPORT.height,
    ];
    // Chromium's sandbox refuses to run as root.
    if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox');
    args.push('about:blank');
    const child = spawn(chromium, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'], detached: true });
    return child;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const file = path.resolve(opts.file);
    if (!fs.existsSync(file)) fail(file + ' does not exist');
    const fileUrl = pathToFileURL(file).href;
    const chromium = process.env.HEAPSNAP_CHROMIUM || '/usr/bin/chromium';
    try {
        fs.accessSync(chromium, fs.constants.X_OK);
    } catch {
        fail('no Chromium at ' + chromium + " (scripts/setup installs Debian's chromium package)");
    }
    if (opts.screenshots) fs.mkdirSync(opts.screenshots, { recursive: true });

    const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heapsnap-probe-'));
    const child = launch(chromium, profileDir);
    let spawnError = null;
    child.on('error', (e) => (spawnError = e));
    const cleanup = () => {
        try {
            process.kill(-child.pid, 'SIGKILL');
        } catch {
            // already gone
        }
        fs.rmSync(profileDir, { recursive: true, force: true });
    };
    process.on('exit', cleanup);
    // A test runner's timeout must not leave the browser behind.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => fail('stopped by ' + signal));

    const conn = new Connection(child.stdio[3], child.stdio[4]);
    const consoleErrors = [];
    const requests = [];
    const seen = new Set();
    const recordRequest = (url) => {
        if (url === fileUrl || seen.has(url)) return;
        seen.add(url);
        requests.push(url);
    };

    try {
        const { targetInfos } = await conn.send('Target.getTargets');
        let page = targetInfos.find((t) => t.type === 'page');
        const targetId = page
            ? page.targetId
            : (await conn.send('Target.createTarget', { url: 'about:blank' })).targetId;
        const { sessionId } = await conn.send('Target.attachToTarget', { targetId, flatten: true });
        const send = (method, params) => conn.send(method, params, sessionId);

        conn.on((m) => {
            if (m.sessionId !== sessionId) return;
            const p = m.params || {};
            switch (m.method) {
                case 'Fetch.requestPaused':
                    // Everything but the report itself is blocked, data: URLs included:
                    // the page is meant to need nothing.
                    if (p.request.url === fileUrl)
                        send('Fetch.continueRequest', { requestId: p.requestId }).catch(() => {});
                    else {
                        recordRequest(p.request.url);
                        send('Fetch.failRequest', { requestId: p.requestId, errorReason: 'BlockedByClient' }).catch(
                            () => {}
                        );
                    }
                    break;
                case 'Network.requestWillBeSent':
                    recordRequest(p.request.url);
                    break;
                case 'Runtime.consoleAPICalled':
                    if (p.type === 'error' || p.type === 'assert') {
                        consoleErrors.push(
                            p.args
                                .map((a) => (a.value !== undefined ? String(a.value) : a.description || a.type))
                                .join(' ')
                        );
                    }
                    break;
                case 'Runtime.exceptionThrown': {
                    const d = p.exceptionDetails || {};
                    consoleErrors.push('uncaught: ' + ((d.exception && d.exception.description) || d.text));
                    break;
                }
                case 'Log.entryAdded':
                    if (p.entry.level === 'error')
                        consoleErrors.push(p.entry.text + (p.entry.url ? ' (' + p.entry.url + ')' : ''));
                    break;
            }
        });

        await send('Runtime.enable');
        await send('Log.enable');
        await send('Network.enable');
        await send('Page.enable');
        await send('Fetch.enable', { patterns: [{ urlPattern: '*' }] });
        await send('Emulation.setDeviceMetricsOverride', {
            width: VIEWPORT.width,
            height: VIEWPORT.height,
            deviceScaleFactor: 1,
            mobile: false,
        });
        // Requests the Content Security Policy stops never reach the network
        // layer: the page's own violation events report them.
        await send('Page.addScriptToEvaluateOnNewDocument', {
            source: "window.__probeBlocked = []; document.addEventListener('securitypolicyviolation', (e) => window.__probeBlocked.push(e.blockedURI));",
        });

        const evaluate = async (expression) => {
            const r = await send('Runtime.evaluate', {
                expression,
                awaitPromise: true,
                returnByValue: true,
                userGesture: true,
            });
            if (r.exceptionDetails) {
                const d = r.exceptionDetails;
                return { error: (d.exception && d.exception.description) || d.text };
            }
            return r.result.value === undefined ? null : r.result.value;
        };

        const started = Date.now();
        await send('Page.navigate', { url: fileUrl });
        let ready = false;
        while (Date.now() - started < READY_TIMEOUT_MS) {
            if (spawnError) throw spawnError;
            const v = await evaluate('!!(window.heapsnapTest && document.body && document.body.dataset.ready === "1")');
            if (v === true) {
                ready = true;
                break;
            }
            await sleep(10);
        }
        if (!ready) {
            const why = consoleErrors.length ? ': ' + consoleErrors[0] : '';
            throw new Error('the page was not ready within ' + READY_TIMEOUT_MS / 1000 + ' s' + why);
        }
        const pageReady = await evaluate('window.heapsnapReadyMs');
        const readyMs = typeof pageReady === 'number' ? Math.round(pageReady) : Date.now() - started;

        const results = [];
        for (const expr of opts.evals) results.push(await evaluate(expr));

        if (opts.screenshots) await screenshots(send, evaluate, opts.screenshots);

        const blocked = await evaluate('window.__probeBlocked || []');
        for (const b of blocked || []) recordRequest(b);

        process.stdout.write(
            JSON.stringify({ ready_ms: readyMs, console_errors: consoleErrors, requests, results }) + '\n'
        );
        process.exit(0);
    } catch (e) {
        fail((spawnError ? 'could not start ' + chromium + ': ' + spawnError.message : e.message).split('\n')[0]);
    }
}

// One full-page PNG per view, then the temporal view (at the first marker,
// or the peak) and a range, named after the view ("leaked:definite" gives
// leaked-definite.png).
async function screenshots(send, evaluate, dir) {
    const shoot = async (name) => {
        // Let d3's transitions and the layout settle.
        await evaluate(
            'new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 400))))'
        );
        const metrics = await send('Page.getLayoutMetrics');
        const size = metrics.cssContentSize || metrics.contentSize;
        const shot = await send('Page.captureScreenshot', {
            format: 'png',
            captureBeyondViewport: true,
            clip: { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 },
        });
        fs.writeFileSync(
            path.join(dir, name.replace(/[^A-Za-z0-9_.-]/g, '-') + '.png'),
            Buffer.from(shot.data, 'base64')
        );
    };
    await evaluate('window.heapsnapTest.reset()');
    const views = (await evaluate('window.heapsnapTest.views()')) || [];
    for (const v of views) {
        await evaluate('window.heapsnapTest.show(' + JSON.stringify(v) + ')');
        await shoot(v);
    }
    const hasTimeline = await evaluate('!!document.querySelector("#timeline-section:not([hidden])")');
    if (hasTimeline) {
        const marker = await evaluate(
            '(document.querySelector("#markers .marker[data-label]") || {dataset: {}}).dataset.label || null'
        );
        if (marker) await evaluate('window.heapsnapTest.selectMarker(' + JSON.stringify(marker) + ')');
        else await evaluate('window.heapsnapTest.selectPoint(0)');
        await shoot('temporal');
        await evaluate(
            '(() => { const n = window.heapsnapTest.pointCount(); return window.heapsnapTest.selectRange(Math.floor(n / 4), Math.floor(n / 2)); })()'
        );
        await shoot('temporal-range');
        await evaluate('window.heapsnapTest.reset()');
    }
}

main();
