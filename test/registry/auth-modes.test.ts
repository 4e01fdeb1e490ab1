import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
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
