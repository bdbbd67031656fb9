// workload.js - the nodejs row: objects, JSON, Maps, hashing and one
// spawnSync child; deterministic output.
const crypto = require('crypto');
const childProcess = require('child_process');

const n = Number(process.argv[2] || 30000);
const objs = [];
for (let i = 0; i < n; i++) objs.push({id: i, name: 'item' + i, tags: [String(i % 7), String(i % 11)]});
const text = JSON.stringify(objs);
const back = JSON.parse(text);
const groups = new Map();
for (const o of back) groups.set(o.tags[0], (groups.get(o.tags[0]) || 0) + 1);
const digest = crypto.createHash('sha256').update(text).digest('hex');
console.log('node', text.length, [...groups.entries()].sort().join(';'), digest);
const r = childProcess.spawnSync('/bin/echo', ['from spawnSync']);
console.log(String(r.stdout).trim(), r.status);
