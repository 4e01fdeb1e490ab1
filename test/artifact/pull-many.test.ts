import { lstat, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildManifest } from '../../src/artifact/pack.js';
import { pullArtifact } from '../../src/artifact/pull.js';
import { MemoryStore } from '../../src/content/memory.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { digestOf } from '../../src/oci/digest.js';
import { listTree, useTempDirs } from './helpers.js';

// Many small layers: the per-pull caches (directory symlink checks, mkdir, directory fsync
// batch) and the small-content write path must keep every guarantee of the per-file path.

const tmp = useTempDirs();

async function pushFiles(store: MemoryStore, files: { title: string; data: Buffer }[]): Promise<void> {
  const descs: Descriptor[] = [];
  for (const f of files) {
    const d: Descriptor = {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: digestOf(f.data),
      size: f.data.length,
      annotations: { 'org.opencontainers.image.title': f.title },
    };
    await store.push(d, f.data);
    descs.push(d);
  }
  const built = buildManifest({ layers: descs });
  await store.push(
    { mediaType: 'application/vnd.oci.empty.v1+json', digest: built.config.digest, size: 2 },
    Buffer.from('{}'),
  );
  await store.push(built.descriptor, built.bytes);
  await store.tag(built.descriptor, 't');
}

const files = Array.from({ length: 60 }, (_, i) => ({
  title: i % 3 === 0 ? `f${i}` : `d${i % 4}/sub${i % 2}/f${i}`,
  data: Buffer.from(`content ${i} `.repeat(50 + i)),
}));

describe('pullArtifact with many small layers', () => {
  it('writes every file verified into nested directories, leaving no temp files', async () => {
    const store = new MemoryStore();
    await pushFiles(store, files);
    const out = path.join(await tmp(), 'out');
    const res = await pullArtifact(store, 't', out, { concurrency: 5 });
    expect(res.files).toHaveLength(files.length);
    for (const f of files) expect((await readFile(path.join(out, f.title))).equals(f.data), f.title).toBe(true);
    const all = await readdir(out, { recursive: true });
    expect(all.filter((n) => String(n).includes('.oras-'))).toEqual([]);
  });

  it('refuses a symlink planted in the output directory before the pull, in a shared directory or at a final name', async () => {
    for (const planted of ['d1', 'd1/sub1', 'f3'] as const) {
      const store = new MemoryStore();
      await pushFiles(store, files);
      const parent = await tmp();
      const out = path.join(parent, 'out');
      const elsewhere = path.join(parent, 'elsewhere');
      await mkdir(elsewhere);
      await mkdir(path.dirname(path.join(out, planted)), { recursive: true });
      await symlink(elsewhere, path.join(out, planted));
      await expect(pullArtifact(store, 't', out, { concurrency: 4 }), planted).rejects.toMatchObject({
        code: 'ERR_ORAS_PATH_TRAVERSAL',
      });
      expect(await listTree(elsewhere), planted).toEqual([]);
      expect((await lstat(path.join(out, planted))).isSymbolicLink()).toBe(true);
    }
  });

  it('a corrupted layer fails the pull without leaving a partial or temp file', async () => {
    const store = new MemoryStore();
    await pushFiles(store, files);
    // Fetching through a store that serves wrong bytes for one digest.
    const bad = files[7]!;
    const badDigest = digestOf(bad.data);
    const evil = Object.create(store) as MemoryStore;
    evil.fetch = async (desc, opts) => {
      const r = await store.fetch(desc, opts);
      if (desc.digest !== badDigest) return r;
      r.destroy();
      return Readable.from([Buffer.alloc(desc.size, 0x5a)]);
    };
    const out = path.join(await tmp(), 'out');
    await expect(pullArtifact(evil, 't', out, { concurrency: 3 })).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    await expect(lstat(path.join(out, bad.title))).rejects.toMatchObject({ code: 'ENOENT' });
    const all = await readdir(out, { recursive: true });
    expect(all.filter((n) => String(n).includes('.oras-'))).toEqual([]);
  });
});
