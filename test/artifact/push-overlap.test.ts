import { randomBytes } from 'node:crypto';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { packArtifact } from '../../src/artifact/pack.js';
import type { UnhashedPushOptions } from '../../src/content/store.js';
import { isOrasError } from '../../src/errors.js';
import type { TransferEvent } from '../../src/events.js';
import { digestOf } from '../../src/oci/digest.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { registry, uniqueRepo } from '../harness/context.js';
import { clientFor } from '../registry/helpers.js';
import { useTempDirs } from './helpers.js';

const tmp = useTempDirs();
const MiB = 1024 * 1024;

/** A real Repository whose pushUnhashed runs `before` once the digest is known (fault injection: the file changes mid-push). */
function tamperingStore(repo: Repository, before: () => Promise<void>): Repository {
  return new Proxy(repo, {
    get(target, prop, receiver) {
      if (prop === 'pushUnhashed') {
        return async (open: () => Readable, size: number, digest: Promise<string>, options?: UnhashedPushOptions) => {
          const d = await digest;
          await before();
          return await target.pushUnhashed(open, size, Promise.resolve(d), options);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** `METHOD reference` of each distinct manifest request in debug `lines`, in order (auth retries counted once). */
function manifestRequests(lines: string[]): string[] {
  const requests = lines
    .filter((l) => l.startsWith('> '))
    .map((l) => /^> (\w+) \S*\/manifests\/([^\s?]+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]} ${decodeURIComponent(m[2] ?? '')}`);
  return [...new Set(requests)];
}

for (const mode of ['plain', 'token'] as const) {
  describe(`packArtifact uploads big files while hashing (${mode} registry)`, () => {
    const info = registry(mode);
    const lines: string[] = [];
    const client: RegistryClient = clientFor(info, (l) => lines.push(l));
    afterAll(async () => {
      await client.close();
    });
    const repoOf = (name: string): Repository =>
      new Repository({
        reference: { registry: info.host, repository: uniqueRepo(`artifact/overlap-${name}`) },
        client,
      });

    it('pushes above the threshold with one PATCH + PUT, same manifest as the hash-first path; re-push skips', async () => {
      const cwd = await tmp();
      const big = randomBytes(3 * MiB + 11);
      await writeFile(path.join(cwd, 'big.bin'), big);
      await writeFile(path.join(cwd, 'small.txt'), 'small\n');
      const files = [{ path: 'big.bin' }, { path: 'small.txt' }];
      const repo = repoOf('push');
      const events: TransferEvent[] = [];
      lines.length = 0;
      const first = await packArtifact(repo, {
        cwd,
        files,
        overlapThreshold: MiB,
        tags: ['v1'],
        onEvent: (e) => events.push(e),
      });
      const bigDigest = digestOf(big);
      expect(first.layers[0]?.descriptor.digest).toBe(bigDigest);
      expect(first.layers[0]?.descriptor.size).toBe(big.length);
      const bigEvents = events.filter((e) => e.descriptor.digest === bigDigest).map((e) => e.type);
      expect(bigEvents[0]).toBe('start');
      expect(bigEvents.at(-1)).toBe('done');
      expect(bigEvents.filter((t) => t === 'start' || t === 'done')).toHaveLength(2);
      const lastProgress = events
        .filter(
          (e): e is Extract<TransferEvent, { type: 'progress' }> =>
            e.type === 'progress' && e.descriptor.digest === bigDigest,
        )
        .at(-1);
      expect(lastProgress?.bytes).toBe(big.length);
      expect(lines.filter((l) => l.startsWith('> PATCH '))).toHaveLength(1);
      // The manifest: HEAD, then one PUT under the tag (no PUT by digest, no GET back).
      expect(manifestRequests(lines)).toEqual([`HEAD ${first.descriptor.digest}`, 'PUT v1']);
      expect((await repo.resolve('v1')).digest).toBe(first.descriptor.digest);
      // The config uploads alongside the big file, not after it.
      const doneAt = (digest: string) => events.findIndex((e) => e.type === 'done' && e.descriptor.digest === digest);
      expect(doneAt(first.config.digest)).toBeGreaterThanOrEqual(0);
      expect(doneAt(first.config.digest)).toBeLessThan(doneAt(bigDigest));

      // The hash-first path gives the same manifest (and finds everything present).
      const hashFirst = await packArtifact(repoOf('push-hashfirst'), { cwd, files, overlapThreshold: Infinity });
      expect(hashFirst.descriptor.digest).toBe(first.descriptor.digest);

      const again: TransferEvent[] = [];
      lines.length = 0;
      const second = await packArtifact(repo, { cwd, files, overlapThreshold: MiB, onEvent: (e) => again.push(e) });
      expect(second.descriptor.digest).toBe(first.descriptor.digest);
      expect(again.filter((e) => e.descriptor.digest === bigDigest).map((e) => e.type)).toEqual(['skip']);
      expect(lines.some((l) => l.startsWith('> PUT ') && l.includes(`digest=${encodeURIComponent(bigDigest)}`))).toBe(
        false,
      );
      expect(lines.some((l) => l.startsWith('> PUT ') && l.includes(bigDigest))).toBe(false);

      // A re-push with tags: the manifest exists (skip), and each tag is one PUT.
      const tagged: TransferEvent[] = [];
      lines.length = 0;
      await packArtifact(repo, {
        cwd,
        files,
        overlapThreshold: MiB,
        tags: ['v1', 'v2'],
        onEvent: (e) => tagged.push(e),
      });
      const manifestEvents = tagged.filter((e) => e.descriptor.digest === first.descriptor.digest);
      expect(manifestEvents.map((e) => e.type)).toEqual(['skip']);
      expect(manifestRequests(lines)).toEqual([`HEAD ${first.descriptor.digest}`, 'PUT v1', 'PUT v2']);
      expect((await repo.resolve('v2')).digest).toBe(first.descriptor.digest);
    });

    it('streams the PATCH without a GET /v2/ probe once the POST was answered (a new client)', async () => {
      const cwd = await tmp();
      await writeFile(path.join(cwd, 'big.bin'), randomBytes(2 * MiB));
      const fresh: string[] = [];
      const own = clientFor(info, (l) => fresh.push(l));
      try {
        const repo = new Repository({
          reference: { registry: info.host, repository: uniqueRepo('artifact/overlap-probe') },
          client: own,
        });
        await packArtifact(repo, { cwd, files: [{ path: 'big.bin' }], overlapThreshold: MiB, tags: ['v1'] });
      } finally {
        await own.close();
      }
      const sent = fresh
        .filter((l) => l.startsWith('> '))
        .map((l) => `${l.split(' ')[1]} ${new URL(l.split(' ')[2] ?? 'http://x/').pathname}`);
      expect(sent.filter((r) => r.startsWith('PATCH '))).toHaveLength(1);
      // Plain: nothing asks for credentials, so no probe at all. Token: the first request's 401
      // gives the scheme and the token, so no probe either.
      expect(sent).not.toContain('GET /v2/');
    });

    it('a file rewritten during the push → ERR_ORAS_DIGEST_MISMATCH "changed while it was being pushed", nothing tagged', async () => {
      const cwd = await tmp();
      const file = path.join(cwd, 'big.bin');
      await writeFile(file, randomBytes(2 * MiB));
      const repo = repoOf('changed');
      const store = tamperingStore(repo, async () => writeFile(file, randomBytes(2 * MiB)));
      const err = await packArtifact(store, {
        cwd,
        files: [{ path: 'big.bin' }],
        overlapThreshold: MiB,
        tags: ['v1'],
      }).catch((e: unknown) => e);
      expect(isOrasError(err, 'ERR_ORAS_DIGEST_MISMATCH')).toBe(true);
      expect((err as Error).message).toContain('changed while it was being pushed');
      await expect(repo.resolve('v1')).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    });

    it('a file that grows during the push → ERR_ORAS_DIGEST_MISMATCH, nothing tagged', async () => {
      const cwd = await tmp();
      const file = path.join(cwd, 'big.bin');
      await writeFile(file, randomBytes(2 * MiB));
      const repo = repoOf('grown');
      const store = tamperingStore(repo, async () => appendFile(file, 'more'));
      const err = await packArtifact(store, {
        cwd,
        files: [{ path: 'big.bin' }],
        overlapThreshold: MiB,
        tags: ['v1'],
      }).catch((e: unknown) => e);
      expect(isOrasError(err, 'ERR_ORAS_DIGEST_MISMATCH')).toBe(true);
      expect((err as Error).message).toContain('changed while it was being pushed');
      await expect(repo.resolve('v1')).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    });

    it('abort mid-upload → ERR_ORAS_ABORTED, the session is cancelled, nothing tagged', async () => {
      const cwd = await tmp();
      const big = randomBytes(16 * MiB);
      await writeFile(path.join(cwd, 'big.bin'), big);
      const repo = repoOf('abort');
      const ac = new AbortController();
      lines.length = 0;
      // The config uploads alongside the big file: abort once it is done, during the big file's upload.
      let configDone = false;
      const err = await packArtifact(repo, {
        cwd,
        files: [{ path: 'big.bin' }],
        overlapThreshold: MiB,
        tags: ['v1'],
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type === 'done' && e.descriptor.size !== big.length) configDone = true;
          if (e.type === 'progress' && e.descriptor.size === big.length && configDone) ac.abort();
        },
      }).catch((e: unknown) => e);
      expect(isOrasError(err, 'ERR_ORAS_ABORTED')).toBe(true);
      expect(lines.filter((l) => /^< (204|404) DELETE /.test(l) && l.includes('/blobs/uploads/'))).toHaveLength(1);
      await expect(repo.resolve('v1')).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
      expect(
        await repo.exists({ mediaType: 'application/octet-stream', digest: digestOf(big), size: big.length }),
      ).toBe(false);
    });
  });
}
