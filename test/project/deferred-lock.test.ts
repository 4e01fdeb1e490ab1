import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { canonicalListing, LISTING_MEDIA_TYPE } from '../../src/project/apply/cache/layer-listing.js';
import { ProjectCache } from '../../src/project/apply/cache/project-cache.js';
import { install } from '../../src/project/install.js';
import { settleDeferredLock } from '../../src/project/plan/deferred-files.js';
import { Sources } from '../../src/project/plan/locked-files.js';
import { readOldLock } from '../../src/project/plan/lock-compute.js';
import { publish } from '../../src/project/publish.js';
import { deferFileLines } from '../../src/project/spec/deferred-lock.js';
import { dependencyEntryText, parseLockfileText, serializeLockfile } from '../../src/project/spec/lockfile.js';
import type { Lockfile } from '../../src/project/types.js';
import { errorCode, layoutFactory, recorder, writeTree } from './helpers.js';

/*
 * An install reads artifacts.lock without its unpacked layers' file lines and binds those entries
 * from the cache (spec/deferred-lock.ts, plan/deferred-files.ts): the files come from the locked
 * manifest and its verified listing, and the entry's text must be exactly what the lock writer
 * writes for them. Anything else takes the full parse, with its results and errors.
 */

const D = (c: string): string => `sha256:${c.repeat(64)}`;

/** A lock with an unpacked layer (three files, one executable), a plain layer, and a plain-only entry. */
function sampleLock(): Lockfile {
  const spec = (ref: string, path: string): Lockfile['dependencies'][string]['specifier'] => ({ ref, path });
  return {
    lockfileVersion: 2,
    dependencies: {
      tools: {
        specifier: spec('r.example/acme/tools:1.0.0', 'vendor/tools'),
        resolved: `r.example/acme/tools:1.0.0@${D('1')}`,
        tag: '1.0.0',
        digest: D('1'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        files: [
          { path: 'vendor/tools/README.md', digest: D('5'), size: 7, layer: D('5') },
          { path: 'vendor/tools/bin/run.sh', digest: D('2'), size: 10, layer: D('a'), mode: 0o755 },
          { path: 'vendor/tools/bin/x/y.txt', digest: D('3'), size: 0, layer: D('a') },
          { path: 'vendor/tools/bin/z-1.json', digest: D('4'), size: 12, layer: D('a') },
        ],
        layers: [
          {
            digest: D('a'),
            size: 99,
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            path: 'bin',
            unpacked: true,
            listing: D('b'),
          },
          { digest: D('5'), size: 7, mediaType: 'text/markdown', path: 'README.md' },
        ],
      },
      weights: {
        specifier: spec('r.example/acme/weights:2', 'models'),
        resolved: `r.example/acme/weights:2@${D('6')}`,
        tag: '2',
        digest: D('6'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        files: [{ path: 'models/w.bin', digest: D('7'), size: 3, layer: D('7') }],
        layers: [{ digest: D('7'), size: 3, mediaType: 'application/octet-stream', path: 'w.bin' }],
      },
    },
    publish: {},
  };
}

describe('deferFileLines (PURE)', () => {
  it('leaves out the file lines of unpacked layers and keeps each such entry as written', () => {
    const lock = sampleLock();
    const text = serializeLockfile(lock);
    const deferred = deferFileLines(text)!;
    expect(deferred).toBeDefined();
    expect([...deferred.entries.keys()]).toEqual(['tools']);
    // The entry's text is the writer's, and it is exactly a slice of the file.
    const entry = deferred.entries.get('tools')!;
    expect(entry).toBe(dependencyEntryText('tools', lock.dependencies.tools!));
    expect(text).toContain(entry);
    expect(entry).toContain('path: run.sh, size: 10');
    // The skeleton holds everything but those lines: the plain layers' files, no unpacked file.
    expect(deferred.skeleton.dependencies.weights).toEqual(parseLockfileText(text).dependencies.weights);
    expect(deferred.skeleton.dependencies.tools!.files.map((f) => f.path)).toEqual(['vendor/tools/README.md']);
    expect(deferred.skeleton.dependencies.tools!.layers).toEqual(lock.dependencies.tools!.layers);
  });

  it('reads nothing it cannot vouch for: such text is left to the full parse', () => {
    const text = serializeLockfile(sampleLock());
    const cases: Record<string, string> = {
      'CRLF line ends': text.replace(/\n/g, '\r\n'),
      'no final newline': text.slice(0, -1),
      'a quoted entry name': text.replace('\n  tools:\n', '\n  "tools":\n'),
      'a bad digest outside the file lines': text.replace(
        `resolved: r.example/acme/tools:1.0.0@${D('1')}`,
        'resolved: r.example/acme/tools:1.0.0@sha256:zz',
      ),
      'lockfile version 1': text.replace('lockfileVersion: 2', 'lockfileVersion: 1'),
      'no unpacked layer': serializeLockfile({
        ...sampleLock(),
        dependencies: { weights: sampleLock().dependencies.weights! },
      }),
      'a comment inside an entry': text.replace('    resolved:', '# note\n    resolved:'),
    };
    for (const [what, t] of Object.entries(cases)) expect(deferFileLines(t), what).toBeUndefined();
  });

  it('a tampered file line is not read here: the entry text keeps it for the comparison', () => {
    const text = serializeLockfile(sampleLock()).replace('path: x/y.txt', 'path: ../../../.git/hooks/post-checkout');
    const deferred = deferFileLines(text)!;
    expect(deferred.entries.get('tools')).toContain('.git/hooks/post-checkout');
    expect(deferred.entries.get('tools')).not.toBe(dependencyEntryText('tools', sampleLock().dependencies.tools!));
  });
});

describe('settleDeferredLock and install against a warm cache', () => {
  const HOST = 'localhost:5996';
  const env = { CI: 'false' };
  let root: string;
  let factory: ReturnType<typeof layoutFactory>;
  let cacheDir: string;
  let goodLock: string;
  let outerLock: string;
  let n = 0;

  async function project(lockText: string): Promise<string> {
    const dir = join(root, `p${++n}`);
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'artifacts.yaml'),
      `dependencies:\n  app:\n    ref: ${HOST}/acme/app:v1\n    path: vendor/app\n`,
    );
    await writeFile(join(dir, 'artifacts.lock'), lockText);
    return dir;
  }

  /** What readOldLock + settleDeferredLock give for `dir`, and whether the entry was bound from the cache. */
  async function settle(dir: string): Promise<{ lock: Lockfile; bound: boolean }> {
    const found = await readOldLock(dir, false, undefined);
    expect(found.deferred).toBeDefined();
    const cache = await ProjectCache.open(cacheDir);
    const sources = new Sources(factory, cache, false);
    const lock = await settleDeferredLock(found.deferred!, sources, cache, { concurrency: 4 });
    return { lock, bound: sources.isBound(lock.dependencies.app!) };
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'oras-deferred-lock-'));
    factory = layoutFactory(join(root, 'registry'));
    cacheDir = join(root, 'cache');
    const src = join(root, 'src');
    const files: Record<string, string> = { 'model.bin': 'weights\n' };
    for (let i = 0; i < 40; i++) files[`tree/d${i % 4}/f${i}.txt`] = `file ${i}\n`;
    await writeTree(src, files);
    await writeFile(
      join(src, 'artifacts.yaml'),
      `publish:\n  app:\n    ref: ${HOST}/acme/app\n    tags: [v1]\n    files: [model.bin, tree]\n`,
    );
    await publish({ projectDir: src, targetFactory: factory });
    const first = join(root, 'first');
    await mkdir(first, { recursive: true });
    await writeFile(
      join(first, 'artifacts.yaml'),
      `dependencies:\n  app:\n    ref: ${HOST}/acme/app:v1\n    path: vendor/app\n`,
    );
    await install({ projectDir: first, targetFactory: factory, cacheDir, env });
    goodLock = await readFile(join(first, 'artifacts.lock'), 'utf8');
    // `outer`, installed at vendor/, holds a file at app/tree/d0/f0.txt: the same path as app's.
    const outerSrc = join(root, 'outer-src');
    await writeTree(outerSrc, { 'app/tree/d0/f0.txt': 'outer\n', 'app/other.txt': 'other\n' });
    await writeFile(
      join(outerSrc, 'artifacts.yaml'),
      `publish:\n  outer:\n    ref: ${HOST}/acme/outer\n    tags: [v1]\n    files: [app]\n`,
    );
    await publish({ projectDir: outerSrc, targetFactory: factory });
    const outerFirst = join(root, 'outer-first');
    await mkdir(outerFirst, { recursive: true });
    await writeFile(
      join(outerFirst, 'artifacts.yaml'),
      `dependencies:\n  outer:\n    ref: ${HOST}/acme/outer:v1\n    path: vendor\n`,
    );
    await install({ projectDir: outerFirst, targetFactory: factory, cacheDir, env });
    outerLock = await readFile(join(outerFirst, 'artifacts.lock'), 'utf8');
  }, 60_000);
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('binds an untouched lock from the cache: the same lock as the full parse, marked bound', async () => {
    const { lock, bound } = await settle(await project(goodLock));
    expect(bound).toBe(true);
    expect(lock).toEqual(parseLockfileText(goodLock));
    expect(lock.dependencies.app!.files.length).toBe(41);
  });

  it('a cold cache, or any edited file line, takes the full parse (not bound)', async () => {
    const line = goodLock.split('\n').find((l) => l.includes('path: d1/f1.txt'))!;
    const edits: Record<string, string> = {
      'an extra file': goodLock.replace(line, `${line}\n${line.replace('f1.txt', 'f1-extra.txt')}`),
      'another digest': goodLock.replace(line, line.replace(/sha256:[0-9a-f]{64}/, D('c'))),
      'another size': goodLock.replace(line, line.replace(/size: \d+/, 'size: 9999')),
      'a file left out': goodLock.replace(`${line}\n`, ''),
      'an executable mode': goodLock.replace(line, line.replace(' }', ', mode: 0o755 }')),
    };
    for (const [what, text] of Object.entries(edits)) {
      expect(text, what).not.toBe(goodLock);
      const { lock, bound } = await settle(await project(text));
      expect(bound, what).toBe(false);
      expect(lock, what).toEqual(parseLockfileText(text));
    }
  });

  it('two entries listing the same paths are the full parse error, as without the cache', async () => {
    // app2: the same directory layer at the same path (its files bind to its manifest), without model.bin.
    const app = parseLockfileText(goodLock).dependencies.app!;
    const app2 = {
      ...app,
      specifier: { ...app.specifier, exclude: ['model.bin'] },
      files: app.files.filter((f) => !f.path.endsWith('model.bin')),
      layers: app.layers!.filter((l) => l.unpacked === true),
    };
    const entry = deferFileLines(goodLock)!.entries.get('app')!;
    const twice = goodLock.replace(entry, `${entry}${dependencyEntryText('app2', app2)!}`);
    const full = await errorCode(Promise.resolve().then(() => parseLockfileText(twice)));
    expect(full).toBe('ERR_ORAS_LOCKFILE');
    const dir = await project(twice);
    expect(deferFileLines(twice)?.entries.size).toBe(2);
    expect(await errorCode(settle(dir))).toBe(full);
  });

  it('an entry below another entry: a file both list is the full parse error', async () => {
    const app = deferFileLines(goodLock)!.entries.get('app')!;
    const outer = deferFileLines(outerLock)!.entries.get('outer')!;
    const both = goodLock.replace(app, `${app}${outer}`);
    const full = await errorCode(Promise.resolve().then(() => parseLockfileText(both)));
    expect(full).toBe('ERR_ORAS_LOCKFILE');
    expect(deferFileLines(both)?.entries.size).toBe(2);
    expect(await errorCode(settle(await project(both)))).toBe(full);
  });

  /** A listing planted in the cache (the real one plus `extra`) and the lock written for exactly what it produces. */
  async function plantedLock(extra: { path: string; size: number; digest: string; mode?: number }): Promise<string> {
    const lock = parseLockfileText(goodLock);
    const app = lock.dependencies.app!;
    const tree = app.layers!.find((l) => l.unpacked === true)!;
    const cache = await ProjectCache.open(cacheDir);
    const planted = [...(await cache.readListing(tree.digest))!, extra];
    const bytes = Buffer.from(canonicalListing(tree.digest, planted));
    const listing = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await cache.add({ mediaType: LISTING_MEDIA_TYPE, digest: listing, size: bytes.length }, bytes);
    const path = posix.join('vendor/app/tree', extra.path);
    const evil = {
      ...app,
      files: [...app.files, { ...extra, path, layer: tree.digest }].sort((a, b) => (a.path < b.path ? -1 : 1)),
      layers: app.layers!.map((l) => (l === tree ? { ...l, listing } : l)),
    };
    return serializeLockfile({ ...lock, dependencies: { app: evil } });
  }

  it('a listing planted in the cache with a lock to match is held to the lock rules (path, mode, digest)', async () => {
    const cases: Record<string, { path: string; size: number; digest: string; mode?: number }> = {
      // Refused by the skeleton already (its layer path climbs out), and by the file rules.
      'a path out of the dependency': { path: '../../../evil.txt', size: 5, digest: D('e') },
      'a setuid mode': { path: 'd9/suid', size: 5, digest: D('e'), mode: 0o4755 },
      'an upper-case digest': { path: 'd9/upper', size: 5, digest: `sha256:${'E'.repeat(64)}` },
    };
    for (const [what, extra] of Object.entries(cases)) {
      const text = await plantedLock(extra);
      const full = await errorCode(Promise.resolve().then(() => parseLockfileText(text)));
      expect(full, what).toBe('ERR_ORAS_LOCKFILE');
      const dir = await project(text);
      const found = await readOldLock(dir, false, undefined).catch((err: unknown) => err);
      if (found instanceof Error) expect(isOrasError(found, 'ERR_ORAS_LOCKFILE'), what).toBe(true);
      else expect(await errorCode(settle(dir)), what).toBe(full);
      expect(await errorCode(install({ projectDir: dir, targetFactory: factory, cacheDir, env })), what).toBe(full);
      expect((await readdir(dir)).filter((f) => f !== '.oras').sort(), what).toEqual([
        'artifacts.lock',
        'artifacts.yaml',
      ]);
    }
  });

  it('a traversal path in a file line is the full parse error, and nothing is written', async () => {
    const tampered = goodLock.replace('path: d1/f1.txt', 'path: ../../../.git/hooks/post-checkout');
    expect(tampered).not.toBe(goodLock);
    const dir = await project(tampered);
    expect(await errorCode(settle(dir))).toBe('ERR_ORAS_LOCKFILE');
    expect(await errorCode(install({ projectDir: dir, targetFactory: factory, cacheDir, env }))).toBe(
      'ERR_ORAS_LOCKFILE',
    );
    expect((await readdir(dir)).filter((f) => f !== '.oras').sort()).toEqual(['artifacts.lock', 'artifacts.yaml']);
  });

  it('install with a warm cache: an extra or changed file line is refused when frozen and re-derived otherwise', async () => {
    const line = goodLock.split('\n').find((l) => l.includes('path: d2/f2.txt'))!;
    for (const text of [
      goodLock.replace(line, `${line}\n${line.replace('f2.txt', 'f2-zz.txt')}`),
      goodLock.replace(line, line.replace(/sha256:[0-9a-f]{64}/, D('d'))),
    ]) {
      const dir = await project(text);
      expect(
        await errorCode(install({ projectDir: dir, targetFactory: factory, cacheDir, env, frozenLockfile: true })),
      ).toBe('ERR_ORAS_LOCK_MISMATCH');
      expect(await readdir(dir).then((d) => d.filter((f) => f !== '.oras').sort())).toEqual([
        'artifacts.lock',
        'artifacts.yaml',
      ]);
      const rec = recorder();
      await install({ projectDir: dir, targetFactory: factory, cacheDir, env, onEvent: rec.onEvent });
      expect(rec.events).toContainEqual(
        expect.objectContaining({ type: 'lock-entry-rejected', dependency: 'app', action: 're-derive' }),
      );
      expect(await readFile(join(dir, 'artifacts.lock'), 'utf8')).toBe(goodLock);
      expect(await readFile(join(dir, 'vendor/app/tree/d2/f2.txt'), 'utf8')).toBe('file 2\n');
    }
  });

  it('install with a warm cache and the untouched lock installs every file and leaves the lock as it was', async () => {
    const dir = await project(goodLock);
    const result = await install({
      projectDir: dir,
      targetFactory: factory,
      cacheDir,
      env,
      frozenLockfile: true,
      offline: true,
    });
    expect(result.lockfileChanged).toBe(false);
    expect(await readFile(join(dir, 'vendor/app/tree/d3/f39.txt'), 'utf8')).toBe('file 39\n');
    expect(await readFile(join(dir, 'vendor/app/model.bin'), 'utf8')).toBe('weights\n');
    expect(await readFile(join(dir, 'artifacts.lock'), 'utf8')).toBe(goodLock);
  });
});
