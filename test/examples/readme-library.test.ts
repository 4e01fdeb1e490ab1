// The README's library snippet, run as written (plus a temp cwd and the test registry's address).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  RegistryClient,
  Repository,
  OciLayoutStore,
  copy,
  packArtifact,
  pullArtifact,
  createCredentialProvider,
} from '../../src/index.js';
import { registry, uniqueRepo } from '../harness/context.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

it('README library example works against a real registry', async () => {
  const work = await mkdtemp(join(tmpdir(), 'oras-readme-'));
  dirs.push(work);
  await writeFile(join(work, 'artifact.txt'), 'hello world\n');
  const events: string[] = [];

  const client = new RegistryClient({
    credentials: createCredentialProvider({ configPath: join(work, 'no-config.json') }),
  });
  const repo = new Repository({ reference: `${registry('plain').host}/${uniqueRepo('hello')}`, client });

  const { descriptor } = await packArtifact(repo, {
    files: [{ path: 'artifact.txt', mediaType: 'application/vnd.acme.rocket.layer.v1+txt' }],
    artifactType: 'application/vnd.acme.rocket.v1',
    tags: ['v1'],
    cwd: work,
  });

  await pullArtifact(repo, 'v1', join(work, 'out'), {
    allowedMediaTypes: ['application/vnd.acme.rocket.layer.v1+txt'],
  });
  expect(await readFile(join(work, 'out', 'artifact.txt'), 'utf8')).toBe('hello world\n');

  const layout = await OciLayoutStore.open(join(work, 'backup'));
  const copied = await copy(repo, 'v1', layout, 'v1', {
    concurrency: 4,
    onEvent: (e) => events.push(`${e.type} ${e.descriptor.digest}`),
  });
  expect(copied.digest).toBe(descriptor.digest);
  expect((await layout.resolve('v1')).digest).toBe(descriptor.digest);
  expect(events.some((e) => e.startsWith('done'))).toBe(true);
  await client.close();
});
