/**
 * Interop with skopeo through OCI image layouts (no registry): layouts we write are read by
 * skopeo, and layouts skopeo writes are read (and copied) by us, byte-identically.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OciLayoutStore } from '../../src/content/oci-layout.js';
import { copy } from '../../src/copy/copy.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { MediaType } from '../../src/oci/media-types.js';
import { skopeo } from '../harness/skopeo.js';
import { collect, pushImage, pushIndex, streamBytes, type BuiltImage } from '../content/fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-skopeo-layout-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function bytesOf(store: OciLayoutStore, d: Descriptor): Promise<Buffer> {
  return streamBytes(await store.fetch(d));
}

async function expectImage(store: OciLayoutStore, ref: string, img: BuiltImage): Promise<void> {
  const desc = await store.resolve(ref);
  expect(desc.digest).toBe(img.manifest.digest);
  expect(desc.mediaType).toBe(MediaType.ImageManifest);
  expect((await bytesOf(store, desc)).equals(img.manifestBytes)).toBe(true);
  expect((await bytesOf(store, img.config)).equals(img.configBytes)).toBe(true);
  for (const l of img.layers) expect((await bytesOf(store, l.desc)).equals(l.bytes)).toBe(true);
}

describe('OCI layout interop with skopeo', () => {
  it('skopeo reads our layout, and we read skopeo’s (both directions)', async () => {
    const ours = await OciLayoutStore.open(join(dir, 'ours'));
    const img = await pushImage(ours);
    await ours.tag(img.manifest, 'v1');

    await skopeo(['copy', '--preserve-digests', `oci:${join(dir, 'ours')}:v1`, `oci:${join(dir, 'theirs')}:v1`]);
    const theirs = await OciLayoutStore.open(join(dir, 'theirs'), { readOnly: true });
    await expectImage(theirs, 'v1', img);
    expect(await collect(theirs.tags())).toEqual(['v1']);

    // reverse: skopeo writes into a layout we created (and already hold a tag in)
    const ours2 = await OciLayoutStore.open(join(dir, 'ours2'));
    const other = await pushImage(ours2);
    await ours2.tag(other.manifest, 'keep');
    await skopeo(['copy', '--preserve-digests', `oci:${join(dir, 'theirs')}:v1`, `oci:${join(dir, 'ours2')}:v2`]);
    await expectImage(ours2, 'v2', img);
    await expectImage(ours2, 'keep', other);
    expect(await collect(ours2.tags())).toEqual(['keep', 'v2']);
    // and we can keep writing to it: skopeo's index.json entries survive our read-modify-write
    await ours2.tag(img.manifest, 'v3');
    expect(await collect(ours2.tags())).toEqual(['keep', 'v2', 'v3']);
    const inspected = JSON.parse(await skopeo(['inspect', '--raw', `oci:${join(dir, 'ours2')}:v3`])) as {
      config: Descriptor;
    };
    expect(inspected.config.digest).toBe(img.config.digest);
  });

  it('multi-platform index: skopeo --all copies ours, our copy() reads it back byte-identically', async () => {
    const ours = await OciLayoutStore.open(join(dir, 'ours'));
    const amd = await pushImage(ours, {
      config: JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    });
    const arm = await pushImage(ours, {
      config: JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    });
    const idx = await pushIndex(ours, [
      { ...amd.manifest, platform: { architecture: 'amd64', os: 'linux' } },
      { ...arm.manifest, platform: { architecture: 'arm64', os: 'linux' } },
    ]);
    await ours.tag(idx.desc, 'multi');
    await skopeo([
      'copy',
      '--all',
      '--preserve-digests',
      `oci:${join(dir, 'ours')}:multi`,
      `oci:${join(dir, 'theirs')}:multi`,
    ]);

    const theirs = await OciLayoutStore.open(join(dir, 'theirs'), { readOnly: true });
    const back = await OciLayoutStore.open(join(dir, 'back'));
    const root = await copy(theirs, 'multi', back);
    expect(root.digest).toBe(idx.desc.digest);
    expect((await bytesOf(back, root)).equals(idx.bytes)).toBe(true);
    await expectImage(back, amd.manifest.digest, amd);
    await expectImage(back, arm.manifest.digest, arm);
    const index = JSON.parse(await readFile(join(dir, 'back', 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    // like oras-go, every pushed manifest is recorded; only the root carries the tag
    expect(
      index.manifests
        .filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== undefined)
        .map((m) => m.digest),
    ).toEqual([idx.desc.digest]);
    expect(index.manifests.map((m) => m.digest).sort()).toEqual(
      [idx.desc.digest, amd.manifest.digest, arm.manifest.digest].sort(),
    );
    // and skopeo reads the layout our copy() wrote
    const raw = await skopeo(['inspect', '--raw', `oci:${join(dir, 'back')}:multi`]);
    expect(Buffer.from(raw).equals(idx.bytes)).toBe(true);
  });
});
