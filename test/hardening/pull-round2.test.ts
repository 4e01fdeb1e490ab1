/**
 * Issue 12 items 1, 6, 8, 9 against `pullArtifact` (the `oras pull` path):
 * 1. no writes into VCS metadata (`.git/hooks` pushed to the REAL registry), and a directory
 *    layer over an existing directory merges file by file instead of deleting it;
 * 6. directory modes from tar entries are masked (no world-writable directories);
 * 8. a parent directory swapped for a symlink mid-pull (deterministically, from the event
 *    hook) does not let a file land outside;
 * 9. a declared size over the cap, or over the free space, fails before any byte is written.
 */
import { existsSync, renameSync, symlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packArtifact } from '../../src/artifact/pack.js';
import { pullArtifact } from '../../src/artifact/pull.js';
import { extractTarGz } from '../../src/artifact/tar.js';
import { MemoryStore } from '../../src/content/memory.js';
import { isOrasError } from '../../src/errors.js';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { craftTarGz } from '../artifact/helpers.js';
import { registry, uniqueRepo } from '../harness/context.js';
import { startHostileRegistry } from '../harness/hostile-registry.js';

const dirs: string[] = [];
const clients: RegistryClient[] = [];
async function temp(prefix = 'oras-r2-'): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const c of clients) await c.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
function realRepo(name: string): Repository {
  const info = registry('plain');
  const client = new RegistryClient({ plainHttp: true });
  clients.push(client);
  return new Repository({ reference: { registry: info.host, repository: uniqueRepo(name) }, client });
}
async function failure(p: Promise<unknown>): Promise<unknown> {
  return await p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('item 1: pull never writes into VCS metadata and never deletes a directory', () => {
  it("a directory layer titled .git/hooks (real registry) is refused; the user's hooks stay; --allow-vcs-paths merges without deleting", async () => {
    const src = await temp();
    await mkdir(path.join(src, '.git', 'hooks'), { recursive: true });
    await writeFile(path.join(src, '.git', 'hooks', 'pre-commit'), '#!/bin/sh\necho pwned\n');
    await chmod(path.join(src, '.git', 'hooks', 'pre-commit'), 0o755);
    const repo = realRepo('r2/githooks');
    await packArtifact(repo, { cwd: src, files: [{ path: '.git/hooks' }], tags: ['v1'] });

    const work = await temp();
    await mkdir(path.join(work, '.git', 'hooks'), { recursive: true });
    await writeFile(path.join(work, '.git', 'hooks', 'post-merge'), 'mine');
    const err = await failure(pullArtifact(repo, 'v1', work));
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    expect((err as { hint?: string }).hint).toMatch(/--allow-vcs-paths/);
    expect((await readdir(path.join(work, '.git', 'hooks'))).sort()).toEqual(['post-merge']);
    expect(await readdir(path.join(work, '.git'))).toEqual(['hooks']); // no work dir left behind

    // Explicitly allowed: merged file by file, the user's own hook is kept.
    await pullArtifact(repo, 'v1', work, { allowVcsPaths: true });
    expect((await readdir(path.join(work, '.git', 'hooks'))).sort()).toEqual(['post-merge', 'pre-commit']);
    expect(await readFile(path.join(work, '.git', 'hooks', 'post-merge'), 'utf8')).toBe('mine');
  });

  it.each(['.git/config', '.GIT/config', '.hg/hgrc', 'sub/.svn/entries', '.git./x'])(
    'a file layer titled %s is refused before any request for its blob',
    async (title) => {
      const store = new MemoryStore();
      const src = await temp();
      await writeFile(path.join(src, 'f'), 'x');
      await packArtifact(store, { cwd: src, files: [{ path: 'f', title }], tags: ['v1'] });
      const out = await temp();
      const err = await failure(pullArtifact(store, 'v1', out));
      expect(isOrasError(err) && err.code).toBe('ERR_ORAS_PATH_TRAVERSAL');
      expect(await readdir(out)).toEqual([]);
    },
  );

  it('a .git entry inside a directory layer is refused, nothing placed', async () => {
    const reg = await startHostileRegistry();
    try {
      const tgz = await craftTarGz([
        { name: 'vendor', type: 'directory' },
        { name: 'vendor/.git', type: 'directory' },
        { name: 'vendor/.git/config', content: '[core]\n\tfsmonitor = evil\n' },
      ]);
      reg.addArtifact(
        [
          {
            data: tgz,
            title: 'vendor',
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            annotations: { 'io.deis.oras.content.unpack': 'true' },
          },
        ],
        'v1',
      );
      const client = new RegistryClient({ plainHttp: true });
      clients.push(client);
      const out = await temp();
      const err = await failure(
        pullArtifact(new Repository({ reference: { registry: reg.host, repository: 'x/y' }, client }), 'v1', out),
      );
      expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
      expect(await readdir(out)).toEqual([]);
    } finally {
      await reg.close();
    }
  });

  it('a directory layer over an existing directory merges: unrelated files stay, same-named files are replaced (real registry)', async () => {
    const src = await temp();
    await mkdir(path.join(src, 'docs', 'sub'), { recursive: true });
    await writeFile(path.join(src, 'docs', 'a.md'), 'new a');
    await writeFile(path.join(src, 'docs', 'sub', 'b.md'), 'new b');
    const repo = realRepo('r2/merge');
    await packArtifact(repo, { cwd: src, files: [{ path: 'docs' }], tags: ['v1'] });
    const work = await temp();
    await mkdir(path.join(work, 'docs', 'sub'), { recursive: true });
    await writeFile(path.join(work, 'docs', 'a.md'), 'old a');
    await writeFile(path.join(work, 'docs', 'mine.md'), 'keep me');
    await writeFile(path.join(work, 'docs', 'sub', 'mine2.md'), 'keep me too');
    await pullArtifact(repo, 'v1', work);
    expect(await readFile(path.join(work, 'docs', 'a.md'), 'utf8')).toBe('new a');
    expect(await readFile(path.join(work, 'docs', 'sub', 'b.md'), 'utf8')).toBe('new b');
    expect(await readFile(path.join(work, 'docs', 'mine.md'), 'utf8')).toBe('keep me');
    expect(await readFile(path.join(work, 'docs', 'sub', 'mine2.md'), 'utf8')).toBe('keep me too');
    expect((await readdir(work)).sort()).toEqual(['docs']);
  });

  it('a directory layer that would replace an existing directory with a file is refused before anything moves', async () => {
    const src = await temp();
    await mkdir(path.join(src, 'docs'), { recursive: true });
    await writeFile(path.join(src, 'docs', 'a.md'), 'new a');
    await writeFile(path.join(src, 'docs', 'sub'), 'a file where the user has a directory');
    const store = new MemoryStore();
    await packArtifact(store, { cwd: src, files: [{ path: 'docs' }], tags: ['v1'] });
    const work = await temp();
    await mkdir(path.join(work, 'docs', 'sub'), { recursive: true });
    await writeFile(path.join(work, 'docs', 'a.md'), 'old a');
    await writeFile(path.join(work, 'docs', 'sub', 'mine.md'), 'keep');
    const err = await failure(pullArtifact(store, 'v1', work));
    expect(isOrasError(err) && err.code).toBe('ERR_ORAS_ALREADY_EXISTS');
    expect(await readFile(path.join(work, 'docs', 'a.md'), 'utf8')).toBe('old a');
    expect(await readFile(path.join(work, 'docs', 'sub', 'mine.md'), 'utf8')).toBe('keep');
    expect((await readdir(work)).sort()).toEqual(['docs']);
  });
});

describe('item 6: directory modes are masked', () => {
  const tgz = (): Promise<Buffer> =>
    craftTarGz([
      { name: 'd', type: 'directory', mode: 0o777 },
      { name: 'd/open', type: 'directory', mode: 0o777 },
      { name: 'd/open/f', mode: 0o666 },
    ]);

  it('output: modes masked by the umask (here given as 022): no world-writable directory', async () => {
    const out = path.join(await temp(), 'd');
    await extractTarGz(Readable.from([await tgz()]), out, { stripPrefix: 'd', modeMask: 0o022 });
    expect((await stat(out)).mode & 0o777).toBe(0o755);
    expect((await stat(path.join(out, 'open'))).mode & 0o777).toBe(0o755);
    expect((await stat(path.join(out, 'open', 'f'))).mode & 0o777).toBe(0o644);
  });

  it('default mask is the process umask', async () => {
    const out = path.join(await temp(), 'd');
    await extractTarGz(Readable.from([await tgz()]), out, { stripPrefix: 'd' });
    const umask = process.umask();
    expect((await stat(path.join(out, 'open'))).mode & 0o777).toBe((0o777 & ~umask) | 0o700);
  });

  it('shared (the cache): never group/other-writable, even with umask 000', async () => {
    const out = path.join(await temp(), 'd');
    await extractTarGz(Readable.from([await tgz()]), out, { stripPrefix: 'd', modeMask: 0, shared: true });
    expect((await stat(path.join(out, 'open'))).mode & 0o022).toBe(0);
    expect((await stat(path.join(out, 'open', 'f'))).mode & 0o022).toBe(0);
  });
});

describe('item 8: a parent swapped for a symlink mid-pull', () => {
  async function setup(size: number): Promise<{ store: MemoryStore; work: string; outside: string }> {
    const src = await temp();
    await mkdir(path.join(src, 'sub'), { recursive: true });
    await writeFile(path.join(src, 'sub', 'payload.bin'), Buffer.alloc(size, 7));
    const store = new MemoryStore();
    await packArtifact(store, { cwd: src, files: [{ path: 'sub/payload.bin' }], tags: ['v1'] });
    return { store, work: await temp(), outside: await temp('oras-r2-outside-') };
  }
  const swap = (work: string, outside: string): void => {
    renameSync(path.join(work, 'sub'), path.join(work, 'sub.moved'));
    symlinkSync(outside, path.join(work, 'sub'));
  };

  it.each([
    ['before the write (start event)', 'start', 1000],
    ['during the write (first progress event of a large file)', 'progress', 3 * 1024 * 1024],
  ] as const)('%s: refused, nothing lands outside', async (_label, when, size) => {
    const { store, work, outside } = await setup(size);
    let swapped = false;
    const err = await failure(
      pullArtifact(store, 'v1', work, {
        onEvent: (e) => {
          if (e.type === when && !swapped) {
            swapped = true;
            swap(work, outside);
          }
        },
      }),
    );
    expect(swapped).toBe(true);
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    expect(await readdir(outside)).toEqual([]);
  });
});

describe('item 9: declared sizes are capped, free space is checked, before any byte is written', () => {
  it('a layer declaring 100 GiB (over the 64 GiB default) fails with ERR_ORAS_LIMIT_EXCEEDED; its blob is never requested', async () => {
    const reg = await startHostileRegistry();
    try {
      reg.addArtifact(
        [{ data: Buffer.from('tiny'), title: 'huge.bin', descriptor: { size: 100 * 1024 ** 3 } }],
        'huge',
      );
      const client = new RegistryClient({ plainHttp: true });
      clients.push(client);
      const out = path.join(await temp(), 'out');
      const err = await failure(
        pullArtifact(new Repository({ reference: { registry: reg.host, repository: 'x/y' }, client }), 'huge', out),
      );
      expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_LIMIT_EXCEEDED');
      expect((err as { hint?: string }).hint).toMatch(/--max-artifact-size/);
      expect(
        reg.requests.filter(
          (r) => r.url.includes('/blobs/') && !r.url.includes(reg.blobs.keys().next().value as string),
        ),
      ).toEqual([]);
      expect(existsSync(out)).toBe(false);
    } finally {
      await reg.close();
    }
  });

  it('maxArtifactBytes lowers the cap for the total of several layers', async () => {
    const store = new MemoryStore();
    const src = await temp();
    await writeFile(path.join(src, 'a'), Buffer.alloc(600));
    await writeFile(path.join(src, 'b'), Buffer.alloc(600));
    await packArtifact(store, { cwd: src, files: [{ path: 'a' }, { path: 'b' }], tags: ['v1'] });
    const out = await temp();
    const err = await failure(pullArtifact(store, 'v1', out, { maxArtifactBytes: 1000 }));
    expect(isOrasError(err) && err.code).toBe('ERR_ORAS_LIMIT_EXCEEDED');
    expect(await readdir(out)).toEqual([]);
  });

  it('a declared size beyond the free disk space (cap disabled) fails with ERR_ORAS_NO_SPACE', async () => {
    const reg = await startHostileRegistry();
    try {
      reg.addArtifact([{ data: Buffer.from('tiny'), title: 'huge.bin', descriptor: { size: 2 ** 52 } }], 'huge');
      const client = new RegistryClient({ plainHttp: true });
      clients.push(client);
      const out = path.join(await temp(), 'out');
      const err = await failure(
        pullArtifact(new Repository({ reference: { registry: reg.host, repository: 'x/y' }, client }), 'huge', out, {
          maxArtifactBytes: Infinity,
        }),
      );
      expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_NO_SPACE');
      expect(existsSync(out)).toBe(false);
    } finally {
      await reg.close();
    }
  });
});
