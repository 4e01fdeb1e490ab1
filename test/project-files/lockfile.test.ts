import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isOrasError, type OrasError } from '../../src/errors.js';
import {
  LOCKFILE_HEADER,
  parseLockfileText,
  readLockfile,
  serializeLockfile,
  writeLockfile,
  writeLockfileStamped,
} from '../../src/project/spec/lockfile.js';
import type { Lockfile } from '../../src/project/types.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const M = 'application/vnd.oci.image.manifest.v1+json';

function sample(): Lockfile {
  return {
    lockfileVersion: 2,
    dependencies: {
      zeta: {
        specifier: { ref: 'localhost:5000/acme/z:^1.0.0', path: 'vendor/z', include: ['*.bin'] },
        resolved: `localhost:5000/acme/z:1.2.0@${D('a')}`,
        tag: '1.2.0',
        digest: D('a'),
        mediaType: M,
        files: [
          { path: 'vendor/z/b.bin', digest: D('b'), size: 3, layer: D('b'), mode: 0o755 },
          { path: 'vendor/z/a.bin', digest: D('c'), size: 12_345_678_901, layer: D('d') },
        ],
      },
      alpha: {
        specifier: { ref: `localhost:5000/acme/a@${D('e')}`, path: 'vendor/a', unpack: false },
        resolved: `localhost:5000/acme/a@${D('e')}`,
        digest: D('e'),
        mediaType: M,
        artifactType: 'application/vnd.acme.model.v1',
        files: [],
      },
    },
    publish: { app: { ref: 'localhost:5000/acme/app', digest: D('f'), tags: ['v1', 'latest', '1.0'] } },
  };
}

/** The same content with every key and list inserted in a different order. */
function shuffled(): Lockfile {
  const s = sample();
  const z = s.dependencies.zeta!;
  return {
    publish: s.publish,
    dependencies: {
      alpha: {
        files: [],
        artifactType: 'application/vnd.acme.model.v1',
        mediaType: M,
        digest: D('e'),
        resolved: s.dependencies.alpha!.resolved,
        specifier: { unpack: false, path: 'vendor/a', ref: `localhost:5000/acme/a@${D('e')}` },
      },
      zeta: { ...z, files: [...z.files].reverse() },
    },
    lockfileVersion: 2,
  } as Lockfile;
}

function lockError(text: string): OrasError {
  try {
    parseLockfileText(text);
  } catch (err) {
    if (isOrasError(err)) return err;
    throw err;
  }
  throw new Error('expected parseLockfileText to throw');
}

describe('serializeLockfile', () => {
  test('deterministic: same content in any key/file order gives identical text', () => {
    const a = serializeLockfile(sample());
    expect(serializeLockfile(shuffled())).toBe(a);
    expect(a.startsWith(`${LOCKFILE_HEADER}\nlockfileVersion: 2\ndependencies:\n  alpha:\n`)).toBe(true);
    expect(a.endsWith('\n')).toBe(true);
    expect(a.endsWith('\n\n')).toBe(false);
    expect(a).toContain('path: a.bin');
    expect(a).toContain('{ path: b.bin, size: 3, digest: sha256:');
    expect(a).toContain('mode: 0o755 }');
    expect(a).not.toMatch(/\d{4}-\d{2}-\d{2}T/); // no timestamps
    // Fixed field order inside a dependency.
    const zeta = a.slice(a.indexOf('  zeta:'));
    const order = ['specifier:', 'resolved:', 'tag:', 'digest:', 'mediaType:', 'layers:'].map((k) =>
      zeta.indexOf(`    ${k}`),
    );
    expect(order).toEqual([...order].sort((x, y) => x - y));
  });

  test('round trip: serialize(parse(serialize(x))) === serialize(x), and values survive', () => {
    const text = serializeLockfile(sample());
    const parsed = parseLockfileText(text);
    expect(serializeLockfile(parsed)).toBe(text);
    expect(parsed.dependencies.zeta?.files.find((f) => f.path === 'vendor/z/b.bin')?.mode).toBe(0o755);
    expect(parsed.dependencies.zeta?.files.find((f) => f.path === 'vendor/z/a.bin')?.size).toBe(12_345_678_901);
    expect(parsed.publish.app?.tags).toEqual(['v1', 'latest', '1.0']); // "1.0" stays a string
  });

  test('empty lockfile', () => {
    const text = serializeLockfile({ lockfileVersion: 2, dependencies: {}, publish: {} });
    expect(text).toBe(`${LOCKFILE_HEADER}\nlockfileVersion: 2\ndependencies: {}\npublish: {}\n`);
    expect(parseLockfileText(text)).toEqual({ lockfileVersion: 2, dependencies: {}, publish: {} });
  });
});

describe('parseLockfileText errors', () => {
  test('corrupted digest names the field with line:col', () => {
    const text = serializeLockfile(sample()).replace(`- digest: ${D('b')}`, `- digest: sha256:${'b'.repeat(63)}Z`);
    const err = lockError(text);
    expect(err.code).toBe('ERR_ORAS_LOCKFILE');
    const line = text.split('\n').findIndex((l) => l.includes('Z')) + 1;
    expect(err.message).toContain(`artifacts.lock:${line}:17: dependencies.zeta.layers[0].digest: "sha256:bbb`);
    expect(err.message).toContain('is not a valid digest');
    expect(err.hint).toMatch(/delete artifacts\.lock and run `oras install`/);
  });

  test('unsupported lockfileVersion with an upgrade hint', () => {
    const err = lockError(serializeLockfile(sample()).replace('lockfileVersion: 2', 'lockfileVersion: 3'));
    expect(err.message).toContain('artifacts.lock:2:18: lockfileVersion: unsupported lockfileVersion 3');
    expect(err.hint).toBe('the lockfile was written by a newer oras-ts: upgrade oras-ts');
  });

  test('missing and unknown fields, merge conflicts, empty file', () => {
    const text = serializeLockfile(sample())
      .replace(/^ {4}mediaType: .*\n/m, '')
      .replace('    tag: 1.2.0\n', '    tag: 1.2.0\n    extra: 1\n');
    const err = lockError(text);
    expect(err.message).toMatch(/dependencies\.alpha: missing required key 'mediaType'/);
    expect(err.message).toMatch(/dependencies\.zeta\.extra: unknown key 'extra'/);
    expect(lockError(`<<<<<<< HEAD\n${serializeLockfile(sample())}=======\n>>>>>>> branch\n`).message).toMatch(
      /merge conflict markers/,
    );
    expect(lockError('# nothing\n').message).toMatch(/is empty/);
  });

  test('file paths must stay inside the project and be unique', () => {
    const s = sample();
    s.dependencies.alpha!.files = [
      { path: '../etc/passwd', digest: D('1'), size: 1, layer: D('1') },
      { path: 'vendor/z/a.bin', digest: D('1'), size: 1, layer: D('1') },
    ];
    const err = lockError(serializeLockfile(s));
    expect(err.message).toMatch(
      /dependencies\.alpha\.layers\[\d\]\.path: "\.\.\/\.\.\/\.\.\/etc\/passwd" must be a relative path below its dependency's path/,
    );
    expect(err.message).toMatch(
      /dependencies\.alpha\.layers\[\d\]\.path: "\.\.\/etc\/passwd" escapes the project directory/,
    );
    expect(err.message).toMatch(
      /dependencies\.zeta\.layers\[\d\]\.files\[0\]\.path: file "vendor\/z\/a\.bin" is also installed by 'alpha'/,
    );
  });
});

test('a tampered file of an unpacked layer is named by its field, line and column', () => {
  const lock = {
    lockfileVersion: 2,
    dependencies: {
      z: {
        specifier: { ref: 'localhost:5000/a/z:1', path: 'vendor/z' },
        resolved: `localhost:5000/a/z:1@${D('a')}`,
        digest: D('a'),
        mediaType: M,
        layers: [
          {
            digest: D('9'),
            size: 5,
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            path: 'data',
            unpacked: true,
            listing: D('8'),
          },
        ],
        files: [
          { path: 'vendor/z/data/a.bin', digest: D('1'), size: 1, layer: D('9') },
          { path: 'vendor/z/data/sub/b.bin', digest: D('2'), size: 2, layer: D('9') },
        ],
      },
    },
    publish: {},
  } as unknown as Lockfile;
  const text = serializeLockfile(lock);
  const line = text.split('\n').findIndex((l) => l.includes('path: sub/b.bin')) + 1;
  const escape = lockError(text.replace('path: sub/b.bin', 'path: sub/../../../../../b.bin')).message;
  expect(escape).toContain(
    `artifacts.lock:${line}:21: dependencies.z.layers[0].files[1].path: "sub/../../../../../b.bin" must be a relative path below its layer's path`,
  );
  expect(escape).toContain(
    `artifacts.lock:${line}:21: dependencies.z.layers[0].files[1].path: "../b.bin" escapes the project directory`,
  );
  const git = lockError(text.replace('path: sub/b.bin', 'path: ../../../.git/hooks/x')).message;
  expect(git).toContain(
    `artifacts.lock:${line}:21: dependencies.z.layers[0].files[1].path: file ".git/hooks/x" is inside .git/, which oras-ts/git manage`,
  );
});

describe('readLockfile / writeLockfile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oras-lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('absent lockfile reads as undefined; write then read round-trips; no temp files left', async () => {
    expect(await readLockfile(dir)).toBeUndefined();
    const file = await writeLockfile(dir, sample());
    expect(file).toBe(join(dir, 'artifacts.lock'));
    expect(await readFile(file, 'utf8')).toBe(serializeLockfile(sample()));
    expect(await readLockfile(dir)).toEqual(parseLockfileText(serializeLockfile(sample())));
    expect(await readdir(dir)).toEqual(['artifacts.lock']);
  });

  /** `sample()` with a dependency of `n` files (a lock of ~150 bytes per file), plus `extra` dependencies. */
  function large(n: number, extra: Lockfile['dependencies'] = {}): Lockfile {
    const s = sample();
    const files = Array.from({ length: n }, (_, i) => ({
      path: `vendor/big/d${i % 17}/f${i}.bin`,
      digest: D('0123456'.charAt(i % 7)), // never the layer's: a file with its layer's digest is a plain layer
      size: i,
      layer: D('9'),
      ...(i % 5 === 0 ? { mode: 0o755 } : {}),
    }));
    const big = {
      ...s.dependencies.alpha!,
      specifier: { ref: `localhost:5000/acme/big@${D('9')}`, path: 'vendor/big' },
      files,
    };
    return { ...s, dependencies: { ...s.dependencies, big, ...extra } };
  }

  async function expectWritten(lock: Lockfile): Promise<string> {
    const { path, stamp } = await writeLockfileStamped(dir, lock);
    const bytes = await readFile(path);
    const text = serializeLockfile(lock);
    expect(bytes.toString('utf8')).toBe(text);
    expect(stamp.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    const st = await stat(path);
    expect({ size: stamp.size, ino: stamp.ino, mtimeMs: stamp.mtimeMs }).toEqual({
      size: st.size,
      ino: st.ino,
      mtimeMs: st.mtimeMs,
    });
    expect(await readdir(dir)).toEqual(['artifacts.lock']);
    expect(serializeLockfile(parseLockfileText(text))).toBe(text);
    return text;
  }

  test('a large lock is written piece by piece: the same bytes as serializeLockfile, stamped with their SHA-256', async () => {
    const text = await expectWritten(large(3_000));
    expect(text.length).toBeGreaterThan(300_000); // several flushes of the writer
    expect(text).toContain('- { path: d0/f0.bin, size: 0, digest: sha256:');
  });

  test('a lock that needs quoting far into its text is started again with the yaml writer: same bytes, nothing left of the first try', async () => {
    // `zz` sorts last: its quoted path (not plain-safe) and tag come after the 3,000 files were written.
    const quoted: Lockfile['dependencies'] = {
      zz: {
        ...sample().dependencies.zeta!,
        tag: 'yes',
        files: [{ path: 'vendor/z/ünï #1.bin', digest: D('b'), size: 3, layer: D('b') }],
      },
    };
    const lock = large(3_000, quoted);
    const text = await expectWritten(lock);
    expect(parseLockfileText(text).dependencies.zz?.tag).toBe('yes');
    expect(parseLockfileText(text).dependencies.zz?.files[0]?.path).toBe('vendor/z/ünï #1.bin');
    expect(parseLockfileText(text).dependencies.big?.files).toHaveLength(3_000);
  });

  test('a symlinked artifacts.lock is replaced by a regular file, never written through', async () => {
    const outside = join(dir, 'outside.txt');
    await writeFile(outside, 'precious\n');
    await symlink(outside, join(dir, 'artifacts.lock'));
    await writeLockfile(dir, sample());
    expect(await readFile(outside, 'utf8')).toBe('precious\n');
    const st = await lstat(join(dir, 'artifacts.lock'));
    expect(st.isSymbolicLink()).toBe(false);
    expect(st.isFile()).toBe(true);
  });

  test('a directory at artifacts.lock is refused', async () => {
    await mkdir(join(dir, 'artifacts.lock'));
    await expect(writeLockfile(dir, sample())).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKFILE' });
    await expect(readLockfile(dir)).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKFILE' });
  });
});
