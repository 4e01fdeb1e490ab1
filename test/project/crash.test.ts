import { execFile, spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { install } from '../../src/project/install.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { publish } from '../../src/project/publish.js';
import { verify } from '../../src/project/verify.js';
import { layoutFactory, recorder, treeMismatches, writeTree } from './helpers.js';

/*
 * Crash safety and cross-process serialization, with real child processes
 * running a compiled build (tsc into a private temp dir, so the shared dist/
 * is not touched). A child prints one line per install event; the test
 * SIGKILLs it after the k-th line, then a rerun must converge to the lock.
 */

const REPO_ROOT = resolve(import.meta.dirname, '../..');
const CHILD = join(import.meta.dirname, 'fixtures', 'install-child.mjs');
const HOST = 'localhost:5998';
let root: string;
let distDir: string;
let registryDir: string;
let factory: ReturnType<typeof layoutFactory>;

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  killed: boolean;
}

/** Runs the child; when `killAfter` is set, SIGKILLs it once that many EVENT lines were printed. Bounded by a timeout. */
function runChild(projectDir: string, cacheDir: string, killAfter?: number): Promise<ChildRun> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CHILD, distDir, projectDir, registryDir, cacheDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let buf = '';
    let killed = false;
    let events = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child timed out; output:\n${lines.join('\n')}`));
    }, 60_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line.startsWith('EVENT ')) events += 1;
        if (killAfter !== undefined && !killed && events >= killAfter) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.stderr.resume();
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, lines, killed: killed && signal === 'SIGKILL' });
    });
  });
}

async function tempFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.includes('.oras-tmp-')) out.push(join(d, e.name));
      if (e.isDirectory()) await walk(join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}

async function newProject(name: string, tag: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'artifacts.yaml'),
    `dependencies:\n  data:\n    ref: "${HOST}/acme/data:${tag}"\n    path: vendor/data\n`,
  );
  return dir;
}

async function assertConverged(dir: string): Promise<void> {
  const lock = (await readLockfile(dir))!;
  expect(lock).toBeDefined();
  expect(await treeMismatches(dir, lock)).toEqual([]);
  expect(await tempFilesUnder(dir)).toEqual([]);
  // The state is complete: a further install is a pure no-op without rehashing.
  const rec = recorder();
  const again = await install({
    projectDir: dir,
    targetFactory: factory,
    cacheDir: join(root, 'cache-check'),
    env: { CI: 'false' },
    onEvent: rec.onEvent,
  });
  expect(again.counts).toMatchObject({ add: 0, change: 0, remove: 0, conflict: 0 });
  expect(rec.count('rehash')).toBe(0);
  expect(
    (
      await verify({
        projectDir: dir,
        targetFactory: factory,
        cacheDir: join(root, 'cache-check'),
        env: { CI: 'false' },
      })
    ).ok,
  ).toBe(true);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-crash-'));
  // Compile a private build for the children (type errors elsewhere do not stop emit).
  distDir = join(root, 'build', 'dist');
  await writeFile(
    join(await mkdir(join(root, 'build'), { recursive: true }).then(() => join(root, 'build')), 'package.json'),
    '{"type":"module"}\n',
  );
  await symlink(join(REPO_ROOT, 'node_modules'), join(root, 'build', 'node_modules'));
  await symlink(join(REPO_ROOT, 'schemas'), join(root, 'build', 'schemas'));
  await promisify(execFile)(
    process.execPath,
    [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', REPO_ROOT, '--outDir', distDir],
    { cwd: REPO_ROOT, timeout: 110_000 },
  ).catch(() => undefined);
  await access(join(distDir, 'project', 'install.js'));

  registryDir = join(root, 'registry');
  factory = layoutFactory(registryDir);
  const pub = join(root, 'publisher');
  const files: Record<string, string> = { 'big.bin': 'x'.repeat(300_000) };
  for (let i = 0; i < 80; i++) files[`tree/d${i % 7}/f${i}.txt`] = `file ${i} v1\n`;
  await writeTree(pub, files);
  const yaml = (tag: string): string =>
    `publish:\n  data:\n    ref: ${HOST}/acme/data\n    tags: [${tag}]\n    files: [big.bin, tree]\n`;
  await writeFile(join(pub, 'artifacts.yaml'), yaml('v1'));
  await publish({ projectDir: pub, targetFactory: factory });
  const v2: Record<string, string> = { 'big.bin': 'y'.repeat(300_000) };
  for (let i = 0; i < 80; i++) v2[`tree/d${i % 7}/f${i}.txt`] = `file ${i} ${i % 2 === 0 ? 'v2' : 'v1'}\n`;
  await rm(join(pub, 'tree'), { recursive: true });
  await writeTree(pub, v2);
  await writeFile(join(pub, 'artifacts.yaml'), yaml('v2'));
  await publish({ projectDir: pub, targetFactory: factory });
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('crash safety (SIGKILL at many points)', () => {
  it('a fresh install killed at any point converges on rerun', async () => {
    let killedMidway = 0;
    for (const k of [2, 4, 6, 10, 25, 50, 80]) {
      const dir = await newProject(`fresh-${k}`, 'v1');
      const cacheDir = join(root, `cache-fresh-${k}`); // cold cache: crashes also hit fetch/unpack
      const run = await runChild(dir, cacheDir, k);
      if (run.killed && !run.lines.some((l) => l.startsWith('DONE'))) killedMidway += 1;
      const rerun = await runChild(dir, cacheDir);
      expect(rerun.lines.at(-1), rerun.lines.join('\n')).toMatch(/^DONE /);
      await assertConverged(dir);
    }
    expect(killedMidway).toBeGreaterThanOrEqual(5);
  }, 240_000);

  it('an update killed midway converges on rerun (some files new, some old)', async () => {
    let killedMidway = 0;
    for (const k of [5, 20, 40, 70]) {
      const dir = await newProject(`update-${k}`, 'v1');
      const cacheDir = join(root, 'cache-update');
      expect((await runChild(dir, cacheDir)).lines.at(-1)).toMatch(/^DONE /);
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  data:\n    ref: "${HOST}/acme/data:v2"\n    path: vendor/data\n`,
      );
      const run = await runChild(dir, cacheDir, k);
      if (run.killed && !run.lines.some((l) => l.startsWith('DONE'))) killedMidway += 1;
      const rerun = await runChild(dir, cacheDir);
      expect(rerun.lines.at(-1), rerun.lines.join('\n')).toMatch(/^DONE /);
      expect((await readLockfile(dir))!.dependencies.data!.tag).toBe('v2');
      await assertConverged(dir);
    }
    expect(killedMidway).toBeGreaterThanOrEqual(3);
  }, 240_000);
});

describe('concurrency', () => {
  it('two installs of the same project at once serialize and both succeed with the same tree', async () => {
    const dir = await newProject('concurrent', 'v2');
    const cacheDir = join(root, 'cache-concurrent');
    const [a, b] = await Promise.all([runChild(dir, cacheDir), runChild(dir, cacheDir)]);
    expect(a.code, a.lines.join('\n')).toBe(0);
    expect(b.code, b.lines.join('\n')).toBe(0);
    const done = [a, b].map((r) => JSON.parse(r.lines.at(-1)!.slice('DONE '.length)) as { add: number; keep: number });
    // One did the work, the other found it done.
    expect(done.map((d) => d.add).sort((x, y) => x - y)).toEqual([0, 81]);
    await assertConverged(dir);
  }, 120_000);
});
