import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { OrasError, isOrasError } from '../errors.js';
import { digestOf, type Digest, type DigestAlgorithm } from './digest.js';
import { readSmallFileSync } from './read-small-sync.js';
import { fileSwappedError, isSameFile, READ_NOFOLLOW, type FileIdentity } from './file-identity.js';

/** Options of {@link digestFile}. */
export interface DigestFileOptions {
  /** Digest algorithm. Default `sha256`. */
  algorithm?: DigestAlgorithm;
  /** Aborts the hashing (rejects with `ERR_ORAS_ABORTED`). */
  signal?: AbortSignal;
  /**
   * The file must be this one (device + inode, from an earlier check): opened
   * without following a final symlink and compared with `fstat`; another file
   * → `ERR_ORAS_PATH_TRAVERSAL`, nothing hashed.
   */
  expect?: FileIdentity;
}

const READ_BYTES = 1024 * 1024;

/**
 * Computes the digest and size of a file, streaming it through one reused
 * read buffer (memory does not grow with the file size). The size is the
 * number of bytes actually hashed.
 *
 * Rejects with `ERR_ORAS_IO` (the system error `code`, e.g. `ENOENT`, is kept
 * on `cause`) when the file cannot be read, `ERR_ORAS_ABORTED` when `signal`
 * aborts.
 */
export async function digestFile(
  path: string,
  options: DigestFileOptions = {},
): Promise<{ digest: Digest; size: number }> {
  const algorithm = options.algorithm ?? 'sha256';
  const signal = options.signal;
  try {
    signal?.throwIfAborted();
    const fh = await open(path, options.expect ? READ_NOFOLLOW : 'r').catch((err: unknown) => {
      throw options.expect && (err as NodeJS.ErrnoException).code === 'ELOOP' ? fileSwappedError(path, err) : err;
    });
    try {
      const st = await fh.stat();
      if (options.expect && !isSameFile(st, options.expect)) throw fileSwappedError(path);
      const hash = createHash(algorithm);
      const buf = Buffer.allocUnsafe(Math.min(READ_BYTES, Math.max(st.size + 1, 4096)));
      let size = 0;
      for (;;) {
        signal?.throwIfAborted();
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        size += bytesRead;
      }
      return { digest: `${algorithm}:${hash.digest('hex')}`, size };
    } finally {
      await fh.close().catch(() => undefined);
    }
  } catch (err) {
    if (isOrasError(err)) throw err;
    if (signal?.aborted) throw new OrasError('ERR_ORAS_ABORTED', `hashing ${path}: aborted`, { cause: err });
    throw hashIoError(path, err);
  }
}

/** `ERR_ORAS_IO` for a file that could not be hashed, the system error on `cause`. */
function hashIoError(path: string, err: unknown): OrasError {
  const code = (err as NodeJS.ErrnoException).code;
  return new OrasError('ERR_ORAS_IO', `cannot hash ${path}: ${code ?? (err as Error).message}`, {
    cause: err,
    hint: code === 'ENOENT' ? 'the file does not exist' : 'check that the file exists and is readable',
  });
}

/**
 * Largest file {@link digestSmallFileSync} reads whole (64 KiB): below this, the thread-pool round
 * trips of {@link digestFile} (open, stat, two reads, close) cost far more than the work.
 */
export const SMALL_DIGEST_BYTES = 64 * 1024;

/**
 * {@link digestFile} for a small file, synchronously: one `open`, `fstat`, read(s) and `close` on
 * the calling thread ({@link readSmallFileSync}), no thread-pool round trip. `undefined` when the
 * file holds more than {@link SMALL_DIGEST_BYTES} or is not a regular file (use {@link digestFile}
 * then). Errors as {@link digestFile}'s (`ERR_ORAS_IO`, the system error on `cause`).
 */
export function digestSmallFileSync(
  path: string,
  algorithm: DigestAlgorithm = 'sha256',
): { digest: Digest; size: number } | undefined {
  let bytes: Buffer | undefined;
  try {
    bytes = readSmallFileSync(path, { limit: SMALL_DIGEST_BYTES });
  } catch (err) {
    throw hashIoError(path, err);
  }
  return bytes === undefined ? undefined : { digest: digestOf(bytes, algorithm), size: bytes.length };
}
