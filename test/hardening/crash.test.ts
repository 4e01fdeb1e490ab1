/**
 * Crash safety of `install`: a child process (running a private build of the library) is
 * SIGKILLed at many deterministic points — right after its N-th lifecycle event (resolve,
 * lockfile write, fetch, cache writes, each file link, state write) and in the middle of a
 * stalled blob download — then install is run again. Invariants:
 * - after the kill: every blob in the cache at its final name hashes to that name;
 * - after the rerun: the tree equals the lock (every locked file with its digest, nothing
 *   else), no temp file anywhere in the project, every cache blob verified.
 * Plus: concurrent installs into one project and into one cache serialize correctly, and
 * a lockfile or state file that is a symlink is never written through.
 *
 * (test/project/reify.test.ts covers in-process recovery of a half-finished reify and a
 * symlinked state file at the reify level; these tests use real processes and SIGKILL.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { install } from '../../src/project/install.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { publish } from '../../src/project/publish.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { uniqueRepo } from '../harness/context.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../harness/registry.js';
import { treeMismatches, writeTree } from '../project/helpers.js';
import { privateBuild, removePrivateBuild } from './private-build.js';

let reg: RunningRegistry;
let proxy: FaultProxy;
let pkg: string;
let root: string;
let ref: string;
let bigDigest: string;
const client = new RegistryClient({ retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } });

const CHILD = `
import { pathToFileURL } from 'node:url';
const [pkg, projectDir, cacheDir] = process.argv.slice(2);
const { install } = await import(pathToFileURL(pkg + '/dist/project/install.js').href);
const { RegistryClient } = await import(pathToFileURL(pkg + '/dist/registry/client.js').href);
const { Repository } = await import(pathToFileURL(pkg + '/dist/registry/repository.js').href);
const client = new RegistryClient({ retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } });
try {
  await install({
    projectDir, cacheDir, env: { CI: 'false' }, lockTimeoutMs: 120000,
    targetFactory: (repository) => new Repository({ reference: repository, client }),
    onEvent: (e) => {
      process.stdout.write('EV ' + JSON.stringify(e) + '\\n');
      // Held (this thread only) where the test kills it, so that the kill lands there.
      if (e.type === process.env.ORAS_TEST_HOLD_AT) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10000);
    },
  });
  process.stdout.write('DONE\\n');
  await client.close();
} catch (err) {
  process.stdout.write('ERR ' + (err && err.code) + ' ' + String(err && err.message).split('\\n')[0] + '\\n');
  process.exitCode = 1;
  await client.close();
}
`;

const PULL_CHILD = `
import { pathToFileURL } from 'node:url';
const [pkg, reference, outDir] = process.argv.slice(2);
const { pullArtifact } = await import(pathToFileURL(pkg + '/dist/artifact/pull.js').href);
const { RegistryClient } = await import(pathToFileURL(pkg + '/dist/registry/client.js').href);
const { Repository } = await import(pathToFileURL(pkg + '/dist/registry/repository.js').href);
const client = new RegistryClient({});
const at = reference.lastIndexOf(':');
const res = await pullArtifact(new Repository({ reference: reference.slice(0, at), client }), reference.slice(at + 1), outDir);
process.stdout.write('DONE ' + res.files.length + '\\n');
await client.close();
`;

interface ChildRun {
  child: ChildProcess;
  lines: string[];
  exit: Promise<number | null>;
}

function runChild(
  projectDir: string,
  cacheDir: string,
  onLine?: (line: string, run: ChildRun) => void,
  env: NodeJS.ProcessEnv = process.env,
): ChildRun {
  const child = spawn(process.execPath, [join(root, 'child.mjs'), pkg, projectDir, cacheDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const run: ChildRun = {
    child,
    lines: [],
    exit: new Promise((resolve) => child.on('close', (code) => resolve(code))),
  };
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      run.lines.push(line);
      onLine?.(line, run);
    }
  });
  child.stderr!.on('data', () => undefined);
  return run;
}

async function newProject(name: string, dependencyRef = ref): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'artifacts.yaml'),
    `dependencies:\n  app:\n    ref: "${dependencyRef}"\n    path: vendor/app\n`,
  );
  return dir;
}

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Every blob at its final name in the cache hashes to that name; returns the count and any bad ones. */
async function cacheProblems(cacheDir: string): Promise<{ blobs: number; bad: string[] }> {
  const dir = join(cacheDir, 'blobs', 'sha256');
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return { blobs: 0, bad: [] };
  }
  const bad: string[] = [];
  let blobs = 0;
  for (const n of names) {
    if (!/^[0-9a-f]{64}$/.test(n)) continue; // temp files of interrupted writes never carry a final name
    blobs++;
    if ((await sha256File(join(dir, n))) !== n) bad.push(n);
  }
  return { blobs, bad };
}

/** Temp files left anywhere below `dir` (project: none allowed after a rerun). */
async function tempFiles(dir: string): Promise<string[]> {
  const all = (await readdir(dir, { recursive: true })).map(String);
  return all.filter((p) => /oras-(tmp|dl|extract)-/.test(p));
}

async function rerunAndCheck(projectDir: string, cacheDir: string): Promise<void> {
  await install({
    projectDir,
    cacheDir,
    env: { CI: 'false' },
    targetFactory: (repository) => new Repository({ reference: repository, client }),
  });
  const lock = await readLockfile(projectDir);
  expect(lock).toBeDefined();
  expect(Object.keys(lock!.dependencies)).toEqual(['app']);
  expect(await treeMismatches(projectDir, lock!)).toEqual([]);
  expect(await tempFiles(projectDir)).toEqual([]);
  const cache = await cacheProblems(cacheDir);
  expect(cache.bad).toEqual([]);
  expect(cache.blobs).toBeGreaterThan(0);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-crash-'));
  await writeFile(join(root, 'child.mjs'), CHILD);
  await writeFile(join(root, 'pull-child.mjs'), PULL_CHILD);
  [pkg, reg] = await Promise.all([privateBuild('crash'), startRegistry({ mode: 'plain' })]);
  proxy = await startFaultProxy(reg.url);
  const repo = uniqueRepo('hardening/crash');
  const pub = join(root, 'publisher');
  const files: Record<string, string> = { 'README.txt': 'readme\n', 'big.bin': 'B'.repeat(3 * 1024 * 1024) };
  for (let i = 0; i < 12; i++) files[`assets/f${i}.txt`] = `asset ${i}\n`.repeat(100 + i);
  for (let i = 0; i < 6; i++) files[`model${i}.bin`] = `weights ${i} `.repeat(20_000);
  await writeTree(pub, files);
  await writeFile(
    join(pub, 'artifacts.yaml'),
    `publish:\n  app:\n    ref: ${proxy.host}/${repo}\n    tags: ["1.0.0"]\n    files:\n      - README.txt\n      - big.bin\n      - assets\n${Array.from({ length: 6 }, (_, i) => `      - model${i}.bin\n`).join('')}`,
  );
  const published = await publish({ projectDir: pub, targetFactory: (r) => new Repository({ reference: r, client }) });
  ref = `${proxy.host}/${repo}:1.0.0`;
  bigDigest = `sha256:${createHash('sha256').update(files['big.bin']!).digest('hex')}`;
  expect(published.published[0]!.digest).toMatch(/^sha256:/);
}, 300_000);

afterAll(async () => {
  await client.close();
  await proxy?.close();
  await reg?.stop();
  if (root) await rm(root, { recursive: true, force: true });
  await removePrivateBuild(pkg);
});

describe('SIGKILL during install, then rerun', () => {
  it('at every lifecycle event of a cold install: tree equals lock, no temp files, cache only holds verified blobs', async () => {
    // A reference run counts the events of a cold install.
    const ref0 = runChild(await newProject('reference'), join(root, 'cache-reference'));
    expect(await ref0.exit).toBe(0);
    const total = ref0.lines.filter((l) => l.startsWith('EV ')).length;
    expect(total).toBeGreaterThan(10);
    const spaced = Array.from(
      { length: Math.min(total, 24) },
      (_, i) => 1 + Math.floor((i * total) / Math.min(total, 24)),
    );
    // Plus the first event of each phase checked below, so the coverage does not depend on the event count.
    const types = ref0.lines.filter((l) => l.startsWith('EV ')).map((l) => JSON.parse(l.slice(3)).type as string);
    const firsts = ['resolve', 'fetch', 'link'].map((t) => types.indexOf(t) + 1).filter((k) => k > 0);
    const points = [...new Set([...spaced, ...firsts])].sort((a, b) => a - b);
    const killedAt: string[] = [];
    for (const k of points) {
      const project = await newProject(`kill-${k}`);
      const cacheDir = join(root, `cache-kill-${k}`);
      let seen = 0;
      const run = runChild(project, cacheDir, (line, r) => {
        if (line.startsWith('EV ') && ++seen === k) {
          killedAt.push(JSON.parse(line.slice(3)).type as string);
          r.child.kill('SIGKILL');
        }
      });
      await run.exit;
      expect((await cacheProblems(cacheDir)).bad, `after kill at event ${k}`).toEqual([]);
      await rerunAndCheck(project, cacheDir);
    }
    // the kill points really covered the interesting phases
    for (const phase of ['resolve', 'fetch', 'link']) expect(killedAt, killedAt.join(' ')).toContain(phase);
  }, 300_000);

  it('killed in the middle of a stalled blob download (partial temp file on disk): the rerun recovers', async () => {
    const project = await newProject('kill-mid-blob');
    const cacheDir = join(root, 'cache-mid-blob');
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${bigDigest}$`),
      fault: { kind: 'stall-after', bytes: 1024 * 1024, stallMs: 60_000 },
    });
    const run = runChild(project, cacheDir);
    // wait (bounded) until the partial download is on disk
    let partial: string | undefined;
    for (let i = 0; i < 300 && partial === undefined; i++) {
      const tmp = (await readdir(join(cacheDir, 'blobs', 'sha256')).catch(() => [] as string[])).find(
        (n) => !/^[0-9a-f]{64}$/.test(n),
      );
      if (tmp !== undefined && (await stat(join(cacheDir, 'blobs', 'sha256', tmp)).catch(() => undefined))?.size)
        partial = tmp;
      else await new Promise((r) => setTimeout(r, 50));
    }
    run.child.kill('SIGKILL');
    await run.exit;
    proxy.clearFaults();
    expect(partial, 'a partial download should have been on disk').toBeDefined();
    expect((await cacheProblems(cacheDir)).bad).toEqual([]);
    await rerunAndCheck(project, cacheDir);
  }, 120_000);
});

describe('SIGKILL while a prefilled stage is in .oras/, then rerun', () => {
  it('killed once the layer was listed (its files prefilled, not yet placed): the rerun removes the stage', async () => {
    const repo = uniqueRepo('hardening/crash-prefill');
    const pub = join(root, 'publisher-prefill');
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`data/f${i}.txt`] = `prefilled ${i}\n`;
    await writeTree(pub, files);
    await writeFile(
      join(pub, 'artifacts.yaml'),
      `publish:\n  app:\n    ref: ${proxy.host}/${repo}\n    tags: ["1.0.0"]\n    files:\n      - data\n`,
    );
    await publish({ projectDir: pub, targetFactory: (r) => new Repository({ reference: r, client }) });
    const project = await newProject('kill-prefill', `${proxy.host}/${repo}:1.0.0`);
    const cacheDir = join(root, 'cache-kill-prefill');
    // The child holds its main thread at the layer's `unpacked` event (listing derived, nothing
    // planned or placed); the writer thread goes on filling the stage meanwhile.
    const run = runChild(
      project,
      cacheDir,
      (line, r) => {
        if (line.startsWith('EV ') && (JSON.parse(line.slice(3)) as { type: string }).type === 'unpacked')
          setTimeout(() => r.child.kill('SIGKILL'), 300);
      },
      { ...process.env, ORAS_TEST_HOLD_AT: 'unpacked' },
    );
    await run.exit;
    const left = (await readdir(join(project, '.oras'))).filter((n) => n.includes('.oras-tmp-'));
    expect(left, 'the kill should leave a prefilled stage').toHaveLength(1);
    expect((await readdir(join(project, '.oras', left[0]!), { recursive: true })).length).toBeGreaterThan(0);
    expect(await lstat(join(project, 'vendor')).catch(() => undefined)).toBeUndefined();
    await rerunAndCheck(project, cacheDir);
    expect(await readdir(join(project, 'vendor/app/data'))).toHaveLength(300);
  }, 120_000);
});

describe('SIGKILL during pullArtifact (oras pull), then rerun', () => {
  async function killedPull(
    name: string,
    beforeRerun?: (out: string) => Promise<void>,
  ): Promise<{ out: string; expected: Map<string, string> }> {
    const out = join(root, name);
    const at = ref.lastIndexOf(':');
    const fetched = await new Repository({ reference: ref.slice(0, at), client }).fetchManifest(ref.slice(at + 1));
    const layers = fetched.parsed.kind === 'manifest' ? fetched.parsed.manifest.layers : [];
    const expected = new Map(
      layers
        .filter((l) => l.annotations?.['io.deis.oras.content.unpack'] !== 'true')
        .map((l) => [l.annotations!['org.opencontainers.image.title']!, l.digest.slice(7)]),
    );
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${bigDigest}$`),
      fault: { kind: 'stall-after', bytes: 1024 * 1024, stallMs: 60_000 },
    });
    const child = spawn(process.execPath, [join(root, 'pull-child.mjs'), pkg, ref, out], { stdio: 'ignore' });
    const exit = new Promise((resolve) => child.on('close', resolve));
    let partial = false;
    for (let i = 0; i < 300 && !partial; i++) {
      const names = await readdir(out).catch(() => [] as string[]);
      for (const n of names.filter((x) => x.includes('big.bin') && x.includes('.oras-tmp-'))) {
        if (((await stat(join(out, n)).catch(() => undefined))?.size ?? 0) > 0) partial = true;
      }
      if (!partial) await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exit;
    proxy.clearFaults();
    expect(partial, 'the partial download should have been on disk').toBe(true);
    // no final name ever holds partial or unverified content
    for (const [title, hex] of expected) {
      const st = await stat(join(out, title)).catch(() => undefined);
      if (st !== undefined) expect(await sha256File(join(out, title)), title).toBe(hex);
    }
    await beforeRerun?.(out);
    // the rerun completes and every file is verified
    const rerun = spawn(process.execPath, [join(root, 'pull-child.mjs'), pkg, ref, out], { stdio: 'ignore' });
    expect(await new Promise((resolve) => rerun.on('close', resolve))).toBe(0);
    for (const [title, hex] of expected) expect(await sha256File(join(out, title)), title).toBe(hex);
    return { out, expected };
  }

  it('killed mid-blob: final names are never partial; the rerun writes every file verified', async () => {
    await killedPull('pull-killed');
  }, 120_000);

  // Was a defect (fixed in src/artifact/pull.ts): an interrupted pull left its temp file
  // (".big.bin.oras-tmp-<hex>") in the user's output directory forever. Temps are removed once
  // stale (10 min untouched; a live writer touches its temp with every chunk), so the test ages
  // them as a later rerun would find them.
  it('killed mid-blob: a later rerun removes the stale temp file from the output directory', async () => {
    const { out } = await killedPull('pull-killed-temps', async (dir) => {
      const temps = await tempFiles(dir);
      expect(temps.length).toBeGreaterThan(0);
      const old = new Date(Date.now() - 3600_000);
      for (const t of (await readdir(dir, { recursive: true }))
        .map(String)
        .filter((x) => /oras-(tmp|dl|extract)-/.test(x)))
        await utimes(join(dir, t), old, old);
    });
    expect(await tempFiles(out)).toEqual([]);
  }, 120_000);
});

describe('concurrent installs', () => {
  it('three processes installing into ONE project serialize (project lock): all succeed, tree equals lock', async () => {
    const project = await newProject('concurrent-project');
    const cacheDir = join(root, 'cache-concurrent-project');
    const runs = [0, 1, 2].map(() => runChild(project, cacheDir));
    const codes = await Promise.all(runs.map((r) => r.exit));
    expect(codes, runs.map((r) => r.lines.filter((l) => !l.startsWith('EV ')).join('\n')).join('\n---\n')).toEqual([
      0, 0, 0,
    ]);
    // exactly one of them did the work; the others found it done
    const linked = runs.map((r) => r.lines.filter((l) => l.startsWith('EV {"type":"link"')).length);
    expect(linked.filter((n) => n > 0)).toHaveLength(1);
    const lock = await readLockfile(project);
    expect(await treeMismatches(project, lock!)).toEqual([]);
    expect(await tempFiles(project)).toEqual([]);
  }, 120_000);

  it('three processes installing into three projects sharing ONE cache: all succeed, cache verified', async () => {
    const cacheDir = join(root, 'cache-shared');
    const projects = await Promise.all([0, 1, 2].map((i) => newProject(`shared-cache-${i}`)));
    const runs = projects.map((p) => runChild(p, cacheDir));
    const codes = await Promise.all(runs.map((r) => r.exit));
    expect(codes, runs.map((r) => r.lines.filter((l) => !l.startsWith('EV ')).join('\n')).join('\n---\n')).toEqual([
      0, 0, 0,
    ]);
    for (const p of projects) {
      const lock = await readLockfile(p);
      expect(await treeMismatches(p, lock!)).toEqual([]);
      expect(await tempFiles(p)).toEqual([]);
    }
    expect((await cacheProblems(cacheDir)).bad).toEqual([]);
  }, 120_000);
});

describe('lockfile and state symlinks are never written through', () => {
  it('artifacts.lock and .oras/state.json symlinked outside the project: the outside files are untouched', async () => {
    const project = await newProject('symlinked-files');
    const outside = join(root, 'outside-symlink-target');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'lock.yaml'), 'ORIGINAL LOCK\n');
    await writeFile(join(outside, 'state.json'), 'ORIGINAL STATE\n');
    await symlink(join(outside, 'lock.yaml'), join(project, 'artifacts.lock'));
    await mkdir(join(project, '.oras'));
    await symlink(join(outside, 'state.json'), join(project, '.oras', 'state.json'));
    const err = await install({
      projectDir: project,
      cacheDir: join(root, 'cache-symlink'),
      env: { CI: 'false' },
      targetFactory: (r) => new Repository({ reference: r, client }),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // whatever install decided (refuse, or replace the links), nothing was written through them
    expect(await readFile(join(outside, 'lock.yaml'), 'utf8')).toBe('ORIGINAL LOCK\n');
    expect(await readFile(join(outside, 'state.json'), 'utf8')).toBe('ORIGINAL STATE\n');
    if (err === undefined) {
      expect((await lstat(join(project, 'artifacts.lock'))).isSymbolicLink()).toBe(false);
    } else {
      expect(err).toMatchObject({ code: expect.stringMatching(/^ERR_ORAS_/) });
    }
  }, 60_000);
});
