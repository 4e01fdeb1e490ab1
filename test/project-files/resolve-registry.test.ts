import { describe, expect, test, beforeAll } from 'vitest';
import { EMPTY_DESCRIPTOR, EMPTY_JSON, type Descriptor, type ImageManifest } from '../../src/oci/descriptor.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Reference } from '../../src/oci/reference.js';
import { findOutdated } from '../../src/project/outdated.js';
import { resolveAll, resolveDependency, type ResolveContext } from '../../src/project/plan/resolve.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { registry, uniqueRepo } from '../harness/context.js';

describe('resolver against the real plain registry (docker-registry 2.8.2)', () => {
  const info = registry('plain');
  const client = new RegistryClient({ plainHttp: true });
  const repoName = uniqueRepo('project-files/resolve');
  const repo = new Repository({ reference: { registry: info.host, repository: repoName }, client });
  const base = `${info.host}/${repoName}`;
  const pushed: Record<string, Descriptor> = {};
  const ctx: ResolveContext = { repositoryFor: (ref: Reference) => new Repository({ reference: ref, client }) };

  async function push(content: string, tags: string[]): Promise<Descriptor> {
    await repo.push(EMPTY_DESCRIPTOR, EMPTY_JSON);
    const data = Buffer.from(content);
    const layer: Descriptor = {
      mediaType: MediaType.DefaultLayer,
      digest: digestOf(data),
      size: data.length,
      annotations: { 'org.opencontainers.image.title': `${content}.txt` },
    };
    await repo.push(layer, data);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      artifactType: 'application/vnd.acme.test.v1',
      config: { ...EMPTY_DESCRIPTOR },
      layers: [layer],
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const desc: Descriptor = { mediaType: MediaType.ImageManifest, digest: digestOf(bytes), size: bytes.length };
    await repo.push(desc, bytes);
    for (const t of tags) await repo.tag(desc, t);
    return desc;
  }

  beforeAll(async () => {
    pushed['1.0.0'] = await push('one', ['1.0.0']);
    pushed['1.2.0'] = await push('one-two', ['1.2.0']);
    pushed['1.3.0-rc.1'] = await push('rc', ['1.3.0-rc.1']);
    pushed['v2.0.0'] = await push('two', ['v2.0.0', 'latest']);
  });

  test.each([
    ['^1.0.0', '1.2.0'],
    ['>=2', 'v2.0.0'],
    ['~1.2', '1.2.0'],
    ['^1.3.0-rc.0', '1.3.0-rc.1'],
  ])('range %s resolves to %s', async (range, tag) => {
    const r = await resolveDependency('m', { ref: `${base}:${range}`, path: 'm' }, ctx);
    expect(r.locked).toEqual({
      specifier: { ref: `${base}:${range}`, path: 'm' },
      resolved: `${base}:${tag}@${pushed[tag]!.digest}`,
      tag,
      digest: pushed[tag]!.digest,
      mediaType: MediaType.ImageManifest,
      artifactType: 'application/vnd.acme.test.v1',
    });
    expect(r.manifest.layers[0]?.annotations?.['org.opencontainers.image.title']).toBeDefined();
  });

  test('tag, digest pin, missing tag, unsatisfiable range', async () => {
    expect((await resolveDependency('m', { ref: `${base}:latest`, path: 'm' }, ctx)).locked.digest).toBe(
      pushed['v2.0.0']!.digest,
    );
    const pin = await resolveDependency('m', { ref: `${base}@${pushed['1.0.0']!.digest}`, path: 'm' }, ctx);
    expect(pin.locked.resolved).toBe(`${base}@${pushed['1.0.0']!.digest}`);
    await expect(resolveDependency('m', { ref: `${base}:9.9.9`, path: 'm' }, ctx)).rejects.toMatchObject({
      code: 'ERR_ORAS_RESOLVE',
    });
    await expect(
      resolveDependency('m', { ref: `${base}@sha256:${'0'.repeat(64)}`, path: 'm' }, ctx),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_RESOLVE' });
    await expect(resolveDependency('m', { ref: `${base}:^5`, path: 'm' }, ctx)).rejects.toMatchObject({
      code: 'ERR_ORAS_RESOLVE',
      message: expect.stringContaining('nearest available: 1.2.0, 1.3.0-rc.1, v2.0.0'),
    });
  });

  test('resolveAll and findOutdated over the registry', async () => {
    const manifest = {
      dependencies: { a: { ref: `${base}:^1.0.0`, path: 'a' }, b: { ref: `${base}:latest`, path: 'b' } },
      publish: {},
    };
    const r = await resolveAll(manifest, undefined, ctx);
    expect(r.resolved.a?.locked.tag).toBe('1.2.0');
    expect(r.resolved.b?.locked.digest).toBe(pushed['v2.0.0']!.digest);
    const rows = await findOutdated(manifest, undefined, ctx);
    expect(rows.map((x) => [x.name, x.wanted, x.latest, x.outdated])).toEqual([
      ['a', '1.2.0', 'v2.0.0', true],
      ['b', 'latest', 'v2.0.0', true],
    ]);
  });
});
