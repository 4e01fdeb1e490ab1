/**
 * Hashing in a worker thread: same digests as inline hashing over many chunk
 * sizes, the VerifyingStream contract (oversize fails at once, truncation and
 * mismatch fail before the consumer finishes), workers freed on destroy,
 * errors and worker crashes, the size threshold and the worker cap, and
 * digestFile.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestOf, VerifyingStream } from '../../src/oci/digest.js';
import { digestFile } from '../../src/oci/hash-file.js';
import {
  closeIdleHashWorkers, HASH_OFFLOAD_THRESHOLD, HASH_OFFLOAD_WARM_THRESHOLD, HASH_WORKER_LIMIT, hashOffloadSettings, hashWorkerStats, shouldOffload, terminateHashWorkers,
} from '../../src/oci/hash-offload.js';

const data = randomBytes(9 * 1024 * 1024 + 4321); // > 2 rings of 4 MiB
const digest = digestOf(data);

function chunked(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < bytes.length; o += size) out.push(bytes.subarray(o, o + size));
  return out;
}

/** Runs chunks through a verifier into a sink; records what the sink saw. */
async function run(chunks: Buffer[], v: VerifyingStream): Promise<{ bytes: number; finished: boolean; error?: unknown }> {
  let bytes = 0;
  let finished = false;
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      bytes += c.length;
      cb();
    },
    final(cb) {
      finished = true;
      cb();
    },
  });
  try {
    await pipeline(Readable.from(chunks), v, sink);
    return { bytes, finished };
  } catch (error) {
    return { bytes, finished, error };
  }
}

/** Waits (bounded) until no worker is busy and every thread not in the pool has exited. */
async function settled(): Promise<void> {
  await vi.waitFor(() => {
    const s = hashWorkerStats();
    expect(s.busy).toBe(0);
    expect(s.threads).toBe(s.idle);
  }, { timeout: 10_000, interval: 20 });
}

hashOffloadSettings.enabled = true; // off by default (ORAS_HASH_WORKERS=1); these tests exercise the worker path

afterEach(async () => {
  hashOffloadSettings.enabled = true;
  hashOffloadSettings.threshold = HASH_OFFLOAD_THRESHOLD;
  hashOffloadSettings.warmThreshold = HASH_OFFLOAD_WARM_THRESHOLD;
  await settled();
});

describe('VerifyingStream with a hash worker', () => {
  it('hashes inline when offloading is disabled (the default without ORAS_HASH_WORKERS=1), whatever the size', () => {
    hashOffloadSettings.enabled = false;
    expect(shouldOffload(HASH_OFFLOAD_THRESHOLD * 16)).toBe(false);
    hashOffloadSettings.enabled = true;
    expect(shouldOffload(HASH_OFFLOAD_THRESHOLD * 16)).toBe(true);
    expect(shouldOffload(1024)).toBe(false);
  });

  it('computes the same digest as inline hashing for many chunk sizes and both algorithms', async () => {
    const tiny = data.subarray(0, 200_003);
    expect((await run(chunked(tiny, 7), new VerifyingStream({ digest: digestOf(tiny), size: tiny.length }, { offload: true }))).error).toBeUndefined();
    for (const size of [4095, 65_536, 1024 * 1024 + 3, 5 * 1024 * 1024, data.length]) {
      const v = new VerifyingStream({ digest, size: data.length }, { offload: true });
      const r = await run(chunked(data, size), v);
      expect(r.error).toBeUndefined();
      expect(r).toMatchObject({ bytes: data.length, finished: true });
    }
    const small = data.subarray(0, 300_001);
    const d512 = `sha512:${createHash('sha512').update(small).digest('hex')}`;
    expect((await run(chunked(small, 1000), new VerifyingStream({ digest: d512, size: small.length }, { offload: true }))).error).toBeUndefined();
    expect(hashWorkerStats().threads).toBeGreaterThan(0); // a worker really ran
    await settled();
  });

  it('reuses an idle worker instead of starting a new one', async () => {
    await run([data], new VerifyingStream({ digest, size: data.length }, { offload: true }));
    const before = hashWorkerStats();
    await run([data], new VerifyingStream({ digest, size: data.length }, { offload: true }));
    expect(hashWorkerStats().live).toBe(before.live);
  });

  it('fails a digest mismatch before the consumer finishes, and frees the worker', async () => {
    const bad = Buffer.from(data);
    bad[5_000_000] = (bad[5_000_000] ?? 0) ^ 1;
    const r = await run(chunked(bad, 65_536), new VerifyingStream({ digest, size: data.length }, { offload: true }));
    expect(r.error).toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    expect(r.finished).toBe(false);
    await settled();
  });

  it('fails truncation before the consumer finishes', async () => {
    const r = await run(chunked(data.subarray(0, data.length - 1), 65_536), new VerifyingStream({ digest, size: data.length }, { offload: true }));
    expect(r.error).toMatchObject({ code: 'ERR_ORAS_SIZE_MISMATCH' });
    expect(r.finished).toBe(false);
    await settled();
  });

  it('fails as soon as more than size bytes arrive', async () => {
    const extra = [...chunked(data, 1024 * 1024), Buffer.from('x'), ...chunked(data, 1024 * 1024)];
    const r = await run(extra, new VerifyingStream({ digest, size: data.length }, { offload: true }));
    expect(r.error).toMatchObject({ code: 'ERR_ORAS_SIZE_MISMATCH' });
    expect(r.bytes).toBeLessThanOrEqual(data.length);
    await settled();
  });

  it('frees (terminates) the worker when destroyed mid-stream', async () => {
    const v = new VerifyingStream({ digest, size: data.length }, { offload: true });
    expect(hashWorkerStats().busy).toBe(1);
    v.on('data', () => undefined);
    v.write(data.subarray(0, 6 * 1024 * 1024));
    v.destroy();
    expect(hashWorkerStats().busy).toBe(0);
    await settled();
  });

  it('frees the worker when the source errors', async () => {
    async function* source(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 5 * 1024 * 1024);
      throw new Error('source broke');
    }
    const v = new VerifyingStream({ digest, size: data.length }, { offload: true });
    await expect(pipeline(Readable.from(source()), v, new Writable({ write: (_c, _e, cb) => cb() }))).rejects.toThrow('source broke');
    await settled();
  });

  it('fails with ERR_ORAS_IO (never a wrong verdict) when the worker dies mid-stream', async () => {
    const v = new VerifyingStream({ digest, size: data.length }, { offload: true });
    const done = run(chunked(data, 65_536), v);
    await new Promise((r) => setTimeout(r, 5));
    terminateHashWorkers();
    const r = await done;
    expect(r.finished).toBe(false);
    expect(r.error).toMatchObject({ code: 'ERR_ORAS_IO' });
    await settled();
  });

  it('hashes inline below the threshold and beyond the worker cap, with the same verdicts', async () => {
    closeIdleHashWorkers();
    await settled();
    const small = data.subarray(0, 1000);
    expect((await run([small], new VerifyingStream({ digest: digestOf(small), size: small.length }))).error).toBeUndefined();
    expect(hashWorkerStats().threads).toBe(0);
    // a warm (idle) worker lowers the bar to the warm threshold; a cold pool does not
    hashOffloadSettings.threshold = 100 * 1024 * 1024;
    hashOffloadSettings.warmThreshold = 1024 * 1024;
    new VerifyingStream({ digest, size: data.length }).destroy();
    expect(hashWorkerStats().threads).toBe(0);
    await run([data], new VerifyingStream({ digest, size: data.length }, { offload: true }));
    const warm = new VerifyingStream({ digest, size: data.length });
    expect(hashWorkerStats().busy).toBe(1);
    expect((await run([data], warm)).error).toBeUndefined();

    hashOffloadSettings.threshold = 1;
    const holders = Array.from({ length: HASH_WORKER_LIMIT }, () => new VerifyingStream({ digest, size: data.length }));
    expect(hashWorkerStats().busy).toBe(HASH_WORKER_LIMIT);
    const extra = new VerifyingStream({ digest, size: data.length }); // no worker left: inline
    expect(hashWorkerStats().live).toBe(HASH_WORKER_LIMIT);
    expect((await run(chunked(data, 65_536), extra)).error).toBeUndefined();
    const bad = Buffer.from(data);
    bad[0] = (bad[0] ?? 0) ^ 1;
    const extraBad = new VerifyingStream({ digest, size: data.length });
    expect((await run([bad], extraBad)).error).toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    for (const h of holders) h.destroy();
    await settled();
  });

  it('keeps resumed verification (hash + offset) inline and correct', async () => {
    const prefix = 1_000_000;
    const hash = createHash('sha256').update(data.subarray(0, prefix));
    hashOffloadSettings.threshold = 1;
    const before = hashWorkerStats().busy;
    const v = new VerifyingStream({ digest, size: data.length }, { hash, offset: prefix });
    expect(hashWorkerStats().busy).toBe(before);
    expect((await run(chunked(data.subarray(prefix), 65_536), v)).error).toBeUndefined();
  });
});

describe('digestFile', () => {
  it('hashes small files inline and big files in a worker, with equal results; fails cleanly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oras-hash-'));
    try {
      const f = join(dir, 'f.bin');
      await writeFile(f, data);
      const inline = await digestFile(f, { offload: false });
      expect(inline).toEqual({ digest, size: data.length });
      closeIdleHashWorkers();
      await settled();
      expect(await digestFile(f, { offload: true })).toEqual({ digest, size: data.length });
      expect(hashWorkerStats().threads).toBe(1);
      hashOffloadSettings.threshold = 1;
      expect(await digestFile(f, { algorithm: 'sha512' })).toEqual({ digest: `sha512:${createHash('sha512').update(data).digest('hex')}`, size: data.length });
      const empty = join(dir, 'empty');
      await writeFile(empty, '');
      expect(await digestFile(empty)).toEqual({ digest: digestOf(''), size: 0 });

      await expect(digestFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ERR_ORAS_IO' });
      await expect(digestFile(dir, { offload: true })).rejects.toMatchObject({ code: 'ERR_ORAS_IO' }); // EISDIR in the worker
      await expect(digestFile(f, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ORAS_ABORTED' });
      const ac = new AbortController();
      const p = digestFile(f, { offload: true, signal: ac.signal });
      ac.abort();
      await expect(p).rejects.toMatchObject({ code: 'ERR_ORAS_ABORTED' });
      await settled();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
