/*
 * An install of many dependencies must not do per-dependency work that grows with the number of
 * dependencies: the cache's index.json is read a fixed number of times per install (it was read
 * and parsed once per dependency to size its manifest, and once more per dependency to record it),
 * and the records it ends with are the same.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OciLayoutStore } from '../../src/content/oci-layout.js';
import { refNameOf, type LayoutIndex } from '../../src/content/layout-index.js';
import { CACHE_LAST_USED } from '../../src/project/apply/cache/index-records.js';
import { install } from '../../src/project/install.js';
import { publish } from '../../src/project/publish.js';
import { layoutFactory, writeTree } from './helpers.js';

const HOST = 'localhost:5997';
const env = { CI: 'false' };
let root: string;
let factory: ReturnType<typeof layoutFactory>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-many-'));
  factory = layoutFactory(join(root, 'registry'));
  const src = join(root, 'src');
  const files: Record<string, string> = {};
  let yaml = 'publish:\n';
  for (let i = 0; i < 9; i++) {
    files[`f${i}.txt`] = `file ${i}\n`;
    yaml += `  dep${i}:\n    ref: ${HOST}/acme/dep${i}\n    tags: ["1.0.0"]\n    files: [f${i}.txt]\n`;
  }
  await writeTree(src, files);
  await writeFile(join(src, 'artifacts.yaml'), yaml);
  await publish({ projectDir: src, targetFactory: factory });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Index reads of a warm `--offline` install of `n` dependencies into a new project, and the cache's index after it. */
async function warmInstall(n: number): Promise<{ reads: number; index: LayoutIndex }> {
  const cacheDir = await mkdtemp(join(root, `cache-${n}-`));
  let manifest = 'dependencies:\n';
  for (let i = 0; i < n; i++)
    manifest += `  dep${i}:\n    ref: "${HOST}/acme/dep${i}:1.0.0"\n    path: vendor/dep${i}\n`;
  const cold = await mkdtemp(join(root, 'p-'));
  await writeFile(join(cold, 'artifacts.yaml'), manifest);
  await install({ projectDir: cold, targetFactory: factory, cacheDir, env });
  const warm = await mkdtemp(join(root, 'p-'));
  await writeFile(join(warm, 'artifacts.yaml'), manifest);
  await writeFile(join(warm, 'artifacts.lock'), await readFile(join(cold, 'artifacts.lock')));
  const spy = vi.spyOn(OciLayoutStore.prototype as unknown as { readIndex: () => Promise<LayoutIndex> }, 'readIndex');
  try {
    const r = await install({ projectDir: warm, targetFactory: factory, cacheDir, env, offline: true });
    expect(r.counts.add).toBe(n);
    return {
      reads: spy.mock.calls.length,
      index: JSON.parse(await readFile(join(cacheDir, 'index.json'), 'utf8')) as LayoutIndex,
    };
  } finally {
    spy.mockRestore();
  }
}

describe('an install of many dependencies', () => {
  it('reads the cache index a fixed number of times, and records every artifact tagged and stamped', async () => {
    const few = await warmInstall(3);
    const many = await warmInstall(9);
    expect(many.reads).toBe(few.reads);
    expect(many.reads).toBeLessThanOrEqual(3);
    const tags = many.index.manifests.map((m) => refNameOf(m)).sort();
    expect(tags).toEqual(Array.from({ length: 9 }, (_, i) => `${HOST}/acme/dep${i}:1.0.0`));
    for (const m of many.index.manifests) expect(m.annotations?.[CACHE_LAST_USED]).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});
