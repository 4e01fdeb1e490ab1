/**
 * The CLI caps V8's young generation (src/cli/young-generation.ts): a workload that keeps what it
 * allocates, spread over event-loop turns as an install's lock parse and placement are, grows the
 * young generation past the cap without it and stays at the cap with it. Each case runs in a fresh
 * Node process (V8 flags are per process).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { YOUNG_GENERATION_CAP_BYTES } from '../../src/cli/young-generation.js';
import { ROOT } from './helpers.js';

const MODULE = pathToFileURL(join(ROOT, 'dist', 'cli', 'young-generation.js')).href;

/** The largest young-generation size seen while 60 MB of live objects are built, 1,000 per turn. */
function peakYoungGeneration(cap: boolean): number {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    ${cap ? `(await import(${JSON.stringify(MODULE)})).capYoungGeneration();` : ''}
    const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    const kept = [];
    let peak = young();
    for (let turn = 0; turn < 400; turn++) {
      for (let i = 0; i < 1000; i++) kept.push({ path: 'deps/a/f' + turn + '-' + i, size: i, mode: 420 });
      peak = Math.max(peak, young());
      await new Promise((resolve) => setImmediate(resolve));
    }
    process.stdout.write(String(Math.max(peak, young())));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return Number(r.stdout);
}

describe('the CLI young-generation cap', () => {
  const known = Number(process.versions.v8.split('.')[0]) <= 13;

  it.runIf(known)('keeps the young generation at the cap under a growing live set', () => {
    expect(peakYoungGeneration(false)).toBeGreaterThan(YOUNG_GENERATION_CAP_BYTES);
    expect(peakYoungGeneration(true)).toBeLessThanOrEqual(YOUNG_GENERATION_CAP_BYTES);
  });
});
