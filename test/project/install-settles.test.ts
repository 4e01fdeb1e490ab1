/*
 * An install that fails has stopped writing when it returns: work started beside the failing
 * step (the config kept for other OCI tools, the other dependencies' manifests) settles before
 * the error is reported, so a CLI that exits on the error leaves no temp file in the cache (CI
 * caught a `.oras-tmp-` file of the empty config after an install refused a layer's title).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../artifact/helpers.js';
import { MemoryStore } from '../../src/content/memory.js';
import { isOrasError } from '../../src/errors.js';
import { Annotation, MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { install } from '../../src/project/install.js';
import { listTree } from './helpers.js';

const tempDir = useTempDirs();
const HOST = 'localhost:5995';
const CONFIG_DELAY_MS = 300;

const descOf = (bytes: Buffer, mediaType: string): Descriptor => ({
  mediaType,
  digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  size: bytes.length,
});

/** A store holding `acme/app:v1`: a config that is not embedded, and a layer titled `../escape.txt`. */
async function hostileArtifact(): Promise<{ store: MemoryStore; config: Descriptor }> {
  const store = new MemoryStore();
  const configBytes = Buffer.from('{"note":"a config the manifest does not embed"}');
  const config = descOf(configBytes, 'application/vnd.example.config+json');
  await store.push(config, configBytes);
  const layerBytes = Buffer.from('outside\n');
  const layer = {
    ...descOf(layerBytes, MediaType.DefaultLayer),
    annotations: { [Annotation.Title]: '../escape.txt' },
  };
  await store.push(layer, layerBytes);
  const manifestBytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config, layers: [layer] }),
  );
  const manifest = descOf(manifestBytes, MediaType.ImageManifest);
  await store.push(manifest, manifestBytes);
  await store.tag(manifest, 'v1');
  return { store, config };
}

describe('a failed install has settled when it returns', () => {
  it('the config fetched beside a refused layer is written (or not) before the error, and nothing changes after', async () => {
    const { store, config } = await hostileArtifact();
    const slowConfig = new Proxy(store, {
      get(t, prop, receiver) {
        const v = Reflect.get(t, prop, receiver) as unknown;
        if (prop !== 'fetch' || typeof v !== 'function') return v;
        return async (desc: Descriptor, ...rest: unknown[]): Promise<Readable> => {
          const body = (await (v as (...a: unknown[]) => Promise<Readable>).call(t, desc, ...rest)) as Readable;
          if (desc.digest !== config.digest) return body;
          // The config arrives after the layer's title has been refused.
          return Readable.from(
            (async function* () {
              await sleep(CONFIG_DELAY_MS);
              yield* body;
            })(),
          );
        };
      },
    });
    const projectDir = await tempDir();
    const cacheDir = await tempDir();
    await writeFile(
      join(projectDir, 'artifacts.yaml'),
      `dependencies:\n  app:\n    ref: ${HOST}/acme/app:v1\n    path: vendor/app\n`,
    );
    const err = await install({ projectDir, cacheDir, env: { CI: 'false' }, targetFactory: () => slowConfig }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOrasError(err)).toBe(true);
    const atReturn = await listTree(cacheDir);
    expect(atReturn.filter((p) => /oras-(tmp|dl|extract)/.test(p))).toEqual([]);
    await sleep(CONFIG_DELAY_MS * 2);
    expect(await listTree(cacheDir)).toEqual(atReturn);
    // Nothing in the project but its own state directory (listTree skips .oras): no lockfile, no files.
    expect(await listTree(projectDir)).toEqual(['artifacts.yaml']);
  });
});
