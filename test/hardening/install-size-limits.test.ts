/**
 * Issue 12 item 9 on the declarative side: `install` applies the same size cap and free-space
 * check as `oras pull`, before a blob is requested or anything is written (tree, lock, cache).
 * A test-owned hostile registry declares sizes its blobs do not have.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { MediaType } from '../../src/oci/media-types.js';
import { install, type InstallOptions } from '../../src/project/install.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { craftTarGz } from '../artifact/helpers.js';
import { startHostileRegistry, type HostileRegistry } from '../harness/hostile-registry.js';

const dirs: string[] = [];
const clients: RegistryClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A project depending on `reg`'s tag, with its own cache; returns the options to install it. */
async function project(
  reg: HostileRegistry,
  tag: string,
): Promise<InstallOptions & { projectDir: string; cacheDir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'oras-install-size-'));
  dirs.push(root);
  const projectDir = join(root, 'p');
  const cacheDir = join(root, 'cache');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(projectDir);
  await writeFile(
    join(projectDir, 'artifacts.yaml'),
    `dependencies:\n  big:\n    ref: ${reg.host}/x/y:${tag}\n    path: vendor\n`,
  );
  const client = new RegistryClient({ plainHttp: true });
  clients.push(client);
  return {
    projectDir,
    cacheDir,
    env: { CI: 'false' },
    targetFactory: (repository) => new Repository({ reference: repository, client }),
  };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return await p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** Blob requests other than for the manifest's config (which resolution may read). */
function blobRequests(reg: HostileRegistry, except: string[]): string[] {
  return reg.requests.map((r) => r.url).filter((u) => u.includes('/blobs/') && !except.some((d) => u.includes(d)));
}

describe('install: declared sizes are capped and must fit the free space, before anything is fetched or written', () => {
  it('a file layer declaring 100 GiB fails with ERR_ORAS_LIMIT_EXCEEDED naming the dependency; no blob request, no tree, no lock', async () => {
    const reg = await startHostileRegistry();
    try {
      const { manifest } = reg.addArtifact(
        [{ data: Buffer.from('tiny'), title: 'huge.bin', descriptor: { size: 100 * 1024 ** 3 } }],
        '1.0.0',
      );
      const opts = await project(reg, '1.0.0');
      const err = await failure(install(opts));
      expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_LIMIT_EXCEEDED');
      expect((err as Error).message).toContain("dependency 'big'");
      expect((err as { hint?: string }).hint).toMatch(/--max-artifact-size/);
      expect(blobRequests(reg, [manifest.config.digest])).toEqual([]);
      expect(existsSync(join(opts.projectDir, 'vendor'))).toBe(false);
      expect(existsSync(join(opts.projectDir, 'artifacts.lock'))).toBe(false);
    } finally {
      await reg.close();
    }
  });

  it('maxArtifactBytes lowers the cap for the total of a dependency (two 600-byte layers, cap 1000)', async () => {
    const reg = await startHostileRegistry();
    try {
      reg.addArtifact(
        [
          { data: Buffer.alloc(600, 1), title: 'a.bin' },
          { data: Buffer.alloc(600, 2), title: 'b.bin' },
        ],
        '1.0.0',
      );
      const opts = await project(reg, '1.0.0');
      const err = await failure(install({ ...opts, maxArtifactBytes: 1000 }));
      expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_LIMIT_EXCEEDED');
      expect(existsSync(join(opts.projectDir, 'vendor'))).toBe(false);
      // the same artifact under the default cap installs
      const ok = await install(opts);
      expect(ok.counts.add).toBe(2);
      expect((await readdir(join(opts.projectDir, 'vendor'))).sort()).toEqual(['a.bin', 'b.bin']);
    } finally {
      await reg.close();
    }
  });

  it('a download larger than the free space of the cache fails with ERR_ORAS_NO_SPACE (cap disabled)', async () => {
    const reg = await startHostileRegistry();
    try {
      const { manifest } = reg.addArtifact(
        [{ data: Buffer.from('tiny'), title: 'huge.bin', descriptor: { size: 2 ** 52 } }],
        '1.0.0',
      );
      const opts = await project(reg, '1.0.0');
      const err = await failure(install({ ...opts, maxArtifactBytes: Infinity }));
      expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_NO_SPACE');
      expect(blobRequests(reg, [manifest.config.digest])).toEqual([]);
      expect(existsSync(join(opts.projectDir, 'vendor'))).toBe(false);
    } finally {
      await reg.close();
    }
  });

  it('a directory layer over the cap is refused while resolving (before its blob is requested to list it)', async () => {
    const reg = await startHostileRegistry();
    try {
      const tgz = await craftTarGz([{ name: 'd/f.txt', content: 'x' }]);
      const { manifest } = reg.addArtifact(
        [
          {
            data: tgz,
            title: 'd',
            mediaType: MediaType.ImageLayerGzip,
            annotations: { 'io.deis.oras.content.unpack': 'true' },
            descriptor: { size: 100 * 1024 ** 3 },
          },
        ],
        '1.0.0',
      );
      const opts = await project(reg, '1.0.0');
      const err = await failure(install(opts));
      expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_LIMIT_EXCEEDED');
      expect(blobRequests(reg, [manifest.config.digest])).toEqual([]);
      expect(existsSync(join(opts.projectDir, 'vendor'))).toBe(false);
      expect(existsSync(join(opts.projectDir, 'artifacts.lock'))).toBe(false);
    } finally {
      await reg.close();
    }
  });
});
