// Benchmark data: random bytes streamed to files, hashed while written.
import { createHash, randomFillSync, randomBytes } from 'node:crypto';
import { open, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Writes `size` random bytes to `path` in 4 MiB chunks; returns { path, size, digest }. */
export async function writeRandomFile(path, size) {
  const chunk = Buffer.allocUnsafe(4 * MiB);
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    let left = size;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      const part = n === chunk.length ? chunk : chunk.subarray(0, n);
      randomFillSync(part);
      hash.update(part);
      let off = 0;
      while (off < n) {
        const { bytesWritten } = await fh.write(part, off, n - off);
        off += bytesWritten;
      }
      left -= n;
    }
  } finally {
    await fh.close();
  }
  return { path, size, digest: `sha256:${hash.digest('hex')}` };
}

/** Writes `count` random files of `size` bytes named `${prefix}NNNN.bin` into `dir`. */
export async function writeSmallFiles(dir, count, size, prefix = 'f') {
  await mkdir(dir, { recursive: true });
  const files = [];
  const width = String(count - 1).length < 4 ? 4 : String(count - 1).length;
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${String(i).padStart(width, '0')}.bin`;
    const data = randomBytes(size);
    const path = join(dir, name);
    await writeFile(path, data);
    files.push({ name, path, size, data, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` });
  }
  return files;
}

export function sha256(buf) {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

export function fmtBytes(n) {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}
