/**
 * copy()/extendedCopy() against the real registry 2.8.2 (plain HTTP) via Repository, and interop
 * with skopeo pushing to that registry: everything byte-identical.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OciLayoutStore } from '../../src/content/oci-layout.js';
import { copy } from '../../src/copy/copy.js';
import { extendedCopy } from '../../src/copy/extended-copy.js';
import type { TransferEvent } from '../../src/events.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { registry, uniqueRepo, type RegistryInfo } from '../harness/context.js';
import { dockerRef, skopeo, skopeoDestFlags, skopeoImageFlags } from '../harness/skopeo.js';
import { collect, pushImage, pushIndex, pushReferrer, streamBytes, type BuiltImage } from '../content/fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-copy-reg-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function repoOn(info: RegistryInfo, name: string): Repository {
  const client = new RegistryClient({ plainHttp: true, retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });
  return new Repository({ reference: { registry: info.host, repository: name }, client });
}

async function bytesOf(
  store: { fetch(d: Descriptor): Promise<import('node:stream').Readable> },
  d: Descriptor,
): Promise<Buffer> {
  return streamBytes(await store.fetch(d));
}

async function expectImage(store: OciLayoutStore | Repository, img: BuiltImage): Promise<void> {
  expect((await bytesOf(store, img.manifest)).equals(img.manifestBytes)).toBe(true);
  expect((await bytesOf(store, img.config)).equals(img.configBytes)).toBe(true);
  for (const l of img.layers) expect((await bytesOf(store, l.desc)).equals(l.bytes)).toBe(true);
}

describe('copy through a real registry', () => {
  it('layout → registry → new layout, byte-identical, skipping on the second run', async () => {
    const plain = registry('plain');
    const src = await OciLayoutStore.open(join(dir, 'src'));
    const img = await pushImage(src, { layers: [Buffer.alloc(300_000, 1), 'small layer', Buffer.alloc(300_000, 1)] });
    await src.tag(img.manifest, 'v1');
    const repo = repoOn(plain, uniqueRepo('copy/layout'));

    const root = await copy(src, 'v1', repo);
    expect(root).toEqual(img.manifest);
    expect((await repo.resolve('v1')).digest).toBe(img.manifest.digest);
    await expectImage(repo, img);

    const events: TransferEvent[] = [];
    await copy(src, 'v1', repo, 'v1', { onEvent: (e) => events.push(e) });
    expect(events).toEqual([{ type: 'skip', descriptor: img.manifest, reason: 'exists' }]);

    const back = await OciLayoutStore.open(join(dir, 'back'));
    await copy(repo, 'v1', back, 'copied');
    const desc = await back.resolve('copied');
    expect(desc.digest).toBe(img.manifest.digest);
    await expectImage(back, img);
  });

  it('multi-platform index and referrers (tag-schema fallback on 2.8.2) survive layout → registry → layout', async () => {
    const plain = registry('plain');
    const src = await OciLayoutStore.open(join(dir, 'src'));
    const amd = await pushImage(src, { config: '{"architecture":"amd64","os":"linux"}' });
    const arm = await pushImage(src, { config: '{"architecture":"arm64","os":"linux"}' });
    const idx = await pushIndex(src, [amd.manifest, arm.manifest]);
    await src.tag(idx.desc, 'multi');
    const sig = await pushReferrer(src, idx.desc, 'application/vnd.example.sig');
    const sbom = await pushReferrer(src, arm.manifest, 'application/vnd.example.sbom');
    const countersig = await pushReferrer(src, sig.manifest, 'application/vnd.example.countersig');

    const repo = repoOn(plain, uniqueRepo('copy/extended'));
    await extendedCopy(src, 'multi', repo);
    expect((await repo.referrers(idx.desc)).map((d) => d.digest)).toEqual([sig.manifest.digest]);
    expect((await repo.referrers(arm.manifest)).map((d) => d.digest)).toEqual([sbom.manifest.digest]);

    const back = await OciLayoutStore.open(join(dir, 'back'));
    const root = await extendedCopy(repo, 'multi', back);
    expect(root.digest).toBe(idx.desc.digest);
    expect((await bytesOf(back, idx.desc)).equals(idx.bytes)).toBe(true);
    for (const img of [amd, arm, sig, sbom, countersig]) await expectImage(back, img);
    expect((await back.referrers(sig.manifest)).map((d) => d.digest)).toEqual([countersig.manifest.digest]);
    expect(await collect(back.tags())).toEqual(['multi']);
  });

  it('copies between repositories with cross-repository mounts', async () => {
    const plain = registry('plain');
    const src = await OciLayoutStore.open(join(dir, 'src'));
    const img = await pushImage(src);
    await src.tag(img.manifest, 'v1');
    const fromName = uniqueRepo('copy/mount-from');
    const from = repoOn(plain, fromName);
    await copy(src, 'v1', from);
    const to = repoOn(plain, uniqueRepo('copy/mount-to'));
    const events: TransferEvent[] = [];
    await copy(from, 'v1', to, 'v2', { mount: (d) => to.mount(d, fromName), onEvent: (e) => events.push(e) });
    const mounted = events.filter((e) => e.type === 'skip' && e.reason === 'mounted').map((e) => e.descriptor.digest);
    expect(mounted.sort()).toEqual([img.config.digest, ...img.layers.map((l) => l.desc.digest)].sort());
    await expectImage(to, img);
    expect((await to.resolve('v2')).digest).toBe(img.manifest.digest);
  });

  it('skopeo-pushed content is copied by us into a layout byte-identically', async () => {
    const plain = registry('plain');
    const built = await OciLayoutStore.open(join(dir, 'built'));
    const img = await pushImage(built);
    await built.tag(img.manifest, 'v1');
    const name = uniqueRepo('copy/skopeo');
    await skopeo([
      'copy',
      '--preserve-digests',
      ...skopeoDestFlags(plain),
      `oci:${join(dir, 'built')}:v1`,
      dockerRef(plain, name, 'v1'),
    ]);
    const rawManifest = Buffer.from(
      await skopeo(['inspect', '--raw', ...skopeoImageFlags(plain), dockerRef(plain, name, 'v1')]),
    );

    const repo = repoOn(plain, name);
    const out = await OciLayoutStore.open(join(dir, 'out'));
    const root = await copy(repo, 'v1', out);
    expect(root.digest).toBe(img.manifest.digest);
    const manifest = await bytesOf(out, await out.resolve('v1'));
    expect(manifest.equals(rawManifest)).toBe(true);
    expect(manifest.equals(img.manifestBytes)).toBe(true);
    await expectImage(out, img);

    // and skopeo reads back what we push to the registry from that layout
    const name2 = uniqueRepo('copy/skopeo-back');
    await copy(out, 'v1', repoOn(plain, name2), 'v9');
    const raw2 = Buffer.from(
      await skopeo(['inspect', '--raw', ...skopeoImageFlags(plain), dockerRef(plain, name2, 'v9')]),
    );
    expect(raw2.equals(img.manifestBytes)).toBe(true);
    await skopeo([
      'copy',
      '--preserve-digests',
      ...skopeoImageFlags(plain).map((f) => f.replace(/^--/, '--src-')),
      dockerRef(plain, name2, 'v9'),
      `oci:${join(dir, 'skopeo-out')}:v9`,
    ]);
    await expectImage(await OciLayoutStore.open(join(dir, 'skopeo-out'), { readOnly: true }), img);
  });
});
