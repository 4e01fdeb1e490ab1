/**
 * Issue 12 item 2, the race left open by the first fix: `publish` checks a `files` path for
 * symlinks, then packs it. Swapping a checked component for a symlink between the check and the
 * read must not upload what the link points to. The check returns the file's identity (device +
 * inode) and every read opens without following a final symlink and compares it. The swap is made
 * deterministically between `assertPublishSource` and the pack, exactly where `publish` calls them.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packArtifact } from '../../src/artifact/pack.js';
import { openForUpload } from '../../src/artifact/push-blob.js';
import { MemoryStore } from '../../src/content/memory.js';
import { isOrasError } from '../../src/errors.js';
import { digestFile } from '../../src/oci/hash-file.js';
import { expandPublishFiles } from '../../src/project/publish.js';
import { assertPublishSource } from '../../src/project/publish-source.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A project with `dist/app.bin`, and a secret outside it (`~/.ssh/id` stand-in). */
async function setup(): Promise<{ project: string; secretDir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'oras-publish-race-'));
  dirs.push(root);
  const project = join(root, 'project');
  const secretDir = join(root, 'home', '.ssh');
  await mkdir(join(project, 'dist'), { recursive: true });
  await mkdir(secretDir, { recursive: true });
  await writeFile(join(project, 'dist', 'app.bin'), 'the real build output\n');
  await writeFile(join(secretDir, 'app.bin'), 'PRIVATE KEY\n');
  return { project, secretDir };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return await p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** True when the store holds the secret's bytes as a blob (by digest, through the public API). */
async function holdsSecret(store: MemoryStore): Promise<boolean> {
  const data = Buffer.from('PRIVATE KEY\n');
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  return store.exists({ mediaType: 'application/octet-stream', digest, size: data.length });
}

describe('publish reads exactly the file it checked', () => {
  it('the file swapped for a symlink after the check is refused (ERR_ORAS_PATH_TRAVERSAL); the secret is not read', async () => {
    const { project, secretDir } = await setup();
    const identity = await assertPublishSource(project, 'dist/app.bin');
    expect(identity).toBeDefined();
    await rm(join(project, 'dist', 'app.bin'));
    await symlink(join(secretDir, 'app.bin'), join(project, 'dist', 'app.bin'));
    const store = new MemoryStore();
    const err = await failure(
      packArtifact(store, { cwd: project, files: [{ path: 'dist/app.bin', identity: identity! }], tags: ['v1'] }),
    );
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    expect(await holdsSecret(store)).toBe(false);
  });

  it('a parent directory swapped for a symlink after the check is refused', async () => {
    const { project, secretDir } = await setup();
    const identity = await assertPublishSource(project, 'dist/app.bin');
    await rename(join(project, 'dist'), join(project, 'dist.old'));
    await symlink(secretDir, join(project, 'dist'));
    const store = new MemoryStore();
    const err = await failure(
      packArtifact(store, { cwd: project, files: [{ path: 'dist/app.bin', identity: identity! }], tags: ['v1'] }),
    );
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    expect(await holdsSecret(store)).toBe(false);
  });

  it('hashing and every (re)open for upload compare the identity too', async () => {
    const { project, secretDir } = await setup();
    const file = join(project, 'dist', 'app.bin');
    const identity = (await assertPublishSource(project, 'dist/app.bin'))!;
    await expect(digestFile(file, { expect: identity })).resolves.toMatchObject({ size: 22 });
    const stream = openForUpload(file, 22, identity);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('the real build output\n');

    await rename(file, `${file}.old`);
    await symlink(join(secretDir, 'app.bin'), file);
    const hashErr = await failure(digestFile(file, { expect: identity }));
    expect(isOrasError(hashErr) && hashErr.code).toBe('ERR_ORAS_PATH_TRAVERSAL');
    let openErr: unknown;
    try {
      openForUpload(file, 22, identity);
    } catch (e) {
      openErr = e;
    }
    expect(isOrasError(openErr) && openErr.code).toBe('ERR_ORAS_PATH_TRAVERSAL');
    expect(await readFile(join(secretDir, 'app.bin'), 'utf8')).toBe('PRIVATE KEY\n');
  });

  it('without the identity (the old behaviour) the same swap uploads the secret: the check above is what stops it', async () => {
    const { project, secretDir } = await setup();
    await assertPublishSource(project, 'dist/app.bin');
    await rm(join(project, 'dist', 'app.bin'));
    await symlink(join(secretDir, 'app.bin'), join(project, 'dist', 'app.bin'));
    const store = new MemoryStore();
    await packArtifact(store, { cwd: project, files: [{ path: 'dist/app.bin' }], tags: ['v1'] });
    expect(await holdsSecret(store)).toBe(true);
  });

  it('an unchanged file packs as before (and a symlinked path with followSymlinks carries no identity)', async () => {
    const { project, secretDir } = await setup();
    const identity = await assertPublishSource(project, 'dist/app.bin');
    const store = new MemoryStore();
    const r = await packArtifact(store, {
      cwd: project,
      files: [{ path: 'dist/app.bin', identity: identity! }],
      tags: ['v1'],
    });
    expect(r.manifest.layers).toHaveLength(1);
    await symlink(join(secretDir, 'app.bin'), join(project, 'key.bin'));
    expect(await assertPublishSource(project, 'key.bin', { followSymlinks: true })).toBeUndefined();
  });

  it('a glob whose base directory is a symlink out of the project is refused; glob matches are read by identity', async () => {
    const { project, secretDir } = await setup();
    await symlink(secretDir, join(project, 'keys'));
    const err = await failure(expandPublishFiles(project, ['keys/*.bin']));
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    expect((err as Error).message).toContain('goes through the symlink "keys"');
    const inputs = await expandPublishFiles(project, ['dist/*.bin']);
    expect(inputs).toEqual([expect.objectContaining({ path: 'dist/app.bin', identity: expect.anything() })]);
    // explicitly allowed per entry
    const allowed = await expandPublishFiles(project, [{ path: 'keys/*.bin', followSymlinks: true }]);
    expect(allowed.map((i) => i.path)).toEqual(['keys/app.bin']);
  });
});
