import { randomBytes } from 'node:crypto';
import { lstat, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isOrasError, OrasError } from '../errors.js';
import { VerifyingStream, type Digest } from '../oci/digest.js';

/**
 * Crash-safe file writes.
 *
 * Contract: content is written to a temporary file in the SAME directory as
 * the final path (`.<name>.oras-tmp-<random>`), flushed with `fsync`, renamed
 * over the final path (atomic on POSIX file systems), and the directory is
 * then `fsync`ed so the rename itself is durable. After a crash at any point
 * the final path holds either the complete old content or the complete new
 * content — never a mix or a truncated file — plus at most one stray temp
 * file, which {@link removeTempFiles} deletes on the next run.
 *
 * Symlinks: the temp file is created with `O_EXCL` (never through an existing
 * link), and `rename` replaces a symlink at the final path with the new file
 * itself: a link at the final path is never followed, so a write can never
 * land outside the intended directory.
 */

/** Marker in temp file names; {@link removeTempFiles} only touches names containing it. */
export const TEMP_MARKER = '.oras-tmp-';

const TEMP_NAME_RE = /^\..*\.oras-tmp-[0-9a-f]{16}$/;

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of the new file (default `0o644`, subject to the umask). */
  mode?: number;
}

/** Options for {@link streamToFileAtomic}. */
export interface AtomicStreamOptions extends AtomicWriteOptions {
  /**
   * When given, the bytes are verified while streaming (size and digest); on a
   * mismatch nothing is renamed into place and the promise rejects with
   * `ERR_ORAS_SIZE_MISMATCH` / `ERR_ORAS_DIGEST_MISMATCH`.
   */
  expected?: { digest: Digest; size: number };
  /** Aborts the write (rejects with `ERR_ORAS_ABORTED`); the temp file is removed. */
  signal?: AbortSignal;
  /** Called with the running byte count as chunks are written. */
  onProgress?: (bytes: number) => void;
}

/** The temp path used for `finalPath` (same directory, hidden, random suffix). */
export function tempPathFor(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}${TEMP_MARKER}${randomBytes(8).toString('hex')}`);
}

/** Wraps a non-Oras I/O error as `ERR_ORAS_IO` (paths are not secrets). */
export function ioError(err: unknown, action: string, path: string): OrasError {
  if (isOrasError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ABORT_ERR' || (err as Error | undefined)?.name === 'AbortError') {
    return new OrasError('ERR_ORAS_ABORTED', `${action} ${path}: aborted`, { cause: err });
  }
  return new OrasError('ERR_ORAS_IO', `${action} ${path}: ${code ?? (err as Error | undefined)?.message ?? String(err)}`, {
    cause: err,
    hint: 'check that the path exists, is writable and the disk is not full',
  });
}

/** fsyncs a directory so a rename in it is durable; ignored where unsupported. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms/file systems cannot open or fsync directories (EISDIR, EINVAL, EPERM): best effort.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

async function commit(fh: FileHandle, tmp: string, finalPath: string): Promise<void> {
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, finalPath);
  await fsyncDir(dirname(finalPath));
}

/**
 * Writes `data` to `path` atomically (temp + fsync + rename + directory fsync).
 * The parent directory must exist. On failure the temp file is removed and the
 * old content (if any) is untouched. Errors: `ERR_ORAS_IO`.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(path);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', options.mode ?? 0o644);
    await fh.writeFile(data);
    const handle = fh;
    fh = undefined;
    await commit(handle, tmp, path);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(err, 'writing', path);
  }
}

/** Writes all of `buf` at the handle's current position (loops over short writes). */
async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    if (bytesWritten <= 0) throw new OrasError('ERR_ORAS_IO', 'short write: the file system accepted no bytes');
    off += bytesWritten;
  }
}

/**
 * A Writable over a FileHandle that it never closes: the caller keeps sole
 * ownership of the handle (fsync + close), so there is no second owner whose
 * close could race, hang or leave the descriptor to the garbage collector.
 */
function fileSink(fh: FileHandle, onBytes: (n: number) => void): Writable {
  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, cb) {
      writeAll(fh, chunk).then(() => {
        onBytes(chunk.length);
        cb();
      }, cb);
    },
    writev(entries: { chunk: Buffer }[], cb) {
      // Batches many small chunks into one write; bounded by the highWaterMark.
      const buf = entries.length === 1 ? entries[0]!.chunk : Buffer.concat(entries.map((e) => e.chunk));
      writeAll(fh, buf).then(() => {
        onBytes(buf.length);
        cb();
      }, cb);
    },
  });
}

/**
 * True when `readable` is itself a {@link VerifyingStream} for exactly
 * `expected` (same digest and size): it already fails before ending on any
 * mismatch, so hashing every byte a second time is redundant. (A verifier
 * resumed at an offset would deliver fewer than `size` bytes; the written
 * byte count is checked against `size` after the pipeline, see below.)
 */
function alreadyVerifies(readable: Readable, expected: { digest: Digest; size: number }): boolean {
  return readable instanceof VerifyingStream && readable.expected.digest === expected.digest && readable.expected.size === expected.size;
}

/**
 * Streams `readable` into `path` atomically. Memory use is independent of the
 * content size. When `options.expected` is given the stream is verified
 * (through {@link VerifyingStream}) and the file is renamed into place only
 * when size and digest match. On any failure (mismatch, source error, abort,
 * I/O error) the temp file is removed, `readable` is destroyed, and the old
 * content (if any) is untouched. Resolves with the number of bytes written.
 *
 * One file handle is used throughout and is always closed by this function
 * (after any in-flight write has settled) before the temp file is renamed or
 * removed.
 */
export async function streamToFileAtomic(path: string, readable: Readable, options: AtomicStreamOptions = {}): Promise<{ bytes: number }> {
  const tmp = tempPathFor(path);
  let fh: FileHandle | undefined;
  let bytes = 0;
  const onProgress = options.onProgress;
  try {
    options.signal?.throwIfAborted();
    fh = await open(tmp, 'wx', options.mode ?? 0o644);
    const sink = fileSink(fh, (n) => {
      bytes += n;
      onProgress?.(bytes);
    });
    const stages: NodeJS.ReadWriteStream[] = options.expected && !alreadyVerifies(readable, options.expected) ? [new VerifyingStream(options.expected)] : [];
    await pipeline([readable, ...stages, sink], options.signal ? { signal: options.signal } : {});
    if (options.expected && bytes !== options.expected.size) {
      throw new OrasError('ERR_ORAS_SIZE_MISMATCH', `writing ${path}: wrote ${bytes} of the expected ${options.expected.size} bytes`, {
        hint: 'the source delivered a different amount of content than its descriptor says; nothing was written',
      });
    }
    const handle = fh;
    fh = undefined;
    await commit(handle, tmp, path);
    return { bytes };
  } catch (err) {
    readable.destroy();
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    if (options.signal?.aborted && !isOrasError(err)) {
      throw new OrasError('ERR_ORAS_ABORTED', `writing ${path}: aborted`, { cause: err });
    }
    throw ioError(err, 'writing', path);
  }
}

/** Options for {@link removeTempFiles}. */
export interface RemoveTempOptions {
  /**
   * Only remove temp files not modified for this long (default 1 hour), so a
   * write in progress in another process is not disturbed. Pass 0 when the
   * caller holds a lock that excludes concurrent writers.
   */
  minAgeMs?: number;
}

/**
 * Removes stale temp files (`.<name>.oras-tmp-<hex>`) left by a crash in
 * `dir` (not recursive). Missing directories are ignored. Returns how many
 * files were removed. Never touches names without the marker.
 */
export async function removeTempFiles(dir: string, options: RemoveTempOptions = {}): Promise<number> {
  const minAge = options.minAgeMs ?? 60 * 60 * 1000;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return 0;
    throw ioError(err, 'listing', dir);
  }
  let removed = 0;
  const now = Date.now();
  for (const name of names) {
    if (!TEMP_NAME_RE.test(name)) continue;
    const p = join(dir, name);
    try {
      const st = await lstat(p);
      if (!st.isFile()) continue;
      if (minAge > 0 && now - st.mtimeMs < minAge) continue;
      await rm(p, { force: true });
      removed++;
    } catch {
      // vanished meanwhile (another cleaner or the writer renamed it): fine
    }
  }
  return removed;
}
