import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { readProjectRegistry } from '../../src/project/apply/cache/registry.js';
import { IN_PROGRESS_FILE } from '../../src/project/apply/in-progress.js';
import { install } from '../../src/project/install.js';
import { publish } from '../../src/project/publish.js';
import type { OciLayoutStore } from '../../src/content/oci-layout.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { uniqueRepo } from '../harness/context.js';
import { startRegistry, type RunningRegistry } from '../harness/registry.js';
import { layoutFactory, recorder, treeMismatches, writeTree } from './helpers.js';

/*
 * The writes after the tree (artifacts.lock, then .oras/state.json) are prepared while the batch of
 * project files is synced: their temps are filled and fsynced then, and renamed only once the sync
 * succeeded, in that order. The batch sync is held here (the real one runs behind it) to look at
 * the project while it is pending, or made to fail.
 */

const gate = vi.hoisted(() => ({
  hold: undefined as Promise<void> | undefined,
  fail: undefined as Error | undefined,
  calls: 0,
}));

vi.mock('../../src/content/sync-batch.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/content/sync-batch.js')>();
  return {
    ...real,
    syncWritten: async (...args: Parameters<typeof real.syncWritten>) => {
      gate.calls += 1;
      const method = await real.syncWritten(...args);
      if (gate.hold !== undefined) await gate.hold;
      if (gate.fail !== undefined) throw gate.fail;
      return method;
    },
  };
});

const HOST = 'localhost:5996';
const env = { CI: 'false' };
/** A repository's store: both publish and install take it. */
type SourceFactory = (repository: string) => Promise<OciLayoutStore | Repository>;
let base: string;
let reg: RunningRegistry | undefined;
/** The source the tests of one `describe` install from (set by its `beforeAll`), and their directory. */
let root: string;
let factory: SourceFactory;
let ref: string;

/** Temp files (`.<name>.oras-tmp-…`) in `dir`. */
async function temps(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => n.includes('.oras-tmp-'));
}

async function project(name: string): Promise<string> {
  const dir = join(root, name);
  await writeTree(dir, { 'artifacts.yaml': `dependencies:\n  d:\n    ref: "${ref}"\n    path: vendor\n` });
  return dir;
}

/** Polls (bounded) until `check` holds. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Publishes the same 30-file directory to `kind` (an OCI layout, or a real registry started here); returns how to install it. */
async function publishTo(kind: Kind, dir: string): Promise<{ factory: SourceFactory; ref: string }> {
  let target: SourceFactory;
  let name: string;
  if (kind === 'layout') {
    target = layoutFactory(join(dir, 'registry'));
    name = `${HOST}/final/d`;
  } else {
    reg = await startRegistry({ mode: 'plain' });
    const client = new RegistryClient({});
    target = (repository) => Promise.resolve(new Repository({ reference: repository, client }));
    name = `${reg.host}/${uniqueRepo('final/d')}`;
  }
  const src = join(dir, 'src');
  const files: Record<string, string> = {};
  for (let i = 0; i < 30; i++) files[`data/f${String(i).padStart(3, '0')}.txt`] = `file ${i}\n`;
  await writeTree(src, files);
  await writeFile(
    join(src, 'artifacts.yaml'),
    `publish:\n  d:\n    ref: ${name}\n    tags: [v1]\n    files:\n      - data\n`,
  );
  await publish({ projectDir: src, targetFactory: target });
  return { factory: target, ref: `${name}:v1` };
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'oras-final-writes-'));
});
afterAll(async () => {
  await reg?.stop();
  await rm(base, { recursive: true, force: true });
});
beforeEach(() => {
  gate.hold = undefined;
  gate.fail = undefined;
  gate.calls = 0;
});

type Kind = 'layout' | 'registry';

describe.each<Kind>(['layout', 'registry'])(
  'installing from %s: artifacts.lock and the state are prepared during the sync and land after it',
  (kind) => {
    beforeAll(async () => {
      root = join(base, kind);
      ({ factory, ref } = await publishTo(kind, root));
    });

    it('a first install: both temps are filled while the sync is pending; the lock, then the state, land after it', async () => {
      const p = await project('first');
      let release: () => void = () => undefined;
      gate.hold = new Promise<void>((r) => (release = r));
      const rec = recorder();
      const running = install({
        projectDir: p,
        targetFactory: factory,
        cacheDir: join(root, 'cache-first'),
        env,
        onEvent: rec.onEvent,
      });
      // Both temps exist and are complete (the state's MAC header is written last) while the sync is held.
      await until(
        async () => (await temps(p)).length === 1 && (await temps(join(p, '.oras'))).length === 1,
        'the two temps',
      );
      const stateTemp = join(p, '.oras', (await temps(join(p, '.oras')))[0]!);
      await until(async () => (await readFile(stateTemp, 'utf8')).startsWith('{\n  "mac": "hmac-sha256:'), 'the MAC');
      expect(existsSync(join(p, 'artifacts.lock'))).toBe(false);
      expect(existsSync(join(p, '.oras', 'state.json'))).toBe(false);
      expect(existsSync(join(p, '.oras', IN_PROGRESS_FILE))).toBe(true);
      expect(rec.events.some((e) => e.type === 'lockfile-written' || e.type === 'state-written')).toBe(false);
      // The cache's records are made meanwhile too, with the hash of the lock about to land.
      const cacheDir = join(root, 'cache-first');
      await until(async () => (await readProjectRegistry(cacheDir)).projects[p] !== undefined, 'the registration');
      const registered = (await readProjectRegistry(cacheDir)).projects[p]!.lockSha256;
      release();
      const r = await running;
      expect(r.counts.add).toBe(30);
      expect(gate.calls).toBe(1);
      const order = rec.events.map((e) => e.type).filter((t) => t === 'lockfile-written' || t === 'state-written');
      expect(order).toEqual(['lockfile-written', 'state-written']);
      expect(await temps(p)).toEqual([]);
      expect(await temps(join(p, '.oras'))).toEqual([]);
      expect(existsSync(join(p, '.oras', IN_PROGRESS_FILE))).toBe(false);
      expect(await treeMismatches(p, (await readLockfile(p))!)).toEqual([]);
      expect(registered).toBe(
        createHash('sha256')
          .update(await readFile(join(p, 'artifacts.lock')))
          .digest('hex'),
      );
      // The state carries the lock's stamp (taken from its temp): the next install is the fast no-op.
      const again = await install({ projectDir: p, targetFactory: factory, cacheDir: join(root, 'cache-first'), env });
      expect(again.fastPath).toBe(true);
    });

    it('a warm install that keeps its lock: the state lands only after the sync', async () => {
      const first = await project('warm-a');
      const cacheDir = join(root, 'cache-warm');
      await install({ projectDir: first, targetFactory: factory, cacheDir, env });
      const p = await project('warm-b');
      const lockText = await readFile(join(first, 'artifacts.lock'), 'utf8');
      await writeFile(join(p, 'artifacts.lock'), lockText);
      let release: () => void = () => undefined;
      gate.hold = new Promise<void>((r) => (release = r));
      const running = install({
        projectDir: p,
        targetFactory: factory,
        cacheDir,
        env,
        offline: true,
        frozenLockfile: true,
      });
      await until(async () => (await temps(join(p, '.oras'))).length === 1, 'the state temp');
      expect(existsSync(join(p, '.oras', 'state.json'))).toBe(false);
      release();
      await running;
      expect(await temps(join(p, '.oras'))).toEqual([]);
      expect(await readFile(join(p, 'artifacts.lock'), 'utf8')).toBe(lockText);
      const again = await install({ projectDir: p, targetFactory: factory, cacheDir, env, offline: true });
      expect(again.fastPath).toBe(true);
    });

    it('a failed sync: neither the lock nor a completed state lands, no temp is left; the rerun converges', async () => {
      const p = await project('fail');
      const cacheDir = join(root, 'cache-fail');
      gate.fail = new Error('injected: the sync failed');
      const err = await install({ projectDir: p, targetFactory: factory, cacheDir, env }).catch((e: unknown) => e);
      expect(String((err as Error).message)).toContain('injected: the sync failed');
      expect(existsSync(join(p, 'artifacts.lock'))).toBe(false);
      expect(await temps(p)).toEqual([]);
      expect(await temps(join(p, '.oras'))).toEqual([]);
      // What landed is recorded, without inputs; the files were not made durable, so the marker stays.
      const state = JSON.parse(await readFile(join(p, '.oras', 'state.json'), 'utf8')) as {
        files: object;
        inputs?: unknown;
      };
      expect(Object.keys(state.files)).toHaveLength(30);
      expect(state.inputs).toBeUndefined();
      expect(existsSync(join(p, '.oras', IN_PROGRESS_FILE))).toBe(true);
      gate.fail = undefined;
      const rec = recorder();
      await install({ projectDir: p, targetFactory: factory, cacheDir, env, onEvent: rec.onEvent });
      expect(rec.count('rehash')).toBe(30);
      expect(rec.count('link')).toBe(0);
      expect(existsSync(join(p, '.oras', IN_PROGRESS_FILE))).toBe(false);
      expect(await treeMismatches(p, (await readLockfile(p))!)).toEqual([]);
    });
  },
);
