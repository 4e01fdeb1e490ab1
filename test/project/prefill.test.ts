/*
 * Prefilled stages (src/project/apply/prefill.ts): while a cold install derives a new directory
 * layer's listing, the writer thread fills a staging directory in `.oras/`; placement adopts it
 * only when the plan's writes are exactly its files, and otherwise places the layer as before.
 * Either way the tree is exactly the lock and nothing temp-named is left. Layout source, no server.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { install } from '../../src/project/install.js';
import { Prefills } from '../../src/project/apply/prefill.js';
import { closeStage, discardStage } from '../../src/project/apply/layer-stage.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { publish } from '../../src/project/publish.js';
import { errorCode, layoutFactory, listTree, treeMismatches, writeTree } from './helpers.js';
import { craftTarGz, type CraftEntry } from '../artifact/helpers.js';
import { MemoryStore } from '../../src/content/memory.js';
import { Annotation, MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import type { ProjectEvent } from '../../src/project/events.js';
import type { LockedFile, PlanAction } from '../../src/project/types.js';

type WriteAction = Extract<PlanAction, { kind: 'add' | 'change' }>;

const descOf = (bytes: Buffer, mediaType: string): Descriptor => ({
  mediaType,
  digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  size: bytes.length,
});

const HOST = 'localhost:5994';
const env = { CI: 'false' };
const linux = process.platform === 'linux';
let root: string;
let factory: ReturnType<typeof layoutFactory>;
let ref: string;
const N = 300;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-prefill-'));
  factory = layoutFactory(join(root, 'registry'));
  const src = join(root, 'src');
  const files: Record<string, string> = {};
  for (let i = 0; i < N; i++)
    files[`data/${i % 2 === 0 ? 'even' : 'odd'}/f${String(i).padStart(4, '0')}.txt`] = `file ${i}\n`;
  await writeTree(src, files);
  await writeFile(
    join(src, 'artifacts.yaml'),
    `publish:\n  many:\n    ref: ${HOST}/acme/many\n    tags: [v1]\n    files:\n      - data\n`,
  );
  await publish({ projectDir: src, targetFactory: factory });
  ref = `${HOST}/acme/many:v1`;
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** A new project depending on the artifact at `vendor/many` (with `extra` spec lines), and an empty cache. */
async function project(name: string, extra = ''): Promise<{ dir: string; cacheDir: string }> {
  const dir = join(root, name);
  await writeTree(dir, {
    'artifacts.yaml': `dependencies:\n  many:\n    ref: "${ref}"\n    path: vendor/many\n${extra}`,
  });
  return { dir, cacheDir: join(root, `cache-${name}`) };
}

/** What `adopt` resolved to, per call (undefined: placed as before). */
async function adoptions(spy: ReturnType<typeof vi.spyOn>): Promise<unknown[]> {
  return Promise.all((spy.mock.results as Array<{ value: unknown }>).map((r) => r.value));
}

/** Temp-named entries anywhere in the project, `.oras/` included. */
async function tempNamesIn(dir: string): Promise<string[]> {
  const inState = existsSync(join(dir, '.oras')) ? await readdir(join(dir, '.oras')) : [];
  return [...(await listTree(dir)), ...inState.map((n) => `.oras/${n}`)].filter((p) => p.includes('.oras-tmp-'));
}

describe.runIf(linux)('prefilled stages', () => {
  it('a cold install places a new layer from the stage filled while its listing was derived', async () => {
    const spy = vi.spyOn(Prefills.prototype, 'adopt');
    const { dir, cacheDir } = await project('cold');
    const r = await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
    expect(r.counts.add).toBe(N);
    const adopted = await adoptions(spy);
    expect(adopted).toHaveLength(1);
    expect(adopted[0]).toBeDefined();
    const lock = (await readLockfile(dir))!;
    expect(await treeMismatches(dir, lock)).toEqual([]);
    expect(await tempNamesIn(dir)).toEqual([]);
    // The state records the placed files: the next install is a no-op that rehashes nothing.
    const again = await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
    expect(again.counts.keep).toBe(N);
    expect(again.counts.add).toBe(0);
  });

  it('only the selected files are prefilled (include), and the tree is exactly the lock', async () => {
    const spy = vi.spyOn(Prefills.prototype, 'adopt');
    const { dir, cacheDir } = await project('include', '    include: ["data/even/**"]\n');
    const r = await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
    expect(r.counts.add).toBe(N / 2);
    expect((await adoptions(spy))[0]).toBeDefined();
    const lock = (await readLockfile(dir))!;
    expect(await treeMismatches(dir, lock)).toEqual([]);
    expect(existsSync(join(dir, 'vendor/many/data/odd'))).toBe(false);
  });

  it('a root that exists is not prefilled: its files are placed one by one', async () => {
    const spy = vi.spyOn(Prefills.prototype, 'adopt');
    const { dir, cacheDir } = await project('existing');
    await mkdir(join(dir, 'vendor/many/data'), { recursive: true }); // the layer's root (its title is data)
    await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
    expect((await adoptions(spy)).every((a) => a === undefined)).toBe(true);
    expect(await treeMismatches(dir, (await readLockfile(dir))!)).toEqual([]);
  });

  it('a lock the layer does not match fails the install and leaves no stage and no files', async () => {
    const first = await project('lock-source');
    await install({ projectDir: first.dir, targetFactory: factory, cacheDir: first.cacheDir, env });
    const { dir, cacheDir } = await project('tampered');
    const lockText = await readFile(join(first.dir, 'artifacts.lock'), 'utf8');
    const lock = (await readLockfile(first.dir))!;
    const victim = lock.dependencies.many!.files[7]!.digest;
    const forged = `sha256:${'0'.repeat(64)}`;
    expect(lockText).toContain(victim);
    await writeFile(join(dir, 'artifacts.lock'), lockText.replace(victim, forged));
    const code = await errorCode(
      install({ projectDir: dir, targetFactory: factory, cacheDir, env: { CI: 'true' }, frozenLockfile: true }),
    );
    expect(code).not.toBe('no error');
    expect(existsSync(join(dir, 'vendor'))).toBe(false);
    expect(await tempNamesIn(dir)).toEqual([]);
  });

  it('a root that appears after the plan: the stage is removed and the files are placed one by one', async () => {
    const spy = vi.spyOn(Prefills.prototype, 'adopt');
    const { dir, cacheDir } = await project('appears');
    const rootDir = join(dir, 'vendor/many/data');
    const onEvent = (e: ProjectEvent): void => {
      if (e.type === 'plan') mkdirSync(rootDir, { recursive: true });
    };
    await install({ projectDir: dir, targetFactory: factory, cacheDir, env, onEvent });
    expect(await adoptions(spy)).toHaveLength(1);
    expect(await treeMismatches(dir, (await readLockfile(dir))!)).toEqual([]);
    expect(await tempNamesIn(dir)).toEqual([]);
  });

  it('a layer with a hard link is not prefilled and installs as before', async () => {
    const store = new MemoryStore();
    const entries: CraftEntry[] = [];
    for (let i = 0; i < 100; i++) entries.push({ name: `data/f${i}.txt`, content: `linked ${i}\n` });
    entries.push({ name: 'data/same.txt', type: 'link', linkname: 'data/f3.txt' });
    const layerBytes = await craftTarGz(entries);
    const layer: Descriptor = {
      ...descOf(layerBytes, MediaType.ImageLayerGzip),
      annotations: { [Annotation.Title]: 'data', [Annotation.ContentUnpack]: 'true' },
    };
    await store.push(layer, layerBytes);
    const config: Descriptor = { ...descOf(Buffer.from('{}'), MediaType.Empty) };
    await store.push(config, Buffer.from('{}'));
    const manifestBytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config, layers: [layer] }),
    );
    const manifest = descOf(manifestBytes, MediaType.ImageManifest);
    await store.push(manifest, manifestBytes);
    await store.tag(manifest, 'v1');
    const dir = join(root, 'hardlink');
    await writeTree(dir, {
      'artifacts.yaml': `dependencies:\n  l:\n    ref: "${HOST}/acme/linked:v1"\n    path: vendor/l\n`,
    });
    const spy = vi.spyOn(Prefills.prototype, 'adopt');
    const r = await install({
      projectDir: dir,
      targetFactory: () => store,
      cacheDir: join(root, 'cache-hardlink'),
      env,
    });
    expect(r.counts.add).toBe(101);
    expect((await adoptions(spy)).every((a) => a === undefined)).toBe(true);
    expect(await readFile(join(dir, 'vendor/l/data/same.txt'), 'utf8')).toBe('linked 3\n');
    expect(await treeMismatches(dir, (await readLockfile(dir))!)).toEqual([]);
  });

  it('removes the stages a killed install left in .oras/ before it installs', async () => {
    const { dir, cacheDir } = await project('leftover');
    const left = join(dir, '.oras', '.prefill.oras-tmp-0123456789ab1');
    await writeTree(left, { 'data/even/f0000.txt': 'half', 'data/odd/f0001.txt': '' });
    await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
    expect(existsSync(left)).toBe(false);
    expect(await tempNamesIn(dir)).toEqual([]);
    expect(await treeMismatches(dir, (await readLockfile(dir))!)).toEqual([]);
  });

  it('a dry run prefills nothing', async () => {
    const { dir, cacheDir } = await project('dry');
    const spy = vi.spyOn(Prefills, 'open');
    await install({ projectDir: dir, targetFactory: factory, cacheDir, env, dryRun: true });
    expect(spy).not.toHaveBeenCalled();
    expect(existsSync(join(dir, 'vendor'))).toBe(false);
    expect(await tempNamesIn(dir)).toEqual([]);
  });
});

describe.runIf(linux)('Prefills.adopt', () => {
  const digest = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
  const layer: Descriptor = { mediaType: MediaType.ImageLayerGzip, digest: digest('layer'), size: 1 << 20 };

  /** A project whose layer at `lib/data` was prefilled with 100 files (`f<i>.txt`, content `c<i>`; f0 executable). */
  async function prefilled(name: string): Promise<{ dir: string; prefills: Prefills }> {
    const dir = join(root, `adopt-${name}`);
    await mkdir(join(dir, '.oras'), { recursive: true });
    const prefills = Prefills.open(dir)!;
    const sink = prefills.sink(layer, 'data', { root: 'lib/data', selects: () => true })!;
    for (let i = 0; i < 100; i++) {
      const bytes = Buffer.from(`c${i}`);
      const wait = sink.file(`f${i}.txt`, i === 0 ? 0o755 : 0o644, bytes, digest(`c${i}`));
      if (wait !== undefined) await wait;
    }
    sink.complete();
    prefills.seal();
    return { dir, prefills };
  }

  const writes = (edit: (i: number) => Partial<LockedFile> = () => ({})): WriteAction[] =>
    Array.from({ length: 100 }, (_, i) => ({
      kind: 'add' as const,
      path: `lib/data/f${i}.txt`,
      dependency: 'd',
      file: {
        path: `lib/data/f${i}.txt`,
        digest: digest(`c${i}`),
        size: `c${i}`.length,
        layer: layer.digest,
        ...(i === 0 ? { mode: 0o755 } : {}),
        ...edit(i),
      },
    }));

  it('gives the stage for exactly its files, each with its stat', async () => {
    const { dir, prefills } = await prefilled('exact');
    try {
      const got = await prefills.adopt(layer.digest, 'data', 'lib/data', writes().reverse());
      expect(got).toBeDefined();
      expect(got!.placed).toHaveLength(100);
      expect(await readFile(join(got!.stage.abs, 'f99.txt'), 'utf8')).toBe('c99');
      expect(got!.placed[0]!.size).toBe(3); // in the order of the actions: f99 first
      expect(got!.placed[99]!.ino).toBe(lstatSync(join(got!.stage.abs, 'f0.txt')).ino);
      expect(lstatSync(join(got!.stage.abs, 'f0.txt')).mode & 0o777).toBe(0o755);
      // The caller renames it to the root, or discards it (and closes it either way).
      discardStage(got!.stage);
      closeStage(got!.stage);
    } finally {
      await prefills.dispose();
    }
    expect(await tempNamesIn(dir)).toEqual([]);
  });

  const mismatches: Array<[string, WriteAction[]]> = [
    ['another digest', writes((i) => (i === 42 ? { digest: digest('other') } : {}))],
    ['another size', writes((i) => (i === 42 ? { size: 9 } : {}))],
    ['another mode', writes((i) => (i === 1 ? { mode: 0o755 } : {}))],
    ['a file fewer', writes().slice(1)],
    ['another path', writes((i) => (i === 5 ? { path: 'lib/data/g5.txt' } : {}))],
  ];
  for (const [what, actions] of mismatches)
    it(`refuses writes with ${what}, and removes the stage`, async () => {
      const fixed = actions.map((a) => ({ ...a, path: a.file.path }));
      const { dir, prefills } = await prefilled(what.replace(/ /g, '-'));
      try {
        expect(await prefills.adopt(layer.digest, 'data', 'lib/data', fixed)).toBeUndefined();
        expect(await tempNamesIn(dir)).toEqual([]);
      } finally {
        await prefills.dispose();
      }
    });
});
