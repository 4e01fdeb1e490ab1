import { closeSync, constants as fsc, openSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, lstat, link, mkdir, mkdtemp, open, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { writeAllSync } from '../content/fs-atomic.js';
import { syncWritten } from '../content/sync-batch.js';
import { OrasError } from '../errors.js';
import { keptModeBits, refuseEntry, scanTar, type TarBody, type TarScanOptions } from './tar-scan.js';

export { DEFAULT_MAX_ENTRIES, DEFAULT_MAX_UNCOMPRESSED_BYTES, keptModeBits } from './tar-scan.js';

/** Options for {@link extractTarGz}. */
export interface ExtractOptions extends TarScanOptions {
  /** Replace an existing `destDir` (default `true`); when `false` an existing one fails with `ERR_ORAS_ALREADY_EXISTS`. */
  replaceExisting?: boolean;
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

async function lstatOrNull(p: string): Promise<import('node:fs').Stats | null> {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Entries up to this size (1 MiB) are collected in memory and written with synchronous calls. */
const SMALL_ENTRY_BYTES = 1024 * 1024;
const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

function duplicateOr(err: unknown, name: string): never {
  // O_EXCL|O_NOFOLLOW: any existing entry (file, directory, symlink) at the path fails with EEXIST.
  if ((err as NodeJS.ErrnoException).code === 'EEXIST')
    refuseEntry(name, 'duplicate entry: the path was already extracted');
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
  entry: TarBody,
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
      writeAllSync(fd, data);
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
 * only when the whole archive was read, passed every check of {@link scanTar}
 * (path traversal, symlinks, hard links, duplicates, entry types, caps) and
 * (when given) matched `expectedUncompressedDigest`; on any failure nothing
 * is placed and the temporary directory is removed. These checks cannot be
 * disabled (`allowPathTraversal` only applies to layer titles).
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
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = await mkdtemp(path.join(path.dirname(dest), `.${path.basename(dest)}.oras-extract-`));
  const dirModes = new Map<string, number>([[tmp, 0o755]]);
  const written: string[] = [];
  const placed = new Map<string, ExtractedFile>();
  const at = (rel: string): string => (rel === '' ? tmp : path.join(tmp, ...rel.split('/')));
  try {
    const scanned = await scanTar(source, options, {
      directory: async (rel, mode) => {
        if (rel !== '') await mkdir(at(rel), { mode: 0o700 }).catch(ignoreExisting);
        dirModes.set(at(rel), mode === undefined ? 0o755 : mode | 0o700);
      },
      file: async (rel, mode, size, body) => {
        const digest = await writeEntryFile(at(rel), body, mode, size, rel);
        written.push(at(rel));
        placed.set(rel, { path: rel, digest, size, ...((mode & 0o111) !== 0 ? { mode: 0o755 } : {}) });
      },
      symlink: (rel, target) => symlink(target, at(rel)),
      link: async (rel, target, origin) => {
        await link(at(target), at(rel));
        const same = placed.get(origin);
        if (same !== undefined) placed.set(rel, { ...same, path: rel });
      },
    });
    const keep = keptModeBits(options);
    const byDepth = [...dirModes.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [dir, m] of byDepth) await chmod(dir, (m & keep) | 0o700);
    // One durability barrier for the whole tree (instead of an fsync per file), before it becomes visible.
    await syncWritten(written, dirModes.keys(), options.signal ? { signal: options.signal } : {});
    await placeDirectory(tmp, dest, options.replaceExisting ?? true);
    const files = [...placed.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { path: dest, files, ...scanned };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof OrasError) throw err;
    if (options.signal?.aborted)
      throw new OrasError('ERR_ORAS_ABORTED', `extraction into ${dest} was aborted`, { cause: err });
    throw new OrasError('ERR_ORAS_IO', `cannot extract archive into ${dest}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check free space and permissions of the output directory',
    });
  }
}

function ignoreExisting(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EEXIST') throw err;
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
