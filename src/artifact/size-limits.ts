/**
 * Size caps and a free-space check before a download writes anything.
 * A manifest declares every layer's size; a hostile or broken artifact can
 * declare terabytes and fill the disk. Checks run on the declared sizes, so
 * the error comes before the first byte is requested or written.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { OrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';

/** Default {@link SizeLimitOptions.maxArtifactBytes}: 64 GiB (larger than any model or toolchain artifact seen in practice, smaller than a runaway). */
export const DEFAULT_MAX_ARTIFACT_BYTES = 64 * 1024 ** 3;

/** Free space kept in reserve beyond the download itself: 64 MiB. */
const RESERVE_BYTES = 64 * 1024 ** 2;

/** Options of {@link checkDownloadSize}. */
export interface SizeLimitOptions {
  /** Largest total declared size of the layers to download, and of any one layer (bytes). Default {@link DEFAULT_MAX_ARTIFACT_BYTES}; `Infinity` disables. */
  maxArtifactBytes?: number;
}

const HINT =
  'raise the limit if the artifact is legitimate: --max-artifact-size, ORAS_MAX_ARTIFACT_SIZE or limits.maxArtifactBytes in oras.yaml';

/**
 * Refuses, with `ERR_ORAS_LIMIT_EXCEEDED`, layers whose declared sizes
 * exceed `maxArtifactBytes` (one layer, or all together); then, with
 * `ERR_ORAS_NO_SPACE`, a download that does not fit into the free space of
 * the file system holding `dir` (or its nearest existing ancestor) with a
 * 64 MiB reserve. Directory layers need more once unpacked: the check covers
 * the download, the unpacked size is bounded by `maxUncompressedBytes`.
 * Returns the total declared size.
 */
export async function checkDownloadSize(
  layers: readonly Descriptor[],
  dir: string,
  options: SizeLimitOptions = {},
): Promise<number> {
  const total = assertDeclaredSizes(layers, options.maxArtifactBytes);
  await assertFreeSpace(total, dir);
  return total;
}

/**
 * Refuses, with `ERR_ORAS_LIMIT_EXCEEDED`, layers whose declared sizes exceed
 * `max` (one layer, or all together; default {@link DEFAULT_MAX_ARTIFACT_BYTES}).
 * `what` names the artifact in the message (default "the artifact"). PURE;
 * returns the total declared size.
 */
export function assertDeclaredSizes(
  layers: readonly Descriptor[],
  max: number = DEFAULT_MAX_ARTIFACT_BYTES,
  what = 'the artifact',
): number {
  let total = 0;
  for (const l of layers) {
    if (l.size > max) {
      throw new OrasError(
        'ERR_ORAS_LIMIT_EXCEEDED',
        `${what === 'the artifact' ? '' : `${what}: `}layer ${l.digest} declares ${l.size} bytes, over the ${max}-byte artifact size limit; nothing was written`,
        { hint: HINT, details: { limit: max, declared: l.size, digest: l.digest } },
      );
    }
    total += l.size;
  }
  if (total > max)
    throw new OrasError(
      'ERR_ORAS_LIMIT_EXCEEDED',
      `${what} declares ${total} bytes in total, over the ${max}-byte artifact size limit; nothing was written`,
      { hint: HINT, details: { limit: max, declared: total } },
    );
  return total;
}

/**
 * Refuses, with `ERR_ORAS_NO_SPACE`, a download of `bytes` that does not fit
 * into the free space of the file system holding `dir` (or its nearest
 * existing ancestor) with a 64 MiB reserve. Unknown free space passes.
 */
export async function assertFreeSpace(bytes: number, dir: string): Promise<void> {
  const free = await freeBytes(dir);
  if (free !== undefined && bytes + RESERVE_BYTES > free) {
    throw new OrasError(
      'ERR_ORAS_NO_SPACE',
      `the download needs ${bytes} bytes but only ${free} bytes are free under ${dir}; nothing was written`,
      {
        hint: 'free disk space, or point the download (the cache: ORAS_CACHE_DIR / cache.dir) to another file system',
        details: { needed: bytes, free },
      },
    );
  }
}

/** Free bytes for unprivileged users on the file system of `dir` (or its nearest existing ancestor); undefined when unknown. */
async function freeBytes(dir: string): Promise<number | undefined> {
  let cur = path.resolve(dir);
  for (let i = 0; i < 4096; i++) {
    try {
      const st = await statfs(cur);
      return Number(st.bavail) * Number(st.bsize);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const parent = path.dirname(cur);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === cur) return undefined;
      cur = parent;
    }
  }
  return undefined;
}
