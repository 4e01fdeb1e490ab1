// The seed's "ORAS Go Module Example" (push a file from memory with a custom
// media type, then pull it to disk allowing only that media type), written
// against the oras-ts library and run against the real registry.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Annotation,
  MemoryStore,
  RegistryClient,
  Repository,
  buildManifest,
  copy,
  digestOf,
  pullArtifact,
  type Descriptor,
  type TransferEvent,
} from '../../src/index.js';
import { registry, uniqueRepo } from '../harness/context.js';

describe('seed: ORAS Go module example, in TypeScript', () => {
  const client = new RegistryClient();
  const dirs: string[] = [];
  afterAll(async () => {
    await client.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('pushes a file from memory with a custom media type and pulls it to files', async () => {
    const reg = registry('plain');
    const ref = `${reg.host}/${uniqueRepo('oras')}:test`;
    const fileName = 'hello.txt';
    const fileContent = Buffer.from('Hello World!\n');
    const customMediaType = 'my.custom.media.type';

    // Push file(s) with a custom media type to the registry.
    const memoryStore = new MemoryStore();
    const layer: Descriptor = {
      mediaType: customMediaType,
      digest: digestOf(fileContent),
      size: fileContent.length,
      annotations: { [Annotation.Title]: fileName },
    };
    await memoryStore.push(layer, fileContent);
    const built = buildManifest({ layers: [layer] });
    if (built.defaultConfigBytes) await memoryStore.push(built.config, built.defaultConfigBytes);
    await memoryStore.push(built.descriptor, built.bytes);
    await memoryStore.tag(built.descriptor, 'test');

    const repo = new Repository({ reference: ref, client });
    const pushed = await copy(memoryStore, 'test', repo, 'test');
    expect(pushed.digest).toBe(built.descriptor.digest);
    expect((await repo.resolve('test')).digest).toBe(built.descriptor.digest);

    // Pull file(s) from the registry and save them to disk, allowing only the custom type.
    const outDir = await mkdtemp(join(tmpdir(), 'oras-go-example-'));
    dirs.push(outDir);
    const events: TransferEvent['type'][] = [];
    const pulled = await pullArtifact(repo, 'test', outDir, {
      allowedMediaTypes: [customMediaType],
      onEvent: (e) => events.push(e.type),
    });
    expect(pulled.descriptor.digest).toBe(built.descriptor.digest);
    expect(await readFile(join(outDir, fileName))).toEqual(fileContent);
    expect(await readdir(outDir)).toEqual([fileName]);
    expect(events).toContain('done');
  });

  it('allowing only another media type pulls nothing', async () => {
    const reg = registry('plain');
    const ref = `${reg.host}/${uniqueRepo('oras')}:test`;
    const memoryStore = new MemoryStore();
    const content = Buffer.from('not for you\n');
    const layer: Descriptor = {
      mediaType: 'my.custom.media.type',
      digest: digestOf(content),
      size: content.length,
      annotations: { [Annotation.Title]: 'x.txt' },
    };
    await memoryStore.push(layer, content);
    const built = buildManifest({ layers: [layer] });
    if (built.defaultConfigBytes) await memoryStore.push(built.config, built.defaultConfigBytes);
    await memoryStore.push(built.descriptor, built.bytes);
    await memoryStore.tag(built.descriptor, 'test');
    const repo = new Repository({ reference: ref, client });
    await copy(memoryStore, 'test', repo, 'test');

    const outDir = await mkdtemp(join(tmpdir(), 'oras-go-example-'));
    dirs.push(outDir);
    await pullArtifact(repo, 'test', outDir, { allowedMediaTypes: ['some.other.type'] });
    expect(await readdir(outDir)).toEqual([]);
  });
});
