import { afterAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { EMPTY_DESCRIPTOR, EMPTY_JSON, type ImageIndex, type ImageManifest } from '../../src/oci/descriptor.js';
import { encodeManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { Registry } from '../../src/registry/registry.js';
import { Repository } from '../../src/registry/repository.js';
import { registry, uniqueRepo } from '../harness/context.js';
import { blob, clientFor, collect, descOf, pushImage, repoOn } from './helpers.js';

const info = registry('plain');
const client = clientFor(info);
afterAll(async () => {
  await client.close();
});

describe('Repository manifests (plain registry)', () => {
  it('pushes an image-spec v1.1 artifact (custom config type, artifactType) and fetches it back', async () => {
    const repo = repoOn(info, client, 'artifact');
    const layerBytes = Buffer.from('hello artifact');
    const layer = descOf(layerBytes, 'application/vnd.example.text');
    await repo.push(EMPTY_DESCRIPTOR, EMPTY_JSON);
    await repo.push(layer, layerBytes);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      artifactType: 'application/vnd.example.thing.v1',
      config: { ...EMPTY_DESCRIPTOR },
      layers: [layer],
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    };
    const bytes = encodeManifest(manifest);
    const desc = descOf(bytes, MediaType.ImageManifest);
    await repo.push(desc, Readable.from([bytes]));
    expect(await repo.exists(desc)).toBe(true);
    expect((await collect(await repo.fetch(desc))).equals(bytes)).toBe(true);
    const fetched = await repo.fetchManifest(desc.digest);
    expect(fetched.descriptor).toEqual(desc);
    expect(fetched.bytes.equals(bytes)).toBe(true);
    expect(fetched.parsed.kind === 'manifest' && fetched.parsed.manifest.artifactType).toBe(
      'application/vnd.example.thing.v1',
    );

    const custom = await pushImage(repo, { configType: 'application/vnd.example.config.v1+json' });
    const f2 = await repo.fetchManifest(custom.desc.digest);
    expect(f2.parsed.kind === 'manifest' && f2.parsed.manifest.config.mediaType).toBe(
      'application/vnd.example.config.v1+json',
    );
  });

  it('tags, resolves (HEAD) by tag and digest, pushReference, lists tags', async () => {
    const repo = repoOn(info, client, 'tags');
    const img = await pushImage(repo);
    await repo.tag(img.desc, 'v1');
    await repo.tag(img.desc, 'latest');
    expect(await repo.resolve('v1')).toEqual(img.desc);
    expect(await repo.resolve(img.desc.digest)).toEqual(img.desc);
    const img2 = await pushImage(repo);
    await repo.pushReference(img2.desc, img2.bytes, 'v2');
    expect(await repo.resolve('v2')).toEqual(img2.desc);
    const fetched = await repo.fetchManifest('v2');
    expect(fetched.descriptor).toEqual(img2.desc);
    const tags: string[] = [];
    for await (const t of repo.tags()) tags.push(t);
    expect(tags.sort()).toEqual(['latest', 'v1', 'v2']);
    await expect(repo.resolve('nope')).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    await expect(repo.resolve('bad tag')).rejects.toMatchObject({ code: 'ERR_ORAS_INVALID_REFERENCE' });
  });

  it('pushes and fetches an image index', async () => {
    const repo = repoOn(info, client, 'index');
    const a = await pushImage(repo);
    const b = await pushImage(repo);
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [a.desc, b.desc] };
    const bytes = encodeManifest(index);
    const desc = descOf(bytes, MediaType.ImageIndex);
    await repo.pushReference(desc, bytes, 'multi');
    const r = await repo.resolve('multi');
    expect(r).toEqual(desc);
    const f = await repo.fetchManifest('multi');
    expect(f.parsed.kind).toBe('index');
  });

  it('refuses to push a manifest whose bytes do not match the descriptor', async () => {
    const repo = repoOn(info, client, 'badmanifest');
    const img = await pushImage(repo);
    const other = Buffer.from(img.bytes.toString().replace('"schemaVersion":2', '"schemaVersion":2 '));
    await expect(repo.push(img.desc, other)).rejects.toMatchObject({ code: 'ERR_ORAS_SIZE_MISMATCH' });
  });

  it('deletes a manifest; then resolve is NOT_FOUND', async () => {
    const repo = repoOn(info, client, 'mdel');
    const img = await pushImage(repo);
    await repo.tag(img.desc, 'gone');
    await repo.delete(img.desc);
    expect(await repo.exists(img.desc)).toBe(false);
    await expect(repo.resolve('gone')).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
    await expect(repo.delete(img.desc)).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
  });
});

describe('Registry (plain registry)', () => {
  it('pings, lists the catalog and makes repositories', async () => {
    const reg = new Registry({ registry: info.host, client });
    await reg.ping();
    const name = uniqueRepo('registry-test/catalog');
    const repo = reg.repository(name);
    expect(repo).toBeInstanceOf(Repository);
    const data = blob(10);
    await repo.push(descOf(data), data);
    const names: string[] = [];
    for await (const n of reg.repositories()) names.push(n);
    expect(names).toContain(name);
  });

  it('reports a missing registry as a network error', async () => {
    const reg = new Registry({ registry: '127.0.0.1:1', client });
    await expect(reg.ping()).rejects.toMatchObject({ code: 'ERR_ORAS_NETWORK' });
  });
});
