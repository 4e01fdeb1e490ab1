import { afterAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { isOrasError } from '../../src/errors.js';
import type { TransferEvent } from '../../src/events.js';
import { MediaType } from '../../src/oci/media-types.js';
import { registry } from '../harness/context.js';
import { blob, clientFor, collect, descOf, generated, repoOn } from './helpers.js';

const info = registry('plain');
const client = clientFor(info);
afterAll(async () => {
  await client.close();
});

describe('Repository blobs (plain registry)', () => {
  it('pushes a blob monolithically from a stream and fetches it byte-identical; exists before/after', async () => {
    const repo = repoOn(info, client, 'blob-mono');
    const data = blob(300_000);
    const desc = descOf(data);
    expect(await repo.exists(desc)).toBe(false);
    const progress: number[] = [];
    await repo.push(desc, Readable.from([data.subarray(0, 1000), data.subarray(1000)]), {
      onProgress: (n) => progress.push(n),
    });
    expect(progress.at(-1)).toBe(data.length);
    expect(await repo.exists(desc)).toBe(true);
    expect((await collect(await repo.fetch(desc))).equals(data)).toBe(true);
  });

  it('pushes a Buffer and a zero-byte blob', async () => {
    const repo = repoOn(info, client, 'blob-buf');
    const data = blob(10);
    await repo.push(descOf(data), data);
    const empty = Buffer.alloc(0);
    await repo.push(descOf(empty), Readable.from([]));
    expect((await collect(await repo.fetch(descOf(empty)))).length).toBe(0);
    expect((await collect(await repo.fetch(descOf(data)))).equals(data)).toBe(true);
  });

  it('pushes chunked (3 chunks) from a stream and from a Buffer', async () => {
    const lines: string[] = [];
    const debugClient = clientFor(info, (l) => lines.push(l));
    const repo = repoOn(info, debugClient, 'blob-chunk', { chunkSize: 40_000 });
    const data = blob(100_000); // 40k + 40k + 20k
    const desc = descOf(data);
    const progress: number[] = [];
    await repo.push(desc, Readable.from([data.subarray(0, 7), data.subarray(7, 55_555), data.subarray(55_555)]), {
      onProgress: (n) => progress.push(n),
    });
    expect(progress).toEqual([40_000, 80_000, 100_000]);
    expect(lines.filter((l) => l.startsWith('< 202 PATCH '))).toHaveLength(3);
    expect(lines.filter((l) => l.startsWith('< 201 PUT '))).toHaveLength(1);
    expect((await collect(await repo.fetch(desc))).equals(data)).toBe(true);
    const data2 = blob(80_001);
    await repo.push(descOf(data2), data2);
    expect((await collect(await repo.fetch(descOf(data2)))).equals(data2)).toBe(true);
    await debugClient.close();
  });

  it('refuses to push content that does not match its descriptor (stream and Buffer, mono and chunked)', async () => {
    for (const chunkSize of [undefined, 700_000]) {
      const repo = repoOn(info, client, 'blob-bad', chunkSize !== undefined ? { chunkSize } : {});
      const data = blob(2 * 1024 * 1024);
      const desc = descOf(data);
      const tampered = Buffer.from(data);
      tampered[100] = (tampered[100] ?? 0) ^ 1;
      await expect(repo.push(desc, Readable.from([tampered]))).rejects.toMatchObject({
        code: 'ERR_ORAS_DIGEST_MISMATCH',
      });
      await expect(repo.push(desc, tampered)).rejects.toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
      await expect(repo.push(desc, Readable.from([data, Buffer.from('x')]))).rejects.toMatchObject({
        code: 'ERR_ORAS_SIZE_MISMATCH',
      });
      expect(await repo.exists(desc)).toBe(false);
    }
  });

  it('streams an 8 MiB generated blob up (monolithic) and down without holding it', async () => {
    const repo = repoOn(info, client, 'blob-big');
    const size = 8 * 1024 * 1024;
    const g = generated(size, 7);
    const desc = { mediaType: MediaType.ImageLayer, digest: g.digest, size };
    await repo.push(desc, g.stream());
    let total = 0;
    for await (const c of await repo.fetch(desc)) total += (c as Buffer).length;
    expect(total).toBe(size);
  });

  it('mounts a blob from another repository; falls back to an upload when the source lacks it', async () => {
    const src = repoOn(info, client, 'mount-src');
    const events: TransferEvent[] = [];
    const dst = repoOn(info, client, 'mount-dst', { onEvent: (e) => events.push(e) });
    const data = blob(2048);
    const desc = descOf(data);
    await src.push(desc, data);
    expect(await dst.mount(desc, src.repository)).toBe('mounted');
    expect(events).toEqual([{ type: 'skip', descriptor: desc, reason: 'mounted' }]);
    expect((await collect(await dst.fetch(desc))).equals(data)).toBe(true);

    const other = blob(100);
    const otherDesc = descOf(other);
    const dst2 = repoOn(info, client, 'mount-dst2');
    expect(await dst2.mount(otherDesc, src.repository, { getContent: async () => other })).toBe('uploaded');
    expect(await dst2.exists(otherDesc)).toBe(true);
  });

  it('deletes a blob; deleting again or fetching it is NOT_FOUND', async () => {
    const repo = repoOn(info, client, 'blob-del');
    const data = blob(64);
    const desc = descOf(data);
    await repo.push(desc, data);
    await repo.delete(desc);
    expect(await repo.exists(desc)).toBe(false);
    await expect(repo.fetch(desc)).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    const err = await repo.delete(desc).catch((e: unknown) => e);
    expect(isOrasError(err, 'ERR_ORAS_NOT_FOUND')).toBe(true);
  });
  it('rejects (without committing) when the source stream fails mid-upload', async () => {
    for (const chunkSize of [undefined, 100_000]) {
      const repo = repoOn(info, client, 'blob-srcfail', chunkSize !== undefined ? { chunkSize } : {});
      const data = blob(1024 * 1024);
      const desc = descOf(data);
      let sent = 0;
      const source = new Readable({
        read() {
          if (sent >= 300_000) {
            this.destroy(new Error('disk on fire'));
            return;
          }
          this.push(data.subarray(sent, sent + 100_000));
          sent += 100_000;
        },
      });
      await expect(repo.push(desc, source)).rejects.toThrow();
      expect(await repo.exists(desc)).toBe(false);
    }
  });

  it('an aborted download errors the stream instead of resuming', async () => {
    const repo = repoOn(info, client, 'blob-abort');
    const size = 4 * 1024 * 1024;
    const g = generated(size, 3);
    const desc = { mediaType: MediaType.ImageLayer, digest: g.digest, size };
    await repo.push(desc, g.stream());
    const ac = new AbortController();
    const stream = await repo.fetch(desc, { signal: ac.signal });
    let total = 0;
    const consume = (async () => {
      for await (const c of stream) {
        total += (c as Buffer).length;
        if (total > 100_000) ac.abort();
      }
    })();
    await expect(consume).rejects.toThrow();
    expect(total).toBeLessThan(size);
  });
});
