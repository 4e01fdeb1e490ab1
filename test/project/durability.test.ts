import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncWritten } from '../../src/content/sync-batch.js';
import { IN_PROGRESS_FILE, markInProgress } from '../../src/project/apply/in-progress.js';
import { install } from '../../src/project/install.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import type { Lockfile } from '../../src/project/types.js';
import { publish } from '../../src/project/publish.js';
import { layoutFactory, recorder, treeMismatches, writeTree } from './helpers.js';

/*
 * Batched durability (issue 14): project files are written without a per-file fsync and synced
 * once; an install marks itself in progress durably first, and the next install rehashes everything
 * while that marker is still there. Directory layers are extracted straight into the project (each
 * byte written once; the O(N) property of one scan per layer is in layer-place.test.ts).
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

/** Publishes `n` files as `name`, installs them into a new project `<name>-<suffix>` with the cache `cache-<name>`, returns what the tests use. */
async function installed(
  name: string,
  n: number,
  suffix: string,
): Promise<{ ref: string; dir: string; cacheDir: string; lock: Lockfile; layer: string }> {
  const ref = await publishDir(name, n);
  const cacheDir = join(root, `cache-${name}`);
  const dir = await project(suffix === '' ? name : `${name}-${suffix}`, ref);
  await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
  const lock = (await readLockfile(dir))!;
  return { ref, dir, cacheDir, lock, layer: lock.dependencies.d!.files[0]!.layer };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-durability-'));
  factory = layoutFactory(join(root, 'registry'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('directory layers are extracted straight into the project', () => {
  it('a cold install and an offline warm install into a second project write no tree into the cache', async () => {
    const { ref, dir: cold, cacheDir, lock, layer } = await installed('once', 30, 'cold');
    const warm = await project('once-warm', ref);
    await writeFile(join(warm, 'artifacts.lock'), await readFile(join(cold, 'artifacts.lock')));
    const rec = recorder();
    const r = await install({
      projectDir: warm,
      targetFactory: factory,
      cacheDir,
      env,
      offline: true,
      onEvent: rec.onEvent,
    });
    expect(r.counts.add).toBe(30);
    // The cache keeps the layer blob and its listing (a marker naming the listing blob): no copy of the files.
    expect(await readdir(join(cacheDir, 'unpacked', 'sha256'))).toEqual([`${layer.slice(7)}.json`]);
    expect(rec.count('unpacked')).toBe(0); // the recorded listing was used, not derived again
    for (const p of [cold, warm]) expect(await treeMismatches(p, lock)).toEqual([]);
  });

  it('a corrupt layer blob in the cache fails the install, is removed, and the rerun fetches it again', async () => {
    const { ref, dir: first, cacheDir, lock, layer } = await installed('corrupt', 40, 'first');
    const blob = join(cacheDir, 'blobs', 'sha256', layer.slice(7));
    const bytes = await readFile(blob);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff; // same size, other content
    await writeFile(blob, bytes);
    const second = await project('corrupt-second', ref);
    await writeFile(join(second, 'artifacts.lock'), await readFile(join(first, 'artifacts.lock')));
    const failed = await install({ projectDir: second, targetFactory: factory, cacheDir, env }).catch(
      (e: unknown) => e,
    );
    expect((failed as { code?: string }).code).toBe('ERR_ORAS_DIGEST_MISMATCH');
    expect(existsSync(blob)).toBe(false);
    await install({ projectDir: second, targetFactory: factory, cacheDir, env });
    expect(await treeMismatches(second, lock)).toEqual([]);
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
    const { dir: p, cacheDir, lock } = await installed('torn', 10, '');
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
      cacheDir,
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
    const { dir: p, cacheDir, lock } = await installed('edit', 4, '');
    const paths = lock.dependencies.d!.files.map((f) => f.path);
    await markInProgress(p, [paths[0]!]);
    await writeFile(join(p, ...paths[0]!.split('/')), 'torn\n');
    await writeFile(join(p, ...paths[1]!.split('/')), 'user edit\n');
    const err = await install({ projectDir: p, targetFactory: factory, cacheDir, env }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ERR_ORAS_USER_MODIFIED');
    expect(String((err as Error).message)).toContain(paths[1]);
    expect(String((err as Error).message)).not.toContain(paths[0]);
  });
});

describe('one state write per install', () => {
  it('a fresh install writes artifacts.lock, then its state once (with the lock stamp), then clears the marker', async () => {
    const ref = await publishDir('once', 5);
    const p = await project('once', ref);
    const rec = recorder();
    let markerAtLock: boolean | undefined;
    await install({
      projectDir: p,
      targetFactory: factory,
      cacheDir: join(root, 'cache-once'),
      env,
      onEvent: (e) => {
        rec.onEvent(e);
        if (e.type === 'lockfile-written') markerAtLock = existsSync(join(p, '.oras', IN_PROGRESS_FILE));
      },
    });
    const order = rec.events.map((e) => e.type).filter((t) => t === 'lockfile-written' || t === 'state-written');
    expect(order).toEqual(['lockfile-written', 'state-written']);
    expect(markerAtLock).toBe(true);
    expect(existsSync(join(p, '.oras', IN_PROGRESS_FILE))).toBe(false);
    // The state carries the stamps: the next install is the fast no-op.
    const again = recorder();
    await install({
      projectDir: p,
      targetFactory: factory,
      cacheDir: join(root, 'cache-once'),
      env,
      onEvent: again.onEvent,
    });
    expect(again.count('rehash')).toBe(0);
    expect(again.count('state-written')).toBe(0);
  });

  it('artifacts.lock cannot be written: what landed is recorded, the marker cleared, the error reported; the rerun converges', async () => {
    const ref = await publishDir('nolock', 4);
    const p = await project('nolock', ref);
    const cacheDir = join(root, 'cache-nolock');
    const err = await install({
      projectDir: p,
      targetFactory: factory,
      cacheDir,
      env,
      onEvent: (e) => {
        // Something puts a non-empty directory where the lockfile goes, after the files landed.
        if (e.type === 'link' && !existsSync(join(p, 'artifacts.lock'))) {
          mkdirSync(join(p, 'artifacts.lock'));
          writeFileSync(join(p, 'artifacts.lock', 'x'), 'x');
        }
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const state = JSON.parse(await readFile(join(p, '.oras', 'state.json'), 'utf8')) as {
      files: object;
      inputs?: unknown;
    };
    expect(Object.keys(state.files)).toHaveLength(4);
    expect(state.inputs).toBeUndefined();
    expect(existsSync(join(p, '.oras', IN_PROGRESS_FILE))).toBe(false);
    await rm(join(p, 'artifacts.lock'), { recursive: true });
    const rec = recorder();
    await install({ projectDir: p, targetFactory: factory, cacheDir, env, onEvent: rec.onEvent });
    expect(rec.count('rehash')).toBe(0);
    expect(rec.count('link')).toBe(0);
    expect(await treeMismatches(p, (await readLockfile(p))!)).toEqual([]);
  });
});

describe('staged layers (a layer into a new root fills a temp-named directory renamed once)', () => {
  /** A second project with the lock of `first` and nothing installed: what a crashed fresh install starts from. */
  async function sibling(first: string, name: string, ref: string): Promise<string> {
    const p = await project(name, ref);
    await writeFile(join(p, 'artifacts.lock'), await readFile(join(first, 'artifacts.lock')));
    return p;
  }
  const stageName = '.vendor.oras-tmp-0123456789ab7';

  it('a stage left by a killed install (named by its marker) is removed and the layer installed', async () => {
    const { dir, ref, cacheDir, lock } = await installed('stagecrash', 6, '');
    const p = await sibling(dir, 'stagecrash-2', ref);
    // What SIGKILL in the middle of placing the layer leaves: the durable marker and a half-filled stage.
    await writeTree(join(p, stageName), { 'data/f00000.txt': 'stagecrash file 0\n', 'data/f00001.txt': 'stage' });
    await markInProgress(
      p,
      lock.dependencies.d!.files.map((f) => f.path),
      [stageName],
    );
    await install({ projectDir: p, targetFactory: factory, cacheDir, env });
    expect(await treeMismatches(p, lock)).toEqual([]);
    expect((await readdir(p)).sort()).toEqual(['.oras', 'artifacts.lock', 'artifacts.yaml', 'vendor']);
    expect(existsSync(join(p, '.oras', IN_PROGRESS_FILE))).toBe(false);
  });

  it('a stage next to the root of a dependency being installed is removed without a marker', async () => {
    const { dir, ref, cacheDir, lock } = await installed('stagelost', 3, '');
    const p = await sibling(dir, 'stagelost-2', ref);
    await writeTree(join(p, stageName), { 'data/f00000.txt': 'x' });
    await install({ projectDir: p, targetFactory: factory, cacheDir, env });
    expect(await treeMismatches(p, lock)).toEqual([]);
    expect((await readdir(p)).sort()).toEqual(['.oras', 'artifacts.lock', 'artifacts.yaml', 'vendor']);
  });

  it('a stage symlinked out of the project is unlinked, never followed', async () => {
    const { dir, ref, cacheDir, lock } = await installed('stagelink', 3, '');
    const p = await sibling(dir, 'stagelink-2', ref);
    const outside = join(root, 'stagelink-outside');
    await writeTree(outside, { 'keep.txt': 'keep\n' });
    await symlink(outside, join(p, stageName));
    await markInProgress(p, [], [stageName, '../escape/.x.oras-tmp-0123456789ab1']);
    await install({ projectDir: p, targetFactory: factory, cacheDir, env });
    expect(await treeMismatches(p, lock)).toEqual([]);
    expect(await readFile(join(outside, 'keep.txt'), 'utf8')).toBe('keep\n');
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
