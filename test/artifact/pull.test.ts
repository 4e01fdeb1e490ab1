import { chmod, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildManifest, packArtifact } from '../../src/artifact/pack.js';
import { planPull, pullArtifact } from '../../src/artifact/pull.js';
import { MemoryStore } from '../../src/content/memory.js';
import type { ReadOnlyTarget } from '../../src/content/store.js';
import type { TransferEvent } from '../../src/events.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { digestOf } from '../../src/oci/digest.js';
import { gzipSync } from 'node:zlib';
import { craftTarGz, listTree, useTempDirs } from './helpers.js';

const tmp = useTempDirs();

/** Pushes raw blobs as layers with the given titles/annotations and tags the manifest `t`. */
async function pushRaw(
  store: MemoryStore,
  layers: { data: Buffer; annotations?: Record<string, string>; mediaType?: string }[],
  subject?: Descriptor,
): Promise<Descriptor> {
  const descs: Descriptor[] = [];
  for (const l of layers) {
    const d: Descriptor = {
      mediaType: l.mediaType ?? 'application/vnd.oci.image.layer.v1.tar',
      digest: digestOf(l.data),
      size: l.data.length,
      ...(l.annotations ? { annotations: l.annotations } : {}),
    };
    await store.push(d, l.data);
    descs.push(d);
  }
  const built = buildManifest({ layers: descs, ...(subject ? { subject } : {}) });
  await store.push(
    { mediaType: 'application/vnd.oci.empty.v1+json', digest: built.config.digest, size: 2 },
    Buffer.from('{}'),
  );
  await store.push(built.descriptor, built.bytes);
  await store.tag(built.descriptor, 't');
  return built.descriptor;
}
const title = (t: string): Record<string, string> => ({ 'org.opencontainers.image.title': t });

describe('pullArtifact', () => {
  it('round-trips files and a directory with nested dirs, exec bit and a symlink', async () => {
    const cwd = await tmp();
    await writeFile(path.join(cwd, 'hello.txt'), 'hello\n');
    await mkdir(path.join(cwd, 'app', 'bin'), { recursive: true });
    await writeFile(path.join(cwd, 'app', 'bin', 'run'), '#!/bin/sh\n');
    await chmod(path.join(cwd, 'app', 'bin', 'run'), 0o755);
    await writeFile(path.join(cwd, 'app', 'data.json'), '{}');
    await symlink('bin/run', path.join(cwd, 'app', 'entry'));
    const store = new MemoryStore();
    const pushed = await packArtifact(store, { cwd, files: [{ path: 'hello.txt' }, { path: 'app' }], tags: ['v1'] });
    const out = path.join(await tmp(), 'out');
    const events: TransferEvent[] = [];
    const res = await pullArtifact(store, 'v1', out, { onEvent: (e) => events.push(e) });
    expect(res.descriptor.digest).toBe(pushed.descriptor.digest);
    expect(res.files.map((f) => [f.path, f.layer, f.directory])).toEqual([
      ['hello.txt', 0, false],
      ['app', 1, true],
    ]);
    expect(await listTree(out)).toEqual(['app', 'app/bin', 'app/bin/run', 'app/data.json', 'app/entry', 'hello.txt']);
    expect((await stat(path.join(out, 'app', 'bin', 'run'))).mode & 0o111).not.toBe(0);
    expect(await readlink(path.join(out, 'app', 'entry'))).toBe('bin/run');
    expect(await readFile(path.join(out, 'hello.txt'), 'utf8')).toBe('hello\n');
    expect(events.filter((e) => e.type === 'done').length).toBe(2);
    // pulling again overwrites in place, leaving no temp files
    const again = await pullArtifact(store, 'v1', out);
    expect(again.files.length).toBe(2);
    expect(await listTree(out)).toEqual(['app', 'app/bin', 'app/bin/run', 'app/data.json', 'app/entry', 'hello.txt']);
  });

  it('keepOldFiles skips existing paths with an event', async () => {
    const store = new MemoryStore();
    await pushRaw(store, [
      { data: Buffer.from('new'), annotations: title('a.txt') },
      { data: Buffer.from('b'), annotations: title('b.txt') },
    ]);
    const out = await tmp();
    await writeFile(path.join(out, 'a.txt'), 'old');
    const events: TransferEvent[] = [];
    const res = await pullArtifact(store, 't', out, { keepOldFiles: true, onEvent: (e) => events.push(e) });
    expect(res.kept).toEqual(['a.txt']);
    expect(res.files.map((f) => f.path)).toEqual(['b.txt']);
    expect(await readFile(path.join(out, 'a.txt'), 'utf8')).toBe('old');
    expect(events.some((e) => e.type === 'skip' && e.reason === 'exists')).toBe(true);
  });

  it('reports a file in the way of a parent directory as ERR_ORAS_IO', async () => {
    const store = new MemoryStore();
    await pushRaw(store, [{ data: Buffer.from('x'), annotations: title('a/b.txt') }]);
    const out = await tmp();
    await writeFile(path.join(out, 'a'), 'i am a file');
    await expect(pullArtifact(store, 't', out)).rejects.toMatchObject({ code: 'ERR_ORAS_IO' });
  });

  it('selects layers: untitled skipped, media types, include/exclude', async () => {
    const store = new MemoryStore();
    await pushRaw(store, [
      { data: Buffer.from('1'), annotations: title('docs/a.md') },
      { data: Buffer.from('2'), annotations: title('bin/tool'), mediaType: 'application/x-bin' },
      { data: Buffer.from('3') },
      { data: Buffer.from('4'), annotations: title('.hidden') },
    ]);
    const out = await tmp();
    const res = await pullArtifact(store, 't', out, { exclude: ['bin/**'] });
    expect(res.files.map((f) => f.path)).toEqual(['docs/a.md', '.hidden']);
    expect(res.skipped.map((s) => s.reason).sort()).toEqual(['excluded', 'untitled']);
    const out2 = await tmp();
    const res2 = await pullArtifact(store, 't', out2, { allowedMediaTypes: ['application/x-bin'] });
    expect(res2.files.map((f) => f.path)).toEqual(['bin/tool']);
    const out3 = await tmp();
    const res3 = await pullArtifact(store, 't', out3, { include: ['**/*.md'], includeUntitled: true });
    expect(res3.files.map((f) => f.path)).toEqual(['docs/a.md']);
    const res4 = await pullArtifact(store, 't', out3, { include: ['sha256-*'], includeUntitled: true });
    expect(res4.files.map((f) => f.path)).toEqual([`sha256-${digestOf('3').slice(7)}`]);
  });

  it('pulls the subject too when asked', async () => {
    const store = new MemoryStore();
    const base = await pushRaw(store, [{ data: Buffer.from('base'), annotations: title('base.txt') }]);
    const built = buildManifest({
      layers: [{ mediaType: 'text/plain', digest: digestOf('sig'), size: 3, annotations: title('sig.txt') }],
      subject: base,
      artifactType: 'application/x-sig',
    });
    await store.push({ mediaType: 'text/plain', digest: digestOf('sig'), size: 3 }, Buffer.from('sig'));
    await store.push(built.descriptor, built.bytes);
    const out = await tmp();
    const res = await pullArtifact(store, built.descriptor.digest, out, { includeSubject: true });
    expect(res.subject?.files.map((f) => f.path)).toEqual(['base.txt']);
    expect(await listTree(out)).toEqual(['base.txt', 'sig.txt']);
  });

  describe('path traversal', () => {
    const bad: [string, string[]][] = [
      ['dot-dot', ['../x']],
      ['absolute', ['/etc/x']],
      ['drive-letter', ['C:..\\x']],
      ['dot', ['.']],
      ['duplicate', ['same.txt', 'same.txt']],
      ['nested', ['dir', 'dir/file']],
    ];
    for (const [name, titles] of bad) {
      it(`refuses ${name} titles and writes nothing`, async () => {
        const store = new MemoryStore();
        await pushRaw(
          store,
          titles.map((t, i) => ({ data: Buffer.from(`payload-${i}`), annotations: title(t) })),
        );
        const parent = await tmp();
        const out = path.join(parent, 'out');
        await expect(pullArtifact(store, 't', out)).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
        expect(await listTree(parent)).toEqual([]);
      });
    }

    it('allowPathTraversal lets a title escape the output directory', async () => {
      const store = new MemoryStore();
      await pushRaw(store, [{ data: Buffer.from('up'), annotations: title('../up.txt') }]);
      const parent = await tmp();
      const res = await pullArtifact(store, 't', path.join(parent, 'out'), { allowPathTraversal: true });
      expect(res.files.map((f) => f.path)).toEqual(['../up.txt']);
      expect(await readFile(path.join(parent, 'up.txt'), 'utf8')).toBe('up');
    });

    it('refuses to write through a symlink in the output directory that points outside', async () => {
      const store = new MemoryStore();
      await pushRaw(store, [{ data: Buffer.from('x'), annotations: title('link/file.txt') }]);
      const parent = await tmp();
      const out = path.join(parent, 'out');
      await mkdir(out);
      await mkdir(path.join(parent, 'elsewhere'));
      await symlink('../elsewhere', path.join(out, 'link'));
      await expect(pullArtifact(store, 't', out)).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
      expect(await listTree(path.join(parent, 'elsewhere'))).toEqual([]);
    });

    it('refuses a malicious directory layer and leaves nothing', async () => {
      const store = new MemoryStore();
      const tgz = await craftTarGz([
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/l', type: 'symlink', linkname: '../..' },
        { name: 'pkg/l/evil', content: 'x' },
      ]);
      await pushRaw(store, [
        {
          data: tgz,
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          annotations: { ...title('pkg'), 'io.deis.oras.content.unpack': 'true' },
        },
      ]);
      const parent = await tmp();
      const out = path.join(parent, 'out');
      await expect(pullArtifact(store, 't', out)).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
      expect(await listTree(parent)).toEqual(['out']);
    });
  });

  describe('corruption', () => {
    /** A target that serves tampered bytes for one digest (without verifying, like a broken store). */
    function tampering(store: MemoryStore, digest: string): ReadOnlyTarget {
      return {
        resolve: (r, o) => store.resolve(r, o),
        exists: (d, o) => store.exists(d, o),
        fetch: async (d, o) => {
          if (d.digest !== digest) return store.fetch(d, o);
          const good = Buffer.concat(await (await store.fetch(d, o)).toArray());
          good.writeUInt8(good.readUInt8(good.length - 1) ^ 0xff, good.length - 1);
          return Readable.from([good]);
        },
      };
    }

    it('a corrupted file blob leaves no file and no temp file', async () => {
      const store = new MemoryStore();
      const data = Buffer.from('important content');
      await pushRaw(store, [{ data, annotations: title('sub/file.txt') }]);
      const out = await tmp();
      await expect(pullArtifact(tampering(store, digestOf(data)), 't', out)).rejects.toMatchObject({
        code: 'ERR_ORAS_DIGEST_MISMATCH',
      });
      expect((await listTree(out)).filter((n) => n !== 'sub')).toEqual([]);
    });

    it('one corrupted layer among several: no partial or temp files remain', async () => {
      const store = new MemoryStore();
      const layers = Array.from({ length: 6 }, (_, i) => ({
        data: Buffer.alloc(50_000 + i, i),
        annotations: title(`f${i}.bin`),
      }));
      await pushRaw(store, layers);
      const out = await tmp();
      const bad = layers[3]!.data;
      await expect(pullArtifact(tampering(store, digestOf(bad)), 't', out, { concurrency: 3 })).rejects.toMatchObject({
        code: 'ERR_ORAS_DIGEST_MISMATCH',
      });
      const left = await listTree(out);
      expect(left.filter((n) => n.includes('.oras-'))).toEqual([]);
      expect(left).not.toContain('f3.bin');
    });

    it('a corrupted directory blob or a wrong content digest leaves nothing', async () => {
      const tgz = await craftTarGz([
        { name: 'pkg/', type: 'directory' },
        { name: 'pkg/f', content: 'data' },
      ]);
      const store = new MemoryStore();
      await pushRaw(store, [
        {
          data: tgz,
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          annotations: { ...title('pkg'), 'io.deis.oras.content.unpack': 'true' },
        },
      ]);
      const out = await tmp();
      await expect(pullArtifact(tampering(store, digestOf(tgz)), 't', out)).rejects.toMatchObject({
        code: 'ERR_ORAS_DIGEST_MISMATCH',
      });
      expect(await listTree(out)).toEqual([]);

      const store2 = new MemoryStore();
      await pushRaw(store2, [
        {
          data: tgz,
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          annotations: {
            ...title('pkg'),
            'io.deis.oras.content.unpack': 'true',
            'io.deis.oras.content.digest': digestOf('not the tar'),
          },
        },
      ]);
      await expect(pullArtifact(store2, 't', out)).rejects.toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
      expect(await listTree(out)).toEqual([]);

      const tar = (await import('node:zlib')).gunzipSync(tgz);
      const store3 = new MemoryStore();
      await pushRaw(store3, [
        {
          data: gzipSync(tar),
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          annotations: {
            ...title('pkg'),
            'io.deis.oras.content.unpack': 'true',
            'io.deis.oras.content.digest': digestOf(tar),
          },
        },
      ]);
      const ok = await pullArtifact(store3, 't', out);
      expect(ok.files.map((f) => f.path)).toEqual(['pkg']);
      expect(await listTree(out)).toEqual(['pkg', 'pkg/f']);
    });
  });
});

describe('planPull', () => {
  it('plans without touching the file system', () => {
    const layers: Descriptor[] = [
      { mediaType: 'a', digest: digestOf('1'), size: 1, annotations: title('x/y.txt') },
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: digestOf('2'),
        size: 1,
        annotations: { ...title('d'), 'io.deis.oras.content.unpack': 'true' },
      },
    ];
    const plan = planPull(
      { schemaVersion: 2, config: layers[0] as Descriptor, layers },
      { outDir: '/nonexistent/out' },
    );
    expect(plan.layers.map((l) => [l.title, l.path, l.relativePath, l.unpack])).toEqual([
      ['x/y.txt', path.resolve('/nonexistent/out/x/y.txt'), 'x/y.txt', false],
      ['d', path.resolve('/nonexistent/out/d'), 'd', true],
    ]);
    expect(() =>
      planPull(
        { schemaVersion: 2, config: layers[0] as Descriptor, layers: [{ ...layers[0]!, annotations: title('../x') }] },
        { outDir: '/nonexistent/out' },
      ),
    ).toThrow(expect.objectContaining({ code: 'ERR_ORAS_PATH_TRAVERSAL' }));
  });

  it('applies a filter over the resolved candidates (skipped as excluded)', () => {
    const layers: Descriptor[] = [
      { mediaType: 'a', digest: digestOf('1'), size: 1, annotations: title('./x/y.txt') },
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: digestOf('2'),
        size: 1,
        annotations: { ...title('d'), 'io.deis.oras.content.unpack': 'true' },
      },
    ];
    const seen: [string, boolean][] = [];
    const plan = planPull(
      { schemaVersion: 2, config: layers[0] as Descriptor, layers },
      {
        outDir: '/nonexistent/out',
        filter: (c) => {
          seen.push([c.relativePath, c.unpack]);
          return c.unpack;
        },
      },
    );
    expect(seen).toEqual([
      ['x/y.txt', false],
      ['d', true],
    ]);
    expect(plan.layers.map((l) => l.title)).toEqual(['d']);
    expect(plan.skipped).toEqual([{ layer: layers[0], index: 0, reason: 'excluded' }]);
  });
});
