/*
 * A directory layer over 1 MiB that the cache does not hold is scanned while it downloads (issue
 * 14: a cold install read the layer twice, once from the network into the cache, then back from
 * the cache to list it). The scan sees bytes before their digest is known, so the download's
 * verdict must come first: nothing derived from a blob that failed its check is kept, and a
 * corrupt transfer reports its digest mismatch, not the gzip or tar error it also causes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Fetcher } from '../../src/content/store.js';
import { isOrasError } from '../../src/errors.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { SCAN_WHILE_FETCHING_BYTES } from '../../src/project/apply/cache/layer-listings.js';
import { ProjectCache } from '../../src/project/apply/cache/project-cache.js';
import { HashedBody } from '../../src/project/apply/cache/scan-replay.js';
import { craftTarGz, useTempDirs, type CraftEntry } from '../artifact/helpers.js';

const tempDir = useTempDirs();

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** Base64 of random bytes: compresses to ~75 %, so the layer stays over 1 MiB gzipped. */
const noise = (bytes: number): string => randomBytes(bytes).toString('base64');

function bigEntries(extra: CraftEntry[] = []): CraftEntry[] {
  const files: CraftEntry[] = [{ name: 'pkg', type: 'directory' }];
  for (let i = 0; i < 12; i++) files.push({ name: `pkg/blob-${i}.txt`, content: noise(150_000) });
  for (let i = 0; i < 200; i++) files.push({ name: `pkg/small/f-${i}.txt`, content: `file ${i}\n` });
  files.push({ name: 'pkg/bin/run', content: '#!/bin/sh\n', mode: 0o755 });
  return [...files, ...extra];
}

/** A fetcher serving `bytes` (whatever the descriptor says) in 64 KiB chunks, counting fetches; `failAt` breaks the stream there. */
function servingFetcher(bytes: Buffer, failAt?: number): Fetcher & { fetches: number } {
  const f = {
    fetches: 0,
    async fetch(): Promise<Readable> {
      f.fetches += 1;
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += 65536) chunks.push(bytes.subarray(at, at + 65536));
      if (failAt === undefined) return Readable.from(chunks);
      let sent = 0;
      return new Readable({
        read() {
          const next = chunks.shift();
          if (next === undefined || sent >= failAt) {
            this.destroy(new Error('connection reset by peer'));
            return;
          }
          sent += next.length;
          this.push(next);
        },
      });
    },
  };
  return f;
}

/**
 * A fresh cache whose store reads are counted (a scan of a cached blob reads it through the store).
 * These layers are ~1.5 MB: the cache scans layers over 1 MiB while they download (the default
 * threshold, 32 MiB, is tested on its own below).
 */
async function countingCache(replayBytes?: number, scanWhileFetchingBytes: number | null = 1024 * 1024 + 1) {
  const cache = await ProjectCache.open(await tempDir(), {
    ...(replayBytes !== undefined ? { replayBytes } : {}),
    ...(scanWhileFetchingBytes !== null ? { scanWhileFetchingBytes } : {}), // null: the default
  });
  const counter = { reads: 0 };
  const original = cache.store.fetch.bind(cache.store);
  cache.store.fetch = (desc: Descriptor, options?: Parameters<typeof original>[1]) => {
    counter.reads += 1;
    return original(desc, options);
  };
  return { cache, counter };
}

const descOf = (tgz: Buffer): Descriptor => ({ mediaType: LAYER, digest: sha(tgz), size: tgz.length });

describe('a big directory layer is listed while it downloads', () => {
  it('reads the layer once: the listing is the one a scan of the cached blob gives, and the blob is cached', async () => {
    const tgz = await craftTarGz(bigEntries());
    expect(tgz.length).toBeGreaterThan(1024 * 1024);
    const desc = descOf(tgz);

    const { cache, counter } = await countingCache();
    const source = servingFetcher(tgz);
    const listing = await cache.listing(desc, source, { stripPrefix: 'pkg' });
    expect(source.fetches).toBe(1);
    expect(counter.reads).toBe(0); // not read back from the cache
    expect(await cache.has(desc)).toBe(true);

    // The reference: the same layer already cached, listed by reading it from the cache.
    const ref = await countingCache();
    await ref.cache.add(desc, tgz);
    const expected = await ref.cache.listing(desc, undefined, { stripPrefix: 'pkg' });
    expect(ref.counter.reads).toBe(1);
    expect(listing).toEqual(expected);
    expect(listing.files.find((f) => f.path === 'bin/run')?.mode).toBe(0o755);
    expect(listing.files).toHaveLength(213);
  });

  it('keeps the scan for the placement that follows (replay), as when the blob was read from the cache', async () => {
    const tgz = await craftTarGz(bigEntries());
    const desc = descOf(tgz);
    const { cache, counter } = await countingCache(16 * 1024 * 1024);
    const listing = await cache.listing(desc, servingFetcher(tgz), { stripPrefix: 'pkg' });
    let files = 0;
    await cache.scanLayer(
      desc,
      { stripPrefix: 'pkg' },
      {
        file: (rel, _mode, size, body) => {
          files += 1;
          expect(body).toBeInstanceOf(HashedBody);
          const f = listing.files.find((x) => x.path === rel);
          expect(f?.digest).toBe((body as HashedBody).digest);
          expect(f?.size).toBe(size);
          return Promise.resolve();
        },
      },
    );
    expect(files).toBe(213);
    expect(counter.reads).toBe(0);
  });

  it('a corrupt transfer fails with the digest mismatch, not the gzip error, and keeps nothing', async () => {
    const tgz = await craftTarGz(bigEntries());
    const desc = descOf(tgz);
    const corrupt = Buffer.from(tgz);
    for (let i = 0; i < 64; i++) corrupt[600_000 + i]! ^= 0x5a; // mid-stream: the inflater fails there
    const { cache } = await countingCache(16 * 1024 * 1024);
    await expect(cache.listing(desc, servingFetcher(corrupt), { stripPrefix: 'pkg' })).rejects.toSatisfy((e: unknown) =>
      isOrasError(e, 'ERR_ORAS_DIGEST_MISMATCH'),
    );
    expect(await cache.has(desc)).toBe(false);
    expect(await cache.readMarker(desc.digest)).toBeUndefined();
    // Nothing recorded to replay: a later scan finds no blob.
    await expect(cache.scanLayer(desc, { stripPrefix: 'pkg' }, {})).rejects.toSatisfy((e: unknown) =>
      isOrasError(e, 'ERR_ORAS_NOT_FOUND'),
    );
  });

  it('a transfer that breaks off fails with its error, leaves no blob, and the next call fetches again', async () => {
    const tgz = await craftTarGz(bigEntries());
    const desc = descOf(tgz);
    const { cache } = await countingCache();
    await expect(cache.listing(desc, servingFetcher(tgz, 700_000), { stripPrefix: 'pkg' })).rejects.toThrow(
      /connection reset by peer/,
    );
    expect(await cache.has(desc)).toBe(false);
    const again = servingFetcher(tgz);
    const listing = await cache.listing(desc, again, { stripPrefix: 'pkg' });
    expect(again.fetches).toBe(1);
    expect(listing.files).toHaveLength(213);
  });

  it('an archive the tar rules refuse: the verified blob stays cached, the scan error is thrown, no listing', async () => {
    const tgz = await craftTarGz(bigEntries([{ name: 'pkg/../../escape.txt', content: 'out\n' }]));
    const desc = descOf(tgz);
    const { cache } = await countingCache(16 * 1024 * 1024);
    await expect(cache.listing(desc, servingFetcher(tgz), { stripPrefix: 'pkg' })).rejects.toSatisfy((e: unknown) =>
      isOrasError(e, 'ERR_ORAS_PATH_TRAVERSAL'),
    );
    expect(await cache.has(desc)).toBe(true);
    expect(await cache.readMarker(desc.digest)).toBeUndefined();
    expect(existsSync(join(cache.root, 'unpacked'))).toBe(false);
  });

  it('an abort stops the transfer and the scan: ERR_ORAS_ABORTED, no blob', async () => {
    const tgz = await craftTarGz(bigEntries());
    const desc = descOf(tgz);
    const { cache } = await countingCache();
    const ac = new AbortController();
    const slow: Fetcher = {
      fetch: () =>
        Promise.resolve(
          new Readable({
            read() {
              setTimeout(() => {
                ac.abort();
                this.push(tgz.subarray(0, 65536));
              }, 5);
            },
          }),
        ),
    };
    await expect(cache.listing(desc, slow, { stripPrefix: 'pkg', signal: ac.signal })).rejects.toSatisfy((e: unknown) =>
      isOrasError(e, 'ERR_ORAS_ABORTED'),
    );
    expect(await cache.has(desc)).toBe(false);
  });

  it('by default only layers of 32 MiB and more: a smaller one is fetched, then scanned from the cache', async () => {
    const tgz = await craftTarGz(bigEntries());
    expect(tgz.length).toBeLessThan(SCAN_WHILE_FETCHING_BYTES);
    const desc = descOf(tgz);
    const { cache, counter } = await countingCache(undefined, null);
    const listing = await cache.listing(desc, servingFetcher(tgz), { stripPrefix: 'pkg' });
    expect(counter.reads).toBe(1);
    expect(listing.files).toHaveLength(213);
  });

  it('a layer another call is already fetching is listed from the cache once it lands', async () => {
    const tgz = await craftTarGz(bigEntries());
    const desc = descOf(tgz);
    const { cache, counter } = await countingCache();
    const source = servingFetcher(tgz);
    const [, listing] = await Promise.all([
      cache.ensureBlob(desc, source),
      cache.listing(desc, source, { stripPrefix: 'pkg' }),
    ]);
    expect(source.fetches).toBe(1);
    expect(counter.reads).toBe(1);
    expect(listing.files).toHaveLength(213);
  });
});
