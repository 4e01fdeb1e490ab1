/**
 * include/exclude of a dependency select installed paths relative to its `path`, also inside
 * unpacked directory layers (`<title>/<inner path>`). Layout source, no server.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { install } from '../../src/project/install.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { publish } from '../../src/project/publish.js';
import { layoutFactory, listTree, lockedPaths, recorder, treeMismatches, writeTree } from './helpers.js';

const HOST = 'localhost:5998';
const env = { CI: 'false' };
let root: string;
let factory: ReturnType<typeof layoutFactory>;
let schemasLayer: string;
let consumer: string;

async function setDependency(extra: string): Promise<void> {
  await writeFile(
    join(consumer, 'artifacts.yaml'),
    `dependencies:\n  api:\n    ref: "${HOST}/acme/api:v1"\n    path: lib\n${extra}`,
  );
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-include-'));
  factory = layoutFactory(join(root, 'registry'));
  const producer = join(root, 'producer');
  await writeTree(producer, {
    'schemas/v1/a.json': '{"a":1}\n',
    'schemas/v1/b.json': '{"b":1}\n',
    'schemas/README.txt': 'read me\n',
    'top.json': '{}\n',
    'notes.txt': 'notes\n',
  });
  await writeFile(
    join(producer, 'artifacts.yaml'),
    `publish:\n  api:\n    ref: ${HOST}/acme/api\n    tags: [v1]\n    files: [schemas, top.json, notes.txt]\n`,
  );
  const r = await publish({ projectDir: producer, targetFactory: factory });
  const layers = r.published[0]!.manifest.layers;
  const dir = layers.find((l) => l.annotations?.['org.opencontainers.image.title'] === 'schemas')!;
  expect(dir.annotations?.['io.deis.oras.content.unpack']).toBe('true');
  schemasLayer = dir.digest;
  consumer = join(root, 'consumer');
  await mkdir(consumer, { recursive: true });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('include/exclude over installed paths', () => {
  const cacheDir = (): string => join(root, 'cache');

  it('include "**/*.json" selects files inside an unpacked directory layer', async () => {
    await setDependency('    include: ["**/*.json"]\n');
    const r = await install({ projectDir: consumer, targetFactory: factory, cacheDir: cacheDir(), env });
    const lock = (await readLockfile(consumer))!;
    expect(lockedPaths(lock)).toEqual(['lib/schemas/v1/a.json', 'lib/schemas/v1/b.json', 'lib/top.json']);
    expect(r.counts.add).toBe(3);
    expect(await treeMismatches(consumer, lock)).toEqual([]);
  });

  it('changing include/exclude removes the deselected files on the next install', async () => {
    await setDependency('    include: ["**/*.json"]\n    exclude: ["schemas/v1/b.json"]\n');
    const r1 = await install({ projectDir: consumer, targetFactory: factory, cacheDir: cacheDir(), env });
    expect(r1.counts).toMatchObject({ add: 0, remove: 1, keep: 2 });
    expect(await listTree(join(consumer, 'lib'))).toEqual(['schemas/v1/a.json', 'top.json']);

    // no include, exclude one file of the directory: everything else comes back
    await setDependency('    exclude: ["schemas/README.txt"]\n');
    const r2 = await install({ projectDir: consumer, targetFactory: factory, cacheDir: cacheDir(), env });
    expect(r2.counts).toMatchObject({ add: 2, remove: 0 });
    expect(await listTree(join(consumer, 'lib'))).toEqual([
      'notes.txt',
      'schemas/v1/a.json',
      'schemas/v1/b.json',
      'top.json',
    ]);

    // include naming a directory selects everything below it
    await setDependency('    include: ["schemas"]\n');
    const r3 = await install({ projectDir: consumer, targetFactory: factory, cacheDir: cacheDir(), env });
    expect(r3.counts).toMatchObject({ add: 1, remove: 2 });
    expect(await listTree(join(consumer, 'lib'))).toEqual([
      'schemas/README.txt',
      'schemas/v1/a.json',
      'schemas/v1/b.json',
    ]);
    const lock = (await readLockfile(consumer))!;
    expect(await treeMismatches(consumer, lock)).toEqual([]);
  });

  it('a directory layer that cannot contribute a file is not fetched', async () => {
    const variants: [string, string[]][] = [
      ['    exclude: ["schemas"]\n', ['notes.txt', 'top.json']],
      ['    include: ["top.json", "*.txt"]\n    exclude: ["schemas/**"]\n', ['notes.txt', 'top.json']],
      ['    include: ["top.json"]\n', ['top.json']],
    ];
    for (const [extra, want] of variants) {
      await rm(join(root, 'cold-cache'), { recursive: true, force: true });
      await setDependency(extra);
      const rec = recorder();
      await install({
        projectDir: consumer,
        targetFactory: factory,
        cacheDir: join(root, 'cold-cache'),
        env,
        onEvent: rec.onEvent,
      });
      const fetched = rec.events.flatMap((e) => (e.type === 'fetch' ? [e.digest] : []));
      expect(fetched).not.toContain(schemasLayer);
      expect(rec.count('unpacked')).toBe(0);
      expect(await listTree(join(consumer, 'lib'))).toEqual(want);
    }
    // control: with a selectable file inside, the same cold cache does fetch and unpack it
    await rm(join(root, 'cold-cache'), { recursive: true, force: true });
    await setDependency('    include: ["schemas/v1/*.json"]\n');
    const rec = recorder();
    await install({
      projectDir: consumer,
      targetFactory: factory,
      cacheDir: join(root, 'cold-cache'),
      env,
      onEvent: rec.onEvent,
    });
    expect(rec.events.flatMap((e) => (e.type === 'fetch' ? [e.digest] : []))).toContain(schemasLayer);
    expect(rec.count('unpacked')).toBe(1);
    expect(await listTree(join(consumer, 'lib'))).toEqual(['schemas/v1/a.json', 'schemas/v1/b.json']);
  });

  it('a directory layer whose files are all filtered out contributes nothing', async () => {
    await setDependency('    include: ["**/*.json"]\n    exclude: ["schemas/v1"]\n');
    await install({ projectDir: consumer, targetFactory: factory, cacheDir: cacheDir(), env });
    const lock = (await readLockfile(consumer))!;
    expect(lockedPaths(lock)).toEqual(['lib/top.json']);
    expect(await treeMismatches(consumer, lock)).toEqual([]);
  });

  it('an include glob that matches nothing is ERR_ORAS_USAGE naming the dependency and the glob; the lock is untouched', async () => {
    const before = await readLockfile(consumer);
    await setDependency('    include: ["**/*.yaml", "top.json"]\n');
    await expect(
      install({ projectDir: consumer, targetFactory: factory, cacheDir: cacheDir(), env }),
    ).rejects.toMatchObject({
      code: 'ERR_ORAS_USAGE',
      message: expect.stringContaining(`dependency 'api': include glob "**/*.yaml" matches no file`),
    });
    expect(await readLockfile(consumer)).toEqual(before);
  });
});
