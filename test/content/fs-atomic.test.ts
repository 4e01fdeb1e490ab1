import { createHash } from 'node:crypto';
import {
  lstat,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BACKGROUND_FLUSH_BYTES,
  removeTempFiles,
  streamToFileAtomic,
  tempPathFor,
  writeFileAtomic,
} from '../../src/content/fs-atomic.js';
import { digestOf } from '../../src/oci/digest.js';
import { chunks, ReusingSource } from './fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes and replaces content, leaving no temp files', async () => {
    const p = join(dir, 'a.txt');
    await writeFileAtomic(p, 'one');
    await writeFileAtomic(p, Buffer.from('two'));
    expect(await readFile(p, 'utf8')).toBe('two');
    expect(await readdir(dir)).toEqual(['a.txt']);
  });

  it('replaces a symlink at the final path instead of writing through it', async () => {
    const outside = join(dir, 'outside.txt');
    await writeFile(outside, 'precious');
    const p = join(dir, 'link.txt');
    await symlink(outside, p);
    await writeFileAtomic(p, 'new');
    expect(await readFile(outside, 'utf8')).toBe('precious');
    expect((await lstat(p)).isSymbolicLink()).toBe(false);
    expect(await readFile(p, 'utf8')).toBe('new');
  });

  it('fails with ERR_ORAS_IO when the directory is missing and leaves nothing', async () => {
    await expect(writeFileAtomic(join(dir, 'nope', 'a'), 'x')).rejects.toMatchObject({ code: 'ERR_ORAS_IO' });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('streamToFileAtomic', () => {
  const data = Buffer.alloc(100_000, 7);
  const expected = { digest: digestOf(data), size: data.length };

  it('streams verified content into place and reports progress', async () => {
    const p = join(dir, 'blob');
    let last = 0;
    const r = await streamToFileAtomic(p, chunks(data), { expected, onProgress: (b) => (last = b) });
    expect(r.bytes).toBe(data.length);
    expect(last).toBe(data.length);
    expect((await readFile(p)).equals(data)).toBe(true);
    expect(await readdir(dir)).toEqual(['blob']);
  });

  it('renames nothing on a digest mismatch and keeps the old file', async () => {
    const p = join(dir, 'blob');
    await writeFile(p, 'old');
    const bad = Buffer.from(data);
    bad[500] = 8;
    await expect(streamToFileAtomic(p, chunks(bad), { expected })).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    expect(await readFile(p, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['blob']);
  });

  it('rejects truncated and oversized content', async () => {
    const p = join(dir, 'blob');
    await expect(streamToFileAtomic(p, chunks(data.subarray(0, 5000)), { expected })).rejects.toMatchObject({
      code: 'ERR_ORAS_SIZE_MISMATCH',
    });
    await expect(
      streamToFileAtomic(p, chunks(Buffer.concat([data, Buffer.from('x')])), { expected }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_SIZE_MISMATCH' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('cleans up when the source stream errors', async () => {
    const p = join(dir, 'blob');
    const src = new Readable({
      read() {
        this.destroy(new Error('boom'));
      },
    });
    await expect(streamToFileAtomic(p, src)).rejects.toMatchObject({ code: 'ERR_ORAS_IO' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('honours an abort signal', async () => {
    const p = join(dir, 'blob');
    const ac = new AbortController();
    ac.abort();
    await expect(streamToFileAtomic(p, chunks(data), { expected, signal: ac.signal })).rejects.toMatchObject({
      code: 'ERR_ORAS_ABORTED',
    });
    expect(await readdir(dir)).toEqual([]);
  });

  it('completes a multi-MiB body delivered in many small chunks', async () => {
    const big = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 13)) & 0xff;
    const p = join(dir, 'big');
    let calls = 0;
    const r = await streamToFileAtomic(p, chunks(big, 517), {
      expected: { digest: digestOf(big), size: big.length },
      onProgress: () => calls++,
    });
    expect(r.bytes).toBe(big.length);
    expect(calls).toBeGreaterThan(0);
    expect((await readFile(p)).equals(big)).toBe(true);
    expect(await readdir(dir)).toEqual(['big']);
  });

  it('aborted mid-way: rejects with ERR_ORAS_ABORTED, keeps the old file, leaves no temp file', async () => {
    const p = join(dir, 'blob');
    await writeFile(p, 'old');
    const ac = new AbortController();
    const chunk = Buffer.alloc(4096, 1);
    let produced = 0;
    // A bounded source that would produce 64 MiB; we abort after ~1 MiB has been written.
    const src = new Readable({
      read() {
        if (produced >= 64 * 1024 * 1024) {
          this.push(null);
          return;
        }
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const err = await streamToFileAtomic(p, src, {
      signal: ac.signal,
      onProgress: (b) => {
        if (b >= 1024 * 1024) ac.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_ABORTED' });
    expect(produced).toBeLessThan(64 * 1024 * 1024);
    expect(src.destroyed).toBe(true);
    expect(await readFile(p, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['blob']);
  });

  describe.each(['a stream', 'a chunk source (pumpTo)'])('background flushes of a large write from %s', (kind) => {
    /** A source of `n` MiB (1 MiB chunks, distinct content) and its descriptor. */
    const mibSource = (n: number): { src: Readable; expected: { digest: `sha256:${string}`; size: number } } => {
      const parts = Array.from({ length: n }, (_, i) => Buffer.alloc(1024 * 1024, i & 0xff));
      const hash = createHash('sha256');
      for (const b of parts) hash.update(b);
      const expected = { digest: `sha256:${hash.digest('hex')}` as const, size: n * 1024 * 1024 };
      return { src: kind === 'a stream' ? Readable.from(parts) : new ReusingSource(parts, expected), expected };
    };
    const handleProto = async (): Promise<FileHandle> => {
      const fh = await open(join(dir, 'probe'), 'w');
      await fh.close();
      await rm(join(dir, 'probe'));
      return Object.getPrototypeOf(fh) as FileHandle;
    };

    it('starts a datasync every BACKGROUND_FLUSH_BYTES while writing, and the file is exact', async () => {
      const proto = await handleProto();
      const spy = vi.spyOn(proto, 'datasync');
      try {
        const mib = (2 * BACKGROUND_FLUSH_BYTES) / (1024 * 1024) + 3;
        const { src, expected } = mibSource(mib);
        const p = join(dir, 'large');
        await streamToFileAtomic(p, src, { expected });
        expect(spy.mock.calls.length).toBeGreaterThanOrEqual(1);
        expect(spy.mock.calls.length).toBeLessThanOrEqual(2);
        expect((await stat(p)).size).toBe(expected.size);
        expect(digestOf(await readFile(p))).toBe(expected.digest);
        expect(await readdir(dir)).toEqual(['large']);
      } finally {
        spy.mockRestore();
      }
    });

    it('a failed background flush fails the write (the final fsync would not report it again), keeping the old file', async () => {
      const proto = await handleProto();
      const spy = vi
        .spyOn(proto, 'datasync')
        .mockRejectedValue(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      try {
        const p = join(dir, 'large');
        await writeFile(p, 'old');
        const { src, expected } = mibSource(BACKGROUND_FLUSH_BYTES / (1024 * 1024) + 2);
        const err = await streamToFileAtomic(p, src, { expected }).catch((e: unknown) => e);
        expect(spy).toHaveBeenCalled();
        expect(err).toMatchObject({ code: 'ERR_ORAS_IO' });
        expect(String((err as Error).message)).toMatch(/EIO/);
        expect(await readFile(p, 'utf8')).toBe('old');
        expect(await readdir(dir)).toEqual(['large']);
      } finally {
        spy.mockRestore();
      }
    });
  });

  it('a chunk source: each chunk is written before the source reuses its buffer, and the file is exact', async () => {
    const parts = Array.from({ length: 9 }, (_, i) => Buffer.alloc(300_000 + i * 1000, i + 1));
    const all = Buffer.concat(parts);
    const want = { digest: digestOf(all), size: all.length };
    const src = new ReusingSource(parts, want);
    let last = 0;
    const p = join(dir, 'pumped');
    const { bytes } = await streamToFileAtomic(p, src, { expected: want, onProgress: (n) => (last = n) });
    expect(bytes).toBe(all.length);
    expect(last).toBe(all.length);
    expect(src.canPump).toBe(false);
    expect((await readFile(p)).equals(all)).toBe(true);
    expect(await readdir(dir)).toEqual(['pumped']);
  });

  it('a chunk source that fails verification at its end renames nothing and leaves no temp file', async () => {
    const parts = Array.from({ length: 3 }, (_, i) => Buffer.alloc(700_000, i + 1));
    const all = Buffer.concat(parts);
    const lying = { digest: digestOf(Buffer.from('other')), size: all.length };
    const p = join(dir, 'pumped');
    await writeFile(p, 'old');
    await expect(streamToFileAtomic(p, new ReusingSource(parts, lying), { expected: lying })).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    expect(await readFile(p, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['pumped']);
  });

  it('a chunk source verifying another descriptor than the expected one is read as a stream and verified against the expected one', async () => {
    const all = Buffer.alloc(1_500_000, 7);
    const own = { digest: digestOf(all), size: all.length };
    const other = new ReusingSource([all], own);
    const pumpTo = vi.spyOn(other, 'pumpTo');
    other.end(all); // readable as a stream too: its own verification passes
    const want = { digest: digestOf(Buffer.from('something else')), size: all.length };
    await expect(streamToFileAtomic(join(dir, 'f'), other, { expected: want })).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    expect(pumpTo).not.toHaveBeenCalled();
    expect(await readdir(dir)).toEqual([]);
  });

  it.runIf(process.platform === 'linux')(
    'closes its file handle on success, mismatch and abort (no descriptor leak)',
    async () => {
      const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
      const before = await fds();
      for (let i = 0; i < 5; i++) {
        await streamToFileAtomic(join(dir, `ok${i}`), chunks(data), { expected });
        const bad = Buffer.from(data);
        bad[1] = 9;
        await streamToFileAtomic(join(dir, `bad${i}`), chunks(bad), { expected }).catch(() => undefined);
        const ac = new AbortController();
        await streamToFileAtomic(join(dir, `ab${i}`), chunks(data, 100), {
          onProgress: () => ac.abort(),
          signal: ac.signal,
        }).catch(() => undefined);
      }
      expect(await fds()).toBeLessThanOrEqual(before);
      expect((await readdir(dir)).sort()).toEqual(['ok0', 'ok1', 'ok2', 'ok3', 'ok4']);
    },
  );
});

describe('removeTempFiles', () => {
  it('removes only stale temp files', async () => {
    await writeFile(join(dir, '.blob.oras-tmp-0123456789abcdef'), 'x');
    await writeFile(join(dir, '.fresh.oras-tmp-fedcba9876543210'), 'x');
    await writeFile(join(dir, 'keep.oras-tmp-notmine'), 'x');
    await writeFile(join(dir, 'index.json'), 'x');
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(dir, '.blob.oras-tmp-0123456789abcdef'), old, old);
    expect(await removeTempFiles(dir)).toBe(1);
    expect((await readdir(dir)).sort()).toEqual([
      '.fresh.oras-tmp-fedcba9876543210',
      'index.json',
      'keep.oras-tmp-notmine',
    ]);
    expect(await removeTempFiles(dir, { minAgeMs: 0 })).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(['index.json', 'keep.oras-tmp-notmine']);
    expect(await removeTempFiles(join(dir, 'missing'))).toBe(0);
  });

  it('recognises the names tempPathFor makes (distinct per call) as its own', async () => {
    const a = tempPathFor(join(dir, 'file.bin'));
    const b = tempPathFor(join(dir, 'file.bin'));
    expect(a).not.toBe(b);
    await writeFile(a, 'x');
    await writeFile(b, 'x');
    expect(await removeTempFiles(dir, { minAgeMs: 0 })).toBe(2);
    expect(await readdir(dir)).toEqual([]);
  });
});
