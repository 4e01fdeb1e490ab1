import {
  closeSync,
  constants as fsConstants,
  createReadStream,
  fstatSync,
  lstatSync,
  mkdirSync,
  fchmodSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
} from 'node:fs';
import { chmod, copyFile, link, lstat, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, posix, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ParentRoutes } from '../../artifact/parent-routes.js';
import { fsyncDir, removeTempFiles, tempPathFor, TEMP_MARKER, writeAllSync } from '../../content/fs-atomic.js';
import { OrasError } from '../../errors.js';
import { parseDigest, verifyContent, VerifyingStream } from '../../oci/digest.js';
import { digestFile } from '../../oci/hash-file.js';
import type { LinkMode as ConfigLinkMode } from '../spec/config.js';
import type { LinkMethod } from '../events.js';
import type { LockedFile } from '../types.js';
import {
  assertParentStillInside,
  assertParentStillInsideSync,
  hasOnlyNamedSegments,
} from '../../artifact/safe-path.js';

/**
 * How files of single-file layers get from the cache into the project (files
 * of directory layers are extracted from the cached layer blob, see
 * `layer-place.ts`).
 *
 * - `auto` (default): try a reflink (`COPYFILE_FICLONE_FORCE`: copy-on-write,
 *   instant, no extra space on btrfs/xfs/APFS), else a streaming verified copy.
 *   The project file is independent of the cache: editing it cannot corrupt
 *   the cache.
 * - `reflink`: same as `auto` (reflink when the file system supports it, else copy).
 * - `copy`: always a streaming verified copy.
 * - `hardlink`: link the cache blob into the project (no extra space, but the
 *   inode is shared: the cache blob is made read-only 0444, the file's `mode`
 *   is not applied, and an edit after a `chmod` would be visible in the cache
 *   and in every project linking it; a corrupted cache blob is detected by the
 *   post-link hash and removed). Opt-in only for these reasons.
 *
 * Every method lands the file through a `.<name>.oras-tmp-<hex>` temp in the target
 * directory, verified against the locked digest, then renamed.
 */
export type LinkMode = ConfigLinkMode;

function traversal(rel: string, problem: string): never {
  throw new OrasError(
    'ERR_ORAS_PATH_TRAVERSAL',
    `unsafe project path ${JSON.stringify(rel.slice(0, 200))}: ${problem}`,
    {
      hint: 'lockfile and state paths must be relative POSIX paths inside the project, outside .oras/',
    },
  );
}

/**
 * Validates a project-relative POSIX path: non-empty, relative, no `.`/`..`/empty
 * segments, no backslash or NUL, not under `.oras/`. Throws `ERR_ORAS_PATH_TRAVERSAL`.
 */
export function assertProjectRelativePath(rel: string): void {
  if (typeof rel !== 'string' || rel.length === 0 || rel.length > 4096) traversal(String(rel), 'empty or too long');
  if (rel.includes('\\') || rel.includes('\0')) traversal(rel, 'contains a backslash or NUL');
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) traversal(rel, 'is absolute');
  if (!hasOnlyNamedSegments(rel)) traversal(rel, 'has an empty, "." or ".." segment');
  if (rel === '.oras' || rel.startsWith('.oras/')) traversal(rel, 'is inside .oras/');
  // The marker has no '/': in the path exactly when in one of its segments.
  if (rel.includes(TEMP_MARKER)) traversal(rel, `uses the reserved ${TEMP_MARKER} marker`);
}

/** Whether `dir` can be joined to a validated relative path by concatenation (a POSIX, normalized, absolute path). */
let joinable: { dir: string; ok: boolean } = { dir: '', ok: false };

/** The absolute path of a validated project-relative path. */
export function projectPath(projectDir: string, rel: string): string {
  assertProjectRelativePath(rel);
  if (joinable.dir !== projectDir)
    joinable = {
      dir: projectDir,
      ok:
        sep === '/' &&
        projectDir.startsWith('/') &&
        (projectDir === '/' || !projectDir.endsWith('/')) &&
        posix.normalize(projectDir) === projectDir,
    };
  // `rel` has no empty, '.' or '..' segment and no backslash: join would only concatenate.
  if (joinable.ok) return projectDir === '/' ? `/${rel}` : `${projectDir}/${rel}`;
  return join(projectDir, ...rel.split('/'));
}

/**
 * True when no existing ancestor directory of `rel` (below the project root)
 * is a symlink or a non-directory. Missing ancestors are fine (they will be
 * created). Results per directory are memoized in `cache`.
 */
export async function dirHasNoSymlink(
  projectDir: string,
  rel: string,
  cache: Map<string, Promise<boolean>>,
): Promise<boolean> {
  const dir = posix.dirname(rel);
  if (dir === '.') return true;
  let p = cache.get(dir);
  if (p === undefined) {
    p = (async () => {
      if (!(await dirHasNoSymlink(projectDir, dir, cache))) return false;
      try {
        return (await lstat(join(projectDir, ...dir.split('/')))).isDirectory();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return true;
        if (code === 'ENOTDIR') return false;
        throw err;
      }
    })();
    cache.set(dir, p);
  }
  return p;
}

/**
 * Creates the parent directories of `rel` inside the project one component at
 * a time, never following a symlink: an existing component that is a symlink
 * or not a directory fails with `ERR_ORAS_PATH_TRAVERSAL`. With `memo` (one
 * map per run, under the project lock), each directory is created/checked once
 * per run instead of once per file below it.
 */
export async function ensureParentDirs(
  projectDir: string,
  rel: string,
  memo?: Map<string, Promise<void>>,
): Promise<void> {
  assertProjectRelativePath(rel);
  const parts = rel.split('/').slice(0, -1);
  let cur = projectDir;
  let relDir = '';
  for (const part of parts) {
    cur = join(cur, part);
    relDir = relDir === '' ? part : `${relDir}/${part}`;
    const dir = cur;
    // On this thread: once per directory and run, cheaper than two thread-pool round trips.
    const check = async (): Promise<void> => {
      try {
        mkdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const st = lstatSync(dir);
      if (!st.isDirectory())
        traversal(
          rel,
          `${dir
            .slice(projectDir.length + 1)
            .split(sep)
            .join('/')} is a symlink or not a directory`,
        );
    };
    if (memo === undefined) {
      await check();
      continue;
    }
    let p = memo.get(relDir);
    if (p === undefined) {
      p = check();
      memo.set(relDir, p);
    }
    await p;
  }
}

/**
 * Removes stale temp files left by an interrupted run in `dir` (missing dir is
 * fine). Only call while holding the project lock (no concurrent writer).
 * Returns how many were removed.
 */
export async function cleanStaleTemps(dir: string): Promise<number> {
  return removeTempFiles(dir, { minAgeMs: 0 });
}

/** fsyncs a directory (so renames into it are durable); best effort. */
export async function syncDir(dir: string): Promise<void> {
  await fsyncDir(dir);
}

async function fsyncFile(path: string, durable = true): Promise<void> {
  if (!durable) return;
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function verifyFile(path: string, file: LockedFile): Promise<void> {
  const { digest, size } = await digestFile(path, { algorithm: parseDigest(file.digest).algorithm });
  if (size !== file.size || digest !== file.digest) {
    throw new OrasError(
      'ERR_ORAS_DIGEST_MISMATCH',
      `cached content for ${file.path} does not match ${file.digest} (got ${digest}, ${size} bytes)`,
      {
        hint: 'the cache entry is corrupt; it was removed, run install again',
      },
    );
  }
}

async function streamCopy(
  src: string,
  tmp: string,
  file: LockedFile,
  durable: boolean,
  signal?: AbortSignal,
): Promise<void> {
  const fh = await open(tmp, 'wx', file.mode === 0o755 ? 0o755 : 0o644);
  try {
    // Written with fh.write (not a FileHandle write stream, whose reference would keep fh.close() pending).
    await pipeline(
      createReadStream(src, { highWaterMark: 1 << 20 }),
      new VerifyingStream({ digest: file.digest, size: file.size }, { what: `cached content for ${file.path}` }),
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) await fh.write(chunk);
      },
      ...(signal !== undefined ? [{ signal }] : []),
    );
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
}

/** What {@link materializeFile} did. */
export interface MaterializeResult {
  method: LinkMethod;
  size: number;
  mtimeMs: number;
  ino: number;
}

/**
 * Per-run state shared by the {@link materializeFile} calls of one install
 * (create with {@link newMaterializeContext}; only under the project lock):
 * which project directories were already created and checked, and whether the
 * file system refused a reflink (then later files go straight to a copy
 * instead of failing a reflink attempt each).
 */
export interface MaterializeContext {
  dirs: Map<string, Promise<void>>;
  reflink: boolean;
  /** Stops a streaming copy mid-file (its temp is removed; the destination is untouched). */
  signal?: AbortSignal;
  /**
   * `true` (default): every file is fsynced before its rename. `false`: no
   * per-file fsync; the caller makes the whole batch durable at once (see
   * `syncWritten`) after durably marking the run as in progress (`reify` does).
   */
  durable: boolean;
  /**
   * Descriptors of the parent directories small files are placed into (see parent-routes.ts);
   * absent: by path after a check. The owner closes it.
   */
  routes?: ParentRoutes;
}

/** A fresh {@link MaterializeContext} (reflinks not yet ruled out; `durable` default true). */
export function newMaterializeContext(options: { durable?: boolean } = {}): MaterializeContext {
  return { dirs: new Map(), reflink: true, durable: options.durable ?? true };
}

/** Files up to this size (1 MiB) are copied with one read and one write, verified in memory. */
export const SMALL_FILE_BYTES = 1024 * 1024;

/** Reads a small cache file in one go (its size must be the locked size) and verifies it in memory. */
function readSmallVerified(src: string, file: LockedFile): Buffer {
  const what = `cached content for ${file.path}`;
  let data: Buffer;
  // The cache side is read synchronously: ≤ 1 MiB from a local cache file, where four
  // thread-pool round trips (open, fstat, read, close) cost more CPU than the reads themselves
  // (measured: warm install of 500 files). The project side below stays asynchronous (its fsync
  // can be slow on real disks and runs in parallel across files).
  const rfd = openSync(src, 'r');
  try {
    const { size } = fstatSync(rfd);
    if (size !== file.size) {
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `${what} size ${size} does not match expected ${file.size} (${file.digest})`,
        {
          hint: 'the cache entry is corrupt; it was removed, run install again',
        },
      );
    }
    data = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const bytesRead = readSync(rfd, data, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    if (off !== size)
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `${what} size ${off} does not match expected ${file.size} (${file.digest})`,
        { hint: 'the cache entry is corrupt; it was removed, run install again' },
      );
  } finally {
    closeSync(rfd);
  }
  verifyContent(data, { digest: file.digest, size: file.size }, what);
  return data;
}

/** The stat of a placed file that the state records (size, mtime and inode survive the rename). */
export interface Placed {
  size: number;
  mtimeMs: number;
  ino: number;
}

/**
 * Copies a small cache file: one read (its size must be the locked size),
 * verified in memory against the locked digest, then one write to the new
 * temp, `fchmod` (only when the umask changed the mode), `fsync`. Returns the temp's stat (size, mtime, inode survive the rename).
 */
async function smallCopy(src: string, tmp: string, file: LockedFile): Promise<Placed> {
  const data = readSmallVerified(src, file);
  const mode = file.mode === 0o755 ? 0o755 : 0o644;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    const st = await fh.stat();
    // open() applied `mode` minus the umask: chmod only when the umask took bits away.
    if ((st.mode & 0o7777) !== mode) await fh.chmod(mode);
    await fh.sync();
    return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
  } finally {
    await fh.close();
  }
}

/**
 * The non-durable small-file path (no fsync: the caller syncs the batch):
 * read + verify, then {@link writeVerifiedSync}.
 */
function smallPlaceSync(
  projectDir: string,
  src: string,
  tmp: string,
  dest: string,
  file: LockedFile,
  routes: ParentRoutes | undefined,
): Placed {
  return writeVerifiedSync(projectDir, tmp, dest, readSmallVerified(src, file), file, routes);
}

/**
 * Places bytes already verified against `file` at `dest` (inside `projectDir`)
 * without fsync (the caller syncs the batch): the parent is re-verified, then
 * temp open (O_EXCL|O_NOFOLLOW) / write / fstat / (fchmod, only when the umask
 * took bits away from 0644 or 0755) / close / rename, all synchronous.
 * Without an fsync each of these is a page-cache operation of a few
 * microseconds, where a thread-pool round trip costs several times the call
 * itself; a 1 MiB write blocks the event loop for well under a millisecond.
 * Only for data up to {@link SMALL_FILE_BYTES}. A failure leaves no temp.
 */
export function writeVerifiedSync(
  projectDir: string,
  tmp: string,
  dest: string,
  data: Uint8Array,
  file: LockedFile,
  routes?: ParentRoutes,
): Placed {
  // The parent is re-verified now, with no event-loop turn until the rename (a directory swapped
  // for a symlink since ensureParentDirs' per-run check is refused before anything is created).
  // With a route (Linux), the create and the rename go through a descriptor of that very
  // directory, so a swap after the check cannot redirect them (see parent-routes.ts).
  const via = dirname(tmp) === dirname(dest) ? routes?.route(projectDir, dest) : undefined;
  if (via === undefined) assertParentStillInsideSync(projectDir, dest);
  const [from, to] = via === undefined ? [tmp, dest] : [`${via}/${basename(tmp)}`, `${via}/${basename(dest)}`];
  const st = writeNewFileSync(from, data, file);
  try {
    renameSync(from, to);
  } catch (err) {
    try {
      unlinkSync(from);
    } catch {
      // already gone
    }
    throw err;
  }
  return st;
}

/**
 * Creates `path` (which must not exist: O_CREAT|O_EXCL|O_NOFOLLOW, so a planted file or symlink
 * fails the open) with `data`, mode 0644 or 0755 as `file.mode` asks (`fchmod` only when the umask
 * took bits away), synchronously and without fsync. A failure after the open removes the file.
 */
export function writeNewFileSync(path: string, data: Uint8Array, file: LockedFile): Placed {
  const mode = file.mode === 0o755 ? 0o755 : 0o644;
  const fd = openSync(
    path,
    fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
    mode,
  );
  let st;
  try {
    try {
      writeAllSync(fd, data);
      st = fstatSync(fd);
      if ((st.mode & 0o7777) !== mode) fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    try {
      unlinkSync(path);
    } catch {
      // never created
    }
    throw err;
  }
  return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

/**
 * Puts verified content from `src` (a cache file) at project path `file.path`:
 * parent directories are created without following symlinks, the content is
 * written to a `.<name>.oras-tmp-<hex>` sibling, verified against `file.digest`/`size`,
 * chmod'ed (0644, or 0755 for `mode: 0o755`), fsynced (unless
 * `ctx.durable` is false: then the caller syncs the batch) and renamed over the
 * destination. Files up to {@link SMALL_FILE_BYTES} that are not reflinked
 * are read once and verified in memory before the single write. The
 * directory fsync is left to the caller (`reify` syncs each
 * touched directory once per batch). On a digest mismatch the temp is removed, `src` is deleted
 * (corrupt cache entry) and `ERR_ORAS_DIGEST_MISMATCH` is thrown. Returns the
 * final stat for the state record (with `hardlink`, the shared cache inode).
 * `ctx` (default: a fresh one) shares per-run knowledge between calls, see
 * {@link MaterializeContext}.
 */
export async function materializeFile(
  projectDir: string,
  src: string,
  file: LockedFile,
  mode: LinkMode = 'auto',
  ctx: MaterializeContext = newMaterializeContext(),
): Promise<MaterializeResult> {
  await ensureParentDirs(projectDir, file.path, ctx.dirs);
  const dest = projectPath(projectDir, file.path);
  const tmp = tempPathFor(dest);
  let method: LinkMethod = 'copy';
  let st: Placed | undefined;
  try {
    if (!ctx.durable && mode !== 'hardlink' && !(ctx.reflink && mode !== 'copy') && file.size <= SMALL_FILE_BYTES) {
      st = smallPlaceSync(projectDir, src, tmp, dest, file, ctx.routes);
      return { method: 'copy', ...st };
    }
    if (mode === 'hardlink') {
      await chmod(src, 0o444);
      await link(src, tmp);
      method = 'hardlink';
      await verifyFile(tmp, file);
    } else {
      let cloned = false;
      if ((mode === 'auto' || mode === 'reflink') && ctx.reflink) {
        try {
          await copyFile(src, tmp, fsConstants.COPYFILE_FICLONE_FORCE | fsConstants.COPYFILE_EXCL);
          cloned = true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
          if (
            ['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'ENOSYS', 'ENOTTY', 'EINVAL'].includes(
              (err as NodeJS.ErrnoException).code ?? '',
            )
          )
            ctx.reflink = false;
          await unlink(tmp).catch(() => undefined);
        }
      }
      if (cloned) {
        method = 'reflink';
        await verifyFile(tmp, file);
        await chmod(tmp, file.mode === 0o755 ? 0o755 : 0o644);
        await fsyncFile(tmp, ctx.durable);
      } else if (file.size <= SMALL_FILE_BYTES) {
        // One read, verified in memory (size + digest), one write, fsynced.
        st = ctx.durable
          ? await smallCopy(src, tmp, file)
          : smallPlaceSync(projectDir, src, tmp, dest, file, ctx.routes);
        if (!ctx.durable) return { method, ...st };
      } else {
        // Streaming copy, verified on the fly (size + digest), fsynced.
        await streamCopy(src, tmp, file, ctx.durable, ctx.signal);
        await chmod(tmp, file.mode === 0o755 ? 0o755 : 0o644);
      }
    }
    await assertParentStillInside(projectDir, dest); // a parent swapped for a symlink since ensureParentDirs
    await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    if (
      err instanceof OrasError &&
      (err.code === 'ERR_ORAS_DIGEST_MISMATCH' || err.code === 'ERR_ORAS_SIZE_MISMATCH')
    ) {
      await unlink(src).catch(() => undefined);
    }
    throw err;
  }
  st ??= await lstat(dest);
  return { method, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}
