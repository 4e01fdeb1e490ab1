/**
 * Issue 12 item 2: `publish` reads only regular files inside the project, through no symlink
 * (neither the file nor a parent), unless the entry says `followSymlinks: true`. The "secret"
 * lives outside the project (like a key under ~/.ssh); the tests check that it never reaches
 * the (real) registry.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { publish } from '../../src/project/publish.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { registry, uniqueRepo } from '../harness/context.js';

const SECRET = '-----BEGIN OPENSSH PRIVATE KEY----- canary-publish-secret';
let root: string;
let project: string;
const client = new RegistryClient({ plainHttp: true });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-r2-publish-'));
  const home = join(root, 'home', '.ssh');
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'id_ed25519'), SECRET);
  project = join(root, 'project');
  await mkdir(join(project, 'real'), { recursive: true });
  await writeFile(join(project, 'real', 'ok.txt'), 'fine');
  await symlink(join(home, 'id_ed25519'), join(project, 'key.pem'));
  await symlink(home, join(project, 'linkdir'));
});
afterAll(async () => {
  await client.close();
  await rm(root, { recursive: true, force: true });
});

async function publishWith(files: string): Promise<unknown> {
  const repo = uniqueRepo('r2/publish');
  await writeFile(
    join(project, 'artifacts.yaml'),
    `publish:\n  app:\n    ref: ${registry('plain').host}/${repo}\n    tags: [v1]\n    files:\n${files}`,
  );
  const factory = (repository: string): Repository => new Repository({ reference: repository, client });
  return await publish({ projectDir: project, targetFactory: factory }).then(
    (r) => r,
    (e: unknown) => e,
  );
}

describe('publish never follows a symlink out of the project', () => {
  it.each([
    ['a symlinked file', '      - key.pem\n', 'is a symlink'],
    [
      'a path through a symlinked parent directory',
      '      - linkdir/id_ed25519\n',
      'goes through the symlink "linkdir"',
    ],
    [
      'a symlinked file given as an object entry',
      '      - path: key.pem\n        title: harmless.txt\n',
      'is a symlink',
    ],
  ])('%s is refused (ERR_ORAS_PATH_TRAVERSAL) and nothing is pushed', async (_label, files, why) => {
    const res = await publishWith(files);
    expect(isOrasError(res) && res.code, String(res)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    expect((res as Error).message).toContain(why);
    expect((res as { hint?: string }).hint).toMatch(/followSymlinks: true/);
  });

  it('a regular file inside the project still publishes', async () => {
    const res = await publishWith('      - real/ok.txt\n');
    expect(isOrasError(res), String(res)).toBe(false);
  });

  it('followSymlinks: true on the entry allows it explicitly', async () => {
    const res = (await publishWith('      - path: key.pem\n        followSymlinks: true\n')) as {
      published: { manifest: { layers: { size: number }[] } }[];
    };
    expect(isOrasError(res), String(res)).toBe(false);
    expect(res.published[0]!.manifest.layers[0]!.size).toBe(Buffer.byteLength(SECRET));
  });
});
