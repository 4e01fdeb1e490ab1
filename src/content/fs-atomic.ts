import { randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import { lstat, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { addAbortSignal, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isOrasError, OrasError } from '../errors.js';
import { verifyContent, VerifyingStream, type Digest } from '../oci/digest.js';
import { canPumpChunks, type ChunkSource } from './chunk-source.js';

/**
 * Crash-safe file writes.
 *
 * Contract: content is written to a temporary file in the SAME directory as
 * the final path (`.<name>.oras-tmp-<random>`), flushed with `fsync`, renamed
 * over the final path (atomic on POSIX file systems), and the directory is
 * then `fsync`ed so the rename itself is durable (or, with a {@link DirSyncBatch},
 * once per directory when the caller flushes the batch). After a crash at any point
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

// 12 hex (per-process prefix) + base-36 counter; also matches the older 16-hex names.
const TEMP_NAME_RE = /^\..*\.oras-tmp-[0-9a-f]{12}[0-9a-z]{1,11}$/;

/** True for a name {@link tempPathFor} could have made (`.<name>.oras-tmp-<hex><counter>`). */
export function isTempName(name: string): boolean {
  return TEMP_NAME_RE.test(name);
}

/**
 * Content with an expected size up to this many bytes (1 MiB) is collected in
 * memory by {@link streamToFileAtomic}, verified, and written with a single
 * open/write/fsync/close/rename instead of a per-chunk stream into the file.
 */
export const SMALL_CONTENT_BYTES = 1024 * 1024;

/**
 * Defers the directory `fsync` that makes a rename durable, so a caller
 * writing many files into few directories syncs each directory once instead
 * of once per file.
 *
 * Crash-safety argument: every file's content is `fsync`ed *before* its
 * rename, so after a crash a final name holds either its complete old
 * content, its complete new content, or (if the rename itself was not yet
 * durable) is still absent/old — never partial. The directory fsync only
 * decides whether the rename survives a crash; {@link DirSyncBatch.flush}
 * must therefore complete before the caller reports the writes as done.
 */
export class DirSyncBatch {
  private readonly dirs = new Set<string>();

  /** Records that a rename happened in `dir`. */
  add(dir: string): void {
    this.dirs.add(dir);
  }

  /** Directories recorded and not yet flushed. */
  get size(): number {
    return this.dirs.size;
  }

  /** fsyncs every recorded directory once (best effort, like {@link fsyncDir}) and forgets them. */
  async flush(): Promise<void> {
    const dirs = [...this.dirs];
    this.dirs.clear();
    for (const dir of dirs) await fsyncDir(dir);
  }
}

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of the new file (default `0o644`, subject to the umask). */
  mode?: number;
  /**
   * Defer the directory fsync after the rename to this batch (the caller must
   * `flush()` it before reporting success). Default: fsync the directory
   * right after the rename.
   */
  dirSync?: DirSyncBatch;
  /** Called after the temp file is complete, right before the rename; a rejection aborts the write (the temp file is removed). E.g. a re-check that the parent directory was not swapped. */
  beforeRename?: () => Promise<void>;
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
  /** Called with the running byte count as chunks are written (small content: once, after its single write). */
  onProgress?: (bytes: number) => void;
}

/** The temp path used for `finalPath` (same directory, hidden, per-process random prefix + counter suffix). */
export function tempPathFor(finalPath: string): string {
  tempCounter += 1;
  return join(dirname(finalPath), `.${basename(finalPath)}${TEMP_MARKER}${TEMP_PREFIX}${tempCounter.toString(36)}`);
}

/**
 * Temp names are a per-process random prefix plus a counter: one `randomBytes`
 * per process instead of one per file (~20 µs each, 2 % of a 500-file warm
 * install). Names stay unguessable across processes; they need not be secret
 * anyway, since temp files are created with `wx` (O_CREAT|O_EXCL: an existing
 * file or a planted symlink makes the open fail, it is never followed).
 */
const TEMP_PREFIX = randomBytes(6).toString('hex');
let tempCounter = 0;

/** Wraps a non-Oras I/O error as `ERR_ORAS_IO` (paths are not secrets). */
export function ioError(err: unknown, action: string, path: string): OrasError {
  if (isOrasError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ABORT_ERR' || (err as Error | undefined)?.name === 'AbortError') {
    return new OrasError('ERR_ORAS_ABORTED', `${action} ${path}: aborted`, { cause: err });
  }
  return new OrasError(
    'ERR_ORAS_IO',
    `${action} ${path}: ${code ?? (err as Error | undefined)?.message ?? String(err)}`,
    {
      cause: err,
      hint: 'check that the path exists, is writable and the disk is not full',
    },
  );
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

async function commit(
  fh: FileHandle,
  tmp: string,
  finalPath: string,
  dirSync: DirSyncBatch | undefined,
  beforeRename?: () => Promise<void>,
): Promise<void> {
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (beforeRename !== undefined) await beforeRename();
  await rename(tmp, finalPath);
  if (dirSync !== undefined) dirSync.add(dirname(finalPath));
  else await fsyncDir(dirname(finalPath));
}

/**
 * Writes `data` to `path` atomically (temp + fsync + rename + directory fsync).
 * The parent directory must exist. On failure the temp file is removed and the
 * old content (if any) is untouched. Errors: `ERR_ORAS_IO`.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await atomically(path, options, async (fh) => {
    if (typeof data === 'string') await fh.writeFile(data);
    else await writeAll(fh, data);
  });
}

/**
 * {@link writeFileAtomic} for content produced piece by piece: `fill` writes the temp file through
 * its descriptor with synchronous calls (positional writes allowed), so a large text never has to
 * exist whole in memory. Same temp, fsync, rename and cleanup; an error thrown by `fill` removes
 * the temp and is rethrown (an `OrasError` as it is, others as `ERR_ORAS_IO`).
 */
export async function writeFileAtomicWith(
  path: string,
  fill: (fd: number) => void,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await atomically(path, options, (fh) => {
    fill(fh.fd);
    return Promise.resolve();
  });
}

/** Opens a temp for `path`, lets `write` fill it, then commits (fsync, rename); removes it on failure. */
async function atomically(
  path: string,
  options: AtomicWriteOptions,
  write: (fh: FileHandle) => Promise<void>,
): Promise<void> {
  const tmp = tempPathFor(path);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', options.mode ?? 0o644);
    await write(fh);
    const handle = fh;
    fh = undefined;
    await commit(handle, tmp, path, options.dirSync, options.beforeRename);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(err, 'writing', path);
  }
}

/**
 * Writes all of `buf` to `fd` with `writeSync`, at its current position or, with `position`, at that
 * file offset (positional writes: the descriptor's offset does not move). Loops over short writes;
 * a write that accepts no bytes is `ERR_ORAS_IO` instead of a loop that never ends. For the
 * synchronous write paths.
 */
export function writeAllSync(fd: number, buf: Uint8Array, position?: number): void {
  for (let off = 0; off < buf.length;) {
    const n =
      position === undefined
        ? writeSync(fd, buf, off, buf.length - off)
        : writeSync(fd, buf, off, buf.length - off, position + off);
    if (n <= 0) throw new OrasError('ERR_ORAS_IO', 'short write: the file system accepted no bytes');
    off += n;
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
 * Bytes a streamed file write lets pile up in the page cache before it starts
 * a background `fdatasync` (64 MiB): the kernel then writes back while the
 * download goes on, and the `fsync` before the rename only has the tail left
 * (it alone took 0.35–0.4 s after the last byte of a 1 GiB pull to ext4).
 * 1 GiB pulled to ext4, 6 interleaved rounds: median 3.42 → 3.04 s. At most
 * one flush is in flight.
 */
export const BACKGROUND_FLUSH_BYTES = 64 * 1024 * 1024;

/**
 * How much a streamed file write may queue while the previous write is in
 * flight (4 MiB): with the 64 KiB default every socket chunk waited for its own
 * thread-pool write, so receiving stalled on each one; queued chunks now go out
 * together in one `writev`. Measured on a 1 GiB pull (idle 2-core machine,
 * tmpfs): 3.6–4.2 s → 2.5–3.0 s wall, ~0.4 s less CPU. Memory stays bounded by
 * this value (per open file). (Synchronous writes on the receiving thread were
 * measured too, round 7 of bench/analysis.md: far better in some hours of this
 * shared host, worse in others and on tmpfs, and they give up the overlap with
 * hashing that machines with spare cores have; not kept.)
 */
export const SINK_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * A Writable over a FileHandle that it never closes: the caller keeps sole
 * ownership of the handle (fsync + close), so there is no second owner whose
 * close could race, hang or leave the descriptor to the garbage collector
 * (a close waits for a background flush still in flight).
 *
 * Every {@link BACKGROUND_FLUSH_BYTES} a background `fdatasync` starts. Its
 * failure fails the next write, or the end of the stream: an error the
 * kernel reported to the background flush is not reported again to the
 * final `fsync`, so it must not be lost. The stream ends only once the flush
 * in flight has settled.
 */
function fileSink(fh: FileHandle, onBytes: (n: number) => void): Writable {
  const flusher = new BackgroundFlusher(fh);
  const written = (n: number, cb: (err?: Error | null) => void): void => {
    flusher.add(n);
    onBytes(n);
    cb();
  };
  return new Writable({
    highWaterMark: SINK_BUFFER_BYTES,
    write(chunk: Buffer, _enc, cb) {
      if (flusher.error !== undefined) return cb(flusher.error);
      writeAll(fh, chunk).then(() => written(chunk.length, cb), cb);
    },
    writev(entries: { chunk: Buffer }[], cb) {
      if (flusher.error !== undefined) return cb(flusher.error);
      // Everything that queued while the previous write was in flight goes out in one
      // writev(2) (no copy); a short write finishes with plain writes of the rest.
      const bufs = entries.map((e) => e.chunk);
      let total = 0;
      for (const b of bufs) total += b.length;
      fh.writev(bufs)
        .then(async ({ bytesWritten }) => {
          if (bytesWritten < total) await writeAll(fh, Buffer.concat(bufs).subarray(bytesWritten));
        })
        .then(() => written(total, cb), cb);
    },
    final(cb) {
      void flusher.settled().then(() => cb(flusher.error ?? null));
    },
  });
}

/**
 * The background `fdatasync` of a streamed write (see
 * {@link BACKGROUND_FLUSH_BYTES}): `add(n)` after each write starts one when
 * enough bytes piled up and none is in flight; `error` holds the first
 * failure (the writer must fail on it); `settled()` waits for the flush in
 * flight.
 */
class BackgroundFlusher {
  #unflushed = 0;
  #flushing: Promise<void> | undefined;
  error: Error | undefined;

  constructor(private readonly fh: FileHandle) {}

  add(n: number): void {
    this.#unflushed += n;
    if (this.#unflushed < BACKGROUND_FLUSH_BYTES || this.#flushing !== undefined) return;
    this.#unflushed = 0;
    this.#flushing = this.fh.datasync().then(
      () => {
        this.#flushing = undefined;
      },
      (err: unknown) => {
        this.error ??= err instanceof Error ? err : new Error(String(err));
        this.#flushing = undefined;
      },
    );
  }

  async settled(): Promise<void> {
    await this.#flushing;
  }
}

/**
 * Moves a {@link ChunkSource} into the open temp file: each chunk is written
 * with `writeSync` inside the source's callback (the source hashed it in the
 * same step and may reuse its memory afterwards), with the same background
 * flush as {@link fileSink}. Resolves once the source verified everything and
 * the flush in flight settled.
 *
 * Decision: these writes block the event loop while the kernel copies into
 * the page cache (not on the disk: the background flush keeps at most ~64 MiB
 * dirty per file). On a 1 GiB pull this costs less CPU and time than the
 * stream chain with thread-pool writes, and than staging copies written on
 * the thread pool (bench/analysis.md, round 8); only sources that offer the
 * capability use it (registry blob downloads).
 */
async function pumpToFile(
  fh: FileHandle,
  source: ChunkSource,
  onBytes: (n: number) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const flusher = new BackgroundFlusher(fh);
  const fd = fh.fd;
  const onAbort = (): void => {
    (source as unknown as Readable).destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await source.pumpTo((chunk) => {
      if (flusher.error !== undefined) throw flusher.error;
      writeAllSync(fd, chunk);
      flusher.add(chunk.length);
      onBytes(chunk.length);
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await flusher.settled();
  }
  if (flusher.error !== undefined) throw flusher.error;
}

/**
 * True when `readable` is itself a {@link VerifyingStream} for exactly
 * `expected` (same digest and size): it already fails before ending on any
 * mismatch, so hashing every byte a second time is redundant. (A verifier
 * resumed at an offset would deliver fewer than `size` bytes; the written
 * byte count is checked against `size` after the pipeline, see below.)
 */
function alreadyVerifies(readable: Readable, expected: { digest: Digest; size: number }): boolean {
  return (
    readable instanceof VerifyingStream &&
    readable.expected.digest === expected.digest &&
    readable.expected.size === expected.size
  );
}

/**
 * Streams `readable` into `path` atomically. Memory use is independent of the
 * content size: content with a known `expected.size` ≤ {@link SMALL_CONTENT_BYTES}
 * is collected in memory (at most that many bytes, plus one chunk before an
 * oversized source is refused), verified, then written with one
 * open/write/fsync/close/rename — the temp file only appears once the content
 * is verified; larger content is streamed through the file. When `options.expected` is given the stream is verified
 * (through {@link VerifyingStream}) and the file is renamed into place only
 * when size and digest match. On any failure (mismatch, source error, abort,
 * I/O error) the temp file is removed, `readable` is destroyed, and the old
 * content (if any) is untouched. Resolves with the number of bytes written.
 *
 * One file handle is used throughout and is always closed by this function
 * (after any in-flight write has settled) before the temp file is renamed or
 * removed.
 */
export async function streamToFileAtomic(
  path: string,
  readable: Readable,
  options: AtomicStreamOptions = {},
): Promise<{ bytes: number }> {
  if (options.expected !== undefined && options.expected.size <= SMALL_CONTENT_BYTES)
    return await smallToFileAtomic(path, readable, options.expected, options);
  const tmp = tempPathFor(path);
  let fh: FileHandle | undefined;
  let bytes = 0;
  const onProgress = options.onProgress;
  try {
    options.signal?.throwIfAborted();
    fh = await open(tmp, 'wx', options.mode ?? 0o644);
    const onBytes = (n: number): void => {
      bytes += n;
      onProgress?.(bytes);
    };
    if (canPumpChunks(readable) && (options.expected === undefined || alreadyVerifies(readable, options.expected))) {
      await pumpToFile(fh, readable, onBytes, options.signal);
    } else {
      const stages: NodeJS.ReadWriteStream[] =
        options.expected && !alreadyVerifies(readable, options.expected) ? [new VerifyingStream(options.expected)] : [];
      await pipeline([readable, ...stages, fileSink(fh, onBytes)], options.signal ? { signal: options.signal } : {});
    }
    if (options.expected && bytes !== options.expected.size) {
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `writing ${path}: wrote ${bytes} of the expected ${options.expected.size} bytes`,
        {
          hint: 'the source delivered a different amount of content than its descriptor says; nothing was written',
        },
      );
    }
    const handle = fh;
    fh = undefined;
    await commit(handle, tmp, path, options.dirSync, options.beforeRename);
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

/**
 * Reads all of `readable` (at most `expected.size` bytes; more fails at once
 * with `ERR_ORAS_SIZE_MISMATCH`) and verifies it: a source that already is a
 * {@link VerifyingStream} for `expected` ends without error only when size and
 * digest matched; any other source is hashed here.
 */
async function readVerified(
  readable: Readable,
  expected: { digest: Digest; size: number },
  path: string,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  const verified = alreadyVerifies(readable, expected);
  if (signal !== undefined) addAbortSignal(signal, readable);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of readable as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    n += buf.length;
    if (n > expected.size) {
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `writing ${path}: received more than the expected ${expected.size} bytes`,
        {
          hint: 'the source sent trailing bytes beyond the descriptor size; nothing was written',
        },
      );
    }
    chunks.push(buf);
  }
  const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, n);
  if (verified) {
    // The verifier checked size and digest of what it saw; a verifier resumed at an offset
    // would have delivered fewer bytes than `size`, so the count is checked here too.
    if (n !== expected.size) {
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `writing ${path}: received ${n} of the expected ${expected.size} bytes`,
        {
          hint: 'the source delivered a different amount of content than its descriptor says; nothing was written',
        },
      );
    }
  } else {
    verifyContent(data, expected, `writing ${path}:`);
  }
  return data;
}

/**
 * The small-content path of {@link streamToFileAtomic}: collect and verify in
 * memory (≤ {@link SMALL_CONTENT_BYTES}), then one temp file written with one
 * open/write/fsync/close and renamed into place. Nothing touches the disk
 * before the content is verified, so a failure leaves no temp file at all.
 */
async function smallToFileAtomic(
  path: string,
  readable: Readable,
  expected: { digest: Digest; size: number },
  options: AtomicStreamOptions,
): Promise<{ bytes: number }> {
  let data: Buffer;
  try {
    options.signal?.throwIfAborted();
    data = await readVerified(readable, expected, path, options.signal);
  } catch (err) {
    readable.destroy();
    if (options.signal?.aborted && !isOrasError(err)) {
      throw new OrasError('ERR_ORAS_ABORTED', `writing ${path}: aborted`, { cause: err });
    }
    throw ioError(err, 'writing', path);
  }
  if (options.signal?.aborted)
    throw new OrasError('ERR_ORAS_ABORTED', `writing ${path}: aborted`, { cause: options.signal.reason });
  await writeFileAtomic(path, data, {
    ...(options.mode !== undefined ? { mode: options.mode } : {}),
    ...(options.dirSync !== undefined ? { dirSync: options.dirSync } : {}),
    ...(options.beforeRename !== undefined ? { beforeRename: options.beforeRename } : {}),
  });
  options.onProgress?.(data.length);
  return { bytes: data.length };
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
    if (!isTempName(name)) continue;
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
