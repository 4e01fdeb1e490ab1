/**
 * The pure parts of cache management (prune planning, index.json records,
 * size/age units) and the cache lock's readers/writer rules, without a
 * registry: table-driven where the input is data.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CacheInventory, LockNeeds } from '../../src/project/apply/cache/inventory.js';
import {
  applyCacheRecord,
  applyCacheRecords,
  CACHE_LAST_USED,
  cacheRefName,
} from '../../src/project/apply/cache/index-records.js';
import { livePins, lockCacheExclusive, pinCache } from '../../src/project/apply/cache/lock.js';
import { planPrune } from '../../src/project/apply/cache/prune-plan.js';
import { parseAge, parseByteSize } from '../../src/project/spec/cache-units.js';
import { resolveConfig } from '../../src/project/spec/config.js';
import { validateConfig } from '../../src/project/spec/validate.js';
import type { LayoutIndex } from '../../src/content/layout-index.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const M1 = d('1'),
  M2 = d('2'),
  CFG = d('c'),
  L1 = d('a'),
  L2 = d('b'),
  ORPHAN = d('f');

function inventory(): CacheInventory {
  const blob = (size: number, mtimeMs: number) => ({ size, mtimeMs, nlink: 1 });
  return {
    blobs: new Map([
      [M1, blob(10, 100)],
      [M2, blob(10, 200)],
      [CFG, blob(2, 100)],
      [L1, blob(1000, 100)],
      [L2, blob(2000, 200)],
      [ORPHAN, blob(5, 50)],
    ]),
    trees: new Map([[L1, { bytes: 3000, paths: [], mtimeMs: 100 }]]),
    index: {
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: M1,
          size: 10,
          annotations: { [CACHE_LAST_USED]: '2026-01-01T00:00:10.000Z' },
        },
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: M2,
          size: 10,
          annotations: { [CACHE_LAST_USED]: '2026-01-01T00:00:05.000Z' },
        },
      ],
    },
  };
}
const children = new Map([
  [M1, [CFG, L1]],
  [M2, [CFG, L2]],
]);
const none = (): LockNeeds => ({ blobs: new Set(), trees: new Set() });
const total = 10 + 10 + 2 + 1000 + 2000 + 5 + 3000;

describe('planPrune', () => {
  it.each([
    {
      name: 'nothing protected: everything goes',
      needs: none(),
      opts: {},
      blobs: [M1, M2, CFG, L1, L2, ORPHAN],
      trees: [L1],
    },
    {
      name: 'M1 protected: its config, layer and tree stay',
      needs: { blobs: new Set([M1, CFG, L1]), trees: new Set([L1]) },
      opts: {},
      blobs: [M2, L2, ORPHAN],
      trees: [],
    },
    {
      name: '--ci drops protected trees too',
      needs: { blobs: new Set([M1, CFG, L1]), trees: new Set([L1]) },
      opts: { dropTrees: true },
      blobs: [M2, L2, ORPHAN],
      trees: [L1],
    },
    {
      name: '--max-size evicts LRU first (orphan, then M2, which used 5 s before M1); the shared config stays with M1',
      needs: none(),
      opts: { maxSize: total - 100 },
      blobs: [ORPHAN, M2, L2],
      trees: [],
    },
    {
      name: '--older-than keeps recently used units',
      needs: none(),
      opts: { olderThanMs: 6_000, now: Date.parse('2026-01-01T00:00:12.000Z') },
      blobs: [ORPHAN, M2, L2],
      trees: [],
    },
  ])('$name', ({ needs, opts, blobs, trees }) => {
    const plan = planPrune(inventory(), needs, children, opts);
    expect([...plan.blobs].sort()).toEqual([...blobs].sort());
    expect([...plan.trees].sort()).toEqual([...trees].sort());
    expect(plan.totalBytes).toBe(total);
    expect(plan.keptBytes).toBe(total - plan.freedBytes);
  });

  it('reports over budget when protected content alone does not fit, and never evicts it', () => {
    const needs = { blobs: new Set([M1, CFG, L1]), trees: new Set([L1]) };
    const plan = planPrune(inventory(), needs, children, { maxSize: 100 });
    expect(plan.overBudget).toBe(true);
    expect(plan.blobs).not.toContain(M1);
    expect(plan.keptBytes).toBe(10 + 2 + 1000 + 3000);
  });
});

describe('index.json records', () => {
  it('tags a complete artifact by registry/repo:tag, moves the tag, stamps last use', () => {
    const index: LayoutIndex = { schemaVersion: 2, manifests: [] };
    const desc = (digest: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 10 });
    expect(applyCacheRecord(index, { desc: desc(M1), refName: 'localhost:5000/a/b:1.0', lastUsed: 't1' })).toBe(true);
    expect(applyCacheRecord(index, { desc: desc(M1), refName: 'localhost:5000/a/b:1.0', lastUsed: 't1' })).toBe(false);
    applyCacheRecord(index, { desc: desc(M2), refName: 'localhost:5000/a/b:1.0', lastUsed: 't2' });
    expect(index.manifests).toEqual([
      {
        ...desc(M2),
        annotations: { 'org.opencontainers.image.ref.name': 'localhost:5000/a/b:1.0', [CACHE_LAST_USED]: 't2' },
      },
      { ...desc(M1), annotations: { [CACHE_LAST_USED]: 't1' } },
    ]);
  });

  it('applies a batch of records as one record after another, and reports no change when there is none', () => {
    const desc = (digest: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 10 });
    const records = [
      { desc: desc(M1), refName: 'localhost:5000/a/b:1.0', lastUsed: 't1' },
      { desc: desc(M2), lastUsed: 't1' },
      { desc: desc(M2), refName: 'localhost:5000/a/b:1.0', lastUsed: 't2' },
      { desc: desc(L1), refName: 'localhost:5000/a/c@' + L1, lastUsed: 't2' },
      { desc: desc(M1), refName: 'localhost:5000/a/b:2.0', lastUsed: 't3' },
    ];
    const one: LayoutIndex = { schemaVersion: 2, manifests: [] };
    const changes = records.map((r) => applyCacheRecord(one, r));
    expect(changes).toEqual([true, true, true, true, true]);
    const batch: LayoutIndex = { schemaVersion: 2, manifests: [] };
    expect(applyCacheRecords(batch, records)).toBe(true);
    expect(batch).toEqual(one);
    expect(applyCacheRecords(batch, records.slice(3))).toBe(false);
    expect(applyCacheRecords(batch, [])).toBe(false);
  });

  it.each([
    ['localhost:5000/a/b:1.0@' + M1, M1, 'localhost:5000/a/b:1.0'],
    ['localhost:5000/a/b@' + M1, M1, 'localhost:5000/a/b@' + M1],
    ['registry.example/team/x:v2@' + M2, M2, 'registry.example/team/x:v2'],
  ])('ref.name of %s', (resolved, digest, want) => {
    expect(cacheRefName({ resolved, digest })).toBe(want);
  });
});

describe('units', () => {
  it.each([
    ['1024', 1024],
    ['500M', 500 * 1024 ** 2],
    ['2GiB', 2 * 1024 ** 3],
    ['1.5GB', 1.5e9],
    ['10kb', 10_000],
    [4096, 4096],
  ] as const)('size %s', (t, v) => {
    expect(parseByteSize(t)).toBe(v);
  });
  it.each(['', 'lots', '5 parsecs', '-1', -3])('rejects size %s', (t) => {
    expect(parseByteSize(t)).toEqual({ message: expect.stringMatching(/size/) });
  });
  it.each([
    ['30d', 30 * 86_400_000],
    ['12h', 43_200_000],
    ['90m', 5_400_000],
    ['45s', 45_000],
    ['2w', 14 * 86_400_000],
  ] as const)('age %s', (t, v) => {
    expect(parseAge(t)).toBe(v);
  });
  it.each(['30', 'd', '1y', 'soon'])('rejects age %s', (t) => {
    expect(parseAge(t)).toEqual({ message: expect.stringMatching(/duration/) });
  });
  it('oras.yaml cache.maxSize: parsed to bytes; a bad value is a schema issue naming the field', () => {
    expect(resolveConfig({ cache: { maxSize: '2GiB' } }, '/p', {}).cache.maxSize).toBe(2 * 1024 ** 3);
    expect(resolveConfig({ cache: { maxSize: 4096 } }, '/p', {}).cache.maxSize).toBe(4096);
    expect(resolveConfig({}, '/p', {}).cache.maxSize).toBeUndefined();
    const { issues } = validateConfig({ cache: { maxSize: 'lots' } });
    expect(issues.map((i) => i.path).join(' ')).toMatch(/cache\.maxSize/);
  });
});

describe('cache lock (readers/writer)', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('a writer is refused while an install holds a pin, and gets the cache once it is released', async () => {
    dir = await mkdtemp(join(tmpdir(), 'oras-cache-lock-'));
    const unpin = await pinCache(dir);
    expect(await livePins(dir)).toHaveLength(1);
    await expect(lockCacheExclusive(dir, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKED' });
    await unpin();
    const release = await lockCacheExclusive(dir, { timeoutMs: 0 });
    // New installs wait while the writer holds the cache.
    await expect(pinCache(dir, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKED' });
    await release();
    await (
      await pinCache(dir, { timeoutMs: 0 })
    )();
  });

  it('the pin of a dead process is broken by the next writer', async () => {
    dir = await mkdtemp(join(tmpdir(), 'oras-cache-lock-'));
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    await pinCache(dir); // creates pins/
    for (const n of await readdir(join(dir, 'pins'))) await rm(join(dir, 'pins', n));
    await writeFile(
      join(dir, 'pins', `${dead}-abc.lock`),
      JSON.stringify({ pid: dead, hostname: hostname(), createdAt: new Date().toISOString(), token: 'x' }),
    );
    const release = await lockCacheExclusive(dir, { timeoutMs: 0 });
    expect((await readdir(join(dir, 'pins'))).filter((n) => n.endsWith('.lock'))).toEqual([]);
    await release();
  });
});
