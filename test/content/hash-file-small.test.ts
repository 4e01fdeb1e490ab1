/*
 * Rehashing many small files (oras verify, install --verify, a run after an interrupted one) hashes
 * each small file synchronously instead of through five thread-pool round trips: the result must be
 * digestFile's, byte for byte, and a file too large for it must be left to digestFile.
 */
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { digestFile, digestSmallFileSync, SMALL_DIGEST_BYTES } from '../../src/oci/hash-file.js';
import { useTempDirs } from '../artifact/helpers.js';

const newDir = useTempDirs();

describe('digestSmallFileSync', () => {
  it('gives digestFile’s digest and size up to SMALL_DIGEST_BYTES, for both algorithms, and undefined above', async () => {
    const dir = await newDir();
    for (const size of [0, 1, 4095, 4097, SMALL_DIGEST_BYTES - 1, SMALL_DIGEST_BYTES, SMALL_DIGEST_BYTES + 1]) {
      const path = join(dir, `f-${size}`);
      await writeFile(path, Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + size) & 0xff)));
      for (const algorithm of ['sha256', 'sha512'] as const) {
        const sync = digestSmallFileSync(path, algorithm);
        if (size > SMALL_DIGEST_BYTES) expect(sync).toBeUndefined();
        else expect(sync).toEqual(await digestFile(path, { algorithm }));
      }
    }
    // A shorter file after a longer one hashes only its own bytes.
    await writeFile(join(dir, 'short'), 'abc');
    expect(digestSmallFileSync(join(dir, 'short'))).toEqual(await digestFile(join(dir, 'short')));
  });

  it('fails like digestFile: ERR_ORAS_IO with the system error on cause; follows a symlink like it', async () => {
    const dir = await newDir();
    let err: unknown;
    try {
      digestSmallFileSync(join(dir, 'missing'));
    } catch (e) {
      err = e;
    }
    expect(isOrasError(err, 'ERR_ORAS_IO')).toBe(true);
    expect(((err as { cause?: NodeJS.ErrnoException }).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    await writeFile(join(dir, 'target'), 'x');
    await symlink(join(dir, 'target'), join(dir, 'link'));
    expect(digestSmallFileSync(join(dir, 'link'))).toEqual(await digestFile(join(dir, 'link')));
  });
});
