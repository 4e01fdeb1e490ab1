import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { install, update } from '../../src/project/install.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { publish } from '../../src/project/publish.js';
import { verify } from '../../src/project/verify.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { uniqueRepo } from '../harness/context.js';
import { startRegistry, type RunningRegistry } from '../harness/registry.js';
import { counted, newCounter, recorder, treeMismatches, writeTree } from './helpers.js';

let reg: RunningRegistry;
let root: string;
let cacheDir: string;
let repo: string;
let projectA: string;
const counter = newCounter();
const client = new RegistryClient({});
const factory = (repository: string): Repository => counted(new Repository({ reference: repository, client }), counter);
const env = { CI: 'false' };

async function publishA(tags: string[]): Promise<string> {
  await writeFile(
    join(projectA, 'artifacts.yaml'),
    `publish:
  app:
    ref: ${reg.host}/${repo}
    tags: [${tags.join(', ')}]
    files:
      - model.bin
      - assets
`,
  );
  return (await publish({ projectDir: projectA, targetFactory: factory })).published[0]!.digest;
}

async function project(name: string, ref: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'artifacts.yaml'), `dependencies:\n  app:\n    ref: "${ref}"\n    path: third_party/app\n`);
  return dir;
}

beforeAll(async () => {
  // A private registry, so the warm-cache test can stop it.
  reg = await startRegistry({ mode: 'plain' });
  root = await mkdtemp(join(tmpdir(), 'oras-install-reg-'));
  cacheDir = join(root, 'cache');
  repo = uniqueRepo('project/app');
  projectA = join(root, 'A');
  await writeTree(projectA, {
    'model.bin': 'weights-v1'.repeat(1000),
    'assets/a.txt': 'a\n',
    'assets/nested/b.txt': 'b\n',
  });
});
afterAll(async () => {
  await reg?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('publish + install against a real registry (docker-registry 2.8.2)', () => {
  let v1: string;

  it('publishes a file and a directory reproducibly', async () => {
    v1 = await publishA(['1.0.0']);
    const again = await publish({ projectDir: projectA, targetFactory: factory });
    expect(again.published[0]!.digest).toBe(v1);
    expect(again.published[0]!.uploaded).toBe(0);
    expect((await readLockfile(projectA))!.publish.app).toEqual({
      ref: `${reg.host}/${repo}`,
      digest: v1,
      tags: ['1.0.0'],
    });
  });

  it('installs by tag, by digest and by range', async () => {
    for (const [name, ref] of [
      ['byTag', `${reg.host}/${repo}:1.0.0`],
      ['byDigest', `${reg.host}/${repo}@${v1}`],
      ['byRange', `${reg.host}/${repo}:~1.0.0`],
    ] as const) {
      const dir = await project(name, ref);
      const r = await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
      expect(r.counts.add).toBe(3);
      const lock = (await readLockfile(dir))!;
      expect(lock.dependencies.app!.digest).toBe(v1);
      expect(lock.dependencies.app!.files.map((f) => f.path)).toEqual([
        'third_party/app/assets/a.txt',
        'third_party/app/assets/nested/b.txt',
        'third_party/app/model.bin',
      ]);
      expect(await treeMismatches(dir, lock)).toEqual([]);
    }
  });

  it('a no-op install makes no registry calls', async () => {
    const before = { ...counter };
    const rec = recorder();
    const r = await install({
      projectDir: join(root, 'byRange'),
      targetFactory: factory,
      cacheDir,
      env,
      onEvent: rec.onEvent,
    });
    expect(r.counts.keep).toBe(3);
    expect(counter).toEqual(before);
    expect(rec.count('rehash')).toBe(0);
  });

  it('update moves a range to a new tag; verify catches a modified file', async () => {
    await writeFile(join(projectA, 'model.bin'), 'weights-v2'.repeat(1000));
    const v2 = await publishA(['1.0.1']);
    const dir = join(root, 'byRange');
    const r = await update({ projectDir: dir, targetFactory: factory, cacheDir, env });
    expect(r.counts).toMatchObject({ change: 1, keep: 2 });
    expect((await readLockfile(dir))!.dependencies.app).toMatchObject({ tag: '1.0.1', digest: v2 });
    expect(await readFile(join(dir, 'third_party/app/model.bin'), 'utf8')).toContain('weights-v2');
    await writeFile(join(dir, 'third_party/app/assets/a.txt'), 'tampered\n');
    const report = await verify({ projectDir: dir, targetFactory: factory, cacheDir, env });
    expect(report.ok).toBe(false);
    expect(report.treeDrift).toEqual([
      expect.objectContaining({ path: 'third_party/app/assets/a.txt', actual: 'modified' }),
    ]);
  });

  it('warm cache: installs into a new project after the registry is stopped', async () => {
    const src = join(root, 'byTag');
    const dir = join(root, 'offline');
    await mkdir(dir);
    await copyFile(join(src, 'artifacts.yaml'), join(dir, 'artifacts.yaml'));
    await copyFile(join(src, 'artifacts.lock'), join(dir, 'artifacts.lock'));
    await reg.stop();
    const r = await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
    expect(r.counts.add).toBe(3);
    expect(await treeMismatches(dir, (await readLockfile(dir))!)).toEqual([]);
    // And a project that needs resolution fails with a network error, not silently.
    const cold = await project('cold', `${reg.host}/${repo}:1.0.1`);
    const err = await install({ projectDir: cold, targetFactory: factory, cacheDir, env }).catch((e: unknown) => e);
    expect(isOrasError(err)).toBe(true);
  });
});
