import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { streamToFileAtomic } from '../../src/content/fs-atomic.js';
import { Registry } from '../../src/registry/registry.js';
import { registry, type RegistryMode } from '../harness/context.js';
import { blob, clientFor, collect, descOf, pushImage, repoOn } from './helpers.js';

describe.each(['basic', 'tls', 'token'] as RegistryMode[])('push/pull roundtrip (%s registry)', (mode) => {
  it('pushes blobs (monolithic + chunked), a manifest, a tag and a referrer; pulls them back', async () => {
    const info = registry(mode);
    const client = clientFor(info);
    try {
      await new Registry({ registry: info.host, client }).ping();
      const repo = repoOn(info, client, `auth-${mode}`);
      const data = blob(200_000);
      const desc = descOf(data);
      await repo.push(desc, Readable.from([data]));
      expect((await collect(await repo.fetch(desc))).equals(data)).toBe(true);

      const chunked = repoOn(info, client, `auth-${mode}-chunked`, { chunkSize: 70_000 });
      await chunked.push(desc, Readable.from([data]));
      expect((await collect(await chunked.fetch(desc))).equals(data)).toBe(true);
      const third = repoOn(info, client, `auth-${mode}-mount`);
      expect(await third.mount(desc, repo.repository)).toBe('mounted');
      expect((await collect(await third.fetch(desc))).equals(data)).toBe(true);

      const img = await pushImage(repo);
      await repo.tag(img.desc, 'v1');
      expect(await repo.resolve('v1')).toEqual(img.desc);
      const tags: string[] = [];
      for await (const t of repo.tags()) tags.push(t);
      expect(tags).toEqual(['v1']);
      const ref = await pushImage(repo, { subject: img.desc, artifactType: 'application/vnd.example.sig' });
      expect((await repo.referrers(img.desc)).map((d) => d.digest)).toEqual([ref.desc.digest]);
      await repo.delete(ref.desc);
      expect(await repo.referrers(img.desc)).toEqual([]);
      const names: string[] = [];
      for await (const n of new Registry({ registry: info.host, client }).repositories()) names.push(n);
      expect(names).toContain(repo.repository);
    } finally {
      await client.close();
    }
  });
});

describe.each(['plain', 'basic', 'tls', 'token'] as RegistryMode[])(
  "the client's own HTTP/1.1 reader for large blobs (%s registry)",
  (mode) => {
    it('downloads several blobs at once into files (one shared read buffer on plain HTTP) and as a stream', async () => {
      const info = registry(mode);
      // Threshold 0: every blob download goes through direct-get.ts (auth challenges included).
      const client = clientFor(info, undefined, { directDownloadBytes: 0 });
      const dir = await mkdtemp(join(tmpdir(), 'oras-direct-'));
      try {
        const repo = repoOn(info, client, `direct-${mode}`);
        const blobs = [blob(3 * 1024 * 1024 + 17), blob(2 * 1024 * 1024 + 5), blob(4 * 1024 * 1024)];
        for (const data of blobs) await repo.push(descOf(data), Readable.from([data]));
        // Files: above the in-memory size, so each is pumped chunk by chunk into its file, all at the same time.
        await Promise.all(
          blobs.map(async (data, i) => {
            const desc = descOf(data);
            await streamToFileAtomic(join(dir, `b${i}`), await repo.fetch(desc), { expected: desc });
          }),
        );
        for (const [i, data] of blobs.entries()) expect((await readFile(join(dir, `b${i}`))).equals(data)).toBe(true);
        const streamed = await Promise.all(blobs.map(async (data) => await collect(await repo.fetch(descOf(data)))));
        for (const [i, data] of blobs.entries()) expect(streamed[i]?.equals(data)).toBe(true);
        expect((await readdir(dir)).sort()).toEqual(['b0', 'b1', 'b2']);
      } finally {
        await client.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  },
);

describe('authentication failures', () => {
  it('anonymous push to the basic registry is UNAUTHORIZED', async () => {
    const info = registry('basic');
    const client = clientFor({ ...info, users: [] });
    try {
      const repo = repoOn(info, client, 'anon');
      const data = blob(10);
      await expect(repo.push(descOf(data), data)).rejects.toMatchObject({ code: 'ERR_ORAS_UNAUTHORIZED' });
    } finally {
      await client.close();
    }
  });
});
