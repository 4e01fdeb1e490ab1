import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildManifest, packArtifact } from '../../src/artifact/pack.js';
import { MemoryStore } from '../../src/content/memory.js';
import type { TransferEvent } from '../../src/events.js';
import { EMPTY_DESCRIPTOR } from '../../src/oci/descriptor.js';
import { digestOf } from '../../src/oci/digest.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { tempDir } from './helpers.js';

const cleanups: string[] = [];
afterEach(async () => {
  for (const d of cleanups.splice(0)) await rm(d, { recursive: true, force: true });
});

async function workspace(): Promise<string> {
  const cwd = await tempDir();
  cleanups.push(cwd);
  await writeFile(path.join(cwd, 'hello.txt'), 'hello world\n');
  await mkdir(path.join(cwd, 'docs', 'nested'), { recursive: true });
  await writeFile(path.join(cwd, 'docs', 'readme.md'), '# readme\n');
  await writeFile(path.join(cwd, 'docs', 'nested', 'tool'), '#!/bin/sh\n');
  await chmod(path.join(cwd, 'docs', 'nested', 'tool'), 0o755);
  await symlink('readme.md', path.join(cwd, 'docs', 'link'));
  return cwd;
}

describe('buildManifest', () => {
  const layer = {
    mediaType: 'text/plain',
    digest: digestOf('x'),
    size: 1,
    annotations: { z: '1', 'org.opencontainers.image.title': 'x' },
  };
  it('v1.1 defaults: unknown artifact type, empty config, fixed key order, sorted annotations', () => {
    const built = buildManifest({ layers: [layer], annotations: { b: '2', a: '1' } });
    const text = built.bytes.toString();
    expect(Object.keys(JSON.parse(text))).toEqual([
      'schemaVersion',
      'mediaType',
      'artifactType',
      'config',
      'layers',
      'annotations',
    ]);
    expect(built.manifest.artifactType).toBe('application/vnd.unknown.artifact.v1');
    expect(built.manifest.config).toEqual(EMPTY_DESCRIPTOR);
    expect(text).toContain('"annotations":{"a":"1","b":"2"}');
    expect(text).toContain('"annotations":{"org.opencontainers.image.title":"x","z":"1"}');
    expect(text).not.toContain('org.opencontainers.image.created');
    expect(built.descriptor.digest).toBe(digestOf(built.bytes));
    expect(() => parseManifest(built.bytes)).not.toThrow();
  });
  it('v1.1 without layers uses one empty layer; created is added when given', () => {
    const built = buildManifest({ layers: [], created: '2024-01-01T00:00:00Z' });
    expect(built.manifest.layers).toEqual([EMPTY_DESCRIPTOR]);
    expect(built.manifest.annotations).toEqual({ 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' });
  });
  it('v1.0: no artifactType field, config typed by the artifact type', () => {
    const built = buildManifest({
      imageSpec: 'v1.0',
      artifactType: 'application/vnd.acme.rocket.config.v1+json',
      layers: [],
    });
    expect(built.manifest.artifactType).toBeUndefined();
    expect(built.manifest.layers).toEqual([]);
    expect(built.manifest.config).toEqual({
      mediaType: 'application/vnd.acme.rocket.config.v1+json',
      digest: digestOf('{}'),
      size: 2,
    });
    expect(buildManifest({ imageSpec: 'v1.0', layers: [] }).manifest.config.mediaType).toBe(
      'application/vnd.unknown.config.v1+json',
    );
    expect(() => buildManifest({ imageSpec: 'v1.0', artifactType: 'a/b', config: layer, layers: [] })).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_USAGE' }),
    );
  });
  it('subject goes between layers and annotations', () => {
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf('s'), size: 1 };
    const built = buildManifest({ layers: [layer], subject, annotations: { a: '1' } });
    expect(Object.keys(JSON.parse(built.bytes.toString()))).toEqual([
      'schemaVersion',
      'mediaType',
      'artifactType',
      'config',
      'layers',
      'subject',
      'annotations',
    ]);
  });
});

describe('packArtifact', () => {
  it('is reproducible and a second push uploads nothing', async () => {
    const cwd = await workspace();
    const store = new MemoryStore();
    const events1: TransferEvent[] = [];
    const first = await packArtifact(store, {
      cwd,
      files: [{ path: 'hello.txt' }, { path: './docs' }],
      onEvent: (e) => events1.push(e),
      tags: ['v1'],
    });
    expect(events1.filter((e) => e.type === 'done').length).toBe(4); // config, 2 layers, manifest
    const events2: TransferEvent[] = [];
    const second = await packArtifact(store, {
      cwd,
      files: [{ path: 'hello.txt' }, { path: './docs' }],
      onEvent: (e) => events2.push(e),
    });
    expect(second.descriptor.digest).toBe(first.descriptor.digest);
    expect(second.manifestBytes.equals(first.manifestBytes)).toBe(true);
    expect(events2.length).toBe(4);
    expect(events2.every((e) => e.type === 'skip')).toBe(true);
    expect((await store.resolve('v1')).digest).toBe(first.descriptor.digest);
    // a fresh store gets the same digest too
    const third = await packArtifact(new MemoryStore(), { cwd, files: [{ path: 'hello.txt' }, { path: './docs' }] });
    expect(third.descriptor.digest).toBe(first.descriptor.digest);
    const [file, dir] = first.manifest.layers;
    expect(file).toMatchObject({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      annotations: { 'org.opencontainers.image.title': 'hello.txt' },
    });
    expect(dir?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(dir?.annotations?.['org.opencontainers.image.title']).toBe('docs');
    expect(dir?.annotations?.['io.deis.oras.content.unpack']).toBe('true');
    expect(dir?.annotations?.['io.deis.oras.content.digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await store.exists(EMPTY_DESCRIPTOR)).toBe(true);
  });

  it('supports a /dev/null config, v1.0, and annotation files with $manifest/$config', async () => {
    const cwd = await workspace();
    const store = new MemoryStore();
    const res = await packArtifact(store, {
      cwd,
      imageSpec: 'v1.0',
      files: [{ path: 'hello.txt', mediaType: 'text/plain' }],
      config: { path: '/dev/null', mediaType: 'application/vnd.acme.rocket.config.v1+json' },
      annotations: { 'com.example.a': '1' },
      fileAnnotations: {
        $manifest: { 'com.example.b': '2' },
        $config: { 'com.example.c': '3' },
        'hello.txt': { 'com.example.d': '4' },
      },
    });
    expect(res.manifest.artifactType).toBeUndefined();
    expect(res.manifest.config).toEqual({
      mediaType: 'application/vnd.acme.rocket.config.v1+json',
      digest: digestOf(''),
      size: 0,
      annotations: { 'com.example.c': '3' },
    });
    expect(res.manifest.annotations).toEqual({ 'com.example.a': '1', 'com.example.b': '2' });
    expect(res.manifest.layers[0]?.annotations).toEqual({
      'com.example.d': '4',
      'org.opencontainers.image.title': 'hello.txt',
    });
    expect(res.manifest.layers[0]?.mediaType).toBe('text/plain');
    expect(await store.exists(res.config)).toBe(true);
    // v1.1 with the same config: artifactType only when asked
    const v11 = await packArtifact(store, {
      cwd,
      files: [],
      config: { path: '/dev/null', mediaType: 'application/vnd.acme.rocket.config.v1+json' },
      artifactType: 'application/vnd.acme.rocket',
    });
    expect(v11.manifest.artifactType).toBe('application/vnd.acme.rocket');
    expect(v11.manifest.layers).toEqual([EMPTY_DESCRIPTOR]);
  });

  it('refuses bad titles, duplicates and unknown annotation keys', async () => {
    const cwd = await workspace();
    const store = new MemoryStore();
    await expect(
      packArtifact(store, { cwd, files: [{ path: 'hello.txt' }, { path: './hello.txt' }] }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_USAGE' });
    await expect(packArtifact(store, { cwd, files: [{ path: path.join(cwd, 'hello.txt') }] })).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
    await expect(
      packArtifact(store, { cwd: path.join(cwd, 'docs'), files: [{ path: '../hello.txt' }] }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
    await expect(packArtifact(store, { cwd, files: [{ path: 'hello.txt', title: '../x' }] })).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
    await expect(
      packArtifact(store, { cwd, files: [{ path: 'hello.txt' }], fileAnnotations: { 'nope.txt': { a: 'b' } } }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_USAGE' });
    await expect(packArtifact(store, { cwd, files: [{ path: 'missing.txt' }] })).rejects.toMatchObject({
      code: 'ERR_ORAS_IO',
    });
    expect(store.size).toBe(0);
    const abs = await packArtifact(store, {
      cwd,
      files: [{ path: path.join(cwd, 'hello.txt') }],
      allowAbsolutePaths: true,
    });
    expect(abs.manifest.layers[0]?.annotations?.['org.opencontainers.image.title']).toBe(path.join(cwd, 'hello.txt'));
  });

  it('adds created only when given, and a subject', async () => {
    const cwd = await workspace();
    const store = new MemoryStore();
    const base = await packArtifact(store, { cwd, files: [{ path: 'hello.txt' }] });
    expect(base.manifest.annotations).toBeUndefined();
    const sig = await packArtifact(store, {
      cwd,
      files: [],
      artifactType: 'application/vnd.example.sig',
      subject: base.descriptor,
      created: '1970-01-01T00:00:00Z',
    });
    expect(sig.manifest.subject?.digest).toBe(base.descriptor.digest);
    expect(sig.manifest.annotations).toEqual({ 'org.opencontainers.image.created': '1970-01-01T00:00:00Z' });
    expect((await store.referrers(base.descriptor)).map((d) => d.digest)).toEqual([sig.descriptor.digest]);
  });
});
