// File helpers for result checks (never timed).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export async function hashFile(path) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) h.update(chunk);
  return `sha256:${h.digest('hex')}`;
}

/** Counts regular files under `dir` (recursive). */
export async function countFiles(dir) {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n++;
  return n;
}

export async function sizeOf(path) {
  return (await stat(path)).size;
}

export { join };
