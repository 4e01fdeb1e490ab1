import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractTarGz, packDirectory } from '../../src/artifact/tar.js';
import { scanTar } from '../../src/artifact/tar-scan.js';
import { isOrasError } from '../../src/errors.js';
import { bufferStream, craftTarGz, listTree, useTempDirs, type CraftEntry } from './helpers.js';

const tmp = useTempDirs();

async function makeTree(root: string): Promise<string> {
  const dir = path.join(root, 'tree');
  await mkdir(path.join(dir, 'sub', 'deeper'), { recursive: true });
  await writeFile(path.join(dir, 'a.txt'), 'alpha\n');
  await writeFile(path.join(dir, 'sub', 'b.txt'), 'beta\n');
  await writeFile(path.join(dir, 'sub', 'deeper', 'c.bin'), Buffer.alloc(70_000, 7));
  await writeFile(path.join(dir, 'run.sh'), '#!/bin/sh\necho hi\n');
  await chmod(path.join(dir, 'run.sh'), 0o750);
  await symlink('sub/b.txt', path.join(dir, 'link-to-b'));
  await mkdir(path.join(dir, 'sub', 'x'.repeat(150)));
  await writeFile(path.join(dir, 'sub', 'x'.repeat(150), 'y'.repeat(150)), 'deep');
  return dir;
}

describe('packDirectory', () => {
  it('is reproducible and writes a clean gzip header', async () => {
    const root = await tmp();
    const dir = await makeTree(root);
    const a = await packDirectory(dir, { prefixName: 'tree' });
    const b = await packDirectory(dir, { prefixName: 'tree' });
    try {
      expect(a.digest).toBe(b.digest);
      expect(a.uncompressedDigest).toBe(b.uncompressedDigest);
      expect(a.size).toBe((await stat(a.path)).size);
      const head = (await readFile(a.path)).subarray(0, 10);
      expect(head[0]).toBe(0x1f);
      expect(head[1]).toBe(0x8b);
      expect(head[3]).toBe(0); // no FNAME / FCOMMENT / FEXTRA
      expect(head.readUInt32LE(4)).toBe(0); // mtime 0
      // touching mtimes does not change the digest
      await writeFile(path.join(dir, 'a.txt'), 'alpha\n');
      const c = await packDirectory(dir, { prefixName: 'tree' });
      expect(c.digest).toBe(a.digest);
      await c.cleanup();
      const d = await packDirectory(dir, { prefixName: 'tree', mtime: 1_700_000_000 });
      expect(d.digest).not.toBe(a.digest);
      await d.cleanup();
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
    await expect(lstat(a.path)).rejects.toThrow();
  });

  it('round-trips nested dirs, the executable bit and a symlink', async () => {
    const root = await tmp();
    const dir = await makeTree(root);
    const packed = await packDirectory(dir, { prefixName: 'tree' });
    const out = path.join(root, 'out', 'tree');
    const res = await extractTarGz(createReadStream(packed.path), out, {
      stripPrefix: 'tree',
      expectedUncompressedDigest: packed.uncompressedDigest,
    });
    await packed.cleanup();
    expect(res.uncompressedDigest).toBe(packed.uncompressedDigest);
    const long = `sub/${'x'.repeat(150)}`;
    expect(await listTree(out)).toEqual([
      'a.txt',
      'link-to-b',
      'run.sh',
      'sub',
      'sub/b.txt',
      'sub/deeper',
      'sub/deeper/c.bin',
      long,
      `${long}/${'y'.repeat(150)}`,
    ]);
    expect(await readFile(path.join(out, long, 'y'.repeat(150)), 'utf8')).toBe('deep');
    expect(await readFile(path.join(out, 'sub', 'deeper', 'c.bin'))).toEqual(Buffer.alloc(70_000, 7));
    expect((await stat(path.join(out, 'run.sh'))).mode & 0o100).toBe(0o100);
    expect((await stat(path.join(out, 'a.txt'))).mode & 0o111).toBe(0);
    expect(await readlink(path.join(out, 'link-to-b'))).toBe('sub/b.txt');
    expect(await readFile(path.join(out, 'link-to-b'), 'utf8')).toBe('beta\n');
    // no temp leftovers next to the destination
    expect(await listTree(path.join(root, 'out'))).toEqual(expect.arrayContaining(['tree']));
    expect((await listTree(path.join(root, 'out'))).filter((n) => !n.startsWith('tree'))).toEqual([]);
  });

  it('replaces an existing destination as a whole', async () => {
    const root = await tmp();
    const out = path.join(root, 'dest');
    await mkdir(out);
    await writeFile(path.join(out, 'stale.txt'), 'old');
    await extractTarGz(bufferStream(await craftTarGz([{ name: 'x/new.txt', content: 'new' }])), out, {
      stripPrefix: 'x',
    });
    expect(await listTree(root)).toEqual(['dest', 'dest/new.txt']);
    await expect(
      extractTarGz(bufferStream(await craftTarGz([{ name: 'x/new.txt', content: 'new' }])), out, {
        stripPrefix: 'x',
        replaceExisting: false,
      }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_ALREADY_EXISTS' });
  });

  it('refuses special files', async () => {
    const root = await tmp();
    const dir = path.join(root, 'd');
    await mkdir(dir);
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
    await expect(packDirectory(dir)).rejects.toMatchObject({ code: 'ERR_ORAS_UNSUPPORTED' });
  });
});

describe('scanTar uncompressedDigest option', () => {
  it('skips hashing the tar only when asked and nothing is expected; an expected digest is still checked', async () => {
    const root = await tmp();
    const packed = await packDirectory(await makeTree(root), { prefixName: 'tree' });
    const scan = (options: Parameters<typeof scanTar>[1]) =>
      scanTar(createReadStream(packed.path), { stripPrefix: 'tree', ...options }, {});
    expect((await scan({})).uncompressedDigest).toBe(packed.uncompressedDigest);
    const off = await scan({ uncompressedDigest: false });
    expect(off.uncompressedDigest).toBe('');
    expect(off.uncompressedBytes).toBeGreaterThan(0);
    const checked = await scan({ uncompressedDigest: false, expectedUncompressedDigest: packed.uncompressedDigest });
    expect(checked.uncompressedDigest).toBe(packed.uncompressedDigest);
    await expect(
      scan({ uncompressedDigest: false, expectedUncompressedDigest: `sha256:${'0'.repeat(64)}` }),
    ).rejects.toSatisfy((e: unknown) => isOrasError(e, 'ERR_ORAS_DIGEST_MISMATCH'));
    await packed.cleanup();
  });
});

describe('extractTarGz attacks', () => {
  async function attempt(
    entries: CraftEntry[],
    opts: Parameters<typeof extractTarGz>[2] = {},
  ): Promise<{ err: unknown; root: string }> {
    const root = await tmp();
    const dest = path.join(root, 'box', 'dest');
    await mkdir(path.join(root, 'box'));
    let err: unknown;
    try {
      await extractTarGz(bufferStream(await craftTarGz(entries)), dest, opts);
    } catch (e) {
      err = e;
    }
    return { err, root };
  }

  const cases: [string, CraftEntry[], string][] = [
    ['dot-dot entry', [{ name: '../evil', content: 'x' }], 'ERR_ORAS_PATH_TRAVERSAL'],
    ['nested dot-dot entry', [{ name: 'a/../../evil', content: 'x' }], 'ERR_ORAS_PATH_TRAVERSAL'],
    ['leading slash', [{ name: '/tmp/evil', content: 'x' }], 'ERR_ORAS_PATH_TRAVERSAL'],
    ['backslash', [{ name: '..\\evil', content: 'x' }], 'ERR_ORAS_PATH_TRAVERSAL'],
    [
      'symlink out then write through it',
      [
        { name: 'l', type: 'symlink', linkname: '..' },
        { name: 'l/evil', content: 'x' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    ['absolute symlink', [{ name: 'l', type: 'symlink', linkname: '/etc' }], 'ERR_ORAS_PATH_TRAVERSAL'],
    [
      'symlink inside, then file written through it',
      [
        { name: 'd', type: 'directory' },
        { name: 'l', type: 'symlink', linkname: 'd' },
        { name: 'l/x', content: 'x' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'symlink chain escape',
      [
        { name: 'd', type: 'directory' },
        { name: 'd/l', type: 'symlink', linkname: 's/../../x' },
        { name: 'd/s', type: 'symlink', linkname: '.' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'directory replaced by a symlink',
      [
        { name: 'd', type: 'directory' },
        { name: 'd', type: 'symlink', linkname: '..' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'directory replaced by an inside symlink',
      [
        { name: 'd', type: 'directory' },
        { name: 'e', type: 'directory' },
        { name: 'd', type: 'symlink', linkname: 'e' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'file replaced by a symlink',
      [
        { name: 'f', content: 'a' },
        { name: 'f', type: 'symlink', linkname: 'g' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'duplicate file',
      [
        { name: 'f', content: 'a' },
        { name: 'f', content: 'b' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    ['relative hardlink out', [{ name: 'h', type: 'link', linkname: '../../outside' }], 'ERR_ORAS_PATH_TRAVERSAL'],
    ['absolute hardlink out', [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], 'ERR_ORAS_PATH_TRAVERSAL'],
    ['hardlink to a missing file', [{ name: 'h', type: 'link', linkname: 'nothing' }], 'ERR_ORAS_PATH_TRAVERSAL'],
    [
      'hardlink through a symlinked parent',
      [
        { name: 'd', type: 'directory' },
        { name: 'd/f', content: 'x' },
        { name: 'top', type: 'symlink', linkname: 'd' },
        { name: 'h', type: 'link', linkname: 'top/f' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    [
      'hardlink to a symlink',
      [
        { name: 's', type: 'symlink', linkname: 'x' },
        { name: 'h', type: 'link', linkname: 's' },
      ],
      'ERR_ORAS_PATH_TRAVERSAL',
    ],
    ['fifo', [{ name: 'p', type: 'fifo' }], 'ERR_ORAS_UNSUPPORTED'],
    ['char device', [{ name: 'c', type: 'character-device' }], 'ERR_ORAS_UNSUPPORTED'],
    ['block device', [{ name: 'b', type: 'block-device' }], 'ERR_ORAS_UNSUPPORTED'],
  ];
  for (const [name, entries, code] of cases) {
    it(`refuses: ${name}`, async () => {
      const { err, root } = await attempt(entries);
      expect(isOrasError(err), String(err)).toBe(true);
      expect((err as { code: string }).code).toBe(code);
      // nothing anywhere: not at the destination, not next to it, not outside
      expect(await listTree(root)).toEqual(['box']);
    });
  }

  it('refuses entries outside the strip prefix', async () => {
    const { err, root } = await attempt([{ name: 'other/x', content: 'x' }], { stripPrefix: 'mine' });
    expect(err).toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
    expect(await listTree(root)).toEqual(['box']);
  });

  it('accepts Go-style archives (root entry without a slash, ./ names) and long names', async () => {
    const long = `${'n'.repeat(120)}/${'m'.repeat(120)}.txt`;
    const { err, root } = await attempt(
      [
        { name: 'pkg', type: 'directory' },
        { name: './pkg/a.txt', content: 'a' },
        { name: `pkg/${long}`, content: 'long' },
      ],
      { stripPrefix: 'pkg' },
    );
    expect(err).toBeUndefined();
    expect(await readFile(path.join(root, 'box', 'dest', 'a.txt'), 'utf8')).toBe('a');
    expect(await readFile(path.join(root, 'box', 'dest', ...long.split('/')), 'utf8')).toBe('long');
  });

  it('accepts safe links', async () => {
    const { err, root } = await attempt([
      { name: 'd', type: 'directory' },
      { name: 'd/f', content: 'data' },
      { name: 'd/rel', type: 'symlink', linkname: '../d/f' },
      { name: 'top', type: 'symlink', linkname: 'd' },
      { name: 'h', type: 'link', linkname: 'd/f' },
    ]);
    expect(err).toBeUndefined();
    expect(await readFile(path.join(root, 'box', 'dest', 'h'), 'utf8')).toBe('data');
    expect(await readFile(path.join(root, 'box', 'dest', 'd', 'rel'), 'utf8')).toBe('data');
  });

  it('enforces the entry cap', async () => {
    const entries = Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, content: 'x' }));
    const { err, root } = await attempt(entries, { maxEntries: 5 });
    expect(err).toMatchObject({ code: 'ERR_ORAS_LIMIT_EXCEEDED' });
    expect((err as { hint: string }).hint).toMatch(/maxEntries/);
    expect(await listTree(root)).toEqual(['box']);
    const ok = await attempt(entries, { maxEntries: 6 });
    expect(ok.err).toBeUndefined();
  });

  it('enforces the uncompressed size cap (gzip bomb)', async () => {
    const { err, root } = await attempt([{ name: 'zeros', content: '\0'.repeat(1_000_000) }], {
      maxUncompressedBytes: 100_000,
    });
    expect(err).toMatchObject({ code: 'ERR_ORAS_LIMIT_EXCEEDED' });
    expect(await listTree(root)).toEqual(['box']);
  });

  it('verifies the uncompressed digest before placing anything', async () => {
    const { err, root } = await attempt([{ name: 'f', content: 'x' }], {
      expectedUncompressedDigest: `sha256:${'0'.repeat(64)}`,
    });
    expect(err).toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    expect(await listTree(root)).toEqual(['box']);
  });

  it('refuses a truncated archive', async () => {
    const full = (await import('node:zlib')).gunzipSync(await craftTarGz([{ name: 'f', content: 'x'.repeat(5000) }]));
    const root = await tmp();
    const cut = (await import('node:zlib')).gzipSync(full.subarray(0, 1500));
    await expect(extractTarGz(bufferStream(cut), path.join(root, 'x'))).rejects.toMatchObject({
      code: 'ERR_ORAS_UNSUPPORTED',
    });
    expect(await listTree(root)).toEqual([]);
  });

  it('refuses garbage that is not gzip', async () => {
    const root = await tmp();
    await expect(
      extractTarGz(bufferStream(Buffer.from('not a tarball at all')), path.join(root, 'x')),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_UNSUPPORTED' });
    expect(await listTree(root)).toEqual([]);
  });
});
