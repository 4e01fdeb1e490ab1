import { closeSync, constants as fsc, openSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, lstat, link, mkdir, mkdtemp, open, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { syncWritten } from '../content/sync-batch.js';
import { OrasError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { HashingStream } from './hashing-stream.js';
import { normalizeRelativePath } from './safe-path.js';

/** Default {@link ExtractOptions.maxEntries}: 100,000 entries. */
export const DEFAULT_MAX_ENTRIES = 100_000;
/** Default {@link ExtractOptions.maxUncompressedBytes}: 8 GiB. */
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 8 * 1024 ** 3;

/** Options for {@link extractTarGz}. */
export interface ExtractOptions {
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
  /** When set, the sha256 of the uncompressed tar must equal it (`io.deis.oras.content.digest`), else nothing is placed. */
  expectedUncompressedDigest?: string;
  /** Replace an existing `destDir` (default `true`); when `false` an existing one fails with `ERR_ORAS_ALREADY_EXISTS`. */
  replaceExisting?: boolean;
  /** Aborts extraction; nothing is placed. */
  signal?: AbortSignal;
  /**
   * Permission bits removed from every file and directory mode taken from the
   * archive. Default: the process umask (as `tar` does for non-root users).
   */
  modeMask?: number;
  /** A tree shared between projects (the cache): group/other write bits are also removed, whatever the umask. Default `false`. */
  shared?: boolean;
}

/** The process umask, read once (reading it is cheap, but only needed for directory layers). */
let umaskCache: number | undefined;
function processUmask(): number {
  if (umaskCache === undefined) umaskCache = process.umask();
  return umaskCache;
}

/** The permission bits an extracted entry may keep: not in `modeMask` (default the umask), and not group/other-writable when `shared`. */
export function keptModeBits(options: Pick<ExtractOptions, 'modeMask' | 'shared'>): number {
  const mask = (options.modeMask ?? processUmask()) | (options.shared === true ? 0o022 : 0);
  return ~mask & 0o777;
}

/** One regular file {@link extractTarGz} placed (hard links included), hashed from the bytes written. */
export interface ExtractedFile {
  /** POSIX path relative to the extraction root. */
  path: string;
  /** `sha256:` digest of the content. */
  digest: string;
  size: number;
  /** 0o755 when the entry has any execute bit, else absent (0o644). */
  mode?: number;
}

/** What {@link extractTarGz} placed. */
export interface ExtractResult {
  /** Every regular file placed, sorted by path (symlinks and directories are not listed). */
  files: ExtractedFile[];
  /** Absolute path of the extracted directory. */
  path: string;
  /** Tar entries processed. */
  entries: number;
  /** Uncompressed tar bytes read. */
  uncompressedBytes: number;
  /** `sha256:` digest of the uncompressed tar. */
  uncompressedDigest: string;
}

const TAR_HINT = 'the archive is malformed or malicious; nothing was extracted';

function refuse(name: string, problem: string): never {
  throw new OrasError(
    'ERR_ORAS_PATH_TRAVERSAL',
    `refusing tar entry ${JSON.stringify(name.slice(0, 200))}: ${problem}`,
    { hint: TAR_HINT },
  );
}

/** Maps an archive name to a path relative to the extraction root ('' = the root itself). */
function entryPath(rawName: string, prefix: string | undefined): string {
  if (rawName.includes('\0')) refuse(rawName, 'contains a NUL byte');
  let name = rawName.replace(/^(?:\.\/+)+/, '').replace(/\/+$/, '');
  if (prefix !== undefined) {
    if (name === prefix) return '';
    if (!name.startsWith(`${prefix}/`)) refuse(rawName, `is not under the archive root ${JSON.stringify(prefix)}`);
    name = name.slice(prefix.length + 1);
  }
  if (name.startsWith('/')) refuse(rawName, 'is an absolute path');
  if (name === '' || /^(?:\.\/*)+$/.test(name)) return '';
  try {
    return normalizeRelativePath(name);
  } catch (err) {
    refuse(rawName, (err as OrasError).message.replace(/^refusing path "[^"]*": /, ''));
  }
}

/** Cleans a strip prefix: no leading `./`, no trailing `/`; it is only compared as a string, never used as a path. */
function cleanPrefix(prefix: string): string {
  const p = prefix.replace(/^(?:\.\/+)+/, '').replace(/\/+$/, '');
  if (p === '' || p === '.' || p.includes('\0')) refuse(prefix, 'is not a usable archive root name');
  return p;
}

/**
 * Validates a symlink target. Rule: relative, no NUL/backslash, `..`
 * segments only at the start, and the lexically resolved target stays inside
 * the root. Since parents of an entry are never symlinks and every symlink
 * obeys this rule, resolution can never leave the root.
 */
function checkSymlinkTarget(name: string, rel: string, target: string): void {
  if (target.length === 0) refuse(name, 'symlink has an empty target');
  if (target.includes('\0') || target.includes('\\')) refuse(name, 'symlink target contains a NUL byte or backslash');
  if (target.startsWith('/') || /^[A-Za-z]:/.test(target))
    refuse(name, `symlink target ${JSON.stringify(target)} is absolute`);
  const segs = target.split('/').filter((s) => s !== '' && s !== '.');
  let seenName = false;
  for (const s of segs) {
    if (s === '..') {
      if (seenName) refuse(name, `symlink target ${JSON.stringify(target)} has ".." after a name (not normalized)`);
    } else seenName = true;
  }
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  if (resolved === '..' || resolved.startsWith('../'))
    refuse(name, `symlink target ${JSON.stringify(target)} points outside the extraction directory`);
}

async function lstatOrNull(p: string): Promise<import('node:fs').Stats | null> {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Creates missing parents of `rel` below `root`, refusing any existing parent that is not a real directory.
 * `known` holds directories already created or checked in this extraction: the root is a fresh private
 * directory and an entry can never replace an existing path (duplicates are refused), so a directory once
 * checked stays one. This keeps the cost per entry constant instead of one `lstat` per path component.
 */
async function ensureParents(
  root: string,
  rel: string,
  name: string,
  dirModes: Map<string, number>,
  known: Set<string>,
): Promise<void> {
  const parts = rel.split('/').slice(0, -1);
  let cur = root;
  for (const part of parts) {
    cur = path.join(cur, part);
    if (known.has(cur)) continue;
    const st = await lstatOrNull(cur);
    if (st === null) {
      await mkdir(cur, { mode: 0o700 });
      dirModes.set(cur, 0o755);
    } else if (st.isSymbolicLink())
      refuse(name, `would be written through the symlink ${JSON.stringify(path.relative(root, cur))}`);
    else if (!st.isDirectory()) refuse(name, `parent ${JSON.stringify(path.relative(root, cur))} is not a directory`);
    known.add(cur);
  }
}

/** True when every parent of `rel` below `root` exists as a real directory (no symlinks); creates nothing. */
async function realParents(root: string, rel: string): Promise<boolean> {
  let cur = root;
  for (const part of rel.split('/').slice(0, -1)) {
    cur = path.join(cur, part);
    const st = await lstatOrNull(cur);
    if (st === null || !st.isDirectory()) return false;
  }
  return true;
}

/** Entries up to this size (1 MiB) are collected in memory and written with synchronous calls. */
const SMALL_ENTRY_BYTES = 1024 * 1024;
const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

function duplicateOr(err: unknown, name: string): never {
  // O_EXCL|O_NOFOLLOW: any existing entry (file, directory, symlink) at the path fails with EEXIST.
  if ((err as NodeJS.ErrnoException).code === 'EEXIST') refuse(name, 'duplicate entry: the path was already extracted');
  throw err;
}

/**
 * Writes one regular file exclusively (O_EXCL|O_NOFOLLOW: an existing path is refused as a
 * duplicate, a planted symlink is never followed) and returns the sha256 of its bytes. Not
 * fsynced here: the whole tree is synced once before it is renamed into place (see
 * {@link extractTarGz}). Small entries are gathered and written synchronously: open, write and
 * close without an fsync are page-cache calls of microseconds, several times cheaper than a
 * thread-pool round trip each.
 */
async function writeEntryFile(
  target: string,
  entry: AsyncIterable<Uint8Array>,
  mode: number,
  size: number,
  name: string,
): Promise<string> {
  const hash = createHash('sha256');
  if (size <= SMALL_ENTRY_BYTES) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    hash.update(data);
    let fd: number;
    try {
      fd = openSync(target, CREATE_FLAGS, mode);
    } catch (err) {
      duplicateOr(err, name);
    }
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    } finally {
      closeSync(fd);
    }
    return `sha256:${hash.digest('hex')}`;
  }
  const fh = await open(target, CREATE_FLAGS, mode).catch((err: unknown) => duplicateOr(err, name));
  try {
    for await (const chunk of entry) {
      hash.update(chunk);
      await fh.write(chunk);
    }
  } finally {
    await fh.close();
  }
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Safely extracts a tar+gzip stream (a plain tar with `compression: 'none'`) into `destDir`: everything is extracted
 * into a fresh temporary directory next to `destDir` and renamed into place
 * only when the whole archive was read, passed every check and (when given)
 * matched `expectedUncompressedDigest`; on any failure nothing is placed and
 * the temporary directory is removed.
 *
 * Refused with `ERR_ORAS_PATH_TRAVERSAL`: absolute names, `..` segments,
 * backslashes/drive letters, names outside `stripPrefix`, writing through a
 * symlink (any symlink as a parent, like oras-go), symlinks whose target is
 * absolute, escapes the root or is not normalized (`..` after a name), hard
 * links whose target is outside or not an already-extracted regular file,
 * and duplicates: an entry whose path already exists is refused, except a
 * directory entry over an existing directory (idempotent). Refused with
 * `ERR_ORAS_UNSUPPORTED`: FIFOs, character and block devices and unknown
 * entry types. Caps fail with `ERR_ORAS_LIMIT_EXCEEDED`. These checks cannot
 * be disabled (`allowPathTraversal` only applies to layer titles).
 *
 * Durability: files are written without per-file fsync; the finished tree
 * (file contents and directory entries) is synced once, before the rename that
 * places it, so a placed tree is complete even after a power loss.
 *
 * Modes: files keep their permission bits (setuid/setgid/sticky dropped),
 * directories get theirs (at least 0700) at the end; both are masked by
 * `modeMask` (default: the process umask), so an archive cannot create
 * world-writable directories.
 * An existing `destDir` is replaced as a whole (moved aside, then removed).
 */
export async function extractTarGz(
  source: Readable,
  destDir: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const dest = path.resolve(destDir);
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = options.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES;
  if (options.expectedUncompressedDigest !== undefined)
    parseDigest(options.expectedUncompressedDigest, 'io.deis.oras.content.digest');
  const prefix = options.stripPrefix === undefined ? undefined : cleanPrefix(options.stripPrefix);
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = await mkdtemp(path.join(path.dirname(dest), `.${path.basename(dest)}.oras-extract-`));
  const dirModes = new Map<string, number>([[tmp, 0o755]]);
  const keep = keptModeBits(options);
  const knownDirs = new Set<string>([tmp]);
  const written: string[] = [];
  const placed = new Map<string, ExtractedFile>();
  const meter = new HashingStream({
    limit: maxBytes,
    what: 'uncompressed archive',
    limitHint: 'raise maxUncompressedBytes (oras config: limits.maxUncompressedBytes) if this archive is legitimate',
  });
  const extract = tarStream.extract();
  const signalOpt = options.signal ? { signal: options.signal } : {};
  const piping =
    options.compression === 'none'
      ? pipeline(source, meter, extract, signalOpt)
      : pipeline(source, createGunzip(), meter, extract, signalOpt);
  piping.catch(() => undefined);
  let entries = 0;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      entries += 1;
      if (entries > maxEntries) {
        throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `archive has more than ${maxEntries} entries`, {
          hint: 'raise maxEntries (oras config: limits.maxEntries) if this archive is legitimate',
        });
      }
      if ((h.size ?? 0) > maxBytes) {
        throw new OrasError(
          'ERR_ORAS_LIMIT_EXCEEDED',
          `archive entry ${JSON.stringify(h.name.slice(0, 200))} is ${h.size} bytes, over the ${maxBytes}-byte limit`,
          {
            hint: 'raise maxUncompressedBytes (oras config: limits.maxUncompressedBytes) if this archive is legitimate',
          },
        );
      }
      const type: string = h.type ?? 'file';
      if (type === 'pax-global-header') {
        entry.resume();
        continue;
      }
      if (
        type === 'fifo' ||
        type === 'character-device' ||
        type === 'block-device' ||
        !['file', 'contiguous-file', 'directory', 'symlink', 'link'].includes(type)
      ) {
        throw new OrasError(
          'ERR_ORAS_UNSUPPORTED',
          `refusing tar entry ${JSON.stringify(h.name.slice(0, 200))}: ${type} entries are not supported`,
          { hint: TAR_HINT },
        );
      }
      const rel = entryPath(h.name, prefix);
      const mode = (h.mode ?? 0o644) & keep;
      if (rel === '') {
        if (type !== 'directory') refuse(h.name, 'the archive root must be a directory');
        dirModes.set(tmp, mode | 0o700);
        entry.resume();
        continue;
      }
      const target = path.join(tmp, ...rel.split('/'));
      await ensureParents(tmp, rel, h.name, dirModes, knownDirs);
      if (type === 'file' || type === 'contiguous-file') {
        // The exclusive create refuses duplicates itself (no lstat first).
        const digest = await writeEntryFile(
          target,
          entry as unknown as AsyncIterable<Uint8Array>,
          mode,
          h.size ?? 0,
          h.name,
        );
        written.push(target);
        placed.set(rel, { path: rel, digest, size: h.size ?? 0, ...((mode & 0o111) !== 0 ? { mode: 0o755 } : {}) });
        continue;
      }
      const existing = await lstatOrNull(target);
      if (type === 'directory') {
        if (existing !== null && !(existing.isDirectory() && !existing.isSymbolicLink()))
          refuse(h.name, 'duplicate entry: a directory would replace an existing non-directory');
        if (existing === null) await mkdir(target, { mode: 0o700 });
        dirModes.set(target, mode | 0o700);
        knownDirs.add(target);
        entry.resume();
        continue;
      }
      if (existing !== null) refuse(h.name, 'duplicate entry: the path was already extracted');
      if (type === 'symlink') {
        checkSymlinkTarget(h.name, rel, h.linkname ?? '');
        await symlink(h.linkname ?? '', target);
        entry.resume();
      } else if (type === 'link') {
        const linkRel = entryPath(h.linkname ?? '', prefix);
        if (linkRel === '') refuse(h.name, 'hard link to the archive root');
        const linkTarget = path.join(tmp, ...linkRel.split('/'));
        const st = (await realParents(tmp, linkRel)) ? await lstatOrNull(linkTarget) : null;
        if (st === null || !st.isFile())
          refuse(h.name, `hard link target ${JSON.stringify(h.linkname)} is not an already-extracted regular file`);
        await link(linkTarget, target);
        const same = placed.get(linkRel);
        if (same !== undefined) placed.set(rel, { ...same, path: rel });
        entry.resume();
      }
    }
    await piping;
    const digest = meter.digest;
    if (options.expectedUncompressedDigest !== undefined && digest !== options.expectedUncompressedDigest) {
      throw new OrasError(
        'ERR_ORAS_DIGEST_MISMATCH',
        `uncompressed archive digest mismatch: expected ${options.expectedUncompressedDigest}, got ${digest}`,
        {
          hint: 'the layer does not match its io.deis.oras.content.digest annotation; it was corrupted or tampered with; nothing was extracted',
        },
      );
    }
    const byDepth = [...dirModes.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [dir, m] of byDepth) await chmod(dir, (m & keep) | 0o700);
    // One durability barrier for the whole tree (instead of an fsync per file), before it becomes visible.
    await syncWritten(written, dirModes.keys(), options.signal ? { signal: options.signal } : {});
    await placeDirectory(tmp, dest, options.replaceExisting ?? true);
    const files = [...placed.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { path: dest, files, entries, uncompressedBytes: meter.bytes, uncompressedDigest: digest };
  } catch (caught) {
    extract.destroy();
    source.destroy();
    // The pipeline's own error (bad gzip, size cap, source verification) explains more than the entry stream's "destroyed".
    const pipeErr: unknown = await piping.then(
      () => undefined,
      (e: unknown) => e,
    );
    const caughtCode = (caught as NodeJS.ErrnoException | undefined)?.code;
    const streamNoise = caughtCode === 'STREAM_DESTROYED' || caughtCode === 'ERR_STREAM_PREMATURE_CLOSE';
    const err =
      !(caught instanceof OrasError) && pipeErr !== undefined && (pipeErr instanceof OrasError || streamNoise)
        ? pipeErr
        : caught;
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof OrasError) throw err;
    if (options.signal?.aborted)
      throw new OrasError('ERR_ORAS_ABORTED', `extraction into ${dest} was aborted`, { cause: err });
    const code = (err as NodeJS.ErrnoException).code;
    if (
      code === 'Z_DATA_ERROR' ||
      code === 'Z_BUF_ERROR' ||
      /tar|header|gzip|end of data|unexpected end|invalid/i.test((err as Error).message)
    ) {
      throw new OrasError('ERR_ORAS_UNSUPPORTED', `cannot extract archive: ${(err as Error).message}`, {
        cause: err,
        hint: `the ${options.compression === 'none' ? 'file is not a valid tar' : 'layer is not a valid tar+gzip'} archive`,
      });
    }
    throw new OrasError('ERR_ORAS_IO', `cannot extract archive into ${dest}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check free space and permissions of the output directory',
    });
  }
}

/** Renames the finished temp dir to `dest`, replacing an existing entry atomically enough: old moved aside, new renamed in, old removed. */
async function placeDirectory(tmp: string, dest: string, replace: boolean): Promise<void> {
  const existing = await lstatOrNull(dest);
  if (existing === null) {
    await rename(tmp, dest);
    return;
  }
  if (!replace) {
    throw new OrasError('ERR_ORAS_ALREADY_EXISTS', `${dest} already exists`, {
      hint: 'remove it, or allow overwriting',
    });
  }
  const aside = `${tmp}.old`;
  await rename(dest, aside);
  try {
    await rename(tmp, dest);
  } catch (err) {
    await rename(aside, dest).catch(() => undefined);
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
}
