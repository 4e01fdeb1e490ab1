import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OciLayoutStore } from '../../src/content/oci-layout.js';
import { Annotation, MediaType } from '../../src/oci/media-types.js';
import { collect, descOf, pushImage, pushIndex, pushReferrer, streamBytes } from './fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-layout-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function indexJson(
  layout: string,
): Promise<{ manifests: { digest: string; annotations?: Record<string, string> }[] }> {
  return JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
}

describe('OciLayoutStore', () => {
  it('creates a spec-conformant layout', async () => {
    const layout = join(dir, 'l');
    await OciLayoutStore.open(layout);
    expect(JSON.parse(await readFile(join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(await indexJson(layout)).toEqual({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] });
    expect(await readdir(join(layout, 'blobs'))).toEqual(['sha256']);
    expect((await readdir(layout)).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
  });

  it('refuses missing layouts without create, and unknown versions', async () => {
    await expect(OciLayoutStore.open(join(dir, 'missing'), { readOnly: true })).rejects.toMatchObject({
      code: 'ERR_ORAS_NOT_FOUND',
    });
    await expect(OciLayoutStore.open(join(dir, 'missing'), { create: false })).rejects.toMatchObject({
      code: 'ERR_ORAS_NOT_FOUND',
    });
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await expect(OciLayoutStore.open(dir)).rejects.toMatchObject({ code: 'ERR_ORAS_UNSUPPORTED' });
  });

  it('refuses to write through a symlinked blobs directory', async () => {
    const layout = join(dir, 'l');
    await mkdir(layout);
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await mkdir(join(dir, 'elsewhere'));
    await symlink(join(dir, 'elsewhere'), join(layout, 'blobs'));
    await expect(OciLayoutStore.open(layout)).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
  });

  it('pushes blobs (streamed and buffered), fetches them verified, and checks existence cheaply', async () => {
    const s = await OciLayoutStore.open(dir);
    const data = Buffer.alloc(200_000, 3);
    const d = descOf(data);
    expect(await s.exists(d)).toBe(false);
    let progress = 0;
    await s.push(d, Readable.from([data.subarray(0, 1000), data.subarray(1000)]), {
      onProgress: (b) => (progress = b),
    });
    expect(progress).toBe(data.length);
    expect(await s.exists(d)).toBe(true);
    expect(await s.exists({ ...d, size: 1 })).toBe(false);
    expect((await streamBytes(await s.fetch(d))).equals(data)).toBe(true);
    const small = descOf('small');
    await s.push(small, Buffer.from('small'));
    expect(await readFile(s.blobPath(small.digest), 'utf8')).toBe('small');
    await s.push(small, Buffer.from('small')); // idempotent
  });

  it('leaves nothing behind when pushed content does not verify', async () => {
    const s = await OciLayoutStore.open(dir);
    const d = descOf('expected content');
    await expect(s.push(d, Readable.from([Buffer.from('tampered content')]))).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    await expect(s.push(d, Readable.from([Buffer.from('short')]))).rejects.toMatchObject({
      code: 'ERR_ORAS_SIZE_MISMATCH',
    });
    await expect(s.push(d, Buffer.from('tampered content'))).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
    expect(await s.exists(d)).toBe(false);
  });

  it('rejects invalid digests before touching the file system', async () => {
    const s = await OciLayoutStore.open(dir);
    const bad = { mediaType: 'x', digest: 'sha256:../../../../etc/passwd', size: 1 };
    await expect(s.push(bad, Buffer.from('x'))).rejects.toMatchObject({ code: 'ERR_ORAS_INVALID_DIGEST' });
    await expect(s.fetch(bad)).rejects.toMatchObject({ code: 'ERR_ORAS_INVALID_DIGEST' });
    await expect(s.exists(bad)).rejects.toMatchObject({ code: 'ERR_ORAS_INVALID_DIGEST' });
  });

  it('detects a corrupted blob while reading (verifyOnRead) and can skip verification', async () => {
    const s = await OciLayoutStore.open(dir);
    const d = descOf('good bytes');
    await s.push(d, Buffer.from('good bytes'));
    await writeFile(s.blobPath(d.digest), 'evil bytes');
    await expect(streamBytes(await s.fetch(d))).rejects.toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    const unverified = await OciLayoutStore.open(dir, { verifyOnRead: false });
    expect((await streamBytes(await unverified.fetch(d))).toString()).toBe('evil bytes');
    await writeFile(s.blobPath(d.digest), 'evil bytes, longer');
    await expect(s.fetch(d)).rejects.toMatchObject({ code: 'ERR_ORAS_SIZE_MISMATCH' });
    await expect(s.fetch(descOf('absent'))).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
  });

  it('records untagged manifests, tags them, moves tags and keeps the old manifest', async () => {
    const s = await OciLayoutStore.open(dir);
    const a = await pushImage(s);
    expect((await indexJson(dir)).manifests).toEqual([a.manifest]);
    await s.tag(a.manifest, 'v1');
    await s.tag(a.manifest, 'latest');
    expect((await indexJson(dir)).manifests.map((m) => m.annotations?.[Annotation.RefName])).toEqual(['v1', 'latest']);
    expect(await s.resolve('v1')).toEqual(a.manifest);
    expect(await s.resolve(a.manifest.digest)).toEqual(a.manifest);
    const b = await pushImage(s);
    await s.tag(b.manifest, 'v1');
    expect((await s.resolve('v1')).digest).toBe(b.manifest.digest);
    expect((await s.resolve('latest')).digest).toBe(a.manifest.digest);
    expect(await collect(s.tags())).toEqual(['latest', 'v1']);
    await s.untag('latest');
    expect(await collect(s.tags())).toEqual(['v1']);
    // a is still recorded (untagged), so it is not garbage
    expect(
      (await indexJson(dir)).manifests.some((m) => m.digest === a.manifest.digest && m.annotations === undefined),
    ).toBe(true);
    expect(await s.gc()).toBe(0);
    await expect(s.resolve('nope')).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    await expect(s.tag(a.manifest, 'bad tag!')).rejects.toMatchObject({ code: 'ERR_ORAS_INVALID_REFERENCE' });
    await expect(s.tag(descOf('never pushed', MediaType.ImageManifest), 'x')).rejects.toMatchObject({
      code: 'ERR_ORAS_NOT_FOUND',
    });
  });

  it('resolves an index child manifest by digest from the blobs', async () => {
    const s = await OciLayoutStore.open(dir);
    const a = await pushImage(s);
    const idx = await pushIndex(s, [a.manifest]);
    await s.tag(idx.desc, 'multi');
    await s.delete(a.manifest); // drop the untagged entry; keep the blob around for the resolve below
    await s.push(a.manifest, a.manifestBytes);
    const raw = (await indexJson(dir)).manifests.filter((m) => m.digest !== a.manifest.digest);
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: raw }));
    expect(await s.resolve(a.manifest.digest)).toEqual({
      mediaType: MediaType.ImageManifest,
      digest: a.manifest.digest,
      size: a.manifest.size,
    });
  });

  it('deletes content and its index entries; gc removes unreachable blobs', async () => {
    const s = await OciLayoutStore.open(dir);
    const a = await pushImage(s);
    await s.tag(a.manifest, 'v1');
    const stray = descOf('stray');
    await s.push(stray, Buffer.from('stray'));
    expect(await s.gc()).toBe(1);
    expect(await s.exists(stray)).toBe(false);
    expect(await s.exists(a.layers[0]!.desc)).toBe(true);
    await s.delete(a.manifest);
    expect(await collect(s.tags())).toEqual([]);
    expect(await s.exists(a.manifest)).toBe(false);
    await expect(s.delete(a.manifest)).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    expect(await s.gc()).toBe(3); // config + 2 layers
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
  });

  it('lists referrers by scanning recorded manifests', async () => {
    const s = await OciLayoutStore.open(dir);
    const a = await pushImage(s);
    await s.tag(a.manifest, 'v1');
    const sig = await pushReferrer(s, a.manifest, 'application/vnd.example.sig');
    await pushReferrer(s, a.manifest, 'application/vnd.example.sbom');
    expect((await s.referrers(a.manifest)).length).toBe(2);
    const sigs = await s.referrers(a.manifest, { artifactType: 'application/vnd.example.sig' });
    expect(sigs.map((d) => d.digest)).toEqual([sig.manifest.digest]);
    expect(sigs[0]).toMatchObject({
      mediaType: MediaType.ImageManifest,
      artifactType: 'application/vnd.example.sig',
      size: sig.manifest.size,
    });
    // the referrers survive a reopen (they are recorded in index.json)
    const again = await OciLayoutStore.open(dir, { readOnly: true });
    expect((await again.referrers(a.manifest)).length).toBe(2);
  });

  it('refuses writes when read-only', async () => {
    await OciLayoutStore.open(dir);
    const ro = await OciLayoutStore.open(dir, { readOnly: true });
    await expect(ro.push(descOf('x'), Buffer.from('x'))).rejects.toMatchObject({ code: 'ERR_ORAS_UNSUPPORTED' });
    await expect(ro.tag(descOf('x'), 'v1')).rejects.toMatchObject({ code: 'ERR_ORAS_UNSUPPORTED' });
    await expect(ro.delete(descOf('x'))).rejects.toMatchObject({ code: 'ERR_ORAS_UNSUPPORTED' });
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
  });

  it('reports ERR_ORAS_LOCKED when another live process holds the index lock', async () => {
    const s = await OciLayoutStore.open(dir, { lockTimeoutMs: 0 });
    const a = await pushImage(s);
    await writeFile(
      join(dir, 'index.json.lock'),
      JSON.stringify({ pid: process.pid, hostname: hostname(), createdAt: 'now', token: 'other-writer' }),
    );
    await expect(s.tag(a.manifest, 'v1')).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKED' });
    expect(await collect(s.tags())).toEqual([]); // reads do not need the lock
    await rm(join(dir, 'index.json.lock'));
    await s.tag(a.manifest, 'v1');
    expect(await collect(s.tags())).toEqual(['v1']);
  });

  it('keeps every tag when many tags are written concurrently in one process', async () => {
    const s1 = await OciLayoutStore.open(dir);
    const s2 = await OciLayoutStore.open(dir); // two instances = two queues, only the file lock serializes them
    const a = await pushImage(s1);
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? s1 : s2).tag(a.manifest, `t${i}`)));
    expect((await collect(s1.tags())).length).toBe(20);
  });
});
