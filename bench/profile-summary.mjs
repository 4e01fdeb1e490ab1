#!/usr/bin/env node
// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per file.
//   node bench/profile-summary.mjs FILE.cpuprofile [topN]
import { readFileSync } from 'node:fs';

const [file, topStr] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-summary.mjs FILE.cpuprofile [topN]');
  process.exit(2);
}
const top = Number(topStr ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = prof.timeDeltas;
for (let i = 0; i < prof.samples.length; i++)
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const fnAgg = new Map();
const fileAgg = new Map();
const pkgAgg = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  let url = (cf.url || '').replace(/^file:\/\//, '');
  url = url.includes('/node_modules/') ? url.replace(/.*node_modules\//, 'nm:') : url.replace(/.*\/dist\//, 'dist/');
  const key = `${cf.functionName || '(anonymous)'} ${url}:${cf.lineNumber + 1}`;
  fnAgg.set(key, (fnAgg.get(key) ?? 0) + us);
  const fk = url || `(${cf.functionName})`;
  fileAgg.set(fk, (fileAgg.get(fk) ?? 0) + us);
  const pk = url.startsWith('nm:')
    ? url.split('/')[0] + (url.startsWith('nm:@') ? '/' + url.split('/')[1] : '')
    : url.startsWith('dist/')
      ? `oras-ts ${url.split('/').slice(0, 2).join('/')}`
      : url.startsWith('node:')
        ? `node:${url.split('/')[2] ?? url}`
        : url
          ? 'other'
          : `(${cf.functionName})`;
  pkgAgg.set(pk, (pkgAgg.get(pk) ?? 0) + us);
}
const pr = (m, title) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
};
console.log(
  `total sampled ${(total / 1000).toFixed(0)} ms (wall ${((prof.endTime - prof.startTime) / 1000).toFixed(0)} ms)`,
);
pr(fnAgg, 'self time by function');
pr(fileAgg, 'self time by file');
pr(pkgAgg, 'self time by package / area');
