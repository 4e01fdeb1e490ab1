/*
 * Small manifests and listings are read on the calling thread (an install of hundreds of
 * dependencies reads hundreds of them): the bytes must be the file's, a file over the limit or not
 * a regular file is left to the asynchronous path, and system errors reach the caller as they are.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSmallFileSync, SMALL_READ_BYTES } from '../../src/oci/read-small-sync.js';
import { useTempDirs } from '../artifact/helpers.js';

const newDir = useTempDirs();

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code;
  }
  return undefined;
};

describe('readSmallFileSync', () => {
  it('returns the file’s bytes up to the limit and undefined above it', async () => {
    const dir = await newDir();
    for (const size of [0, 1, 4096, 65_537, SMALL_READ_BYTES - 1, SMALL_READ_BYTES, SMALL_READ_BYTES + 1]) {
      const path = join(dir, `f-${size}`);
      await writeFile(path, Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + size) & 0xff)));
      const got = readSmallFileSync(path);
      if (size > SMALL_READ_BYTES) expect(got).toBeUndefined();
      else expect(got?.equals(await readFile(path))).toBe(true);
    }
    await writeFile(join(dir, 'ten'), '0123456789');
    expect(readSmallFileSync(join(dir, 'ten'), { limit: 10 })?.toString()).toBe('0123456789');
    expect(readSmallFileSync(join(dir, 'ten'), { limit: 9 })).toBeUndefined();
  });

  it('gives undefined for a directory, follows a symlink unless noFollow (ELOOP), throws ENOENT', async () => {
    const dir = await newDir();
    await mkdir(join(dir, 'sub'));
    expect(readSmallFileSync(join(dir, 'sub'))).toBeUndefined();
    await writeFile(join(dir, 'target'), 'content');
    await symlink(join(dir, 'target'), join(dir, 'link'));
    expect(readSmallFileSync(join(dir, 'link'))?.toString()).toBe('content');
    expect(codeOf(() => readSmallFileSync(join(dir, 'link'), { noFollow: true }))).toBe('ELOOP');
    expect(codeOf(() => readSmallFileSync(join(dir, 'missing')))).toBe('ENOENT');
  });
});
