import { appendFile, mkdtemp, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { install, type InstallOptions } from '../../src/project/install.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { publish } from '../../src/project/publish.js';
import { readState, statePath, writeState } from '../../src/project/apply/state.js';
import { layoutFactory, newCounter, writeTree } from './helpers.js';

// The no-op fast path of install (src/project/fast-noop.ts): taken only when artifacts.yaml,
// artifacts.lock and every installed file are exactly as the last completed install left them.

const HOST = 'localhost:5998';
let root: string;
let cacheDir: string;
let project: string;
const counter = newCounter();
let factory: ReturnType<typeof layoutFactory>;
const env = { CI: 'false' };
const MANIFEST = `dependencies:\n  tools:\n    ref: "${HOST}/acme/fast:1.0.0"\n    path: vendor/tools\n`;
const opts = (extra: Partial<InstallOptions> = {}): InstallOptions => ({
  projectDir: project,
  targetFactory: factory,
  cacheDir,
  env,
  ...extra,
});
const networkCalls = (): number => counter.fetch + counter.resolve + counter.tags + counter.exists;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-fast-'));
  cacheDir = join(root, 'cache');
  factory = layoutFactory(join(root, 'registry'), counter);
  const src = join(root, 'src');
  await writeTree(src, { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n', 'c.txt': 'charlie\n' });
  await writeFile(
    join(src, 'artifacts.yaml'),
    `publish:\n  fast:\n    ref: ${HOST}/acme/fast\n    tags: ["1.0.0"]\n    files: [a.txt, b.txt, c.txt]\n`,
  );
  await publish({ projectDir: src, targetFactory: factory });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  project = await mkdtemp(join(root, 'p-'));
  await writeFile(join(project, 'artifacts.yaml'), MANIFEST);
  const first = await install(opts());
  expect(first.fastPath).toBe(false);
  expect(first.counts.add).toBe(3);
});

describe('install fast path', () => {
  it('is taken when nothing changed: no parsing, no network, state untouched, same result', async () => {
    const state = await readState(project);
    expect(state.inputs?.lock).not.toBeNull();
    expect(state.inputs?.agree).toBe(true);
    const stateMtime = (await stat(statePath(project))).mtimeMs;
    const calls = networkCalls();
    const r = await install(opts());
    expect(r.fastPath).toBe(true);
    expect(r.counts).toEqual({ add: 0, change: 0, remove: 0, keep: 3, conflict: 0 });
    expect(r.lockfileChanged).toBe(false);
    expect(networkCalls()).toBe(calls);
    expect((await stat(statePath(project))).mtimeMs).toBe(stateMtime);
    // lockfile and actions are computed on demand and equal the full path's.
    const full = await install(opts({ verify: true }));
    expect(full.fastPath).toBe(false);
    expect(r.lockfile).toEqual(await readLockfile(project));
    expect(r.actions).toEqual(full.actions);
    expect(r.actions.map((a) => a.kind)).toEqual(['keep', 'keep', 'keep']);
    // Frozen (CI) installs use it too: the manifest/lock agreement was recorded.
    expect((await install(opts({ frozenLockfile: true }))).fastPath).toBe(true);
    expect((await install(opts({ dryRun: true }))).fastPath).toBe(true);
  });

  it('is not taken when artifacts.yaml is touched, and is again once the state is refreshed', async () => {
    const later = new Date(Date.now() + 5000);
    await utimes(join(project, 'artifacts.yaml'), later, later);
    const r = await install(opts());
    expect(r.fastPath).toBe(false);
    expect(r.counts.keep).toBe(3);
    expect((await install(opts())).fastPath).toBe(true);
  });

  it('is not taken when artifacts.yaml is edited (same size and mtime too: the hash differs)', async () => {
    const file = join(project, 'artifacts.yaml');
    // A whole-second mtime survives utimes() exactly; record it (full path once, then fast).
    await utimes(file, 1_700_000_000, 1_700_000_000);
    expect((await install(opts())).fastPath).toBe(false);
    expect((await install(opts())).fastPath).toBe(true);
    const before = await stat(file);
    await writeFile(file, MANIFEST.replace('vendor/tools', 'vendor/toolz'));
    await utimes(file, 1_700_000_000, 1_700_000_000);
    const after = await stat(file);
    expect([after.size, after.mtimeMs, after.ino]).toEqual([before.size, before.mtimeMs, before.ino]);
    const r = await install(opts());
    expect(r.fastPath).toBe(false);
    expect(r.counts).toMatchObject({ add: 3, remove: 3 });
  });

  it('is not taken when artifacts.lock is touched or edited', async () => {
    const lock = join(project, 'artifacts.lock');
    const later = new Date(Date.now() + 5000);
    await utimes(lock, later, later);
    expect((await install(opts())).fastPath).toBe(false);
    expect((await install(opts())).fastPath).toBe(true);
    await appendFile(lock, '# a comment\n');
    const r = await install(opts());
    expect(r.fastPath).toBe(false);
    expect(r.counts.keep).toBe(3);
  });

  it('is not taken when an installed file was modified or removed', async () => {
    await unlink(join(project, 'vendor/tools/b.txt'));
    const r = await install(opts());
    expect(r.fastPath).toBe(false);
    expect(r.counts).toMatchObject({ add: 1, keep: 2 });
    expect((await install(opts())).fastPath).toBe(true);
    await writeFile(join(project, 'vendor/tools/a.txt'), 'ALPHA\n'); // same size, new content
    await expect(install(opts())).rejects.toMatchObject({ code: 'ERR_ORAS_USER_MODIFIED' });
  });

  it('frozen-lockfile drift is still detected after editing artifacts.yaml', async () => {
    await writeFile(join(project, 'artifacts.yaml'), MANIFEST.replace('vendor/tools', 'vendor/other'));
    await expect(install(opts({ frozenLockfile: true }))).rejects.toMatchObject({ code: 'ERR_ORAS_FROZEN_LOCKFILE' });
    await expect(install(opts({ env: { CI: 'true' } }))).rejects.toMatchObject({ code: 'ERR_ORAS_FROZEN_LOCKFILE' });
  });

  it('a state whose manifest and lock disagreed never lets a frozen install through', async () => {
    const s = await readState(project);
    s.inputs!.agree = false;
    await writeState(project, s);
    expect((await install(opts({ frozenLockfile: true }))).fastPath).toBe(false);
  });

  it('a second manifest name, update, verify, or a malformed inputs record all take the full path', async () => {
    expect((await install(opts({ update: true }))).fastPath).toBe(false);
    expect((await install(opts({ verify: true }))).fastPath).toBe(false);
    const s = await readState(project);
    (s as { inputs: unknown }).inputs = {
      manifest: { name: 'nonsense', size: 1, mtimeMs: 1, ino: 1, sha256: 'x' },
      lock: null,
      agree: true,
    };
    await writeState(project, s);
    expect((await readState(project)).inputs).toBeUndefined();
    expect((await install(opts())).fastPath).toBe(false);
    expect((await install(opts())).fastPath).toBe(true);
    await writeFile(join(project, 'artifacts.yml'), MANIFEST);
    await expect(install(opts())).rejects.toMatchObject({ code: 'ERR_ORAS_CONFIG' });
  });

  it('a failed install records no inputs', async () => {
    await writeFile(
      join(project, 'artifacts.yaml'),
      `${MANIFEST}  missing:\n    ref: "${HOST}/acme/nope:1.0.0"\n    path: vendor/nope\n`,
    );
    await expect(install(opts())).rejects.toBeDefined();
    await writeFile(join(project, 'artifacts.yaml'), MANIFEST);
    // The old record still describes the old inputs: the restored manifest has a new mtime → full path.
    const r = await install(opts());
    expect(r.fastPath).toBe(false);
    expect((await install(opts())).fastPath).toBe(true);
  });
});
