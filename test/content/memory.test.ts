import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/content/memory.js';
import { MediaType } from '../../src/oci/media-types.js';
import { collect, descOf, pushImage, pushReferrer, streamBytes } from './fixtures.js';

describe('MemoryStore', () => {
  it('pushes, fetches and checks existence', async () => {
    const s = new MemoryStore();
    const d = descOf('hello');
    expect(await s.exists(d)).toBe(false);
    await s.push(d, Readable.from([Buffer.from('hel'), Buffer.from('lo')]));
    expect(await s.exists(d)).toBe(true);
    expect(await s.exists({ ...d, size: 4 })).toBe(false);
    expect((await streamBytes(await s.fetch(d))).toString()).toBe('hello');
    await s.push(d, Buffer.from('hello')); // idempotent
    expect(s.size).toBe(1);
  });

  it('rejects content that does not match and stores nothing', async () => {
    const s = new MemoryStore();
    const d = descOf('hello');
    await expect(s.push(d, Buffer.from('hellO'))).rejects.toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    await expect(s.push(d, Readable.from([Buffer.from('hello!')]))).rejects.toMatchObject({
      code: 'ERR_ORAS_SIZE_MISMATCH',
    });
    await expect(s.push(d, Readable.from([Buffer.from('hell')]))).rejects.toMatchObject({
      code: 'ERR_ORAS_SIZE_MISMATCH',
    });
    await expect(s.push({ ...d, digest: 'sha256:../../etc' }, Buffer.from('hello'))).rejects.toMatchObject({
      code: 'ERR_ORAS_INVALID_DIGEST',
    });
    expect(s.size).toBe(0);
    await expect(s.fetch(d)).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
  });

  it('rejects an invalid manifest', async () => {
    const s = new MemoryStore();
    const bytes = Buffer.from(
      '{"schemaVersion":2,"layers":[{"mediaType":"x","digest":"sha256:nope","size":1}],"config":{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}',
    );
    await expect(s.push(descOf(bytes, MediaType.ImageManifest), bytes)).rejects.toMatchObject({
      code: 'ERR_ORAS_INVALID_DIGEST',
    });
  });

  it('resolves tags and digests, lists tags sorted, deletes', async () => {
    const s = new MemoryStore();
    const img = await pushImage(s);
    await s.tag(img.manifest, 'v2');
    await s.tag(img.manifest, 'v1');
    expect(await s.resolve('v1')).toEqual(img.manifest);
    expect(await s.resolve(img.manifest.digest)).toEqual(img.manifest);
    expect(await collect(s.tags())).toEqual(['v1', 'v2']);
    expect(await collect(s.tags({ last: 'v1' }))).toEqual(['v2']);
    await expect(s.resolve('v3')).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    await expect(s.tag(descOf('absent'), 'x')).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    await s.delete(img.manifest);
    expect(await collect(s.tags())).toEqual([]);
    await expect(s.delete(img.manifest)).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
  });

  it('lists referrers by subject, filtered by artifact type', async () => {
    const s = new MemoryStore();
    const img = await pushImage(s);
    const sig = await pushReferrer(s, img.manifest, 'application/vnd.example.sig');
    const sbom = await pushReferrer(s, img.manifest, 'application/vnd.example.sbom');
    await pushReferrer(s, sig.manifest, 'application/vnd.example.sig'); // referrer of a referrer
    const all = await s.referrers(img.manifest);
    expect(all.map((d) => d.digest).sort()).toEqual([sig.manifest.digest, sbom.manifest.digest].sort());
    const sigs = await s.referrers(img.manifest, { artifactType: 'application/vnd.example.sig' });
    expect(sigs).toEqual([
      {
        mediaType: MediaType.ImageManifest,
        digest: sig.manifest.digest,
        size: sig.manifest.size,
        artifactType: 'application/vnd.example.sig',
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      },
    ]);
  });
});
