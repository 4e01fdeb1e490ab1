import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { loadActual } from '../../src/project/plan/actual.js';
import { ProjectCache } from '../../src/project/apply/cache/project-cache.js';
import { countPlan, diff } from '../../src/project/plan/diff.js';
import type { ProjectEvent } from '../../src/project/events.js';
import { readState, writeState } from '../../src/project/apply/state.js';
import { reify } from '../../src/project/apply/reify.js';
import { stageableRoots } from '../../src/project/apply/stage-roots.js';
import { dependencyRoots } from '../../src/project/apply/state-roots.js';
import type { LockedFile, Lockfile } from '../../src/project/types.js';

let root: string;
let cache: ProjectCache;

const content = (s: string): { data: Buffer; digest: string; size: number } => {
  const data = Buffer.from(s);
  return { data, digest: digestOf(data), size: data.length };
};

async function cached(s: string): Promise<LockedFile & { data: Buffer }> {
  const c = content(s);
  await cache.add({ mediaType: 'application/octet-stream', digest: c.digest, size: c.size }, c.data);
  return { path: '', digest: c.digest, size: c.size, layer: c.digest, data: c.data };
}
function file(path: string, c: LockedFile, mode?: number): LockedFile {
  return { path, digest: c.digest, size: c.size, layer: c.layer, ...(mode !== undefined ? { mode } : {}) };
}
function lockOf(deps: Record<string, LockedFile[]>): Lockfile {
  const dependencies: Lockfile['dependencies'] = {};
  for (const [name, files] of Object.entries(deps)) {
    dependencies[name] = {
      specifier: { ref: `x/${name}:1`, path: 'vendor' },
      resolved: `x/${name}:1@${files[0]?.digest ?? ''}`,
      digest: 'sha256:' + '0'.repeat(64),
      mediaType: 'm',
      files,
    };
  }
  return { lockfileVersion: 1, dependencies, publish: {} };
}

async function install(
  projectDir: string,
  lock: Lockfile,
  opts: { force?: boolean; verify?: boolean; linkMode?: 'hardlink' | 'copy' } = {},
): Promise<{ events: ProjectEvent[]; counts: ReturnType<typeof countPlan> }> {
  const events: ProjectEvent[] = [];
  const onEvent = (e: ProjectEvent): void => {
    events.push(e);
  };
  const state = await readState(projectDir);
  const actual = await loadActual(projectDir, state, {
    ideal: lock,
    onEvent,
    ...(opts.verify ? { verify: true } : {}),
  });
  const plan = diff(lock, actual, { force: opts.force === true });
  await reify({
    projectDir,
    plan,
    actual,
    state,
    onEvent,
    roots: dependencyRoots(lock),
    sourceFor: async (f) => cache.blobPath(f.layer),
    ...(opts.linkMode ? { linkMode: opts.linkMode } : {}),
  });
  return { events, counts: countPlan(plan) };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-reify-'));
  cache = await ProjectCache.open(join(root, 'cache'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadActual + diff + reify', () => {
  it('applies 0644/0755 exactly whatever the umask, and records the landed inode and mtime', async () => {
    const p = join(root, 'p-umask');
    await mkdir(p);
    const a = await cached('umask a\n');
    const b = await cached('umask b\n');
    const old = process.umask(0o077);
    try {
      await install(p, lockOf({ dep: [file('vendor/u/a.txt', a), file('vendor/u/b.sh', b, 0o755)] }));
    } finally {
      process.umask(old);
    }
    const sa = await stat(join(p, 'vendor/u/a.txt'));
    expect(sa.mode & 0o777).toBe(0o644);
    expect((await stat(join(p, 'vendor/u/b.sh'))).mode & 0o777).toBe(0o755);
    const rec = (await readState(p)).files['vendor/u/a.txt']!;
    expect([rec.ino, rec.mtimeMs, rec.size]).toEqual([sa.ino, sa.mtimeMs, sa.size]);
  });

  it('installs, is a no-op the second time without rehashing, and records state', async () => {
    const p = join(root, 'p1');
    await mkdir(p);
    const a = await cached('alpha\n');
    const b = await cached('#!/bin/sh\necho hi\n');
    const lock = lockOf({ dep: [file('vendor/a.txt', a), file('vendor/bin/run.sh', b, 0o755)] });
    const first = await install(p, lock);
    expect(first.counts).toEqual({ add: 2, change: 0, remove: 0, keep: 0, conflict: 0 });
    expect(await readFile(join(p, 'vendor/a.txt'), 'utf8')).toBe('alpha\n');
    expect((await stat(join(p, 'vendor/bin/run.sh'))).mode & 0o777).toBe(0o755);
    const state = await readState(p);
    expect(Object.keys(state.files)).toEqual(['vendor/a.txt', 'vendor/bin/run.sh']);
    expect(state.files['vendor/a.txt']!.ino).toBe((await stat(join(p, 'vendor/a.txt'))).ino);

    const second = await install(p, lock);
    expect(second.counts).toEqual({ add: 0, change: 0, remove: 0, keep: 2, conflict: 0 });
    expect(second.events.filter((e) => e.type === 'rehash')).toEqual([]);
    expect(second.events.filter((e) => e.type === 'link')).toEqual([]);

    const verified = await install(p, lock, { verify: true });
    expect(verified.events.filter((e) => e.type === 'rehash')).toHaveLength(2);
    expect(verified.counts.keep).toBe(2);
  });

  it('a touched but unchanged file is rehashed once and its stat record refreshed', async () => {
    const p = join(root, 'p2');
    await mkdir(p);
    const a = await cached('touch me');
    const lock = lockOf({ dep: [file('vendor/a', a)] });
    await install(p, lock);
    await utimes(join(p, 'vendor/a'), new Date(1000), new Date(1000));
    const r1 = await install(p, lock);
    expect(r1.events.filter((e) => e.type === 'rehash')).toHaveLength(1);
    expect(r1.counts.keep).toBe(1);
    const r2 = await install(p, lock);
    expect(r2.events.filter((e) => e.type === 'rehash')).toHaveLength(0);
  });

  it('protects user-modified files; force overwrites them', async () => {
    const p = join(root, 'p3');
    await mkdir(p);
    const a = await cached('v1');
    const b = await cached('v2');
    await install(p, lockOf({ dep: [file('vendor/a', a)] }));
    await writeFile(join(p, 'vendor/a'), 'my edit');
    const err = await install(p, lockOf({ dep: [file('vendor/a', b)] })).catch((e: unknown) => e);
    expect(isOrasError(err, 'ERR_ORAS_USER_MODIFIED')).toBe(true);
    expect((err as Error).message).toContain('vendor/a (user-modified)');
    expect(await readFile(join(p, 'vendor/a'), 'utf8')).toBe('my edit');
    const forced = await install(p, lockOf({ dep: [file('vendor/a', b)] }), { force: true });
    expect(forced.counts.change).toBe(1);
    expect(await readFile(join(p, 'vendor/a'), 'utf8')).toBe('v2');
  });

  it('refuses to overwrite an untracked file, adopts an identical one', async () => {
    const p = join(root, 'p4');
    await mkdir(join(p, 'vendor'), { recursive: true });
    const a = await cached('wanted');
    await writeFile(join(p, 'vendor/a'), 'mine!!');
    const err = await install(p, lockOf({ dep: [file('vendor/a', a)] })).catch((e: unknown) => e);
    expect(isOrasError(err, 'ERR_ORAS_USER_MODIFIED')).toBe(true);
    expect((err as Error).message).toContain('untracked-file');
    await writeFile(join(p, 'vendor/a'), 'wanted');
    const r = await install(p, lockOf({ dep: [file('vendor/a', a)] }));
    expect(r.events.some((e) => e.type === 'adopt' && e.path === 'vendor/a')).toBe(true);
    expect((await readState(p)).files['vendor/a']?.digest).toBe(a.digest);
  });

  it('removes exactly the files of a dropped dependency and the directories it emptied', async () => {
    const p = join(root, 'p5');
    await mkdir(p);
    const a = await cached('A');
    const b = await cached('B');
    const c = await cached('C');
    await install(
      p,
      lockOf({ one: [file('vendor/one/a', a), file('vendor/one/deep/b', b)], two: [file('vendor/two/c', c)] }),
    );
    await writeFile(join(p, 'vendor/user.txt'), 'not ours');
    const r = await install(p, lockOf({ two: [file('vendor/two/c', c)] }));
    expect(r.counts).toEqual({ add: 0, change: 0, remove: 2, keep: 1, conflict: 0 });
    expect((await readdir(join(p, 'vendor'))).sort()).toEqual(['two', 'user.txt']);
    expect(Object.keys((await readState(p)).files)).toEqual(['vendor/two/c']);
  });

  it('cleans stale temp files and recovers a half-finished install', async () => {
    const p = join(root, 'p6');
    await mkdir(join(p, 'vendor'), { recursive: true });
    const a = await cached('one');
    const b = await cached('two');
    // Simulate a crash: one file renamed into place, no state yet, a temp left behind.
    await writeFile(join(p, 'vendor/a'), 'one');
    await writeFile(join(p, 'vendor/.b.oras-tmp-0123456789abcdef'), 'tw');
    const r = await install(p, lockOf({ dep: [file('vendor/a', a), file('vendor/b', b)] }));
    expect(r.counts).toEqual({ add: 1, change: 0, remove: 0, keep: 1, conflict: 0 });
    expect((await readdir(join(p, 'vendor'))).sort()).toEqual(['a', 'b']);
  });

  it('cleans stale temps only in real directories the plan touches (never behind a symlink; none needed in new ones)', async () => {
    const p = join(root, 'p6b');
    const outside = join(root, 'outside-temps');
    await mkdir(p);
    await mkdir(outside);
    const a = await cached('deep file');
    const b = await cached('new file');
    const c = await cached('linked file');
    const a2 = await cached('deep file, v2');
    await install(p, lockOf({ dep: [file('vendor/old/deep/a', a), file('vendor/linked/c', c)] }));
    // Then vendor/linked becomes a symlink to a directory with a temp-named file of someone else's,
    // and an interrupted run left a temp in vendor/old/deep.
    await rm(join(p, 'vendor/linked'), { recursive: true });
    await symlink(outside, join(p, 'vendor/linked'));
    const stale = '.x.oras-tmp-0123456789abcdef';
    await writeFile(join(outside, stale), 'not ours to remove');
    await writeFile(join(p, 'vendor/old/deep', stale), 'partial');
    // The plan (forced past the conflict) changes vendor/old/deep/a, removes vendor/linked/c (touching
    // vendor/linked) and adds under a new directory.
    const r = await install(p, lockOf({ dep: [file('vendor/old/deep/a', a2), file('vendor/new/sub/b', b)] }), {
      force: true,
    });
    expect(r.counts).toMatchObject({ add: 1, change: 1, remove: 1 });
    expect(await readdir(outside)).toEqual([stale]);
    expect(await readdir(join(p, 'vendor/old/deep'))).toEqual(['a']);
    expect(await readFile(join(p, 'vendor/new/sub/b'), 'utf8')).toBe('new file');
  });

  it('never writes through a symlinked directory', async () => {
    const p = join(root, 'p7');
    const outside = join(root, 'outside');
    await mkdir(p);
    await mkdir(outside);
    await symlink(outside, join(p, 'vendor'));
    const a = await cached('x');
    const err = await install(p, lockOf({ dep: [file('vendor/a', a)] })).catch((e: unknown) => e);
    expect(isOrasError(err)).toBe(true);
    expect(await readdir(outside)).toEqual([]);
  });

  it('rejects unsafe lock paths', async () => {
    const p = join(root, 'p8');
    await mkdir(p);
    const a = await cached('x');
    for (const bad of ['../escape', '/abs', 'a/../../b', '.oras/state.json']) {
      const err = await install(p, lockOf({ dep: [file(bad, a)] })).catch((e: unknown) => e);
      expect(isOrasError(err, 'ERR_ORAS_PATH_TRAVERSAL')).toBe(true);
    }
  });

  it('detects a corrupt cache entry, removes it and writes nothing', async () => {
    const p = join(root, 'p9');
    await mkdir(p);
    const a = await cached('good content');
    await rm(cache.blobPath(a.digest), { force: true });
    await writeFile(cache.blobPath(a.digest), 'evil content');
    const err = await install(p, lockOf({ dep: [file('vendor/a', a)] })).catch((e: unknown) => e);
    expect(isOrasError(err)).toBe(true);
    expect(['ERR_ORAS_DIGEST_MISMATCH', 'ERR_ORAS_SIZE_MISMATCH']).toContain((err as { code: string }).code);
    await expect(stat(cache.blobPath(a.digest))).rejects.toThrow();
    expect(await readdir(join(p, 'vendor'))).toEqual([]);
  });

  it('a no-op over 2,000 recorded files rehashes nothing', async () => {
    const p = join(root, 'p10');
    await mkdir(p);
    const a = await cached('same');
    const files = Array.from({ length: 2000 }, (_, i) => file(`vendor/d${i % 20}/f${i}`, a));
    await install(p, lockOf({ dep: files }));
    const r = await install(p, lockOf({ dep: files }));
    expect(r.counts.keep).toBe(2000);
    expect(r.events.filter((e) => e.type === 'rehash')).toHaveLength(0);
  });

  it('refuses a symlinked state file', async () => {
    const p = join(root, 'p11');
    await mkdir(join(p, '.oras'), { recursive: true });
    await writeFile(join(root, 'target.json'), '{}');
    await symlink(join(root, 'target.json'), join(p, '.oras/state.json'));
    await expect(writeState(p, { stateVersion: 1, files: {} })).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
    await expect(readState(p)).rejects.toMatchObject({ code: 'ERR_ORAS_IO' });
    expect(await readFile(join(root, 'target.json'), 'utf8')).toBe('{}');
  });

  it('hardlink mode shares the cache inode (read-only) and records it', async () => {
    const p = join(root, 'p12');
    await mkdir(p);
    const a = await cached('linked content');
    const r = await install(p, lockOf({ dep: [file('vendor/a', a)] }), { linkMode: 'hardlink' });
    expect(r.events.find((e) => e.type === 'link')).toMatchObject({ method: 'hardlink' });
    const st = await stat(join(p, 'vendor/a'));
    expect(st.ino).toBe((await stat(cache.blobPath(a.digest))).ino);
    expect(st.mode & 0o777).toBe(0o444);
    expect((await readState(p)).files['vendor/a']!.ino).toBe(st.ino);
    const again = await install(p, lockOf({ dep: [file('vendor/a', a)] }), { linkMode: 'hardlink' });
    expect(again.counts.keep).toBe(1);
    expect(again.events.filter((e) => e.type === 'rehash')).toEqual([]);
    // Removing it unlinks the project path only; the cache keeps the blob.
    await install(p, lockOf({}), { linkMode: 'hardlink' });
    expect((await stat(cache.blobPath(a.digest))).isFile()).toBe(true);
  });
});

describe('reify with an abort signal (SIGINT/SIGTERM in the CLI)', () => {
  it('aborted after the 5th placed file: starts nothing new, throws ERR_ORAS_ABORTED, records exactly what landed; a rerun finishes', async () => {
    const p = join(root, 'p-abort');
    await mkdir(p);
    const files: LockedFile[] = [];
    for (let i = 0; i < 200; i++)
      files.push(file(`vendor/f${String(i).padStart(3, '0')}.txt`, await cached(`abort ${i}\n`)));
    const lock = lockOf({ many: files });
    const state = await readState(p);
    const actual = await loadActual(p, state, { ideal: lock });
    const plan = diff(lock, actual, { force: false });
    const ac = new AbortController();
    let placed = 0;
    const onEvent = (e: ProjectEvent): void => {
      if (e.type === 'link' && ++placed === 5) ac.abort();
    };
    const err = await reify({
      projectDir: p,
      plan,
      actual,
      state,
      onEvent,
      roots: dependencyRoots(lock),
      signal: ac.signal,
      concurrency: 2,
      sourceFor: async (f) => cache.blobPath(f.layer),
      inputs: {
        manifest: { name: 'artifacts.yaml', size: 0, mtimeMs: 0, ino: 0, sha256: '0'.repeat(64) },
        lock: null,
        agree: true,
      },
    }).catch((e: unknown) => e);
    expect(isOrasError(err, 'ERR_ORAS_ABORTED'), String(err)).toBe(true);
    const onDisk = (await readdir(join(p, 'vendor'))).sort();
    expect(onDisk.filter((n) => n.includes('.oras-tmp-'))).toEqual([]);
    // In-flight writes (at most the concurrency) may land after the abort; nothing new is started.
    expect(onDisk.length).toBeGreaterThanOrEqual(5);
    expect(onDisk.length).toBeLessThan(200);
    const recorded = await readState(p);
    expect(Object.keys(recorded.files).sort()).toEqual(onDisk.map((n) => `vendor/${n}`));
    expect(recorded.inputs).toBeUndefined();
    const { counts } = await install(p, lock);
    expect(counts).toMatchObject({ add: 200 - onDisk.length, keep: onDisk.length });
    expect((await readdir(join(p, 'vendor'))).length).toBe(200);
  });
});

describe('stageableRoots (which new layer roots are filled in a staging directory)', () => {
  const f = (path: string): LockedFile => ({
    path,
    digest: `sha256:${'a'.repeat(64)}`,
    size: 1,
    layer: `sha256:${'b'.repeat(64)}`,
  });
  const add = (path: string) => ({ kind: 'add' as const, path, file: f(path), dependency: 'd' });
  const keep = (path: string) => ({ kind: 'keep' as const, path, file: f(path), dependency: 'd' });

  it('a root whose one layer adds everything under it, and nothing else touches it', () => {
    const a = [add('deps/a/x'), add('deps/a/sub/y')];
    const b = [add('deps/b/x')];
    const plan = { actions: [...a, ...b, keep('deps/b/old')] };
    const layers = [
      { layer: { root: 'deps/a' }, writes: a },
      { layer: { root: 'deps/b' }, writes: b },
    ];
    expect(stageableRoots(plan, layers, 1)).toEqual(['deps/a']);
    // Small layers are placed file by file.
    expect(stageableRoots(plan, layers, 3)).toEqual([]);
    expect(stageableRoots(plan, layers)).toEqual([]);
  });

  it('not the project root, not a root shared by two layers, not one with other writes or changes under it', () => {
    const x = [add('x')];
    const s1 = [add('s/1')];
    const s2 = [add('s/2')];
    const n = [add('n/1')];
    const other = add('n/plain');
    const c = [
      {
        kind: 'change' as const,
        path: 'c/1',
        file: f('c/1'),
        dependency: 'd',
        from: { path: 'c/1', digest: 'sha256:x', size: 1, mtimeMs: 1, ino: 1, dependency: 'd' },
      },
    ];
    const plan = { actions: [...x, ...s1, ...s2, ...n, other, ...c] };
    const layers = [
      { layer: { root: '' }, writes: x },
      { layer: { root: 's' }, writes: s1 },
      { layer: { root: 's' }, writes: s2 },
      { layer: { root: 'n' }, writes: n },
      { layer: { root: 'c' }, writes: c },
    ];
    expect(stageableRoots(plan, layers, 1)).toEqual([]);
  });

  it('counts actions at or under a root by whole segments (a sibling with the same prefix is not under it)', () => {
    const a = [add('deps/a/x'), add('deps/a/y/z')];
    const layers = [{ layer: { root: 'deps/a' }, writes: a }];
    // deps/ab/… and deps/a.txt share the prefix, not the directory.
    expect(stageableRoots({ actions: [...a, keep('deps/ab/x'), keep('deps/a.txt')] }, layers, 1)).toEqual(['deps/a']);
    // An action at the root itself or deeper under it rules the root out.
    expect(stageableRoots({ actions: [...a, keep('deps/a')] }, layers, 1)).toEqual([]);
    expect(stageableRoots({ actions: [...a, keep('deps/a/y/old')] }, layers, 1)).toEqual([]);
  });
});
