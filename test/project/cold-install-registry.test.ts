/*
 * The cold install's two round-21 changes against the real registry (docker-registry 2.8.2): the
 * config a manifest embeds is not requested, and a directory layer of 32 MiB or more is listed from
 * its download, not read back from the cache (issue 14).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { SCAN_WHILE_FETCHING_BYTES } from '../../src/project/apply/cache/layer-listings.js';
import { ProjectCache } from '../../src/project/apply/cache/project-cache.js';
import { install } from '../../src/project/install.js';
import { publish } from '../../src/project/publish.js';
import { readLockfile } from '../../src/project/spec/lockfile.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { craftTarGz, useTempDirs } from '../artifact/helpers.js';
import { registry, uniqueRepo } from '../harness/context.js';
import { treeMismatches, writeTree } from './helpers.js';

const tempDir = useTempDirs();
const client = new RegistryClient({});
afterAll(async () => {
  await client.close();
});

/** A repository of the plain registry whose blob and manifest fetches are recorded by digest. */
function recordingRepo(repository: string, fetched: string[]): Repository {
  const repo = new Repository({ reference: repository, client });
  const fetch = repo.fetch.bind(repo);
  repo.fetch = (desc: Descriptor, options?: Parameters<typeof fetch>[1]) => {
    fetched.push(desc.digest);
    return fetch(desc, options);
  };
  return repo;
}

describe('cold install against a real registry', () => {
  it('keeps the embedded empty config without requesting it, and installs the lock exactly', async () => {
    const info = registry('plain');
    const repo = `${info.host}/${uniqueRepo('project/embedded-config')}`;
    const pub = await tempDir();
    await writeTree(pub, { 'data/a.txt': 'a\n', 'data/b/c.txt': 'c\n', 'tool.bin': 'tool'.repeat(100) });
    await writeFile(
      join(pub, 'artifacts.yaml'),
      `publish:\n  app:\n    ref: ${repo}\n    tags: ["1.0.0"]\n    files:\n      - data\n      - tool.bin\n`,
    );
    await publish({ projectDir: pub, targetFactory: (r) => new Repository({ reference: r, client }) });
    const { parsed } = await new Repository({ reference: repo, client }).fetchManifest('1.0.0');
    if (parsed.kind !== 'manifest') throw new Error('expected an image manifest');
    const config = parsed.manifest.config;
    expect(config.data).toBe('e30='); // ORAS's empty config, embedded

    const project = await tempDir();
    const cacheDir = await tempDir();
    await writeFile(
      join(project, 'artifacts.yaml'),
      `dependencies:\n  app:\n    ref: "${repo}:1.0.0"\n    path: vendor/app\n`,
    );
    const fetched: string[] = [];
    await install({
      projectDir: project,
      cacheDir,
      env: { CI: 'false' },
      targetFactory: (r) => recordingRepo(r, fetched),
    });
    expect(fetched).not.toContain(config.digest);
    expect(fetched).toEqual(expect.arrayContaining(parsed.manifest.layers.map((l) => l.digest)));
    const cache = await ProjectCache.open(cacheDir);
    expect(await cache.has(config)).toBe(true);
    const lock = await readLockfile(project);
    expect(await treeMismatches(project, lock!)).toEqual([]);
  });

  it('lists a directory layer of 32 MiB from its download: one GET, no read from the cache, the same listing', async () => {
    const info = registry('plain');
    const repository = `${info.host}/${uniqueRepo('project/scan-while-fetching')}`;
    const entries = [
      { name: 'pkg', type: 'directory' as const },
      // Base64 of random bytes compresses to ~75 %: 45 MB of it keeps the layer over 32 MiB.
      ...Array.from({ length: 15 }, (_, i) => ({
        name: `pkg/blob-${i}.txt`,
        content: randomBytes(2_250_000).toString('base64'),
      })),
      ...Array.from({ length: 50 }, (_, i) => ({ name: `pkg/small/f-${i}.txt`, content: `file ${i}\n` })),
    ];
    const tgz = await craftTarGz(entries);
    expect(tgz.length).toBeGreaterThanOrEqual(SCAN_WHILE_FETCHING_BYTES);
    const layer: Descriptor = {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: `sha256:${createHash('sha256').update(tgz).digest('hex')}`,
      size: tgz.length,
    };
    await new Repository({ reference: repository, client }).push(layer, tgz);

    const fetched: string[] = [];
    const dir = await tempDir();
    const cache = await ProjectCache.open(join(dir, 'cache'));
    let reads = 0;
    const storeFetch = cache.store.fetch.bind(cache.store);
    cache.store.fetch = (desc: Descriptor, options?: Parameters<typeof storeFetch>[1]) => {
      reads += 1;
      return storeFetch(desc, options);
    };
    const listing = await cache.listing(layer, recordingRepo(repository, fetched), { stripPrefix: 'pkg' });
    expect(fetched).toEqual([layer.digest]);
    expect(reads).toBe(0);
    expect(await cache.has(layer)).toBe(true);

    // The reference: the same blob listed from the cache of another cache object.
    await mkdir(join(dir, 'ref'));
    const ref = await ProjectCache.open(join(dir, 'ref'));
    await ref.add(layer, tgz);
    expect(await ref.listing(layer, undefined, { stripPrefix: 'pkg' })).toEqual(listing);
    expect(listing.files).toHaveLength(65);
    expect(existsSync(cache.blobPath(layer.digest))).toBe(true);
  }, 120_000);
});
