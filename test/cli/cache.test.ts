/**
 * The cache commands of the built CLI (`oras cache …`, `oras fetch`, the
 * `cache.maxSize` budget) against the harness plain registry, with real child
 * processes: prune keeps exactly what registered projects' current locks need,
 * waits for a running install, is safe for hard-linked projects; verify
 * removes corruption; skopeo reads artifacts out of the cache; `oras fetch`
 * then `install --offline` in a fresh directory.
 */
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { spawn } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry, uniqueRepo } from '../harness/context.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { skopeo } from '../harness/skopeo.js';
import { baseEnv, CLI, ensureBuilt, runCli, show, tempDir, type CliResult } from './helpers.js';

let root: string;
let baseEnvVars: Record<string, string>;
let cleanup: () => Promise<void>;
const T = 240_000;

async function oras(args: string[], cwd: string, cache: string): Promise<CliResult> {
  return runCli(args, { ...baseEnvVars, ORAS_CACHE_DIR: cache }, { cwd, timeoutMs: 120_000 });
}

async function ok(args: string[], cwd: string, cache: string): Promise<CliResult> {
  const r = await oras(args, cwd, cache);
  expect(r.code, show(r)).toBe(0);
  return r;
}

/** Publishes `name` version `version` (a file and a directory layer with version-specific content). */
async function publish(producer: string, repo: string, version: string, cache: string): Promise<void> {
  await mkdir(join(producer, 'tree', 'sub'), { recursive: true });
  await writeFile(join(producer, 'data.txt'), `payload ${version}\n${'x'.repeat(2000)}\n`);
  await writeFile(join(producer, 'tree', 'sub', 'inner.txt'), `inner ${version}\n`);
  await writeFile(
    join(producer, 'artifacts.yaml'),
    `dependencies: {}\npublish:\n  data:\n    ref: ${repo}\n    tags: ["${version}"]\n    files: [data.txt, tree]\n`,
  );
  await ok(['publish'], producer, cache);
}

async function project(dir: string, ref: string, extra = ''): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'artifacts.yaml'), `dependencies:\n  data:\n    ref: ${ref}\n    path: vendor\n`);
  if (extra !== '') await writeFile(join(dir, 'oras.yaml'), extra);
  return dir;
}

interface LockShape {
  dependencies: Record<
    string,
    { digest: string; files: { digest: string; layer: string }[]; layers?: { listing?: string }[] }
  >;
}

/** The lock as the library reads it (lockfile v2 groups files under layers; this flattens them). */
async function lockOf(dir: string): Promise<LockShape> {
  return (await readLockfile(dir))!;
}

/** Every digest an artifact of `lock` consists of (manifest, config, layers), read from the cache. */
async function artifactDigests(
  cache: string,
  lock: LockShape,
): Promise<{ blobs: string[]; trees: string[]; listings: string[] }> {
  const listings = new Set<string>();
  const blobs = new Set<string>();
  const trees = new Set<string>();
  for (const dep of Object.values(lock.dependencies)) {
    blobs.add(dep.digest);
    const m = JSON.parse(await readFile(join(cache, 'blobs', 'sha256', dep.digest.slice(7)), 'utf8')) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    blobs.add(m.config.digest);
    for (const l of m.layers) blobs.add(l.digest);
    for (const f of dep.files) if (f.layer !== f.digest) trees.add(f.layer);
    for (const l of dep.layers ?? []) if (l.listing !== undefined) listings.add(l.listing); // verified layer listings (not part of the artifact)
  }
  return { blobs: [...blobs].sort(), trees: [...trees].sort(), listings: [...listings].sort() };
}

async function cachedBlobs(cache: string): Promise<string[]> {
  return (await readdir(join(cache, 'blobs', 'sha256')))
    .filter((n) => /^[0-9a-f]{64}$/.test(n))
    .map((n) => `sha256:${n}`)
    .sort();
}

/** Directory layers the cache knows: a listing marker (`<hex>.json`), or a tree an older version unpacked (`<hex>/`). */
async function cachedTrees(cache: string): Promise<string[]> {
  const names = await readdir(join(cache, 'unpacked', 'sha256')).catch(() => [] as string[]);
  const layers = names.map((n) => n.replace(/\.json$/, '')).filter((n) => /^[0-9a-f]{64}$/.test(n));
  return [...new Set(layers.map((n) => `sha256:${n}`))].sort();
}

/** Spawns the CLI and exposes its stderr while it runs. */
function spawnCli(
  args: string[],
  cache: string,
  cwd: string,
): { stderr: () => string; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...baseEnvVars, ORAS_CACHE_DIR: cache },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: out, stderr: err });
    });
  });
  return { stderr: () => err, done };
}

/** A fresh copy of a project (artifacts.yaml + artifacts.lock only) installed with --offline. */
async function offlineCopy(from: string, to: string, cache: string): Promise<void> {
  await mkdir(to, { recursive: true });
  await cp(join(from, 'artifacts.yaml'), join(to, 'artifacts.yaml'));
  await cp(join(from, 'artifacts.lock'), join(to, 'artifacts.lock'));
  await ok(['install', '--offline', '--frozen-lockfile'], to, cache);
}

beforeAll(async () => {
  ensureBuilt();
  const t = await tempDir('oras-cli-cache-');
  root = t.dir;
  cleanup = t.cleanup;
  await mkdir(join(root, 'docker'));
  baseEnvVars = { ...baseEnv(join(root, 'docker')), HOME: root, CI: '' };
});

afterAll(async () => {
  await cleanup?.();
});

describe('oras cache prune', () => {
  it(
    'after several updates keeps exactly what the current locks of registered projects need and frees the rest',
    async () => {
      const cache = join(root, 'c-prune');
      const repo = `${registry('plain').host}/${uniqueRepo('cache/prune')}`;
      const producer = join(root, 'prune-producer');
      await publish(producer, repo, '1.0.0', cache);
      const a = await project(join(root, 'prune-a'), `${repo}:^1.0.0`);
      const b = await project(join(root, 'prune-b'), `${repo}:1.0.0`);
      const gone = await project(join(root, 'prune-gone'), `${repo}:1.0.0`);
      await ok(['install'], a, cache);
      await ok(['install'], b, cache);
      for (const v of ['1.1.0', '1.2.0', '1.3.0']) {
        await publish(producer, repo, v, cache);
        await ok(['update'], a, cache);
        if (v === '1.1.0') {
          await writeFile(
            join(gone, 'artifacts.yaml'),
            `dependencies:\n  data:\n    ref: ${repo}:1.1.0\n    path: vendor\n`,
          );
          await ok(['install'], gone, cache);
        }
      }
      await rm(gone, { recursive: true, force: true });
      const ls = JSON.parse((await ok(['cache', 'ls', '--json'], a, cache)).stdout) as {
        artifacts: { refs: string[]; projects: string[] }[];
      };
      expect(ls.artifacts.find((x) => x.refs.includes(`${repo}:1.3.0`))?.projects).toEqual([a]);
      expect(ls.artifacts.find((x) => x.refs.includes(`${repo}:1.0.0`))?.projects).toEqual([b]);
      const before = JSON.parse((await ok(['cache', 'du', '--json'], a, cache)).stdout) as {
        totalBytes: number;
        reclaimableBytes: number;
      };

      const pruned = JSON.parse((await ok(['cache', 'prune', '--json'], a, cache)).stdout) as {
        freedBytes: number;
        keptBytes: number;
        projects: { dir: string; status: string }[];
      };
      expect(pruned.projects).toEqual(
        expect.arrayContaining([
          { dir: a, status: 'active' },
          { dir: b, status: 'active' },
          { dir: gone, status: 'gone' },
        ]),
      );
      expect(pruned.freedBytes).toBe(before.reclaimableBytes);
      expect(pruned.keptBytes).toBe(before.totalBytes - pruned.freedBytes);
      const needA = await artifactDigests(cache, await lockOf(a));
      const needB = await artifactDigests(cache, await lockOf(b));
      expect(await cachedBlobs(cache)).toEqual(
        [...new Set([...needA.blobs, ...needB.blobs, ...needA.listings, ...needB.listings])].sort(),
      );
      expect(await cachedTrees(cache)).toEqual([...new Set([...needA.trees, ...needB.trees])].sort());
      const index = JSON.parse(await readFile(join(cache, 'index.json'), 'utf8')) as {
        manifests: { digest: string }[];
      };
      expect(index.manifests.map((m) => m.digest).sort()).toEqual(
        [...new Set([(await lockOf(a)).dependencies.data!.digest, (await lockOf(b)).dependencies.data!.digest])].sort(),
      );
      const after = JSON.parse((await ok(['cache', 'du', '--json'], a, cache)).stdout) as {
        totalBytes: number;
        reclaimableBytes: number;
      };
      expect(after.totalBytes).toBe(pruned.keptBytes);
      expect(after.reclaimableBytes).toBe(0);

      await offlineCopy(a, join(root, 'prune-a-copy'), cache);
      await offlineCopy(b, join(root, 'prune-b-copy'), cache);
      expect(await readFile(join(root, 'prune-a-copy', 'vendor', 'tree', 'sub', 'inner.txt'), 'utf8')).toBe(
        'inner 1.3.0\n',
      );
      expect(await readFile(join(root, 'prune-b-copy', 'vendor', 'data.txt'), 'utf8')).toMatch(/^payload 1\.0\.0\n/);
      // The project that moved on no longer protects 1.0.0's blobs for itself; the one pinned to it does.
      await rm(b, { recursive: true, force: true });
      await rm(join(root, 'prune-b-copy'), { recursive: true, force: true });
      await ok(['cache', 'prune'], a, cache);
      expect(await cachedBlobs(cache)).toEqual([...new Set([...needA.blobs, ...needA.listings])].sort());
    },
    T,
  );

  it(
    '--max-size evicts least recently used unprotected artifacts first; cache.maxSize applies it after install',
    async () => {
      const cache = join(root, 'c-lru');
      const repo = `${registry('plain').host}/${uniqueRepo('cache/lru')}`;
      const producer = join(root, 'lru-producer');
      const digests: Record<string, { manifest: string; layers: string[] }> = {};
      for (const v of ['1.0.0', '2.0.0', '3.0.0']) {
        await publish(producer, repo, v, cache);
        const p = await project(join(root, `lru-${v}`), `${repo}:${v}`);
        await ok(['install'], p, cache);
        const lock = await lockOf(p);
        const m = JSON.parse(
          await readFile(join(cache, 'blobs', 'sha256', lock.dependencies.data!.digest.slice(7)), 'utf8'),
        ) as { layers: { digest: string }[] };
        digests[v] = { manifest: lock.dependencies.data!.digest, layers: m.layers.map((l) => l.digest) };
      }
      // 1.0.0 is used again last: 2.0.0 becomes the least recently used.
      await offlineCopy(join(root, 'lru-1.0.0'), join(root, 'lru-1.0.0-again'), cache);
      for (const v of ['1.0.0', '2.0.0', '3.0.0']) await rm(join(root, `lru-${v}`), { recursive: true, force: true });
      await rm(join(root, 'lru-1.0.0-again'), { recursive: true, force: true });
      const du = JSON.parse((await ok(['cache', 'du', '--json'], root, cache)).stdout) as {
        totalBytes: number;
        reclaimableBytes: number;
      };
      expect(du.reclaimableBytes).toBe(du.totalBytes);
      const r = JSON.parse(
        (await ok(['cache', 'prune', '--max-size', String(du.totalBytes - 1), '--json'], root, cache)).stdout,
      ) as { overBudget: boolean; keptBytes: number };
      expect(r.overBudget).toBe(false);
      const blobs = await cachedBlobs(cache);
      expect(blobs).not.toContain(digests['2.0.0']!.manifest);
      for (const l of digests['2.0.0']!.layers) expect(blobs).not.toContain(l);
      for (const v of ['1.0.0', '3.0.0']) {
        expect(blobs).toContain(digests[v]!.manifest);
        for (const l of digests[v]!.layers) expect(blobs).toContain(l);
      }
      // The oras.yaml budget: after this install only what it needs is left (everything else is unprotected).
      const budget = await project(join(root, 'lru-budget'), `${repo}:3.0.0`, 'cache:\n  maxSize: 1KiB\n');
      await ok(['install'], budget, cache);
      const needBudget = await artifactDigests(cache, await lockOf(budget));
      expect(await cachedBlobs(cache)).toEqual([...new Set([...needBudget.blobs, ...needBudget.listings])].sort());
      const bad = await oras(['cache', 'prune', '--max-size', 'lots'], root, cache);
      expect(bad.code, show(bad)).toBe(2);
      expect(bad.stderr).toMatch(/--max-size: invalid size "lots"/);
    },
    T,
  );

  it(
    'waits for a running install (real child processes) and never breaks it; clean is refused meanwhile',
    async () => {
      const cache = join(root, 'c-running');
      const upstream = registry('plain');
      const proxy = await startFaultProxy(upstream.url);
      try {
        const name = uniqueRepo('cache/running');
        const producer = join(root, 'running-producer');
        await publish(producer, `${upstream.host}/${name}`, '0.9.0', cache);
        await publish(producer, `${upstream.host}/${name}`, '1.0.0', cache);
        const old = await project(join(root, 'running-old'), `${upstream.host}/${name}:0.9.0`);
        await ok(['install'], old, cache);
        await rm(old, { recursive: true, force: true }); // its content is now unprotected
        const p = await project(join(root, 'running'), `${proxy.host}/${name}:1.0.0`);
        // Manifest requests through the proxy answer 503 + Retry-After until the faults are cleared: the
        // install (pinned) stays running meanwhile (4 faults: the 5th and last attempt would succeed anyway).
        proxy.addFault({
          path: /\/manifests\//,
          times: 4,
          fault: { kind: 'status', status: 503, headers: { 'Retry-After': '5' } },
        });
        const install = runCli(['install'], { ...baseEnvVars, ORAS_CACHE_DIR: cache }, { cwd: p, timeoutMs: 120_000 });
        for (let i = 0; i < 600 && !proxy.requests.some((r) => r.fault === 'status'); i++)
          await new Promise((r) => setTimeout(r, 50));
        expect(proxy.requests.some((r) => r.fault === 'status')).toBe(true);
        const clean = await oras(['cache', 'clean'], root, cache);
        expect(clean.code, show(clean)).toBe(1);
        expect(clean.stderr).toMatch(/in use by 1 running install/);
        const prune = spawnCli(['cache', 'prune'], cache, root);
        for (let i = 0; i < 600 && !/Waiting for running installs/.test(prune.stderr()); i++)
          await new Promise((r) => setTimeout(r, 50));
        proxy.clearFaults();
        const [ri, rp] = await Promise.all([install, prune.done]);
        expect(ri.code, show(ri)).toBe(0);
        expect(rp.code, `${rp.stdout}\n${rp.stderr}`).toBe(0);
        expect(rp.stderr).toMatch(/Waiting for running installs/);
        expect(await readFile(join(p, 'vendor', 'tree', 'sub', 'inner.txt'), 'utf8')).toBe('inner 1.0.0\n');
        await ok(['verify'], p, cache);
        // The prune ran after the install registered: what it needs stayed, the rest went.
        const needP = await artifactDigests(cache, await lockOf(p));
        expect(await cachedBlobs(cache)).toEqual([...new Set([...needP.blobs, ...needP.listings])].sort());
        await offlineCopy(p, join(root, 'running-copy'), cache);
      } finally {
        await proxy.close();
      }
    },
    T,
  );

  it(
    'a hard-linked project survives prune --ci of another project and clean',
    async () => {
      const cache = join(root, 'c-hardlink');
      const repo = `${registry('plain').host}/${uniqueRepo('cache/hardlink')}`;
      const producer = join(root, 'hl-producer');
      await publish(producer, repo, '1.0.0', cache);
      const h = await project(join(root, 'hl-project'), `${repo}:1.0.0`, 'cache:\n  link: hardlink\n');
      await ok(['install'], h, cache);
      const file = join(h, 'vendor', 'data.txt');
      expect((await stat(file)).nlink).toBe(2);
      const content = await readFile(file, 'utf8');
      await publish(producer, repo, '2.0.0', cache);
      const other = await project(join(root, 'hl-other'), `${repo}:2.0.0`);
      await ok(['install'], other, cache);
      await ok(['cache', 'prune'], h, cache); // both registered: nothing of theirs goes
      expect((await stat(file)).nlink).toBe(2);
      const ci = JSON.parse((await ok(['cache', 'prune', '--ci', '-C', other, '--json'], other, cache)).stdout) as {
        blobs: string[];
      };
      expect(ci.blobs).toContain((await lockOf(h)).dependencies.data!.digest);
      expect(await cachedTrees(cache)).toEqual([]);
      expect((await stat(file)).nlink).toBe(1);
      expect(await readFile(file, 'utf8')).toBe(content);
      await ok(['verify'], h, cache);
      await offlineCopy(other, join(root, 'hl-other-copy'), cache); // --ci kept what `other` needs (directory layers extracted from their blobs)
      await ok(['cache', 'clean'], h, cache);
      expect(await cachedBlobs(cache)).toEqual([]);
      expect(await readFile(join(root, 'hl-other-copy', 'vendor', 'tree', 'sub', 'inner.txt'), 'utf8')).toBe(
        'inner 2.0.0\n',
      );
      await ok(['verify'], h, cache);
    },
    T,
  );
});

describe('oras cache verify, index.json records, oras fetch', () => {
  it(
    'verify removes corrupted blobs and a corrupted tree an older version left; the next install fetches them again',
    async () => {
      const cache = join(root, 'c-verify');
      const repo = `${registry('plain').host}/${uniqueRepo('cache/verify')}`;
      await publish(join(root, 'verify-producer'), repo, '1.0.0', cache);
      const p = await project(join(root, 'verify-project'), `${repo}:1.0.0`);
      await ok(['install'], p, cache);
      const lock = await lockOf(p);
      const plain = lock.dependencies.data!.files.find((f) => f.layer === f.digest)!.digest;
      const tree = lock.dependencies.data!.files.find((f) => f.layer !== f.digest)!.layer;
      for (const digest of [plain, tree]) {
        const blobPath = join(cache, 'blobs', 'sha256', digest.slice(7));
        await rm(blobPath);
        await writeFile(blobPath, 'corrupt');
      }
      // Installs extract directory layers from their blobs; a tree in the cache is what an older version left.
      expect(await readdir(join(cache, 'unpacked', 'sha256'))).toEqual([`${tree.slice(7)}.json`]);
      await mkdir(join(cache, 'unpacked', 'sha256', tree.slice(7), 'sub'), { recursive: true });
      await writeFile(join(cache, 'unpacked', 'sha256', tree.slice(7), 'sub', 'inner.txt'), 'tampered');
      const r = JSON.parse((await ok(['cache', 'verify', '--json'], p, cache)).stdout) as {
        corruptBlobs: string[];
        corruptTrees: string[];
      };
      expect(r.corruptBlobs).toEqual([plain, tree].sort());
      expect(r.corruptTrees).toEqual([tree]);
      expect(await cachedBlobs(cache)).not.toContain(plain);
      expect(await cachedBlobs(cache)).not.toContain(tree);
      expect(await cachedTrees(cache)).not.toContain(tree);
      const again = JSON.parse((await ok(['cache', 'verify', '--json'], p, cache)).stdout) as {
        corruptBlobs: string[];
      };
      expect(again.corruptBlobs).toEqual([]);
      await rm(join(p, 'vendor'), { recursive: true });
      await ok(['install'], p, cache);
      expect(await cachedBlobs(cache)).toEqual(expect.arrayContaining([plain, tree]));
      expect(await readFile(join(p, 'vendor', 'tree', 'sub', 'inner.txt'), 'utf8')).toBe('inner 1.0.0\n');
    },
    T,
  );

  it(
    'skopeo copies an artifact out of the cache by its ref.name',
    async () => {
      const cache = join(root, 'c-skopeo');
      const repo = `${registry('plain').host}/${uniqueRepo('cache/skopeo')}`;
      await publish(join(root, 'skopeo-producer'), repo, '1.0.0', cache);
      const p = await project(join(root, 'skopeo-project'), `${repo}:^1.0.0`);
      await ok(['install'], p, cache);
      const lock = await lockOf(p);
      const out = join(root, 'skopeo-out');
      await skopeo(['copy', '--preserve-digests', `oci:${cache}:${repo}:1.0.0`, `dir:${out}`]);
      const names = await readdir(out);
      const want = (await artifactDigests(cache, lock)).blobs.filter((d) => d !== lock.dependencies.data!.digest);
      for (const d of want) expect(names).toContain(d.slice(7));
      expect(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'))).toEqual(
        JSON.parse(await readFile(join(cache, 'blobs', 'sha256', lock.dependencies.data!.digest.slice(7)), 'utf8')),
      );
      const index = JSON.parse(await readFile(join(cache, 'index.json'), 'utf8')) as {
        manifests: { annotations?: Record<string, string> }[];
      };
      expect(index.manifests[0]?.annotations?.['io.github.oras-ts.cache.last-used']).toMatch(/^\d{4}-\d\d-\d\dT/);
    },
    T,
  );

  it(
    'oras fetch fills a fresh cache from artifacts.lock alone; install --offline then works in a fresh directory',
    async () => {
      const repo = `${registry('plain').host}/${uniqueRepo('cache/fetch')}`;
      await publish(join(root, 'fetch-producer'), repo, '1.0.0', join(root, 'c-fetch-dev'));
      const dev = await project(join(root, 'fetch-dev'), `${repo}:1.0.0`);
      await ok(['install'], dev, join(root, 'c-fetch-dev'));
      const ciCache = join(root, 'c-fetch-ci');
      const image = join(root, 'fetch-image');
      await mkdir(image);
      await cp(join(dev, 'artifacts.lock'), join(image, 'artifacts.lock')); // no artifacts.yaml, no tree
      const fresh = join(root, 'fetch-fresh');
      await mkdir(fresh);
      await cp(join(dev, 'artifacts.yaml'), join(fresh, 'artifacts.yaml'));
      await cp(join(dev, 'artifacts.lock'), join(fresh, 'artifacts.lock'));
      const before = await oras(['install', '--offline'], fresh, ciCache);
      expect(before.code, show(before)).not.toBe(0);
      expect(before.stderr).toMatch(/offline/);
      const f = JSON.parse((await ok(['fetch', '--json'], image, ciCache)).stdout) as {
        dependencies: number;
        blobs: number;
        unpacked: number;
      };
      expect(f).toMatchObject({ dependencies: 1, blobs: 2, unpacked: 1 });
      await ok(['fetch', '--offline'], image, ciCache);
      await ok(['install', '--offline', '--frozen-lockfile'], fresh, ciCache);
      expect(await readFile(join(fresh, 'vendor', 'tree', 'sub', 'inner.txt'), 'utf8')).toBe('inner 1.0.0\n');
      const ls = JSON.parse((await ok(['cache', 'ls', '--json'], image, ciCache)).stdout) as {
        artifacts: { refs: string[]; complete: boolean; projects: string[] }[];
      };
      expect(ls.artifacts).toEqual([
        expect.objectContaining({ refs: [`${repo}:1.0.0`], complete: true, projects: [fresh, image].sort() }),
      ]);
    },
    T,
  );
});
