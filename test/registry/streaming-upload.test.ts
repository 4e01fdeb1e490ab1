import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { hasUnhashedPush } from '../../src/content/store.js';
import { digestOf } from '../../src/oci/digest.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { registry } from '../harness/context.js';
import { blob, clientFor, collect, descOf, generated, repoOn } from './helpers.js';

/** A stream of `data` in 64 KiB pieces, each delivered on a later tick (so the upload is really in flight). */
function slowStream(data: Buffer, piece = 64 * 1024): Readable {
  let pos = 0;
  return new Readable({
    read() {
      setImmediate(() => {
        if (pos >= data.length) {
          this.push(null);
          return;
        }
        this.push(data.subarray(pos, pos + piece));
        pos += piece;
      });
    },
  });
}

/** A promise plus its resolve/reject. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * The upload session was DELETEd once (answered 204, or 404 when the registry already dropped the
 * session after the interrupted PATCH: either way nothing is left dangling).
 */
function expectSessionCancelled(lines: string[]): void {
  expect(lines.filter((l) => /^< (204|404) DELETE /.test(l) && l.includes('/blobs/uploads/'))).toHaveLength(1);
}

for (const mode of ['plain', 'token'] as const) {
  describe(`Repository.pushUnhashed (${mode} registry)`, () => {
    const info = registry(mode);
    const lines: string[] = [];
    const client: RegistryClient = clientFor(info, (l) => lines.push(l));
    afterAll(async () => {
      await client.close();
    });

    it('is advertised as a capability', () => {
      expect(hasUnhashedPush(repoOn(info, client, 'su-cap'))).toBe(true);
    });

    it('streams one PATCH while the digest is computed, then commits with an empty PUT ?digest=', async () => {
      const repo = repoOn(info, client, 'su-push');
      const data = blob(3 * 1024 * 1024 + 17);
      const desc = descOf(data);
      const digest = deferred<string>();
      const calls: string[] = [];
      const progress: number[] = [];
      lines.length = 0;
      const pushing = repo.pushUnhashed(() => slowStream(data), data.length, digest.promise, {
        onStart: () => calls.push('start'),
        onProgress: (n) => {
          if (progress.length === 0) calls.push('progress');
          progress.push(n);
        },
      });
      // The digest arrives late (after some bytes are in flight): nothing is reported before.
      await new Promise((r) => setTimeout(r, 30));
      expect(calls).toEqual([]);
      digest.resolve(desc.digest);
      expect(await pushing).toBe('pushed');
      expect(calls).toEqual(['start', 'progress']);
      expect(progress.at(-1)).toBe(data.length);
      for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1] ?? 0);
      expect((await collect(await repo.fetch(desc))).equals(data)).toBe(true);
      const patches = lines.filter((l) => l.startsWith('> PATCH '));
      expect(patches).toHaveLength(1);
      expect(patches[0]).not.toMatch(/content-range/i);
      expect(lines.filter((l) => l.startsWith('< 201 PUT ') && l.includes('digest=sha256'))).toHaveLength(1);
    });

    it('works when the digest is known before the upload starts and for a zero-byte blob', async () => {
      const repo = repoOn(info, client, 'su-early');
      const g = generated(2 * 1024 * 1024 + 5, 7);
      expect(await repo.pushUnhashed(g.stream, 2 * 1024 * 1024 + 5, Promise.resolve(g.digest))).toBe('pushed');
      expect(
        await repo.exists({ mediaType: 'application/octet-stream', digest: g.digest, size: 2 * 1024 * 1024 + 5 }),
      ).toBe(true);
      const empty = Buffer.alloc(0);
      expect(await repo.pushUnhashed(() => Readable.from([]), 0, Promise.resolve(digestOf(empty)))).toBe('pushed');
      expect(await repo.exists(descOf(empty))).toBe(true);
    });

    it('an existing blob → "exists": the upload is cancelled (session deleted), never committed, onStart not called', async () => {
      const repo = repoOn(info, client, 'su-exists');
      const data = blob(4 * 1024 * 1024);
      const desc = descOf(data);
      await repo.push(desc, data);
      lines.length = 0;
      let started = false;
      const progress: number[] = [];
      const digest = deferred<string>();
      const pushing = repo.pushUnhashed(() => slowStream(data), data.length, digest.promise, {
        onStart: () => (started = true),
        onProgress: (n) => progress.push(n),
      });
      await new Promise((r) => setTimeout(r, 20));
      digest.resolve(desc.digest);
      expect(await pushing).toBe('exists');
      expect(started).toBe(false);
      expect(progress).toEqual([]);
      expect(lines.some((l) => l.startsWith('> PUT '))).toBe(false);
      expectSessionCancelled(lines);
    });

    it('an existing blob found after the PATCH completed → the session is deleted cleanly (204)', async () => {
      const repo = repoOn(info, client, 'su-exists-late');
      const data = blob(1000);
      const desc = descOf(data);
      await repo.push(desc, data);
      lines.length = 0;
      const digest = deferred<string>();
      const pushing = repo.pushUnhashed(() => Readable.from([data]), data.length, digest.promise);
      for (let i = 0; i < 200 && !lines.some((l) => l.startsWith('< 202 PATCH ')); i++)
        await new Promise((r) => setTimeout(r, 10));
      digest.resolve(desc.digest);
      expect(await pushing).toBe('exists');
      expect(lines.filter((l) => l.startsWith('< 204 DELETE ') && l.includes('/blobs/uploads/'))).toHaveLength(1);
      expect(lines.some((l) => l.startsWith('> PUT '))).toBe(false);
    });

    it('content that does not hash to the digest (source changed) → ERR_ORAS_DIGEST_MISMATCH, nothing committed', async () => {
      const repo = repoOn(info, client, 'su-changed');
      const data = blob(1024 * 1024);
      const claimed = descOf(blob(1024 * 1024));
      const err = await repo
        .pushUnhashed(() => slowStream(data), data.length, Promise.resolve(claimed.digest), { what: 'big.bin' })
        .catch((e: unknown) => e);
      expect(isOrasError(err, 'ERR_ORAS_DIGEST_MISMATCH')).toBe(true);
      expect((err as Error).message).toMatch(/big\.bin changed while it was being pushed/);
      expect(await repo.exists(claimed)).toBe(false);
      expect(await repo.exists(descOf(data))).toBe(false);
    });

    it('fewer or more bytes than announced → ERR_ORAS_DIGEST_MISMATCH before anything is committed', async () => {
      const repo = repoOn(info, client, 'su-size');
      const data = blob(512 * 1024);
      const short = await repo
        .pushUnhashed(() => slowStream(data), data.length + 10, Promise.resolve(descOf(data).digest))
        .catch((e: unknown) => e);
      expect(isOrasError(short, 'ERR_ORAS_DIGEST_MISMATCH')).toBe(true);
      const long = await repo
        .pushUnhashed(() => slowStream(data), data.length - 10, Promise.resolve(descOf(data).digest))
        .catch((e: unknown) => e);
      expect(isOrasError(long, 'ERR_ORAS_DIGEST_MISMATCH')).toBe(true);
      expect(await repo.exists(descOf(data))).toBe(false);
    });

    it('a failing digest computation cancels the upload and rejects with its error', async () => {
      const repo = repoOn(info, client, 'su-digest-fail');
      const data = blob(2 * 1024 * 1024);
      lines.length = 0;
      const boom = new Error('hash failed');
      const digest = deferred<string>();
      const pushing = repo.pushUnhashed(() => slowStream(data), data.length, digest.promise);
      await new Promise((r) => setTimeout(r, 20));
      digest.reject(boom);
      await expect(pushing).rejects.toBe(boom);
      expectSessionCancelled(lines);
      expect(lines.some((l) => l.startsWith('> PUT '))).toBe(false);
    });

    it('abort mid-upload rejects with ERR_ORAS_ABORTED and deletes the session', async () => {
      const repo = repoOn(info, client, 'su-abort');
      const data = blob(8 * 1024 * 1024);
      const desc = descOf(data);
      const ac = new AbortController();
      lines.length = 0;
      const err = await repo
        .pushUnhashed(() => slowStream(data), data.length, Promise.resolve(desc.digest), {
          signal: ac.signal,
          onProgress: (n) => {
            if (n > 0) ac.abort();
          },
        })
        .catch((e: unknown) => e);
      expect(isOrasError(err, 'ERR_ORAS_ABORTED')).toBe(true);
      expectSessionCancelled(lines);
      expect(await repo.exists(desc)).toBe(false);
    });

    it('with chunkSize configured, awaits the digest and uses the chunked upload', async () => {
      const repo = repoOn(info, client, 'su-chunked', { chunkSize: 1024 * 1024 });
      const data = blob(2 * 1024 * 1024 + 3);
      const desc = descOf(data);
      lines.length = 0;
      expect(await repo.pushUnhashed(() => slowStream(data), data.length, Promise.resolve(desc.digest))).toBe('pushed');
      expect(lines.filter((l) => l.startsWith('< 202 PATCH '))).toHaveLength(3);
      expect((await collect(await repo.fetch(desc))).equals(data)).toBe(true);
      expect(await repo.pushUnhashed(() => slowStream(data), data.length, Promise.resolve(desc.digest))).toBe('exists');
    });
  });
}
