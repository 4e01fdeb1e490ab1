/**
 * A tampered artifacts.lock (e.g. from a malicious pull request): malformed digests in every
 * digest-carrying field and escaping paths are refused by readLockfile (ERR_ORAS_LOCKFILE)
 * before anything uses them — install then contacts no registry and writes nothing.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { install } from '../../src/project/install.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { startHostileRegistry } from '../harness/hostile-registry.js';
import { readLockfile, serializeLockfile } from '../../src/project/spec/lockfile.js';
import type { Lockfile } from '../../src/project/types.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const M = 'application/vnd.oci.image.manifest.v1+json';
let root: string;

function good(): Lockfile {
  return {
    lockfileVersion: 1,
    dependencies: {
      app: {
        specifier: { ref: 'localhost:5000/acme/app:1.0.0', path: 'vendor/app' },
        resolved: `localhost:5000/acme/app:1.0.0@${D('a')}`,
        tag: '1.0.0',
        digest: D('a'),
        mediaType: M,
        files: [{ path: 'vendor/app/a.bin', digest: D('b'), size: 3, layer: D('b') }],
      },
    },
    publish: {},
  };
}

const BAD_DIGESTS: [string, string][] = [
  ['path traversal', 'sha256:../../../etc/passwd'],
  ['upper-case hex', `sha256:${'A'.repeat(64)}`],
  ['wrong length', `sha256:${'a'.repeat(63)}`],
  ['unknown algorithm', `md5:${'a'.repeat(32)}`],
];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-hardening-lock-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
async function projectWith(text: string): Promise<string> {
  const dir = join(root, `p${++n}`);
  await mkdir(dir);
  await writeFile(
    join(dir, 'artifacts.yaml'),
    'dependencies:\n  app:\n    ref: "localhost:5000/acme/app:1.0.0"\n    path: vendor/app\n',
  );
  await writeFile(join(dir, 'artifacts.lock'), text);
  return dir;
}

describe('readLockfile refuses a tampered lockfile', () => {
  const fields: [string, (l: Lockfile, bad: string) => void][] = [
    [
      'dependency digest',
      (l, bad) => {
        l.dependencies.app!.digest = bad;
      },
    ],
    [
      'file digest',
      (l, bad) => {
        l.dependencies.app!.files[0]!.digest = bad;
      },
    ],
    [
      'file layer',
      (l, bad) => {
        l.dependencies.app!.files[0]!.layer = bad;
      },
    ],
    [
      'resolved reference',
      (l, bad) => {
        l.dependencies.app!.resolved = `localhost:5000/acme/app@${bad}`;
      },
    ],
  ];
  for (const [field, mutate] of fields) {
    for (const [kind, bad] of BAD_DIGESTS) {
      it(`${field}: ${kind}`, async () => {
        const lock = good();
        mutate(lock, bad);
        const dir = await projectWith(serializeLockfile(lock));
        await expect(readLockfile(dir)).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKFILE' });
      });
    }
  }

  // escaping paths, the project's own state, git hooks, and files outside the dependency's
  // directory (a tampered lock in a pull request must not plant a CI workflow or a git hook)
  for (const p of [
    '../outside.bin',
    '/etc/passwd',
    'vendor/../../x',
    'C:\\x',
    '.oras/state.json',
    '.git/hooks/pre-commit',
    '.github/workflows/ci.yml',
    'artifacts.yaml',
    'vendor/other/a.bin',
  ]) {
    it(`file path ${JSON.stringify(p)}`, async () => {
      const lock = good();
      lock.dependencies.app!.files[0]!.path = p;
      const dir = await projectWith(serializeLockfile(lock));
      await expect(readLockfile(dir)).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKFILE' });
    });
  }

  it('install with a tampered lockfile contacts no registry and writes nothing', async () => {
    const lock = good();
    lock.dependencies.app!.files[0]!.digest = 'sha256:../../../etc/passwd';
    const dir = await projectWith(serializeLockfile(lock));
    let contacted = 0;
    const err = await install({
      projectDir: dir,
      cacheDir: join(dir, '..', `cache-${n}`),
      env: { CI: 'false' },
      targetFactory: () => {
        contacted++;
        throw new Error('must not be called');
      },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_ORAS_LOCKFILE' });
    expect(contacted).toBe(0);
    expect((await readdir(dir)).filter((e) => e !== '.oras').sort()).toEqual(['artifacts.lock', 'artifacts.yaml']);
  });

  it('a frozen (CI) install of a lock that plants a git hook from a real artifact blob is refused; no hook is written', async () => {
    const reg = await startHostileRegistry();
    const client = new RegistryClient({ retry: { maxAttempts: 1 } });
    try {
      const script = Buffer.from('#!/bin/sh\necho pwned > /tmp/pwned\n');
      const { desc, manifest } = reg.addArtifact([{ data: script, title: 'tool.sh' }], '1.0.0');
      const layer = manifest.layers[0]!;
      const ref = `${reg.host}/hostile/app:1.0.0`;
      const lock: Lockfile = {
        lockfileVersion: 1,
        dependencies: {
          app: {
            specifier: { ref, path: 'vendor/app' },
            resolved: `${ref}@${desc.digest}`,
            tag: '1.0.0',
            digest: desc.digest,
            mediaType: desc.mediaType,
            files: [
              {
                path: '.git/hooks/post-checkout',
                digest: layer.digest,
                size: layer.size,
                layer: layer.digest,
                mode: 0o755,
              },
            ],
          },
        },
        publish: {},
      };
      const dir = join(root, `hook-${++n}`);
      await mkdir(join(dir, '.git', 'hooks'), { recursive: true });
      await writeFile(join(dir, 'artifacts.yaml'), `dependencies:\n  app:\n    ref: "${ref}"\n    path: vendor/app\n`);
      await writeFile(join(dir, 'artifacts.lock'), serializeLockfile(lock));
      const err = await install({
        projectDir: dir,
        cacheDir: join(root, `cache-hook-${n}`),
        frozenLockfile: true,
        env: { CI: 'true' },
        targetFactory: (r) => new Repository({ reference: r, client }),
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'ERR_ORAS_LOCKFILE' });
      expect(await readdir(join(dir, '.git', 'hooks'))).toEqual([]);
    } finally {
      await client.close();
      await reg.close();
    }
  });
});
