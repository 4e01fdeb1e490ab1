import { afterAll, describe, expect, it } from 'vitest';
import { MediaType } from '../../src/oci/media-types.js';
import { referrersTag } from '../../src/registry/referrers.js';
import { registry } from '../harness/context.js';
import { clientFor, pushImage, repoOn } from './helpers.js';

const info = registry('plain');
const client = clientFor(info);
afterAll(async () => {
  await client.close();
});

describe('referrers via the tag schema fallback (distribution 2.8 has no API)', () => {
  it('computes the fallback tag', () => {
    expect(referrersTag(`sha256:${'ab'.repeat(32)}`)).toBe(`sha256-${'ab'.repeat(32)}`);
    expect(referrersTag(`sha512:${'cd'.repeat(64)}`)).toBe(`sha512-${'cd'.repeat(32)}`);
  });

  it('indexes pushed referrers, lists them, filters by artifactType, GCs the old index, and removes on delete', async () => {
    const lines: string[] = [];
    const debugClient = clientFor(info, (l) => lines.push(l));
    const repo = repoOn(info, debugClient, 'referrers');
    const subject = await pushImage(repo);
    expect(await repo.referrers(subject.desc)).toEqual([]);

    const sig = await pushImage(repo, {
      subject: subject.desc,
      artifactType: 'application/vnd.example.signature',
      annotations: { a: '1' },
    });
    const sbom = await pushImage(repo, { subject: subject.desc, configType: 'application/vnd.example.sbom.config' });
    const all = await repo.referrers(subject.desc);
    expect(all).toEqual([
      {
        mediaType: MediaType.ImageManifest,
        digest: sig.desc.digest,
        size: sig.desc.size,
        artifactType: 'application/vnd.example.signature',
        annotations: { a: '1' },
      },
      {
        mediaType: MediaType.ImageManifest,
        digest: sbom.desc.digest,
        size: sbom.desc.size,
        artifactType: 'application/vnd.example.sbom.config',
      },
    ]);
    expect(
      (await repo.referrers(subject.desc, { artifactType: 'application/vnd.example.sbom.config' })).map(
        (d) => d.digest,
      ),
    ).toEqual([sbom.desc.digest]);
    expect(await repo.referrers(subject.desc, { artifactType: 'application/none' })).toEqual([]);
    // The API was probed once (404), then remembered.
    expect(lines.filter((l) => l.startsWith('> GET') && l.includes('/referrers/'))).toHaveLength(1);
    // The index is under the tag; old indexes were deleted (one DELETE per update after the first).
    const tagged = await repo.resolve(referrersTag(subject.desc.digest));
    expect(tagged.mediaType).toBe(MediaType.ImageIndex);
    expect(lines.filter((l) => /^< 202 DELETE .*\/manifests\//.test(l))).toHaveLength(1);

    // Re-pushing the same referrer does not duplicate it.
    await repo.push(sig.desc, sig.bytes);
    expect(await repo.referrers(subject.desc)).toHaveLength(2);

    // Deleting a referrer removes it from the index.
    await repo.delete(sig.desc);
    expect((await repo.referrers(subject.desc)).map((d) => d.digest)).toEqual([sbom.desc.digest]);
    await debugClient.close();
  });

  it("with referrersApi: 'never' does not probe the API; skipReferrersGc keeps old indexes", async () => {
    const lines: string[] = [];
    const debugClient = clientFor(info, (l) => lines.push(l));
    const repo = repoOn(info, debugClient, 'referrers-never', { referrersApi: 'never', skipReferrersGc: true });
    const subject = await pushImage(repo);
    await pushImage(repo, { subject: subject.desc, artifactType: 'a/b' });
    await pushImage(repo, { subject: subject.desc, artifactType: 'a/c' });
    expect((await repo.referrers(subject.desc)).map((d) => d.artifactType)).toEqual(['a/b', 'a/c']);
    expect(lines.some((l) => l.includes('/referrers/'))).toBe(false);
    expect(lines.some((l) => l.startsWith('> DELETE'))).toBe(false);
    await debugClient.close();
  });

  it("with referrersApi: 'always' fails on a registry without the API", async () => {
    const repo = repoOn(info, client, 'referrers-always', { referrersApi: 'always' });
    const subject = await pushImage(repo);
    await expect(repo.referrers(subject.desc)).rejects.toMatchObject({ code: 'ERR_ORAS_UNSUPPORTED' });
  });
  it('keeps every referrer when several are pushed concurrently', async () => {
    const repo = repoOn(info, client, 'referrers-concurrent');
    const subject = await pushImage(repo);
    const pushed = await Promise.all(
      [1, 2, 3, 4, 5].map(async (i) => await pushImage(repo, { subject: subject.desc, artifactType: `type/${i}` })),
    );
    const listed = await repo.referrers(subject.desc);
    expect(listed.map((d) => d.digest).sort()).toEqual(pushed.map((p) => p.desc.digest).sort());
  });
});
