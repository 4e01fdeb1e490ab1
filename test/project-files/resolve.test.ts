import { describe, expect, test, beforeAll } from 'vitest';
import { MemoryStore } from '../../src/content/memory.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../../src/oci/descriptor.js';
import { EMPTY_DESCRIPTOR, EMPTY_JSON } from '../../src/oci/descriptor.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Reference } from '../../src/oci/reference.js';
import type { ProjectEvent } from '../../src/project/events.js';
import { findOutdated } from '../../src/project/outdated.js';
import { resolveAll, resolveDependency, type ResolveContext } from '../../src/project/plan/resolve.js';
import { parseDependencyRef } from '../../src/project/spec/dependency-ref.js';
import type { Lockfile, LockedDependency, ProjectManifest } from '../../src/project/types.js';

const REPO = 'localhost:5000/acme/model';

async function pushBlob(store: MemoryStore, data: Buffer, mediaType: string): Promise<Descriptor> {
  const desc = { mediaType, digest: digestOf(data), size: data.length };
  await store.push(desc, data);
  return desc;
}

/** Pushes a one-file artifact whose layer content is `content`; returns the manifest descriptor. */
async function pushArtifact(store: MemoryStore, content: string, tags: string[] = []): Promise<Descriptor> {
  await store.push(EMPTY_DESCRIPTOR, EMPTY_JSON);
  const layer = await pushBlob(store, Buffer.from(content), MediaType.DefaultLayer);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType: 'application/vnd.acme.model.v1',
    config: { ...EMPTY_DESCRIPTOR },
    layers: [{ ...layer, annotations: { 'org.opencontainers.image.title': `${content}.txt` } }],
  };
  const desc = await pushBlob(store, Buffer.from(JSON.stringify(manifest)), MediaType.ImageManifest);
  for (const t of tags) await store.tag(desc, t);
  return desc;
}

async function pushIndex(
  store: MemoryStore,
  children: { desc: Descriptor; platform?: Descriptor['platform'] }[],
  tag: string,
): Promise<Descriptor> {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.ImageIndex,
    manifests: children.map((c) => ({ ...c.desc, ...(c.platform ? { platform: c.platform } : {}) })),
  };
  const desc = await pushBlob(store, Buffer.from(JSON.stringify(index)), MediaType.ImageIndex);
  await store.tag(desc, tag);
  return desc;
}

describe('resolver over an in-memory store', () => {
  const store = new MemoryStore();
  const other = new MemoryStore();
  const d: Record<string, Descriptor> = {};
  const events: ProjectEvent[] = [];
  const asked: string[] = [];
  const ctx: ResolveContext = {
    repositoryFor: (ref: Reference) => {
      asked.push(`${ref.registry}/${ref.repository}`);
      return ref.repository === 'acme/model' ? store : other;
    },
    onEvent: (e) => events.push(e),
  };

  beforeAll(async () => {
    d['1.0.0'] = await pushArtifact(store, 'one', ['1.0.0']);
    d['1.2.0'] = await pushArtifact(store, 'one-two', ['1.2.0']);
    d['1.3.0-rc.1'] = await pushArtifact(store, 'rc', ['1.3.0-rc.1']);
    d['v2.0.0'] = await pushArtifact(store, 'two', ['v2.0.0', 'latest']);
    d.unrelated = await pushArtifact(store, 'x', ['nightly', '1.2']);
    const amd = await pushArtifact(other, 'amd64');
    const arm = await pushArtifact(other, 'arm64');
    d.amd = amd;
    d.arm = arm;
    d.index = await pushIndex(
      other,
      [
        { desc: amd, platform: { os: 'linux', architecture: 'amd64' } },
        { desc: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
      'multi',
    );
    d.single = await pushIndex(
      other,
      [
        { desc: arm, platform: { os: 'linux', architecture: 'arm64' } },
        { desc: amd, platform: { os: 'unknown', architecture: 'unknown' } },
      ],
      'single',
    );
  });

  const cases: [string, string][] = [
    ['^1.0.0', '1.2.0'],
    ['>=2', 'v2.0.0'],
    ['~1.2', '1.2.0'],
    ['1.x', '1.2.0'],
    ['<1.2.0', '1.0.0'],
    ['^1.3.0-rc.0', '1.3.0-rc.1'],
    ['>=1.0.0 <2.0.0 || >=3', '1.2.0'],
    ['*', 'v2.0.0'],
  ];
  test.each(cases)('range %s picks %s', async (range, tag) => {
    const r = await resolveDependency('model', { ref: `${REPO}:${range}`, path: 'm' }, ctx);
    expect(r.locked.tag).toBe(tag);
    expect(r.locked.digest).toBe(d[tag]!.digest);
    expect(r.locked.resolved).toBe(`${REPO}:${tag}@${d[tag]!.digest}`);
    expect(r.locked.specifier).toEqual({ ref: `${REPO}:${range}`, path: 'm' });
    expect(r.locked.mediaType).toBe(MediaType.ImageManifest);
    expect(r.locked.artifactType).toBe('application/vnd.acme.model.v1');
    expect(r.manifest.layers).toHaveLength(1);
    expect(digestOf(r.manifestBytes)).toBe(r.descriptor.digest);
  });

  test('exact tags: a semver version and a partial version are tags, not ranges', async () => {
    expect(parseDependencyRef(`${REPO}:1.2`).kind).toBe('tag');
    const partial = await resolveDependency('model', { ref: `${REPO}:1.2`, path: 'm' }, ctx);
    expect(partial.locked.tag).toBe('1.2');
    expect(partial.locked.digest).toBe(d.unrelated!.digest);
    const latest = await resolveDependency('model', { ref: REPO, path: 'm' }, ctx);
    expect(latest.locked).toMatchObject({ tag: 'latest', digest: d['v2.0.0']!.digest });
  });

  test('digest pin: checked to exist, no tag recorded', async () => {
    const dg = d['1.0.0']!.digest;
    const r = await resolveDependency('model', { ref: `${REPO}@${dg}`, path: 'm' }, ctx);
    expect(r.locked.tag).toBeUndefined();
    expect(r.locked.resolved).toBe(`${REPO}@${dg}`);
    const missing = `sha256:${'0'.repeat(64)}`;
    await expect(resolveDependency('model', { ref: `${REPO}@${missing}`, path: 'm' }, ctx)).rejects.toMatchObject({
      code: 'ERR_ORAS_RESOLVE',
      message: expect.stringContaining('not found'),
    });
    await expect(resolveDependency('model', { ref: `${REPO}:nope`, path: 'm' }, ctx)).rejects.toMatchObject({
      code: 'ERR_ORAS_RESOLVE',
    });
  });

  test('no version satisfies: ERR_ORAS_RESOLVE listing the nearest versions', async () => {
    const err = await resolveDependency('model', { ref: `${REPO}:^3.0.0`, path: 'm' }, ctx).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_RESOLVE' });
    expect((err as Error).message).toBe(
      `dependency 'model': no tag of ${REPO} satisfies ^3.0.0 (nearest available: 1.2.0, 1.3.0-rc.1, v2.0.0)`,
    );
    const none = await resolveDependency('x', { ref: 'localhost:5000/acme/other:^1', path: 'm' }, ctx).catch(
      (e: unknown) => e,
    );
    expect((none as Error).message).toMatch(/has no semver tags \(tags: multi, single\)/);
  });

  test('multi-platform index: platform picked, child digest recorded', async () => {
    const def = await resolveDependency('m', { ref: 'localhost:5000/acme/other:multi', path: 'm' }, ctx);
    expect(def.locked.digest).toBe(d.amd!.digest);
    expect(def.index?.descriptor.digest).toBe(d.index!.digest);
    expect(def.locked.resolved).toBe(`localhost:5000/acme/other:multi@${d.amd!.digest}`);
    const arm = await resolveDependency(
      'm',
      { ref: 'localhost:5000/acme/other:multi', path: 'm', platform: 'linux/arm64' },
      ctx,
    );
    expect(arm.locked.digest).toBe(d.arm!.digest);
    const single = await resolveDependency('m', { ref: 'localhost:5000/acme/other:single', path: 'm' }, ctx);
    expect(single.locked.digest).toBe(d.arm!.digest); // the only real platform; unknown/unknown ignored
    await expect(
      resolveDependency('m', { ref: 'localhost:5000/acme/other:multi', path: 'm', platform: 'windows/amd64' }, ctx),
    ).rejects.toMatchObject({
      code: 'ERR_ORAS_RESOLVE',
      message: expect.stringContaining('available: linux/amd64, linux/arm64/v8'),
    });
  });

  test('resolveAll keeps unchanged entries, resolves new/changed, drops removed, honours update', async () => {
    const stale: LockedDependency = {
      specifier: { ref: `${REPO}:^1.0.0`, path: 'keep' },
      resolved: `${REPO}:1.0.0@${d['1.0.0']!.digest}`,
      tag: '1.0.0',
      digest: d['1.0.0']!.digest,
      mediaType: MediaType.ImageManifest,
      files: [{ path: 'keep/one.txt', digest: digestOf('one'), size: 3, layer: digestOf('one') }],
    };
    const lock: Lockfile = {
      lockfileVersion: 1,
      dependencies: {
        keep: stale,
        changed: { ...stale, specifier: { ref: `${REPO}:^1.0.0`, path: 'old-path' } },
        gone: { ...stale, specifier: { ref: `${REPO}:^1.0.0`, path: 'gone' } },
      },
      publish: {
        app: { ref: 'localhost:5000/acme/app', digest: d['1.0.0']!.digest, tags: ['v1'] },
        old: { ref: 'localhost:5000/acme/old', digest: d['1.0.0']!.digest, tags: ['v1'] },
      },
    };
    const manifest: ProjectManifest = {
      dependencies: {
        keep: { ref: `${REPO}:^1.0.0`, path: './keep/', unpack: true },
        changed: { ref: `${REPO}:^1.0.0`, path: 'new-path' },
        added: { ref: `${REPO}:>=2`, path: 'added' },
      },
      publish: { app: { ref: 'localhost:5000/acme/app', files: [{ path: 'dist' }] } },
    };
    events.length = 0;
    const r = await resolveAll(manifest, lock, ctx, { concurrency: 2 });
    expect(Object.keys(r.kept)).toEqual(['keep']);
    expect(r.kept.keep).toBe(stale);
    // an edited path keeps the locked version (no silent upgrade to 1.2.0); its files are recomputed
    expect(Object.keys(r.rebased)).toEqual(['changed']);
    expect(r.rebased.changed).toEqual({
      locked: { ...stale, files: undefined, specifier: { ref: `${REPO}:^1.0.0`, path: 'new-path' } },
    });
    expect(Object.keys(r.resolved).sort()).toEqual(['added']);
    expect(r.resolved.added?.locked.tag).toBe('v2.0.0');
    expect(r.removed).toEqual(['gone']);
    expect(Object.keys(r.publish)).toEqual(['app']);
    expect(
      events
        .filter((e) => e.type === 'resolved')
        .map((e) => e.type === 'resolved' && [e.dependency, e.changed])
        .sort(),
    ).toEqual([['added', true]]);

    const upd = await resolveAll(manifest, lock, ctx, { update: ['keep'] });
    expect(Object.keys(upd.kept)).toEqual([]);
    expect(upd.resolved.keep?.locked.tag).toBe('1.2.0');
    const all = await resolveAll(manifest, lock, ctx, { update: true });
    expect(Object.keys(all.resolved).sort()).toEqual(['added', 'changed', 'keep']);
    await expect(resolveAll(manifest, lock, ctx, { update: ['nope'] })).rejects.toMatchObject({
      code: 'ERR_ORAS_USAGE',
    });
  });

  test('no silent upgrades: a rename, a still-satisfied range and a platform change keep the locked resolution', async () => {
    const locked: LockedDependency = {
      specifier: { ref: `${REPO}:^1.0.0`, path: 'm' },
      resolved: `${REPO}:1.0.0@${d['1.0.0']!.digest}`,
      tag: '1.0.0',
      digest: d['1.0.0']!.digest,
      mediaType: MediaType.ImageManifest,
      files: [{ path: 'm/one.txt', digest: digestOf('one'), size: 3, layer: digestOf('one') }],
    };
    const lock: Lockfile = { lockfileVersion: 1, dependencies: { old: locked }, publish: {} };
    // rename: same ref, new name
    const renamed = await resolveAll(
      { dependencies: { fresh: { ref: `${REPO}:^1.0.0`, path: 'm' } }, publish: {} },
      lock,
      ctx,
    );
    expect(renamed.kept.fresh).toBe(locked);
    expect(renamed.removed).toEqual(['old']);
    // a new range the locked 1.0.0 satisfies: kept with the same files; one it does not: resolved
    const narrowed = await resolveAll(
      { dependencies: { old: { ref: `${REPO}:<1.2.0`, path: 'm' } }, publish: {} },
      lock,
      ctx,
    );
    expect(narrowed.rebased.old).toEqual({
      locked: { ...locked, files: undefined, specifier: { ref: `${REPO}:<1.2.0`, path: 'm' } },
      files: locked.files,
    });
    const moved = await resolveAll(
      { dependencies: { old: { ref: `${REPO}:>=1.1.0 <2`, path: 'm' } }, publish: {} },
      lock,
      ctx,
    );
    expect(moved.resolved.old?.locked.tag).toBe('1.2.0');
    // platform: re-selected within the locked tag of an index, even though the range would move
    const multi: LockedDependency = {
      ...locked,
      specifier: { ref: 'localhost:5000/acme/other:multi', path: 'm' },
      resolved: `localhost:5000/acme/other:multi@${d.amd!.digest}`,
      tag: 'multi',
      digest: d.amd!.digest,
    };
    const plat = await resolveAll(
      {
        dependencies: { old: { ref: 'localhost:5000/acme/other:multi', path: 'm', platform: 'linux/arm64' } },
        publish: {},
      },
      { ...lock, dependencies: { old: multi } },
      ctx,
    );
    expect(plat.resolved.old?.locked).toMatchObject({
      tag: 'multi',
      digest: d.arm!.digest,
      specifier: { platform: 'linux/arm64' },
    });
  });

  test('republished version tags are reported; 1.1.0 beside v1.1.0 with other content is ambiguous', async () => {
    const repo = new MemoryStore();
    const local: ResolveContext = { repositoryFor: () => repo, onEvent: (e) => events.push(e) };
    const first = await pushArtifact(repo, 'first', ['1.0.0']);
    const locked: LockedDependency = {
      specifier: { ref: `${REPO}:^1.0.0`, path: 'm' },
      resolved: `${REPO}:1.0.0@${first.digest}`,
      tag: '1.0.0',
      digest: first.digest,
      mediaType: MediaType.ImageManifest,
      files: [],
    };
    const second = await pushArtifact(repo, 'second', ['1.0.0']);
    events.length = 0;
    const manifest: ProjectManifest = { dependencies: { m: { ref: `${REPO}:^1.0.0`, path: 'm' } }, publish: {} };
    const r = await resolveAll(manifest, { lockfileVersion: 1, dependencies: { m: locked }, publish: {} }, local, {
      update: true,
    });
    expect(r.resolved.m?.locked.digest).toBe(second.digest);
    expect(events).toContainEqual({
      type: 'republished',
      dependency: 'm',
      tag: '1.0.0',
      from: first.digest,
      to: second.digest,
      kept: false,
    });
    const rows = await findOutdated(manifest, { lockfileVersion: 1, dependencies: { m: locked }, publish: {} }, local);
    expect(rows[0]?.republished).toEqual({ tag: '1.0.0', from: first.digest, to: second.digest });

    await pushArtifact(repo, 'plain', ['1.1.0']);
    await pushArtifact(repo, 'vee', ['v1.1.0']);
    await expect(resolveDependency('m', { ref: `${REPO}:^1.0.0`, path: 'm' }, local)).rejects.toMatchObject({
      code: 'ERR_ORAS_RESOLVE',
      message: expect.stringMatching(/1\.1\.0 → sha256:.*v1\.1\.0 → sha256:/),
    });
    await repo.tag(await repo.resolve('1.1.0'), 'v1.1.0');
    expect((await resolveDependency('m', { ref: `${REPO}:^1.0.0`, path: 'm' }, local)).locked.tag).toBe('1.1.0');
  });

  test('resolveAll reports every failure at once', async () => {
    const manifest: ProjectManifest = {
      dependencies: {
        a: { ref: `${REPO}:^7`, path: 'a' },
        b: { ref: `${REPO}:^8`, path: 'b' },
        c: { ref: `${REPO}:^1`, path: 'c' },
      },
      publish: {},
    };
    const err = await resolveAll(manifest, undefined, ctx).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_RESOLVE' });
    expect((err as Error).message).toMatch(/^failed to resolve 2 dependencies:\n {2}a: .*\^7.*\n {2}b: .*\^8/);
  });

  test('findOutdated: current, wanted (max in range) and latest (max overall)', async () => {
    const manifest: ProjectManifest = {
      dependencies: {
        ranged: { ref: `${REPO}:^1.0.0`, path: 'r' },
        tagged: { ref: `${REPO}:latest`, path: 't' },
        pinned: { ref: `${REPO}@${d['1.0.0']!.digest}`, path: 'p' },
        fresh: { ref: `${REPO}:~1.2.0`, path: 'f' },
      },
      publish: {},
    };
    const base = { mediaType: MediaType.ImageManifest, files: [] };
    const lock: Lockfile = {
      lockfileVersion: 1,
      dependencies: {
        ranged: {
          ...base,
          specifier: manifest.dependencies.ranged!,
          resolved: 'x',
          tag: '1.0.0',
          digest: d['1.0.0']!.digest,
        },
        tagged: {
          ...base,
          specifier: manifest.dependencies.tagged!,
          resolved: 'x',
          tag: 'latest',
          digest: d['1.0.0']!.digest,
        },
        pinned: { ...base, specifier: manifest.dependencies.pinned!, resolved: 'x', digest: d['1.0.0']!.digest },
      },
      publish: {},
    };
    const rows = await findOutdated(manifest, lock, ctx);
    expect(rows).toEqual([
      {
        name: 'fresh',
        ref: `${REPO}:~1.2.0`,
        kind: 'range',
        wanted: '1.2.0',
        wantedDigest: d['1.2.0']!.digest,
        latest: 'v2.0.0',
        outdated: true,
      },
      {
        name: 'pinned',
        ref: manifest.dependencies.pinned!.ref,
        kind: 'digest',
        current: d['1.0.0']!.digest,
        currentDigest: d['1.0.0']!.digest,
        wanted: d['1.0.0']!.digest,
        wantedDigest: d['1.0.0']!.digest,
        latest: 'v2.0.0',
        outdated: false,
      },
      {
        name: 'ranged',
        ref: `${REPO}:^1.0.0`,
        kind: 'range',
        current: '1.0.0',
        currentDigest: d['1.0.0']!.digest,
        wanted: '1.2.0',
        wantedDigest: d['1.2.0']!.digest,
        latest: 'v2.0.0',
        outdated: true,
      },
      {
        name: 'tagged',
        ref: `${REPO}:latest`,
        kind: 'tag',
        current: 'latest',
        currentDigest: d['1.0.0']!.digest,
        wanted: 'latest',
        wantedDigest: d['v2.0.0']!.digest,
        latest: 'v2.0.0',
        outdated: true,
      },
    ]);
  });
});
