import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock } from '../../src/content/file-lock.js';
import { readAll } from '../../src/content/read.js';
import { syncWritten } from '../../src/content/sync-batch.js';
import { ProjectCache } from '../../src/project/apply/cache/project-cache.js';
import { IN_PROGRESS_FILE, markInProgress } from '../../src/project/apply/in-progress.js';
import { install } from '../../src/project/install.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { publish } from '../../src/project/publish.js';
import { layoutFactory, recorder, treeMismatches, writeTree } from './helpers.js';

/*
 * Batched durability (issue 14): project files and unpacked cache trees are written without a
 * per-file fsync and synced once; an install marks itself in progress durably first, and the next
 * install rehashes everything while that marker is still there. Plus the O(N) property of placing
 * the files of one unpacked layer (the listing is read once, not once per file).
 */

const HOST = 'localhost:5997';
const env = { CI: 'false' };
let root: string;
let factory: ReturnType<typeof layoutFactory>;

/** Publishes one artifact whose single directory layer holds `n` small files; returns its ref. */
async function publishDir(name: string, n: number): Promise<string> {
  const src = join(root, `src-${name}`);
  const files: Record<string, string> = {};
  for (let i = 0; i < n; i++) files[`data/f${String(i).padStart(5, '0')}.txt`] = `${name} file ${i}\n`;
  await writeTree(src, files);
  await writeFile(
    join(src, 'artifacts.yaml'),
    `publish:\n  ${name}:\n    ref: ${HOST}/bench/${name}\n    tags: [v1]\n    files:\n      - data\n`,
  );
  await publish({ projectDir: src, targetFactory: factory });
  return `${HOST}/bench/${name}:v1`;
}

async function project(name: string, ref: string): Promise<string> {
  const dir = join(root, name);
  await writeTree(dir, { 'artifacts.yaml': `dependencies:\n  d:\n    ref: "${ref}"\n    path: vendor\n` });
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-durability-'));
  factory = layoutFactory(join(root, 'registry'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('placing the files of one unpacked layer is O(N)', () => {
  it('reads the layer listing from disk once per process, for N and 4N files alike', async () => {
    const reads: number[] = [];
    for (const n of [25, 100]) {
      const ref = await publishDir(`scale${n}`, n);
      const p = await project(`scale-${n}`, ref);
      const cacheDir = join(root, `cache-scale-${n}`);
      await install({ projectDir: p, targetFactory: factory, cacheDir, env });
      const lock = (await readLockfile(p))!;
      const files = lock.dependencies.d!.files;
      expect(files).toHaveLength(n);
      // A fresh cache object (a new process) asks for every file of the layer, as a warm install does.
      const cache = await ProjectCache.open(cacheDir);
      const store = await factory(`${HOST}/bench/scale${n}`);
      const manifest = JSON.parse(
        (await readAll(await store.fetch(await store.resolve('v1')), 1 << 20, 'manifest')).toString('utf8'),
      ) as { layers: { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }[] };
      const layer = manifest.layers[0]!;
      for (const f of files)
        await cache.unpackedFile(layer, f.path.slice('vendor/data/'.length), undefined, {
          offline: true,
          stripPrefix: 'data',
        });
      reads.push(cache.listingReads);
    }
    // The old code parsed the whole listing once per file (N and 4N reads: quadratic in total).
    expect(reads).toEqual([1, 1]);
  }, 180_000);
});

describe('an install sharing the cache replaces an unpacked tree', () => {
  it('a file missing while another holder of the tree lock replaces it is looked up again after the lock, not re-derived', async () => {
    const ref = await publishDir('shared', 5);
    const p = await project('shared-a', ref);
    const cacheDir = join(root, 'cache-shared');
    await install({ projectDir: p, targetFactory: factory, cacheDir, env });
    const file = (await readLockfile(p))!.dependencies.d!.files[0]!;
    const rec = recorder();
    const cache = await ProjectCache.open(cacheDir, { onEvent: rec.onEvent });
    const store = await factory(`${HOST}/bench/shared`);
    const manifest = JSON.parse(
      (await readAll(await store.fetch(await store.resolve('v1')), 1 << 20, 'manifest')).toString('utf8'),
    ) as { layers: { digest: string; size: number; mediaType: string }[] };
    const layer = manifest.layers[0]!;
    expect(layer.digest).toBe(file.layer);
    const tree = cache.unpackedDir(file.layer);
    const rel = file.path.slice('vendor/data/'.length);
    // Another install holds the tree's lock and is between its two renames: the file is not there.
    const release = await acquireLock(tree);
    await rename(tree, `${tree}.aside`);
    const lookup = cache.unpackedFile(layer, rel, undefined, { offline: true, stripPrefix: 'data' }).then(
      (path) => ({ path }),
      (error: unknown) => ({ error }),
    );
    await new Promise((r) => setTimeout(r, 150));
    await rename(`${tree}.aside`, tree);
    await release();
    expect(await lookup).toEqual({ path: join(tree, ...rel.split('/')) });
    // The old code derived the tree again (and replaced it under the other install's reads).
    expect(rec.count('unpacked')).toBe(0);
  });
});

describe('batched durability with an in-progress marker', () => {
  it('marks the run in progress before the first project write and clears it after the batch sync', async () => {
    const ref = await publishDir('mark', 20);
    const p = await project('mark', ref);
    const seen: boolean[] = [];
    const r = await install({
      projectDir: p,
      targetFactory: factory,
      cacheDir: join(root, 'cache-mark'),
      env,
      onEvent: (e) => {
        if (e.type === 'link') seen.push(existsSync(join(p, '.oras', IN_PROGRESS_FILE)));
      },
    });
    expect(r.counts.add).toBe(20);
    expect(seen).toHaveLength(20);
    expect(seen.every(Boolean)).toBe(true);
    expect(existsSync(join(p, '.oras', IN_PROGRESS_FILE))).toBe(false);
    expect(await treeMismatches(p, (await readLockfile(p))!)).toEqual([]);
  });

  it('marker left (power loss before the sync) → the next run rehashes every file and rewrites the torn ones', async () => {
    const ref = await publishDir('torn', 10);
    const p = await project('torn', ref);
    await install({ projectDir: p, targetFactory: factory, cacheDir: join(root, 'cache-torn'), env });
    const lock = (await readLockfile(p))!;
    const paths = lock.dependencies.d!.files.map((f) => f.path);
    // What a power loss can leave: the marker of an install that wrote `paths`, and one file whose
    // data never reached the disk (same size, inode and mtime as recorded; other bytes).
    await markInProgress(p, paths);
    const torn = join(p, ...paths[3]!.split('/'));
    const st = await stat(torn);
    await writeFile(torn, Buffer.alloc(st.size, 0));
    await utimes(torn, st.atime, st.mtime);
    const rec = recorder();
    const r = await install({
      projectDir: p,
      targetFactory: factory,
      cacheDir: join(root, 'cache-torn'),
      env,
      onEvent: rec.onEvent,
    });
    expect(rec.count('rehash')).toBe(paths.length);
    expect(r.counts.conflict).toBe(0);
    expect(r.counts.add + r.counts.change).toBe(1);
    expect(await treeMismatches(p, lock)).toEqual([]);
    expect(existsSync(join(p, '.oras', IN_PROGRESS_FILE))).toBe(false);
    expect((await readFile(torn)).equals(Buffer.alloc(st.size, 0))).toBe(false);
  });

  it('a file being written by the interrupted run but edited to neither version is rewritten, other edits still conflict', async () => {
    const ref = await publishDir('edit', 4);
    const p = await project('edit', ref);
    await install({ projectDir: p, targetFactory: factory, cacheDir: join(root, 'cache-edit'), env });
    const lock = (await readLockfile(p))!;
    const paths = lock.dependencies.d!.files.map((f) => f.path);
    await markInProgress(p, [paths[0]!]);
    await writeFile(join(p, ...paths[0]!.split('/')), 'torn\n');
    await writeFile(join(p, ...paths[1]!.split('/')), 'user edit\n');
    const err = await install({ projectDir: p, targetFactory: factory, cacheDir: join(root, 'cache-edit'), env }).catch(
      (e: unknown) => e,
    );
    expect((err as { code?: string }).code).toBe('ERR_ORAS_USER_MODIFIED');
    expect(String((err as Error).message)).toContain(paths[1]);
    expect(String((err as Error).message)).not.toContain(paths[0]);
  });
});

describe('syncWritten', () => {
  it('fsync mode issues one fsync per file and per directory; nothing for an empty batch', async () => {
    const dir = join(root, 'sync');
    await writeTree(dir, { 'a/1': '1', 'a/2': '2', 'b/3': '3' });
    const kinds: string[] = [];
    const files = ['a/1', 'a/2', 'b/3'].map((f) => join(dir, ...f.split('/')));
    const m = await syncWritten(files, [join(dir, 'a'), join(dir, 'b')], {
      method: 'fsync',
      onSync: (k) => kinds.push(k),
    });
    expect(m).toBe('fsync');
    expect(kinds.sort()).toEqual(['dir', 'dir', 'file', 'file', 'file']);
    expect(await syncWritten([], [])).toBe('none');
  });

  it('auto mode syncs each file system once (Linux with coreutils sync), else per file', async () => {
    const dir = join(root, 'sync2');
    await writeTree(dir, { x: '1', y: '2' });
    const kinds: string[] = [];
    const m = await syncWritten([join(dir, 'x'), join(dir, 'y')], [dir], { onSync: (k) => kinds.push(k) });
    if (m === 'syncfs') expect(kinds).toEqual(['syncfs']);
    else expect(kinds.sort()).toEqual(['dir', 'file', 'file']);
  });
});
