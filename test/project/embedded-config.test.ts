/*
 * A config the manifest embeds (`data`, image-spec v1.1) is kept in the cache without a request,
 * but only when the embedded bytes are exactly what the descriptor names: anything else is
 * fetched as if nothing were embedded (issue 14: a cold install waited for a request for the two
 * bytes of ORAS's empty config before it fetched the layers).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../artifact/helpers.js';
import type { Fetcher } from '../../src/content/store.js';
import { EMPTY_DESCRIPTOR, type Descriptor, type ImageManifest } from '../../src/oci/descriptor.js';
import { embeddedContent } from '../../src/oci/embedded-data.js';
import { keepConfig } from '../../src/project/apply/cache/index-records.js';
import { ProjectCache } from '../../src/project/apply/cache/project-cache.js';

const tempDir = useTempDirs();

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const CONFIG = Buffer.from('{"architecture":"none","note":"a config of a few bytes"}');
const configDesc = (extra: Partial<Descriptor> = {}): Descriptor => ({
  mediaType: 'application/vnd.example.config+json',
  digest: sha(CONFIG),
  size: CONFIG.length,
  ...extra,
});

/** A fetcher serving `CONFIG` (or `served`), counting requests. */
function countingFetcher(served: Buffer = CONFIG): Fetcher & { fetches: number } {
  const f = {
    fetches: 0,
    fetch(): Promise<Readable> {
      f.fetches += 1;
      return Promise.resolve(Readable.from([served]));
    },
  };
  return f;
}

const manifestWith = (config: Descriptor): ImageManifest => ({ schemaVersion: 2, config, layers: [] });

describe('embeddedContent', () => {
  it('gives the embedded bytes only when they are canonical base64 of exactly the named content', () => {
    const b64 = CONFIG.toString('base64');
    expect(embeddedContent(configDesc({ data: b64 }))?.equals(CONFIG)).toBe(true);
    expect(embeddedContent(EMPTY_DESCRIPTOR)?.toString()).toBe('{}');
    expect(embeddedContent(configDesc())).toBeUndefined(); // nothing embedded
    const other = Buffer.from(CONFIG);
    other[3]! ^= 1;
    expect(embeddedContent(configDesc({ data: other.toString('base64') }))).toBeUndefined(); // other bytes, same size
    expect(embeddedContent(configDesc({ data: Buffer.from('{}').toString('base64') }))).toBeUndefined(); // other size
    expect(embeddedContent({ ...EMPTY_DESCRIPTOR, data: 'e30' })).toBeUndefined(); // unpadded
    expect(embeddedContent({ ...EMPTY_DESCRIPTOR, data: 'e3 0=' })).toBeUndefined(); // not canonical
    expect(embeddedContent({ ...EMPTY_DESCRIPTOR, data: 'e31=' })).toBeUndefined(); // non-zero pad bits
    expect(embeddedContent({ ...EMPTY_DESCRIPTOR, digest: 'md5:0123', data: 'e30=' })).toBeUndefined();
  });
});

describe('keepConfig', () => {
  const open = async () => ProjectCache.open(await tempDir());

  it('keeps an embedded config without a request', async () => {
    const cache = await open();
    const desc = configDesc({ data: CONFIG.toString('base64') });
    const source = countingFetcher();
    await keepConfig(cache, manifestWith(desc), source);
    expect(source.fetches).toBe(0);
    expect((await readFile(cache.blobPath(desc.digest))).equals(CONFIG)).toBe(true);
  });

  it('fetches (and verifies) a config whose embedded data is not the named content, or that embeds none', async () => {
    const wrong = Buffer.from(CONFIG);
    wrong[0]! ^= 1;
    for (const desc of [configDesc({ data: wrong.toString('base64') }), configDesc()]) {
      const cache = await open();
      const source = countingFetcher();
      await keepConfig(cache, manifestWith(desc), source);
      expect(source.fetches).toBe(1);
      expect((await readFile(cache.blobPath(desc.digest))).equals(CONFIG)).toBe(true);
    }
  });

  it('never caches bytes that are not the named content, embedded or served', async () => {
    const wrong = Buffer.from(CONFIG);
    wrong[0]! ^= 1;
    const cache = await open();
    const desc = configDesc({ data: wrong.toString('base64') });
    const source = countingFetcher(wrong); // the registry serves the same wrong bytes
    await keepConfig(cache, manifestWith(desc), source); // best effort: no throw
    expect(source.fetches).toBe(1);
    expect(await cache.has(desc)).toBe(false);
  });
});
