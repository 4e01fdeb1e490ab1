/**
 * Issue 10 items 1, 2, 5 and issue 11 item 7: a lock that a pull request (or a poisoned cache)
 * can redirect cannot be adopted. Against two real registries: `good` (what artifacts.yaml
 * names) and a test-owned second registry `evil` holding other bytes under the same repository.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { isOrasError } from '../../src/errors.js';
import { install, update } from '../../src/project/install.js';
import { publish } from '../../src/project/publish.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { verify } from '../../src/project/verify.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { uniqueRepo } from '../harness/context.js';
import { startRegistry, type RunningRegistry } from '../harness/registry.js';
import { errorCode, recorder, writeTree } from '../project/helpers.js';

let good: RunningRegistry;
let evil: RunningRegistry;
let root: string;
let repo: string;
const client = new RegistryClient({});
const factory = (repository: string): Repository => new Repository({ reference: repository, client });
const env = { CI: 'false' };
const sha = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

async function publishFrom(dir: string, ref: string, tags: string[], files: Record<string, string>): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await writeTree(dir, files);
  await writeFile(
    join(dir, 'artifacts.yaml'),
    `publish:\n  app:\n    ref: ${ref}\n    tags: [${tags.join(', ')}]\n    files:\n      - model.bin\n      - assets\n`,
  );
  return (await publish({ projectDir: dir, targetFactory: factory })).published[0]!.digest;
}

let n = 0;
async function project(ref: string, lockText?: string): Promise<string> {
  const dir = join(root, `p${++n}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'artifacts.yaml'), `dependencies:\n  app:\n    ref: "${ref}"\n    path: vendor/app\n`);
  if (lockText !== undefined) await writeFile(join(dir, 'artifacts.lock'), lockText);
  return dir;
}

const GOOD_FILES = { 'model.bin': 'good-weights-v2', 'assets/a.txt': 'good a\n', 'assets/nested/b.txt': 'good b\n' };

beforeAll(async () => {
  good = await startRegistry({ mode: 'plain' });
  evil = await startRegistry({ mode: 'plain' });
  root = await mkdtemp(join(tmpdir(), 'oras-lock-trust-'));
  repo = uniqueRepo('trust/app');
  await publishFrom(join(root, 'pubOld'), `${good.host}/${repo}`, ['1.0.0'], {
    ...GOOD_FILES,
    'model.bin': 'good-weights-v1-VULNERABLE',
  });
  await publishFrom(join(root, 'pubGood'), `${good.host}/${repo}`, ['2.0.0'], GOOD_FILES);
  await publishFrom(join(root, 'pubEvil'), `${evil.host}/${repo}`, ['2.0.0'], {
    'model.bin': 'EVIL',
    'assets/a.txt': 'EVIL\n',
    'assets/nested/b.txt': 'EVIL\n',
  });
}, 120_000);
afterAll(async () => {
  await good?.stop();
  await evil?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('issue 10 item 1: the lock is bound to artifacts.yaml (redirect to another registry)', () => {
  it('frozen install and verify refuse a lock whose entry resolves elsewhere; a plain install re-resolves it', async () => {
    const cacheDir = join(root, 'cache-redirect');
    // The attacker's lock: resolved against the evil registry, with the specifier edited to read like artifacts.yaml.
    const evilProject = await project(`${evil.host}/${repo}:2.0.0`);
    await install({ projectDir: evilProject, targetFactory: factory, cacheDir: join(root, 'cache-attacker'), env });
    const evilLock = (await readFile(join(evilProject, 'artifacts.lock'), 'utf8')).replace(
      `ref: ${evil.host}/${repo}:2.0.0`,
      `ref: ${good.host}/${repo}:2.0.0`,
    );
    expect(evilLock).toContain(`resolved: ${evil.host}/`);

    const victim = await project(`${good.host}/${repo}:2.0.0`, evilLock);
    let err: unknown;
    try {
      await install({ projectDir: victim, targetFactory: factory, cacheDir, env, frozenLockfile: true });
    } catch (e) {
      err = e;
    }
    expect(isOrasError(err, 'ERR_ORAS_LOCK_MISMATCH')).toBe(true);
    const message = (err as Error).message;
    expect(message).toContain('dependencies.app');
    expect(message).toContain(`${good.host}/${repo}`); // expected
    expect(message).toContain(`${evil.host}/${repo}`); // found
    expect((err as { hint?: string }).hint).toMatch(/without --frozen-lockfile .*or revert artifacts\.lock/);
    expect((await readdir(victim)).filter((f) => f !== '.oras').sort()).toEqual(['artifacts.lock', 'artifacts.yaml']); // nothing installed

    const report = await verify({ projectDir: victim, targetFactory: factory, cacheDir, env });
    expect(report.ok).toBe(false);
    expect(report.lockMismatch.map((m) => m.dependency)).toEqual(['app']);

    const rec = recorder();
    await install({ projectDir: victim, targetFactory: factory, cacheDir, env, onEvent: rec.onEvent });
    expect(rec.events).toContainEqual(
      expect.objectContaining({ type: 'lock-entry-rejected', dependency: 'app', action: 're-resolve' }),
    );
    expect(await readFile(join(victim, 'vendor/app/model.bin'), 'utf8')).toBe(GOOD_FILES['model.bin']);
    expect((await readLockfile(victim))!.dependencies.app!.resolved.startsWith(`${good.host}/${repo}:2.0.0@`)).toBe(
      true,
    );
    expect((await verify({ projectDir: victim, targetFactory: factory, cacheDir, env })).ok).toBe(true);
  });
});

describe('issue 10 item 2: file entries are bound to the locked manifest', () => {
  let goodLock: string;
  let oldModelDigest: string;
  beforeAll(async () => {
    const dir = await project(`${good.host}/${repo}:2.0.0`);
    await install({ projectDir: dir, targetFactory: factory, cacheDir: join(root, 'cache-ref'), env });
    goodLock = await readFile(join(dir, 'artifacts.lock'), 'utf8');
    oldModelDigest = sha('good-weights-v1-VULNERABLE');
  });

  it('a plain layer swapped for an older blob of the same repository is refused by frozen install and verify', async () => {
    const newDigest = sha(GOOD_FILES['model.bin']);
    expect(goodLock).toContain(`digest: ${newDigest}`);
    const downgraded = goodLock.replace(
      `digest: ${newDigest}\n        size: ${GOOD_FILES['model.bin'].length}`,
      `digest: ${oldModelDigest}\n        size: ${'good-weights-v1-VULNERABLE'.length}`,
    );
    expect(downgraded).not.toBe(goodLock);
    const cacheDir = join(root, 'cache-downgrade');
    const victim = await project(`${good.host}/${repo}:2.0.0`, downgraded);
    expect(
      await errorCode(install({ projectDir: victim, targetFactory: factory, cacheDir, env, frozenLockfile: true })),
    ).toBe('ERR_ORAS_LOCK_MISMATCH');
    expect((await readdir(victim)).filter((f) => f !== '.oras').sort()).toEqual(['artifacts.lock', 'artifacts.yaml']);
    const report = await verify({ projectDir: victim, targetFactory: factory, cacheDir, env });
    expect(report.lockMismatch).toEqual([
      expect.objectContaining({ dependency: 'app', message: expect.stringContaining('model.bin') }),
    ]);
    // A plain install re-derives the files from the locked manifest (same version, its own bytes).
    const rec = recorder();
    await install({ projectDir: victim, targetFactory: factory, cacheDir, env, onEvent: rec.onEvent });
    expect(rec.events).toContainEqual(
      expect.objectContaining({ type: 'lock-entry-rejected', dependency: 'app', action: 're-derive' }),
    );
    expect(await readFile(join(victim, 'vendor/app/model.bin'), 'utf8')).toBe(GOOD_FILES['model.bin']);
  });

  it('an extra file in a directory layer is refused', async () => {
    const aDigest = sha(GOOD_FILES['assets/a.txt']);
    const line = goodLock.split('\n').find((l) => l.includes(`digest: ${aDigest}`))!;
    const extra = goodLock.replace(line, `${line}\n${line.replace('path: a.txt', 'path: zz-extra.txt')}`);
    const victim = await project(`${good.host}/${repo}:2.0.0`, extra);
    expect(
      await errorCode(
        install({
          projectDir: victim,
          targetFactory: factory,
          cacheDir: join(root, 'cache-extra'),
          env,
          frozenLockfile: true,
        }),
      ),
    ).toBe('ERR_ORAS_LOCK_MISMATCH');
  });
});

describe('issue 14: a warm cache reads the lock without parsing its file lines (against the real registry)', () => {
  it('the untouched lock installs from the warm cache; an extra or edited file line is still refused', async () => {
    // cache-ref is warm: the beforeAll above installed this artifact into it.
    const dir = await project(`${good.host}/${repo}:2.0.0`);
    await install({ projectDir: dir, targetFactory: factory, cacheDir: join(root, 'cache-ref'), env });
    const lock = await readFile(join(dir, 'artifacts.lock'), 'utf8');
    const ok = await project(`${good.host}/${repo}:2.0.0`, lock);
    const result = await install({
      projectDir: ok,
      targetFactory: factory,
      cacheDir: join(root, 'cache-ref'),
      env,
      frozenLockfile: true,
    });
    expect(result.lockfileChanged).toBe(false);
    expect(await readFile(join(ok, 'vendor/app/assets/nested/b.txt'), 'utf8')).toBe(GOOD_FILES['assets/nested/b.txt']);

    const line = lock.split('\n').find((l) => l.includes('path: a.txt'))!;
    for (const tampered of [
      lock.replace(line, `${line}\n${line.replace('path: a.txt', 'path: zz-extra.txt')}`),
      lock.replace(line, line.replace(/sha256:[0-9a-f]{64}/, sha('EVIL\n'))),
    ]) {
      const victim = await project(`${good.host}/${repo}:2.0.0`, tampered);
      expect(
        await errorCode(
          install({
            projectDir: victim,
            targetFactory: factory,
            cacheDir: join(root, 'cache-ref'),
            env,
            frozenLockfile: true,
          }),
        ),
      ).toBe('ERR_ORAS_LOCK_MISMATCH');
      expect((await readdir(victim)).filter((f) => f !== '.oras').sort()).toEqual(['artifacts.lock', 'artifacts.yaml']);
    }
  });
});

describe('issue 10 item 5: cache trust', () => {
  it('a poisoned unpacked tree and listing are never installed nor pinned by a fresh project', async () => {
    const cacheDir = join(root, 'cache-poison');
    const first = await project(`${good.host}/${repo}:2.0.0`);
    await install({ projectDir: first, targetFactory: factory, cacheDir, env });
    const layer = (await readLockfile(first))!.dependencies.app!.files.find((f) => f.path.endsWith('/a.txt'))!.layer;
    const hex = layer.slice('sha256:'.length);
    const tree = join(cacheDir, 'unpacked', 'sha256', hex);
    // Poison a tree there (as an older version unpacked it; installs now extract from the blob) and every
    // listing the cache keeps for it (the marker next to the tree, and the listing blob it names) so that
    // they agree with the poisoned bytes.
    await mkdir(tree, { recursive: true });
    await writeFile(join(tree, 'a.txt'), 'POISON\n');
    const poisoned = { path: 'a.txt', digest: sha('POISON\n'), size: 7 };
    const marker = JSON.parse(await readFile(`${tree}.json`, 'utf8')) as {
      layer: string;
      files?: { path: string }[];
      listing?: string;
    };
    if (marker.files !== undefined)
      marker.files = marker.files.map((f) => (f.path === 'a.txt' ? { ...f, ...poisoned } : f));
    await writeFile(`${tree}.json`, JSON.stringify(marker));
    if (marker.listing !== undefined) {
      const blob = join(cacheDir, 'blobs', 'sha256', marker.listing.slice('sha256:'.length));
      const doc = JSON.parse(await readFile(blob, 'utf8')) as { files: { path: string }[] };
      doc.files = doc.files.map((f) => (f.path === 'a.txt' ? { ...f, ...poisoned } : f));
      await writeFile(blob, JSON.stringify(doc));
    }

    const fresh = await project(`${good.host}/${repo}:2.0.0`);
    await install({ projectDir: fresh, targetFactory: factory, cacheDir, env });
    expect(await readFile(join(fresh, 'vendor/app/assets/a.txt'), 'utf8')).toBe(GOOD_FILES['assets/a.txt']);
    const pinned = (await readLockfile(fresh))!.dependencies.app!.files.find((f) => f.path.endsWith('/a.txt'))!;
    expect(pinned.digest).toBe(sha(GOOD_FILES['assets/a.txt']));
    expect((await verify({ projectDir: fresh, targetFactory: factory, cacheDir, env })).ok).toBe(true);
  });
});

describe('lockfile v1 is still read', () => {
  it('a v1 lock installs with --frozen-lockfile without being rewritten; a plain install rewrites it as v2', async () => {
    const ref = await project(`${good.host}/${repo}:2.0.0`);
    await install({ projectDir: ref, targetFactory: factory, cacheDir: join(root, 'cache-v1a'), env });
    const lock = (await readLockfile(ref))!;
    const { layers: _layers, ...app } = lock.dependencies.app!;
    const v1 = `# This file is generated by oras-ts. Do not edit.\n${stringify({ lockfileVersion: 1, dependencies: { app }, publish: {} })}`;
    expect(v1).toContain('layer: sha256:');
    const dir = await project(`${good.host}/${repo}:2.0.0`, v1);
    const cacheDir = join(root, 'cache-v1b');
    const r = await install({ projectDir: dir, targetFactory: factory, cacheDir, env, frozenLockfile: true });
    expect(r.counts.add).toBe(3);
    expect(await readFile(join(dir, 'artifacts.lock'), 'utf8')).toBe(v1);
    expect((await verify({ projectDir: dir, targetFactory: factory, cacheDir, env })).ok).toBe(true);
    await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
    const text = await readFile(join(dir, 'artifacts.lock'), 'utf8');
    expect(text).toContain('lockfileVersion: 2');
    expect(text).toBe(await readFile(join(ref, 'artifacts.lock'), 'utf8'));
  });
});

describe('issue 11 item 7: a lock diff proportional to what changed', () => {
  it('changing one file of a 2,000-file directory layer changes O(1) lines of the lock', async () => {
    const files: Record<string, string> = { 'model.bin': 'm' };
    for (let i = 0; i < 2000; i++) files[`assets/d${i % 20}/f${i}.json`] = `{"i":${i}}\n`;
    const pub = join(root, 'pubBig');
    const bigRepo = uniqueRepo('trust/big');
    await publishFrom(pub, `${good.host}/${bigRepo}`, ['1.0.0'], files);
    const dir = await project(`${good.host}/${bigRepo}:^1.0.0`);
    const cacheDir = join(root, 'cache-big');
    await install({ projectDir: dir, targetFactory: factory, cacheDir, env });
    const before = (await readFile(join(dir, 'artifacts.lock'), 'utf8')).split('\n');
    await publishFrom(pub, `${good.host}/${bigRepo}`, ['1.0.1'], {
      ...files,
      'assets/d7/f1007.json': '{"i":"changed"}\n',
    });
    await update({ projectDir: dir, targetFactory: factory, cacheDir, env });
    const after = (await readFile(join(dir, 'artifacts.lock'), 'utf8')).split('\n');
    expect(after.length).toBe(before.length);
    // Lines are aligned (same count, same order): count the changed ones.
    const changed = after.filter((l, i) => l !== before[i]);
    // resolved, tag, manifest digest, the layer's digest, size and listing, the one file.
    expect(changed.length).toBeLessThanOrEqual(8);
    expect(changed.filter((l) => l.includes('f1007.json'))).toHaveLength(1);
  }, 120_000);
});
