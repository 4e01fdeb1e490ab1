import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/content/memory.js';
import { OciLayoutStore } from '../../src/content/oci-layout.js';
import type { CallOptions, PushOptions } from '../../src/content/store.js';
import { copy, copyGraph } from '../../src/copy/copy.js';
import { extendedCopy } from '../../src/copy/extended-copy.js';
import type { TransferEvent } from '../../src/events.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { collect, pushImage, pushIndex, pushReferrer, streamBytes } from '../content/fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-copy-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A MemoryStore that records pushes and the peak number of concurrent pushes. */
class CountingStore extends MemoryStore {
  pushes: string[] = [];
  inFlight = 0;
  peak = 0;
  delayMs = 0;
  override async push(desc: Descriptor, content: Readable | Uint8Array, options?: PushOptions): Promise<void> {
    this.pushes.push(desc.digest);
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      await super.push(desc, content, options);
    } finally {
      this.inFlight--;
    }
  }
}

async function same(
  a: { fetch(d: Descriptor): Promise<Readable> },
  b: { fetch(d: Descriptor): Promise<Readable> },
  d: Descriptor,
): Promise<void> {
  expect((await streamBytes(await b.fetch(d))).equals(await streamBytes(await a.fetch(d)))).toBe(true);
}

describe('copy', () => {
  it('copies memory → OCI layout byte-identically, root last, and tags', async () => {
    const src = new MemoryStore();
    const img = await pushImage(src);
    await src.tag(img.manifest, 'v1');
    const dst = await OciLayoutStore.open(join(dir, 'l'));
    const events: TransferEvent[] = [];
    const root = await copy(src, 'v1', dst, undefined, { onEvent: (e) => events.push(e) });
    expect(root).toEqual(img.manifest);
    expect(await dst.resolve('v1')).toEqual(img.manifest);
    for (const d of [img.manifest, img.config, ...img.layers.map((l) => l.desc)]) await same(src, dst, d);
    const done = events.filter((e) => e.type === 'done').map((e) => e.descriptor.digest);
    expect(done.length).toBe(4);
    expect(done.at(-1)).toBe(img.manifest.digest);
    const lastProgress = events
      .filter((e) => e.type === 'progress' && e.descriptor.digest === img.layers[1]!.desc.digest)
      .at(-1);
    expect(lastProgress).toMatchObject({ bytes: img.layers[1]!.desc.size });
  });

  it('copies OCI layout → memory under another tag, and by digest without tagging', async () => {
    const src = await OciLayoutStore.open(join(dir, 'l'));
    const img = await pushImage(src);
    await src.tag(img.manifest, 'v1');
    const dst = new MemoryStore();
    await copy(src, 'v1', dst, 'v2');
    expect(await collect(dst.tags())).toEqual(['v2']);
    for (const d of [img.manifest, img.config, ...img.layers.map((l) => l.desc)]) await same(src, dst, d);
    const dst2 = new MemoryStore();
    await copy(src, img.manifest.digest, dst2);
    expect(await collect(dst2.tags())).toEqual([]);
    expect(await dst2.exists(img.manifest)).toBe(true);
    await expect(copy(src, img.manifest.digest, dst2, img.config.digest)).rejects.toMatchObject({
      code: 'ERR_ORAS_INVALID_REFERENCE',
    });
  });

  it('skips what exists at the destination and says so', async () => {
    const src = new MemoryStore();
    const img = await pushImage(src);
    await src.tag(img.manifest, 'v1');
    const dst = new CountingStore();
    await dst.push(img.config, img.configBytes);
    await dst.push(img.layers[0]!.desc, img.layers[0]!.bytes);
    dst.pushes = [];
    const events: TransferEvent[] = [];
    await copy(src, 'v1', dst, undefined, { onEvent: (e) => events.push(e) });
    const skipped = events.filter((e) => e.type === 'skip');
    expect(skipped.map((e) => e.descriptor.digest).sort()).toEqual(
      [img.config.digest, img.layers[0]!.desc.digest].sort(),
    );
    expect(skipped.every((e) => e.type === 'skip' && e.reason === 'exists')).toBe(true);
    expect(dst.pushes.sort()).toEqual([img.layers[1]!.desc.digest, img.manifest.digest].sort());
    // a second copy skips the root and with it the whole graph
    events.length = 0;
    dst.pushes = [];
    await copy(src, 'v1', dst, undefined, { onEvent: (e) => events.push(e) });
    expect(events).toEqual([{ type: 'skip', descriptor: img.manifest, reason: 'exists' }]);
    expect(dst.pushes).toEqual([]);
  });

  it('copies shared content once (de-duplication across an index)', async () => {
    const src = new MemoryStore();
    const shared = Buffer.from('shared layer bytes');
    const a = await pushImage(src, { layers: [shared, 'only a'], config: '{"c":1}' });
    const b = await pushImage(src, { layers: [shared, 'only b', shared], config: '{"c":1}' });
    const idx = await pushIndex(src, [a.manifest, b.manifest, a.manifest]);
    const dst = new CountingStore();
    dst.delayMs = 5;
    await copyGraph(src, dst, idx.desc, { concurrency: 4 });
    const counts = new Map<string, number>();
    for (const d of dst.pushes) counts.set(d, (counts.get(d) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(counts.size).toBe(7); // index, 2 manifests, 1 config, 3 distinct layers
    expect(dst.pushes.at(-1)).toBe(idx.desc.digest);
  });

  it('bounds concurrent transfers', async () => {
    const src = new MemoryStore();
    const img = await pushImage(src, { layers: ['1', '2', '3', '4', '5', '6', '7', '8'] });
    const dst = new CountingStore();
    dst.delayMs = 10;
    await copyGraph(src, dst, img.manifest, { concurrency: 2 });
    expect(dst.peak).toBe(2);
    const dst1 = new CountingStore();
    dst1.delayMs = 5;
    await copyGraph(src, dst1, img.manifest, { concurrency: 1 });
    expect(dst1.peak).toBe(1);
    await expect(copyGraph(src, dst1, img.manifest, { concurrency: 0 })).rejects.toMatchObject({
      code: 'ERR_ORAS_USAGE',
    });
  });

  it('enforces the maximum depth of nested indexes', async () => {
    const src = new MemoryStore();
    let top = (await pushImage(src)).manifest;
    for (let i = 0; i < 6; i++) top = (await pushIndex(src, [top], { annotations: { level: String(i) } })).desc;
    await expect(copyGraph(src, new MemoryStore(), top, { maxDepth: 5 })).rejects.toMatchObject({
      code: 'ERR_ORAS_LIMIT_EXCEEDED',
    });
    const dst = new MemoryStore();
    await copyGraph(src, dst, top, { maxDepth: 8 });
    expect(await dst.exists(top)).toBe(true);
  });

  it('refuses manifests over maxManifestBytes', async () => {
    const src = new MemoryStore();
    const img = await pushImage(src);
    await expect(copyGraph(src, new MemoryStore(), img.manifest, { maxManifestBytes: 100 })).rejects.toMatchObject({
      code: 'ERR_ORAS_MANIFEST_TOO_LARGE',
    });
  });

  it('filters layers and lets a mount hook satisfy blobs', async () => {
    const src = new MemoryStore();
    const img = await pushImage(src, { layers: ['keep', 'drop', 'mount me'] });
    const dst = new MemoryStore();
    const events: TransferEvent[] = [];
    await copyGraph(src, dst, img.manifest, {
      filter: (d) => d.digest !== img.layers[1]!.desc.digest,
      mount: async (d) => {
        if (d.digest !== img.layers[2]!.desc.digest) return false;
        await dst.push(d, img.layers[2]!.bytes); // what a cross-repository mount achieves
        return true;
      },
      onEvent: (e) => events.push(e),
    });
    expect(await dst.exists(img.layers[0]!.desc)).toBe(true);
    expect(await dst.exists(img.layers[1]!.desc)).toBe(false);
    expect(events.find((e) => e.type === 'skip')).toMatchObject({ reason: 'mounted', descriptor: img.layers[2]!.desc });
  });

  it('fails on corrupted source content and pushes neither the blob nor the root', async () => {
    const src = await OciLayoutStore.open(join(dir, 'src'));
    const img = await pushImage(src);
    await src.tag(img.manifest, 'v1');
    const bad = img.layers[1]!;
    const tampered = Buffer.from(bad.bytes);
    tampered[100] = tampered[100]! ^ 0xff;
    await writeFile(src.blobPath(bad.desc.digest), tampered);
    const dst = await OciLayoutStore.open(join(dir, 'dst'));
    const events: TransferEvent[] = [];
    await expect(copy(src, 'v1', dst, undefined, { onEvent: (e) => events.push(e) })).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    expect(await dst.exists(bad.desc)).toBe(false);
    expect(await dst.exists(img.manifest)).toBe(false);
    expect(await collect(dst.tags())).toEqual([]);
    expect(events.filter((e) => e.type === 'error').map((e) => e.descriptor.digest)).toEqual([bad.desc.digest]);
    expect((await readdir(join(dir, 'dst', 'blobs', 'sha256'))).every((n) => !n.startsWith('.'))).toBe(true);
  });

  it('stops when aborted', async () => {
    const src = new MemoryStore();
    const img = await pushImage(src);
    await src.tag(img.manifest, 'v1');
    const ac = new AbortController();
    ac.abort();
    await expect(copy(src, 'v1', new MemoryStore(), undefined, { signal: ac.signal })).rejects.toMatchObject({
      code: 'ERR_ORAS_ABORTED',
    });
    const dst = new CountingStore();
    const ac2 = new AbortController();
    dst.delayMs = 5;
    const p = copy(src, 'v1', dst, undefined, {
      signal: ac2.signal,
      onEvent: (e) => e.type === 'start' && ac2.abort(),
    });
    await expect(p).rejects.toMatchObject({ code: 'ERR_ORAS_ABORTED' });
    expect(await dst.exists(img.manifest)).toBe(false);
  });

  it('does not follow subject unless asked', async () => {
    const src = new MemoryStore();
    const img = await pushImage(src);
    const sig = await pushReferrer(src, img.manifest, 'application/vnd.example.sig');
    const dst = new MemoryStore();
    await copyGraph(src, dst, sig.manifest);
    expect(await dst.exists(img.manifest)).toBe(false);
    const dst2 = new MemoryStore();
    await copyGraph(src, dst2, sig.manifest, { includeSubject: true });
    expect(await dst2.exists(img.manifest)).toBe(true);
    expect(await dst2.exists(img.layers[1]!.desc)).toBe(true);
  });
});

describe('extendedCopy', () => {
  it('copies the referrers graph recursively (incl. referrers of index children)', async () => {
    const src = new MemoryStore();
    const amd = await pushImage(src, { config: '{"architecture":"amd64"}' });
    const arm = await pushImage(src, { config: '{"architecture":"arm64"}' });
    const idx = await pushIndex(src, [amd.manifest, arm.manifest]);
    await src.tag(idx.desc, 'v1');
    const sigIdx = await pushReferrer(src, idx.desc, 'application/vnd.example.sig');
    const sigOfSig = await pushReferrer(src, sigIdx.manifest, 'application/vnd.example.countersig');
    const sbomArm = await pushReferrer(src, arm.manifest, 'application/vnd.example.sbom');
    const unrelated = await pushReferrer(src, (await pushImage(src)).manifest, 'application/vnd.example.sig');
    const dst = await OciLayoutStore.open(join(dir, 'l'));
    const root = await extendedCopy(src, 'v1', dst);
    expect(root).toEqual(idx.desc);
    expect(await dst.resolve('v1')).toEqual(idx.desc);
    for (const r of [sigIdx, sigOfSig, sbomArm]) {
      expect(await dst.exists(r.manifest)).toBe(true);
      await same(src, dst, r.layers[0]!.desc);
    }
    expect(await dst.exists(unrelated.manifest)).toBe(false);
    expect((await dst.referrers(idx.desc)).map((d) => d.digest)).toEqual([sigIdx.manifest.digest]);
    expect((await dst.referrers(arm.manifest)).map((d) => d.digest)).toEqual([sbomArm.manifest.digest]);
    // artifact-type filter
    const dst2 = new MemoryStore();
    await extendedCopy(src, 'v1', dst2, 'v1', { referrersArtifactType: 'application/vnd.example.sbom' });
    expect(await dst2.exists(sbomArm.manifest)).toBe(true);
    expect(await dst2.exists(sigIdx.manifest)).toBe(false);
  });

  it('terminates on a lister that reports cycles, and bounds the referrer depth', async () => {
    const src = new MemoryStore();
    const img = await pushImage(src);
    await src.tag(img.manifest, 'v1');
    let chain = img.manifest;
    const sigs: Descriptor[] = [];
    for (let i = 0; i < 4; i++) {
      chain = (await pushReferrer(src, chain, `application/vnd.example.l${i}`)).manifest;
      sigs.push(chain);
    }
    const liar = Object.assign(Object.create(src) as MemoryStore, {
      referrers: async (d: Descriptor, o?: CallOptions) => [...(await src.referrers(d, o)), img.manifest, ...sigs],
    });
    const dst = new MemoryStore();
    await extendedCopy(liar, 'v1', dst);
    for (const s of sigs) expect(await dst.exists(s)).toBe(true);
    await expect(extendedCopy(src, 'v1', new MemoryStore(), undefined, { maxReferrerDepth: 2 })).rejects.toMatchObject({
      code: 'ERR_ORAS_LIMIT_EXCEEDED',
    });
    await expect(extendedCopy(src, 'v1', new MemoryStore(), undefined, { maxReferrers: 3 })).rejects.toMatchObject({
      code: 'ERR_ORAS_LIMIT_EXCEEDED',
    });
  });
});
