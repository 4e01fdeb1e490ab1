import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirSyncBatch, SMALL_CONTENT_BYTES, streamToFileAtomic } from '../../src/content/fs-atomic.js';
import { digestOf, VerifyingStream } from '../../src/oci/digest.js';
import { chunks } from './fixtures.js';

// The small-content path of streamToFileAtomic (expected.size <= SMALL_CONTENT_BYTES):
// collected in memory, verified, then one write + fsync + rename.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-atomic-small-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A source like fetchBlob's: the bytes piped through a VerifyingStream for `expected`. */
function verified(data: Buffer, expected: { digest: string; size: number }): VerifyingStream {
  const v = new VerifyingStream(expected);
  chunks(data).pipe(v);
  return v;
}

describe('streamToFileAtomic, small content', () => {
  const data = Buffer.alloc(4096, 3);
  const expected = { digest: digestOf(data), size: data.length };

  it('is used up to SMALL_CONTENT_BYTES (1 MiB)', () => {
    expect(SMALL_CONTENT_BYTES).toBe(1024 * 1024);
  });

  for (const kind of ['plain source', 'verifying source'] as const) {
    const src = (d: Buffer): Readable => (kind === 'plain source' ? chunks(d) : verified(d, expected));

    it(`${kind}: writes verified content, reports progress once complete, leaves no temp file`, async () => {
      const p = join(dir, 'f');
      const seen: number[] = [];
      const r = await streamToFileAtomic(p, src(data), { expected, onProgress: (b) => seen.push(b) });
      expect(r.bytes).toBe(data.length);
      expect(seen.at(-1)).toBe(data.length);
      expect((await readFile(p)).equals(data)).toBe(true);
      expect(await readdir(dir)).toEqual(['f']);
    });

    it(`${kind}: a digest mismatch renames nothing, keeps the old file and leaves no temp file`, async () => {
      const p = join(dir, 'f');
      await writeFile(p, 'old');
      const bad = Buffer.from(data);
      bad[100] = 9;
      await expect(streamToFileAtomic(p, src(bad), { expected })).rejects.toMatchObject({
        code: 'ERR_ORAS_DIGEST_MISMATCH',
      });
      expect(await readFile(p, 'utf8')).toBe('old');
      expect(await readdir(dir)).toEqual(['f']);
    });

    it(`${kind}: truncated and oversized content are refused and leave nothing`, async () => {
      const p = join(dir, 'f');
      await expect(streamToFileAtomic(p, src(data.subarray(0, 1000)), { expected })).rejects.toMatchObject({
        code: 'ERR_ORAS_SIZE_MISMATCH',
      });
      await expect(
        streamToFileAtomic(p, src(Buffer.concat([data, Buffer.from('x')])), { expected }),
      ).rejects.toMatchObject({ code: 'ERR_ORAS_SIZE_MISMATCH' });
      expect(await readdir(dir)).toEqual([]);
    });
  }

  it('stops reading an endless source at expected.size + 1 bytes (memory stays bounded)', async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        if (produced > 100 * 1024 * 1024) {
          this.push(null);
          return;
        }
        produced += 4096;
        this.push(Buffer.alloc(4096));
      },
    });
    await expect(streamToFileAtomic(join(dir, 'f'), endless, { expected })).rejects.toMatchObject({
      code: 'ERR_ORAS_SIZE_MISMATCH',
    });
    expect(produced).toBeLessThan(1024 * 1024);
    expect(endless.destroyed).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a verifier that delivers fewer bytes than expected.size (resumed at an offset) is refused', async () => {
    // The verifier is primed with the prefix's hash, so it passes: only the byte count shows the gap.
    const v = new VerifyingStream(expected, {
      offset: 1000,
      hash: createHash('sha256').update(data.subarray(0, 1000)),
    });
    chunks(data.subarray(1000)).pipe(v);
    await expect(streamToFileAtomic(join(dir, 'f'), v, { expected })).rejects.toMatchObject({
      code: 'ERR_ORAS_SIZE_MISMATCH',
    });
    expect(await readdir(dir)).toEqual([]);
  });

  it('cleans up when the source errors', async () => {
    const src = new Readable({
      read() {
        this.destroy(new Error('boom'));
      },
    });
    await expect(streamToFileAtomic(join(dir, 'f'), src, { expected })).rejects.toMatchObject({ code: 'ERR_ORAS_IO' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('honours an abort signal, before and while waiting for data', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      streamToFileAtomic(join(dir, 'f'), chunks(data), { expected, signal: ac.signal }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_ABORTED' });
    const stalled = new Readable({ read() {} });
    stalled.push(data.subarray(0, 100));
    const ac2 = new AbortController();
    const pending = streamToFileAtomic(join(dir, 'g'), stalled, { expected, signal: ac2.signal });
    setTimeout(() => ac2.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ORAS_ABORTED' });
    expect(stalled.destroyed).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });

  it('dirSync: the directory fsync is deferred to the batch, once per directory', async () => {
    const batch = new DirSyncBatch();
    for (let i = 0; i < 5; i++)
      await streamToFileAtomic(join(dir, `f${i}`), chunks(data), { expected, dirSync: batch });
    expect(batch.size).toBe(1);
    await batch.flush();
    expect(batch.size).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
  });

  it.runIf(process.platform === 'linux')('closes its file descriptors on success, mismatch and abort', async () => {
    const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
    const before = await fds();
    for (let i = 0; i < 5; i++) {
      await streamToFileAtomic(join(dir, `ok${i}`), chunks(data), { expected });
      const bad = Buffer.from(data);
      bad[1] = 9;
      await streamToFileAtomic(join(dir, `bad${i}`), chunks(bad), { expected }).catch(() => undefined);
      const ac = new AbortController();
      ac.abort();
      await streamToFileAtomic(join(dir, `ab${i}`), chunks(data), { expected, signal: ac.signal }).catch(
        () => undefined,
      );
    }
    expect(await fds()).toBeLessThanOrEqual(before);
    expect((await readdir(dir)).sort()).toEqual(['ok0', 'ok1', 'ok2', 'ok3', 'ok4']);
  });
});
