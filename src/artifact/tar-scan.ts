import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gunzipSync } from 'node:zlib';
import { OrasError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { HashingStream } from './hashing-stream.js';
import { normalizeRelativePath } from './safe-path.js';
import { TarReader, type TarHeader } from './tar-reader.js';

/** Default {@link TarScanOptions.maxEntries}: 100,000 entries. */
export const DEFAULT_MAX_ENTRIES = 100_000;
/** Default {@link TarScanOptions.maxUncompressedBytes}: 8 GiB. */
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 8 * 1024 ** 3;

/** Options for {@link scanTar}: which archives are accepted. */
export interface TarScanOptions {
  /**
   * Root name every entry must live under; it is stripped (oras-go's file
   * store convention: the tar root is the layer title). Entries outside it
   * are refused. Default: none (entries are taken relative to the archive root).
   */
  stripPrefix?: string;
  /** `none` reads a plain tar (e.g. an `oras backup` file) under the same rules. Default `gzip`. */
  compression?: 'gzip' | 'none';
  /** Most tar entries accepted. Default {@link DEFAULT_MAX_ENTRIES}. */
  maxEntries?: number;
  /** Most uncompressed tar bytes accepted (headers included). Default {@link DEFAULT_MAX_UNCOMPRESSED_BYTES}. */
  maxUncompressedBytes?: number;
  /** When set, the sha256 of the uncompressed tar must equal it (`io.deis.oras.content.digest`), checked at the end. */
  expectedUncompressedDigest?: string;
  /**
   * Compute {@link TarScanResult.uncompressedDigest}. Default `true`; `false` skips hashing the
   * uncompressed tar (the result then holds `''`) unless `expectedUncompressedDigest` is set.
   */
  uncompressedDigest?: boolean;
  /** Stops the scan with `ERR_ORAS_ABORTED`. */
  signal?: AbortSignal;
  /**
   * Permission bits removed from every mode taken from the archive. Default:
   * the process umask (as `tar` does for non-root users).
   */
  modeMask?: number;
  /** A tree shared between projects (the cache): group/other write bits are also removed, whatever the umask. Default `false`. */
  shared?: boolean;
}

/**
 * What {@link scanTar} reports, entry by entry, once the entry passed every
 * check. Paths are POSIX, relative to the archive root after `stripPrefix`
 * (`''` is the root itself). A visitor may be async: the next entry is read
 * only once it settled, and an error it throws stops the scan (and is rethrown as is).
 */
export interface TarScanVisitor {
  /**
   * A regular file. `body` yields its bytes (one view for entries up to
   * 1 MiB, valid until the visitor settles); what the visitor does not read
   * is skipped. `mode` is masked (see {@link keptModeBits}).
   */
  file?(rel: string, mode: number, size: number, body: TarBody): unknown;
  /** A directory: an entry (`mode` set; `''` for the archive root) or a parent implied by a deeper entry (`mode` undefined). */
  directory?(rel: string, mode: number | undefined): unknown;
  /** A symlink whose target passed the containment rule. */
  symlink?(rel: string, target: string): unknown;
  /** A hard link to `target` (an earlier regular file or link entry) whose content is that of the regular file entry `origin`. */
  link?(rel: string, target: string, origin: string): unknown;
}

/** What {@link scanTar} read. */
export interface TarScanResult {
  /** Tar entries processed. */
  entries: number;
  /** Uncompressed tar bytes read. */
  uncompressedBytes: number;
  /** `sha256:` digest of the uncompressed tar (`''` when not computed, see {@link TarScanOptions.uncompressedDigest}). */
  uncompressedDigest: string;
}

/** The body of a regular file entry: one view of its bytes (small entries) or its chunks as they arrive. */
export type TarBody = Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Entries up to this size (1 MiB) are handed to the visitor whole, as one view. */
const WHOLE_BODY_BYTES = 1024 * 1024;

const TAR_HINT = 'the archive is malformed or malicious; nothing was extracted';

/** Refuses the tar entry `name` with `ERR_ORAS_PATH_TRAVERSAL` (the archive is malformed or malicious). */
export function refuseEntry(name: string, problem: string): never {
  throw new OrasError(
    'ERR_ORAS_PATH_TRAVERSAL',
    `refusing tar entry ${JSON.stringify(name.slice(0, 200))}: ${problem}`,
    { hint: TAR_HINT },
  );
}

/** The process umask, read once (reading it is cheap, but only needed for directory layers). */
let umaskCache: number | undefined;
function processUmask(): number {
  if (umaskCache === undefined) umaskCache = process.umask();
  return umaskCache;
}

/** The permission bits an archive entry may keep: not in `modeMask` (default the umask), and not group/other-writable when `shared`. */
export function keptModeBits(options: Pick<TarScanOptions, 'modeMask' | 'shared'>): number {
  const mask = (options.modeMask ?? processUmask()) | (options.shared === true ? 0o022 : 0);
  return ~mask & 0o777;
}

/** Maps an archive name to a path relative to the extraction root ('' = the root itself). */
function entryPath(rawName: string, prefix: string | undefined): string {
  if (rawName.includes('\0')) refuseEntry(rawName, 'contains a NUL byte');
  let name = rawName.replace(/^(?:\.\/+)+/, '').replace(/\/+$/, '');
  if (prefix !== undefined) {
    if (name === prefix) return '';
    if (!name.startsWith(`${prefix}/`)) refuseEntry(rawName, `is not under the archive root ${JSON.stringify(prefix)}`);
    name = name.slice(prefix.length + 1);
  }
  if (name.startsWith('/')) refuseEntry(rawName, 'is an absolute path');
  if (name === '' || /^(?:\.\/*)+$/.test(name)) return '';
  try {
    return normalizeRelativePath(name);
  } catch (err) {
    refuseEntry(rawName, (err as OrasError).message.replace(/^refusing path "[^"]*": /, ''));
  }
}

/** Cleans a strip prefix: no leading `./`, no trailing `/`; it is only compared as a string, never used as a path. */
function cleanPrefix(prefix: string): string {
  const p = prefix.replace(/^(?:\.\/+)+/, '').replace(/\/+$/, '');
  if (p === '' || p === '.' || p.includes('\0')) refuseEntry(prefix, 'is not a usable archive root name');
  return p;
}

/**
 * Validates a symlink target. Rule: relative, no NUL/backslash, `..`
 * segments only at the start, and the lexically resolved target stays inside
 * the root. Since parents of an entry are never symlinks and every symlink
 * obeys this rule, resolution can never leave the root.
 */
function checkSymlinkTarget(name: string, rel: string, target: string): void {
  if (target.length === 0) refuseEntry(name, 'symlink has an empty target');
  if (target.includes('\0') || target.includes('\\'))
    refuseEntry(name, 'symlink target contains a NUL byte or backslash');
  if (target.startsWith('/') || /^[A-Za-z]:/.test(target))
    refuseEntry(name, `symlink target ${JSON.stringify(target)} is absolute`);
  const segs = target.split('/').filter((s) => s !== '' && s !== '.');
  let seenName = false;
  for (const s of segs) {
    if (s === '..') {
      if (seenName)
        refuseEntry(name, `symlink target ${JSON.stringify(target)} has ".." after a name (not normalized)`);
    } else seenName = true;
  }
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  if (resolved === '..' || resolved.startsWith('../'))
    refuseEntry(name, `symlink target ${JSON.stringify(target)} points outside the extraction directory`);
}

/**
 * The scanner's model of the tree the archive describes: what each path is
 * (a regular file, a directory, a symlink) and, for files, the regular-file
 * entry holding its content (itself, or what a hard link resolves to). The
 * rules are decided on this model, so they are the same whether the entries
 * are written to disk, placed into a project, or only listed.
 */
class TreeModel {
  private readonly kinds = new Map<string, 'file' | 'dir' | 'symlink'>([['', 'dir']]);
  private readonly origins = new Map<string, string>();

  constructor(private readonly visitor: TarScanVisitor) {}

  /** Implies the missing parents of `rel` (reported to the visitor); refuses a parent that is a symlink or a file. */
  async parents(rel: string, name: string): Promise<void> {
    const parts = rel.split('/');
    let cur = '';
    for (let i = 0; i < parts.length - 1; i += 1) {
      cur = cur === '' ? parts[i]! : `${cur}/${parts[i]!}`;
      const kind = this.kinds.get(cur);
      if (kind === 'dir') continue;
      if (kind === 'symlink') refuseEntry(name, `would be written through the symlink ${JSON.stringify(cur)}`);
      if (kind === 'file') refuseEntry(name, `parent ${JSON.stringify(cur)} is not a directory`);
      this.kinds.set(cur, 'dir');
      await this.visitor.directory?.(cur, undefined);
    }
  }

  /** Refuses any existing path (files, symlinks and links never replace anything). */
  fresh(rel: string, name: string): void {
    if (this.kinds.has(rel)) refuseEntry(name, 'duplicate entry: the path was already extracted');
  }

  file(rel: string): void {
    this.kinds.set(rel, 'file');
    this.origins.set(rel, rel);
  }

  directory(rel: string, name: string): void {
    const kind = this.kinds.get(rel);
    if (kind !== undefined && kind !== 'dir')
      refuseEntry(name, 'duplicate entry: a directory would replace an existing non-directory');
    this.kinds.set(rel, 'dir');
  }

  symlink(rel: string): void {
    this.kinds.set(rel, 'symlink');
  }

  /** Records a hard link to `target`; returns the regular-file entry holding the content. */
  link(rel: string, target: string, name: string, linkname: string): string {
    const origin = this.kinds.get(target) === 'file' ? this.origins.get(target) : undefined;
    if (origin === undefined)
      refuseEntry(name, `hard link target ${JSON.stringify(linkname)} is not an already-extracted regular file`);
    this.kinds.set(rel, 'file');
    this.origins.set(rel, origin);
    return origin;
  }
}

function limitExceeded(message: string, option: 'maxEntries' | 'maxUncompressedBytes'): OrasError {
  return new OrasError('ERR_ORAS_LIMIT_EXCEEDED', message, {
    hint: `raise ${option} (oras config: limits.${option}) if this archive is legitimate`,
  });
}

/** Checks one header against the caps and the supported entry types; returns the entry type. */
function checkHeader(h: TarHeader, entries: number, maxEntries: number, maxBytes: number): string {
  if (entries > maxEntries) throw limitExceeded(`archive has more than ${maxEntries} entries`, 'maxEntries');
  if (h.size > maxBytes)
    throw limitExceeded(
      `archive entry ${JSON.stringify(h.name.slice(0, 200))} is ${h.size} bytes, over the ${maxBytes}-byte limit`,
      'maxUncompressedBytes',
    );
  const type = h.type;
  if (!['file', 'contiguous-file', 'directory', 'symlink', 'link'].includes(type)) {
    throw new OrasError(
      'ERR_ORAS_UNSUPPORTED',
      `refusing tar entry ${JSON.stringify(h.name.slice(0, 200))}: ${type} entries are not supported`,
      { hint: TAR_HINT },
    );
  }
  return type;
}

/** Applies the rules to one entry and reports it to the visitor. */
async function visitEntry(
  h: TarHeader,
  reader: TarReader,
  type: string,
  prefix: string | undefined,
  keep: number,
  model: TreeModel,
  visitor: TarScanVisitor,
): Promise<void> {
  const rel = entryPath(h.name, prefix);
  const mode = h.mode & keep;
  if (rel === '') {
    if (type !== 'directory') refuseEntry(h.name, 'the archive root must be a directory');
    await visitor.directory?.('', mode);
    return;
  }
  await model.parents(rel, h.name);
  if (type === 'directory') {
    model.directory(rel, h.name);
    await visitor.directory?.(rel, mode);
    return;
  }
  model.fresh(rel, h.name);
  if (type === 'file' || type === 'contiguous-file') {
    model.file(rel);
    if (visitor.file !== undefined)
      await visitor.file(rel, mode, h.size, h.size <= WHOLE_BODY_BYTES ? [await reader.readBody()] : reader.body());
  } else if (type === 'symlink') {
    checkSymlinkTarget(h.name, rel, h.linkname ?? '');
    model.symlink(rel);
    await visitor.symlink?.(rel, h.linkname ?? '');
  } else {
    const target = entryPath(h.linkname ?? '', prefix);
    if (target === '') refuseEntry(h.name, 'hard link to the archive root');
    const origin = model.link(rel, target, h.name, h.linkname ?? '');
    await visitor.link?.(rel, target, origin);
  }
}

/** The error a failed scan reports: ours as they are, a malformed archive as `ERR_ORAS_UNSUPPORTED`. */
function scanError(err: unknown, options: TarScanOptions): unknown {
  if (err instanceof OrasError) return err;
  if (options.signal?.aborted)
    return new OrasError('ERR_ORAS_ABORTED', 'reading the archive was aborted', { cause: err });
  const code = (err as NodeJS.ErrnoException).code;
  // A file-system call of the visitor (it has a syscall) is not a malformed archive.
  if (
    typeof (err as NodeJS.ErrnoException).syscall !== 'string' &&
    (code === 'Z_DATA_ERROR' ||
      code === 'Z_BUF_ERROR' ||
      /tar|header|gzip|end of data|unexpected end|invalid/i.test((err as Error).message))
  ) {
    return new OrasError('ERR_ORAS_UNSUPPORTED', `cannot extract archive: ${(err as Error).message}`, {
      cause: err,
      hint: `the ${options.compression === 'none' ? 'file is not a valid tar' : 'layer is not a valid tar+gzip'} archive`,
    });
  }
  return err;
}

/**
 * Output buffer of the gunzip step: zlib inflates on the thread pool one output buffer at a time,
 * so its default (16 KiB) costs a thread-pool round trip per 16 KiB of tar (~940 for a layer of
 * 10,000 files of 1 KiB); 256 KiB makes that ~60 (numbers in bench/analysis.md, round 9).
 */
const GUNZIP_CHUNK_BYTES = 256 * 1024;

/**
 * Reads a tar+gzip stream (a plain tar with `compression: 'none'`) entry by
 * entry and reports each one that passes the rules to `visitor`. The rules
 * (the same for every consumer: extraction, placement into a project, listing):
 *
 * Refused with `ERR_ORAS_PATH_TRAVERSAL`: absolute names, `..` segments,
 * backslashes/drive letters, names outside `stripPrefix`, entries below a
 * symlink or a file, symlinks whose target is absolute, escapes the root or
 * is not normalized (`..` after a name), hard links whose target is not an
 * earlier regular file or link, and duplicates (an entry whose path already
 * exists, except a directory entry over a directory). Refused with
 * `ERR_ORAS_UNSUPPORTED`: FIFOs, devices, unknown entry types and archives
 * that are not valid tar (+gzip). Caps fail with `ERR_ORAS_LIMIT_EXCEEDED`; a
 * wrong `expectedUncompressedDigest` with `ERR_ORAS_DIGEST_MISMATCH` once the
 * whole archive was read (a consumer that must not expose unverified
 * entries places nothing before the scan resolved, or verifies each file on
 * its own). Errors thrown by the visitor are rethrown as they are. On any
 * error the source is destroyed.
 */
export async function scanTar(
  source: Readable,
  options: TarScanOptions,
  visitor: TarScanVisitor,
): Promise<TarScanResult> {
  const scan = startScan(options, visitor);
  const meter = new HashingStream({
    hash: scan.hash,
    limit: scan.maxBytes,
    what: 'uncompressed archive',
    limitHint: LIMIT_HINT,
  });
  const signalOpt = options.signal ? { signal: options.signal } : {};
  try {
    if (options.compression === 'none') await pipeline(source, meter, scan.consume, signalOpt);
    else await pipeline(source, createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }), meter, scan.consume, signalOpt);
  } catch (err) {
    source.destroy();
    throw scanError(err, options);
  }
  return scan.finish(meter.bytes, meter.digest);
}

const LIMIT_HINT =
  'raise maxUncompressedBytes (oras config: limits.maxUncompressedBytes) if this archive is legitimate';

/** The per-archive part of a scan shared by {@link scanTar} and {@link scanTarBytes}. */
function startScan(
  options: TarScanOptions,
  visitor: TarScanVisitor,
): {
  maxBytes: number;
  hash: boolean;
  consume: (tar: AsyncIterable<Uint8Array>) => Promise<void>;
  finish: (bytes: number, digest: string) => TarScanResult;
} {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = options.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES;
  if (options.expectedUncompressedDigest !== undefined)
    parseDigest(options.expectedUncompressedDigest, 'io.deis.oras.content.digest');
  const prefix = options.stripPrefix === undefined ? undefined : cleanPrefix(options.stripPrefix);
  const keep = keptModeBits(options);
  const model = new TreeModel(visitor);
  let entries = 0;
  const consume = async (tar: AsyncIterable<Uint8Array>): Promise<void> => {
    const reader = new TarReader(tar);
    for (let h = await reader.next(); h !== undefined; h = await reader.next()) {
      entries += 1;
      const type = checkHeader(h, entries, maxEntries, maxBytes);
      await visitEntry(h, reader, type, prefix, keep, model, visitor);
    }
  };
  const finish = (bytes: number, digest: string): TarScanResult => {
    if (options.expectedUncompressedDigest !== undefined && digest !== options.expectedUncompressedDigest) {
      throw new OrasError(
        'ERR_ORAS_DIGEST_MISMATCH',
        `uncompressed archive digest mismatch: expected ${options.expectedUncompressedDigest}, got ${digest}`,
        {
          hint: 'the layer does not match its io.deis.oras.content.digest annotation; it was corrupted or tampered with; nothing was extracted',
        },
      );
    }
    return { entries, uncompressedBytes: bytes, uncompressedDigest: digest };
  };
  const hash = options.uncompressedDigest !== false || options.expectedUncompressedDigest !== undefined;
  return { maxBytes, hash, consume, finish };
}

/**
 * Most uncompressed bytes {@link scanTarBytes} inflates in one synchronous call (16 MiB); an
 * archive that inflates to more is scanned as a stream instead.
 */
const SYNC_GUNZIP_MAX_BYTES = 16 * 1024 * 1024;

/**
 * {@link scanTar} of an archive already in memory (a small cached layer the caller verified):
 * same rules, result and errors, without a stream per archive. It is inflated in one call (zlib
 * on this thread: no thread-pool round trip per output buffer, which on a small layer costs more
 * than the inflating), unless it inflates to more than 16 MiB or fails to inflate: then it is
 * scanned as a stream like {@link scanTar}, which words every error the same way.
 */
export async function scanTarBytes(
  bytes: Buffer,
  options: TarScanOptions,
  visitor: TarScanVisitor,
): Promise<TarScanResult> {
  if (options.signal?.aborted === true) throw scanError(options.signal.reason, options);
  let tar: Buffer | undefined = bytes;
  if (options.compression !== 'none') {
    // A gzip ends with its uncompressed size (mod 2^32): one that says it is too big for one call
    // is streamed at once rather than inflated up to the bound and then again (the bound below
    // still holds when the trailer lies).
    const trailerSize = bytes.length >= 18 ? bytes.readUInt32LE(bytes.length - 4) : undefined;
    if (trailerSize !== undefined && trailerSize > SYNC_GUNZIP_MAX_BYTES)
      return scanTar(Readable.from([bytes]), options, visitor);
    try {
      // One output buffer of the size the trailer gives (a little more, so that zlib sees the end
      // without another round): the 16 KiB default made a layer of 75 KiB five buffers and a copy.
      // A trailer that lies only changes how the output is collected, not what it is.
      const chunkSize = trailerSize === undefined ? undefined : Math.max(64, trailerSize + 1024);
      tar = gunzipSync(bytes, { maxOutputLength: SYNC_GUNZIP_MAX_BYTES, ...(chunkSize ? { chunkSize } : {}) });
    } catch {
      tar = undefined; // too big for one call, or malformed: the stream reports it
    }
  }
  if (tar === undefined) return scanTar(Readable.from([bytes]), options, visitor);
  const scan = startScan(options, visitor);
  try {
    if (tar.length > scan.maxBytes)
      throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `uncompressed archive exceeds the ${scan.maxBytes}-byte limit`, {
        hint: LIMIT_HINT,
      });
    await scan.consume(chunksOf(tar, options.signal));
  } catch (err) {
    throw scanError(err, options);
  }
  return scan.finish(tar.length, scan.hash ? `sha256:${createHash('sha256').update(tar).digest('hex')}` : '');
}

/** `buf` as views of the size the gunzip stream hands out, stopping at an abort. */
async function* chunksOf(buf: Buffer, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  for (let at = 0; at < buf.length; at += GUNZIP_CHUNK_BYTES) {
    if (signal?.aborted === true) throw signal.reason;
    yield buf.subarray(at, at + GUNZIP_CHUNK_BYTES);
  }
}
