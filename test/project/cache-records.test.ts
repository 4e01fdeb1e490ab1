import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_LAST_USED } from '../../src/project/apply/cache/index-records.js';
import { readProjectRegistry } from '../../src/project/apply/cache/registry.js';
import { install } from '../../src/project/install.js';
import { publish } from '../../src/project/publish.js';
import { layoutFactory, writeTree } from './helpers.js';

/*
 * The cache session's records (project registration with the lock's SHA-256, index.json entries
 * with their last use): made after an install that writes artifacts.lock, and while the written
 * files are synced when the lock stays as it is (withCacheSession's recordEarly). Either way they
 * must describe the lock on disk once the install returns.
 */

const HOST = 'localhost:5995';
const env = { CI: 'false' };
let root: string;
let cacheDir: string;
let factory: ReturnType<typeof layoutFactory>;

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function project(name: string, lock?: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'artifacts.yaml'),
    `dependencies:\n  app:\n    ref: ${HOST}/acme/app:v1\n    path: vendor/app\n`,
  );
  if (lock !== undefined) await writeFile(join(dir, 'artifacts.lock'), lock);
  return realpath(dir);
}

/** The registry's record of `dir` and the last use index.json gives the installed manifest. */
async function records(dir: string): Promise<{ lockSha256: string | null | undefined; lastUsed: string | undefined }> {
  const lock = await readFile(join(dir, 'artifacts.lock'), 'utf8');
  const digest = /\n {4}digest: (sha256:[0-9a-f]{64})\n/.exec(lock)![1];
  const index = JSON.parse(await readFile(join(cacheDir, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  return {
    lockSha256: (await readProjectRegistry(cacheDir)).projects[dir]?.lockSha256,
    lastUsed: index.manifests.find((m) => m.digest === digest)?.annotations?.[CACHE_LAST_USED],
  };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-cache-records-'));
  cacheDir = join(root, 'cache');
  factory = layoutFactory(join(root, 'registry'));
  const src = join(root, 'src');
  const files: Record<string, string> = {};
  for (let i = 0; i < 20; i++) files[`tree/f${i}.txt`] = `file ${i}\n`;
  await writeTree(src, files);
  await writeFile(
    join(src, 'artifacts.yaml'),
    `publish:\n  app:\n    ref: ${HOST}/acme/app\n    tags: [v1]\n    files: [tree]\n`,
  );
  await publish({ projectDir: src, targetFactory: factory });
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('cache records of an install', () => {
  it('a first install (writes the lock) registers the lock it wrote; a warm one (keeps the lock) its own', async () => {
    const first = await project('first');
    const before = new Date().toISOString();
    await install({ projectDir: first, targetFactory: factory, cacheDir, env });
    const lockText = await readFile(join(first, 'artifacts.lock'));
    const a = await records(first);
    expect(a.lockSha256).toBe(sha(lockText));
    expect(a.lastUsed! >= before).toBe(true);

    // A second project with the same lock and a warm cache: files written, lock kept.
    const second = await project('second', lockText.toString('utf8'));
    const later = new Date().toISOString();
    const result = await install({ projectDir: second, targetFactory: factory, cacheDir, env, offline: true });
    expect(result.lockfileChanged).toBe(false);
    expect(result.counts.add).toBe(20);
    const b = await records(second);
    expect(b.lockSha256).toBe(sha(lockText));
    expect(b.lastUsed! >= later).toBe(true);
  });
});
