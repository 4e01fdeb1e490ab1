/*
 * Against the real registry (docker-registry 2.8.2), behind a fault proxy that holds the config's
 * GET: an install that refuses a layer's title has stopped writing when it returns. The config it
 * keeps beside the layers is written (or not) before the error, never after, so a CLI exiting on
 * the error leaves no `.oras-tmp-` file in the cache (the CI failure of stop 27).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { Annotation, MediaType } from '../../src/oci/media-types.js';
import { install } from '../../src/project/install.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { useTempDirs } from '../artifact/helpers.js';
import { registry, uniqueRepo } from '../harness/context.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { listTree } from './helpers.js';

const tempDir = useTempDirs();
const client = new RegistryClient({});
afterAll(async () => {
  await client.close();
});
const CONFIG_DELAY_MS = 400;

const descOf = (bytes: Buffer, mediaType: string): Descriptor => ({
  mediaType,
  digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  size: bytes.length,
});

/** Pushes `repo:v1`: a config the manifest does not embed, and one layer titled `../escape.txt`. */
async function pushHostile(repo: Repository, name: string): Promise<Descriptor> {
  const configBytes = Buffer.from(`{"note":"not embedded","repo":"${name}"}`);
  const config = descOf(configBytes, 'application/vnd.example.config+json');
  await repo.push(config, configBytes);
  const layerBytes = Buffer.from('outside\n');
  const layer = { ...descOf(layerBytes, MediaType.DefaultLayer), annotations: { [Annotation.Title]: '../escape.txt' } };
  await repo.push(layer, layerBytes);
  const manifestBytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config, layers: [layer] }),
  );
  await repo.pushReference(descOf(manifestBytes, MediaType.ImageManifest), manifestBytes, 'v1');
  return config;
}

describe('a failed install against a real registry', () => {
  it('has written the config it fetched beside a refused layer before it returns, and nothing after', async () => {
    const info = registry('plain');
    const name = uniqueRepo('project/install-settles');
    const config = await pushHostile(new Repository({ reference: `${info.host}/${name}`, client }), name);
    const proxy = await startFaultProxy(info.url);
    try {
      const hex = config.digest.slice('sha256:'.length);
      proxy.addFault({
        method: 'GET',
        path: new RegExp(`/blobs/sha256:${hex}$`),
        fault: { kind: 'delay', ms: CONFIG_DELAY_MS },
      });
      const projectDir = await tempDir();
      const cacheDir = await tempDir();
      await writeFile(
        join(projectDir, 'artifacts.yaml'),
        `dependencies:\n  app:\n    ref: ${proxy.host}/${name}:v1\n    path: vendor/app\n`,
      );
      const err = await install({
        projectDir,
        cacheDir,
        env: { CI: 'false' },
        targetFactory: (r) => new Repository({ reference: r, client }),
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isOrasError(err, 'ERR_ORAS_PATH_TRAVERSAL')).toBe(true);
      const atReturn = await listTree(cacheDir);
      expect(atReturn.filter((p) => /oras-(tmp|dl|extract)/.test(p))).toEqual([]);
      expect(proxy.matching('GET', new RegExp(hex)).map((r) => r.fault)).toEqual(['delay']); // the held request was made
      await sleep(CONFIG_DELAY_MS * 2);
      expect(await listTree(cacheDir)).toEqual(atReturn);
      expect(await listTree(projectDir)).toEqual(['artifacts.yaml']); // no lock, no files
    } finally {
      await proxy.close();
    }
  });
});
