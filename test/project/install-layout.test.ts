import { chmod, mkdir, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { install, plan, update } from '../../src/project/install.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { publish } from '../../src/project/publish.js';
import { readState } from '../../src/project/apply/state.js';
import { verify } from '../../src/project/verify.js';
import {
  counted,
  layoutFactory,
  listTree,
  lockedPaths,
  newCounter,
  recorder,
  treeMismatches,
  writeTree,
} from './helpers.js';

const HOST = 'localhost:5999';
let root: string;
let registryDir: string;
let cacheDir: string;
let projectA: string;
const counter = newCounter();
let factory: ReturnType<typeof layoutFactory>;
let v1Digest: string;

async function publishA(tag: string): Promise<string> {
  await writeFile(
    join(projectA, 'artifacts.yaml'),
    `publish:
  tools:
    ref: ${HOST}/acme/tools
    tags: [${tag}]
    artifactType: application/vnd.acme.tools
    files:
      - bin/run.sh
      - docs
      - path: "extra/*.txt"
`,
  );
  const r = await publish({ projectDir: projectA, targetFactory: factory });
  return r.published[0]!.digest;
}

async function project(
  name: string,
  deps: Record<string, { ref: string; path: string; extra?: string }>,
): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const body = Object.entries(deps)
    .map(([n, d]) => `  ${n}:\n    ref: "${d.ref}"\n    path: ${d.path}\n${d.extra ?? ''}`)
    .join('');
  await writeFile(join(dir, 'artifacts.yaml'), `dependencies:\n${body}`);
  return dir;
}

const env = { CI: 'false' };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-install-'));
  registryDir = join(root, 'registry');
  cacheDir = join(root, 'cache');
  factory = layoutFactory(registryDir, counter);
  projectA = join(root, 'A');
  await writeTree(projectA, {
    'bin/run.sh': '#!/bin/sh\necho v1\n',
    'docs/readme.md': '# Tools\n',
    'docs/guide/usage.md': 'use it\n',
    'extra/one.txt': 'one\n',
    'extra/two.txt': 'two\n',
    'extra/skip.bin': 'no\n',
  });
  await chmod(join(projectA, 'docs/guide/usage.md'), 0o755);
  v1Digest = await publishA('v1.0.0');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('publish', () => {
  it('records the published digest in the lock and is reproducible', async () => {
    const lock = await readLockfile(projectA);
    expect(lock?.publish.tools).toEqual({ ref: `${HOST}/acme/tools`, digest: v1Digest, tags: ['v1.0.0'] });
    const again = await publish({ projectDir: projectA, targetFactory: factory });
    expect(again.published[0]!.digest).toBe(v1Digest);
    expect(again.published[0]!.uploaded).toBe(0);
    expect(again.lockfileChanged).toBe(false);
    const titles = again.published[0]!.manifest.layers.map((l) => l.annotations?.['org.opencontainers.image.title']);
    expect(titles).toEqual(['bin/run.sh', 'docs', 'one.txt', 'two.txt']);
  });

  it('dry run returns the manifest and pushes nothing', async () => {
    const before = counter.push;
    const r = await publish({ projectDir: projectA, targetFactory: factory, dryRun: true });
    expect(r.published[0]!.digest).toBe(v1Digest);
    expect(r.published[0]!.manifest.artifactType).toBe('application/vnd.acme.tools');
    expect(counter.push).toBe(before);
  });
});

describe('publish with a subject', () => {
  it('resolves the subject ref and attaches the manifest to it', async () => {
    const sdir = join(root, 'S');
    await writeTree(sdir, {
      'sig.txt': 'signature\n',
      'artifacts.yaml': `publish:\n  sig:\n    ref: ${HOST}/acme/tools:sig\n    artifactType: application/vnd.acme.sig\n    subject: ${HOST}/acme/tools:v1.0.0\n    files: [sig.txt]\n`,
    });
    const r = await publish({ projectDir: sdir, targetFactory: factory });
    expect(r.published[0]!.manifest.subject?.digest).toBe(v1Digest);
    expect(r.published[0]!.tags).toEqual(['sig']);
    const store = await factory(`${HOST}/acme/tools`);
    const refs = await store.referrers({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: v1Digest,
      size: 0,
    });
    expect(refs.map((d) => d.digest)).toContain(r.published[0]!.digest);
  });
});

describe('install from an OCI layout source', () => {
  it('installs by tag: files and an unpacked directory, recorded in lock and state', async () => {
    const b = await project('B', { tools: { ref: `${HOST}/acme/tools:v1.0.0`, path: 'vendor/tools' } });
    const rec = recorder();
    const r = await install({ projectDir: b, targetFactory: factory, cacheDir, env, onEvent: rec.onEvent });
    expect(r.lockfileChanged).toBe(true);
    expect(r.counts.add).toBe(5);
    const lock = (await readLockfile(b))!;
    expect(lockedPaths(lock)).toEqual([
      'vendor/tools/bin/run.sh',
      'vendor/tools/docs/guide/usage.md',
      'vendor/tools/docs/readme.md',
      'vendor/tools/one.txt',
      'vendor/tools/two.txt',
    ]);
    const dep = lock.dependencies.tools!;
    expect(dep.digest).toBe(v1Digest);
    expect(dep.tag).toBe('v1.0.0');
    const docsLayer = dep.files.find((f) => f.path.endsWith('readme.md'))!.layer;
    expect(dep.files.find((f) => f.path.endsWith('usage.md'))).toMatchObject({ layer: docsLayer, mode: 0o755 });
    expect(docsLayer).not.toBe(dep.files.find((f) => f.path.endsWith('readme.md'))!.digest);
    expect(await treeMismatches(b, lock)).toEqual([]);
    expect(Object.keys((await readState(b)).files).sort()).toEqual(lockedPaths(lock));
    const vr = await verify({ projectDir: b, cacheDir, env });
    expect(vr, JSON.stringify(vr)).toMatchObject({ ok: true });
  });

  it('a no-op install neither fetches nor rehashes', async () => {
    const b = join(root, 'B');
    const before = { ...counter };
    const rec = recorder();
    const r = await install({ projectDir: b, targetFactory: factory, cacheDir, env, onEvent: rec.onEvent });
    expect(r.counts).toEqual({ add: 0, change: 0, remove: 0, keep: 5, conflict: 0 });
    expect(r.lockfileChanged).toBe(false);
    expect(counter.fetch - before.fetch).toBe(0);
    expect(counter.resolve - before.resolve).toBe(0);
    expect(counter.tags - before.tags).toBe(0);
    expect(rec.count('rehash')).toBe(0);
    expect(rec.count('fetch')).toBe(0);
    expect(rec.count('link')).toBe(0);
    expect(rec.count('state-written')).toBe(0);
  });

  it('installs by digest and by semver range', async () => {
    const c = await project('C', {
      pinned: { ref: `${HOST}/acme/tools@${v1Digest}`, path: 'pinned' },
      ranged: { ref: `${HOST}/acme/tools:^1.0.0`, path: 'ranged', extra: '    include: ["bin/*", "*.txt"]\n' },
    });
    const r = await install({ projectDir: c, targetFactory: factory, cacheDir, env });
    const lock = (await readLockfile(c))!;
    expect(lock.dependencies.pinned!.digest).toBe(v1Digest);
    expect(lock.dependencies.pinned!.tag).toBeUndefined();
    expect(lock.dependencies.ranged!.tag).toBe('v1.0.0');
    expect(lock.dependencies.ranged!.files.map((f) => f.path)).toEqual([
      'ranged/bin/run.sh',
      'ranged/one.txt',
      'ranged/two.txt',
    ]);
    expect(r.counts.add).toBe(8);
    expect(await treeMismatches(c, lock)).toEqual([]);
  });

  it('a new matching tag is picked up only by update', async () => {
    await writeFile(join(projectA, 'bin/run.sh'), '#!/bin/sh\necho v1.1\n');
    const v11 = await publishA('v1.1.0');
    expect(v11).not.toBe(v1Digest);
    const c = join(root, 'C');
    const same = await install({ projectDir: c, targetFactory: factory, cacheDir, env });
    expect(same.lockfileChanged).toBe(false);
    expect(same.counts.change).toBe(0);
    const dry = await plan({ projectDir: c, targetFactory: factory, cacheDir, env, update: ['ranged'] });
    expect(dry.counts.change).toBe(1);
    expect((await readLockfile(c))!.dependencies.ranged!.digest).toBe(v1Digest);
    const up = await update({ projectDir: c, targetFactory: factory, cacheDir, env, names: ['ranged'] });
    expect(up.lockfileChanged).toBe(true);
    expect(up.counts).toMatchObject({ change: 1, add: 0, remove: 0 });
    const lock = (await readLockfile(c))!;
    expect(lock.dependencies.ranged).toMatchObject({ tag: 'v1.1.0', digest: v11 });
    expect(lock.dependencies.pinned!.digest).toBe(v1Digest);
    expect(await readFile(join(c, 'ranged/bin/run.sh'), 'utf8')).toContain('v1.1');
    expect(await readFile(join(c, 'pinned/bin/run.sh'), 'utf8')).toContain('v1\n');
  });

  it('removing a dependency removes exactly its files', async () => {
    const c = join(root, 'C');
    await writeFile(join(c, 'ranged/mine.txt'), 'user file');
    await writeFile(
      join(c, 'artifacts.yaml'),
      `dependencies:\n  pinned:\n    ref: "${HOST}/acme/tools@${v1Digest}"\n    path: pinned\n`,
    );
    const r = await install({ projectDir: c, targetFactory: factory, cacheDir, env });
    expect(r.counts).toMatchObject({ remove: 3, add: 0, change: 0 });
    expect(await listTree(join(c, 'ranged'))).toEqual(['mine.txt']);
    const lock = (await readLockfile(c))!;
    expect(Object.keys(lock.dependencies)).toEqual(['pinned']);
    expect(await treeMismatches(c, lock, ['artifacts.yaml', 'artifacts.lock', 'ranged/mine.txt'])).toEqual([]);
  });

  it('protects a user-edited file, force overwrites it', async () => {
    const b = join(root, 'B');
    await writeFile(join(b, 'vendor/tools/one.txt'), 'edited by me\n');
    const rep = await verify({ projectDir: b, cacheDir, env });
    expect(rep.ok).toBe(false);
    expect(rep.treeDrift).toEqual([expect.objectContaining({ path: 'vendor/tools/one.txt', actual: 'modified' })]);
    // A change upstream that touches the edited file: conflict.
    await writeFile(
      join(b, 'artifacts.yaml'),
      `dependencies:\n  tools:\n    ref: "${HOST}/acme/tools:v1.1.0"\n    path: vendor/tools\n`,
    );
    const err = await install({ projectDir: b, targetFactory: factory, cacheDir, env }).catch((e: unknown) => e);
    // one.txt is unchanged upstream, but the tree must match the lock: the edit is reported, not overwritten.
    expect(isOrasError(err, 'ERR_ORAS_USER_MODIFIED')).toBe(true);
    expect((err as Error).message).toContain('vendor/tools/one.txt (user-modified)');
    expect(await readFile(join(b, 'vendor/tools/one.txt'), 'utf8')).toBe('edited by me\n');
    await writeFile(join(b, 'vendor/tools/bin/run.sh'), 'my local patch\n');
    const err2 = await install({ projectDir: b, targetFactory: factory, cacheDir, env }).catch((e: unknown) => e);
    expect(isOrasError(err2, 'ERR_ORAS_USER_MODIFIED')).toBe(true);
    expect((err2 as Error).message).toContain('vendor/tools/bin/run.sh');
    expect(await readFile(join(b, 'vendor/tools/bin/run.sh'), 'utf8')).toBe('my local patch\n');
    const forced = await install({ projectDir: b, targetFactory: factory, cacheDir, env, force: true });
    expect(forced.counts.change).toBe(2);
    const lock = (await readLockfile(b))!;
    expect(await treeMismatches(b, lock)).toEqual([]);
    expect((await verify({ projectDir: b, cacheDir, env })).ok).toBe(true);
  });

  it('frozen lockfile fails on drift with a readable diff and leaves the lock alone', async () => {
    const b = join(root, 'B');
    const before = await readFile(join(b, 'artifacts.lock'), 'utf8');
    await writeFile(
      join(b, 'artifacts.yaml'),
      `dependencies:\n  tools:\n    ref: "${HOST}/acme/tools:v1.0.0"\n    path: vendor/tools\n  extra:\n    ref: "${HOST}/acme/tools:v1.0.0"\n    path: vendor/extra\n`,
    );
    const err = await install({ projectDir: b, targetFactory: factory, cacheDir, frozenLockfile: true }).catch(
      (e: unknown) => e,
    );
    expect(isOrasError(err, 'ERR_ORAS_FROZEN_LOCKFILE')).toBe(true);
    expect((err as Error).message).toContain('+ dependencies.extra');
    expect((err as Error).message).toContain('~ dependencies.tools.ref');
    const ci = await install({ projectDir: b, targetFactory: factory, cacheDir, env: { CI: 'true' } }).catch(
      (e: unknown) => e,
    );
    expect(isOrasError(ci, 'ERR_ORAS_FROZEN_LOCKFILE')).toBe(true);
    expect(await readFile(join(b, 'artifacts.lock'), 'utf8')).toBe(before);
    const v = await verify({ projectDir: b, cacheDir, env });
    expect(v.manifestDrift.map((c) => `${c.kind} ${c.name}`)).toEqual(['added extra', 'changed tools']);
  });

  it('warm cache: a new project installs from a lock with no network', async () => {
    const c = join(root, 'C');
    const d = join(root, 'D');
    await mkdir(d);
    await copyFile(join(c, 'artifacts.yaml'), join(d, 'artifacts.yaml'));
    await copyFile(join(c, 'artifacts.lock'), join(d, 'artifacts.lock'));
    const dead = newCounter();
    const noNetwork = async (repo: string) => counted(await factory(repo), dead);
    const r = await install({
      projectDir: d,
      targetFactory: noNetwork,
      cacheDir,
      env,
      offline: true,
      frozenLockfile: true,
    });
    expect(r.counts.add).toBe(5);
    expect(dead).toEqual(newCounter());
    expect(await treeMismatches(d, (await readLockfile(d))!)).toEqual([]);
    // Offline with a cold cache names what is missing.
    const e = join(root, 'E');
    await mkdir(e);
    await copyFile(join(c, 'artifacts.yaml'), join(e, 'artifacts.yaml'));
    await copyFile(join(c, 'artifacts.lock'), join(e, 'artifacts.lock'));
    const err = await install({
      projectDir: e,
      targetFactory: noNetwork,
      cacheDir: join(root, 'cold-cache'),
      env,
      offline: true,
    }).catch((x: unknown) => x);
    expect(isOrasError(err, 'ERR_ORAS_OFFLINE')).toBe(true);
    expect(await listTree(e)).toEqual(['artifacts.lock', 'artifacts.yaml']);
  });

  it('dry run changes nothing', async () => {
    const f = await project('F', { tools: { ref: `${HOST}/acme/tools:v1.1.0`, path: 'lib' } });
    const r = await plan({ projectDir: f, targetFactory: factory, cacheDir, env });
    expect(r.dryRun).toBe(true);
    expect(r.counts.add).toBe(5);
    expect(r.actions.every((a) => a.kind === 'add')).toBe(true);
    expect(await listTree(f)).toEqual(['artifacts.yaml']);
  });

  it('verify reports missing, not-a-file and extraneous files without network', async () => {
    const g = await project('G', { tools: { ref: `${HOST}/acme/tools:v1.1.0`, path: 'lib' } });
    await install({ projectDir: g, targetFactory: factory, cacheDir, env });
    expect((await verify({ projectDir: g, cacheDir, env })).ok).toBe(true);
    await rm(join(g, 'lib/one.txt'));
    await rm(join(g, 'lib/two.txt'));
    await mkdir(join(g, 'lib/two.txt'));
    const before = { ...counter };
    const rep = await verify({ projectDir: g, cacheDir, env });
    expect(counter).toEqual(before);
    expect(rep.ok).toBe(false);
    expect(rep.checked).toBe(5);
    expect(rep.treeDrift.map((d) => `${d.actual} ${d.path}`)).toEqual([
      'missing lib/one.txt',
      'not-a-file lib/two.txt',
    ]);
    // Drop the dependency from the lock by hand: its installed files become extraneous.
    const lock = (await readLockfile(g))!;
    await writeFile(join(g, 'artifacts.yaml'), 'dependencies: {}\n');
    const { writeLockfile } = await import('../../src/project/spec/lockfile.js');
    await writeLockfile(g, { ...lock, dependencies: {} });
    const rep2 = await verify({ projectDir: g, cacheDir, env });
    expect(rep2.treeDrift.map((d) => d.actual)).toEqual(['extraneous', 'extraneous', 'extraneous']);
  });

  it('two projects sharing a cold cache install the same artifact at once', async () => {
    const shared = join(root, 'shared-cache');
    const h1 = await project('H1', { tools: { ref: `${HOST}/acme/tools:v1.0.0`, path: 'x' } });
    const h2 = await project('H2', { tools: { ref: `${HOST}/acme/tools:v1.0.0`, path: 'y' } });
    const recs = [recorder(), recorder()];
    const [r1, r2] = await Promise.all([
      install({ projectDir: h1, targetFactory: factory, cacheDir: shared, env, onEvent: recs[0]!.onEvent }),
      install({ projectDir: h2, targetFactory: factory, cacheDir: shared, env, onEvent: recs[1]!.onEvent }),
    ]);
    expect(r1.counts.add).toBe(5);
    expect(r2.counts.add).toBe(5);
    // The directory layer is unpacked once for the machine.
    // Each lock creation derives the listing from the verified blob (the cache's tree is never trusted), so each project unpacks once.
    expect(recs[0]!.count('unpacked') + recs[1]!.count('unpacked')).toBe(2);
    expect(await treeMismatches(h1, (await readLockfile(h1))!)).toEqual([]);
    expect(await treeMismatches(h2, (await readLockfile(h2))!)).toEqual([]);
  });
});
