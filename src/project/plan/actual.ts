import { lstatSync } from 'node:fs';
import { join, posix } from 'node:path';
import { isOrasError, OrasError } from '../../errors.js';
import { digestFile, digestSmallFileSync, SMALL_DIGEST_BYTES } from '../../oci/hash-file.js';
import { parseDigest, type DigestAlgorithm } from '../../oci/digest.js';
import { emit, type ProjectListener } from '../events.js';
import { projectPath } from '../apply/materialize.js';
import type { InstallState, InstalledFile, LockedFile, Lockfile } from '../types.js';

/**
 * What is on disk at one path of interest: a path we recorded in
 * `.oras/state.json`, or a path the lockfile wants to write.
 */
export interface ActualEntry {
  path: string;
  /** Our record, when we installed this path. */
  installed?: InstalledFile;
  /** `absent`: nothing there; `file`: a regular file; `other`: a directory, symlink, device… (or a symlinked parent). */
  status: 'absent' | 'file' | 'other';
  /** Digest of the current content, when known (trusted record or rehashed). Absent when it cannot match anything we care about. */
  digest?: string;
  /** Current stat (regular files only). */
  size?: number;
  mtimeMs?: number;
  ino?: number;
  /** True when the content was rehashed in this run (stat record did not match, or `verify`). */
  rehashed: boolean;
}

/** The actual tree: every path of interest, keyed by project-relative POSIX path. */
export interface ActualTree {
  files: Record<string, ActualEntry>;
}

/** Options for {@link loadActual}. */
export interface LoadActualOptions {
  /** Rehash every file, ignoring stat records (default false). */
  verify?: boolean;
  /** The ideal tree: lock paths not in the state are probed too (for adoption / untracked conflicts). */
  ideal?: Lockfile;
  /** Concurrent file hashes (default 8). */
  concurrency?: number;
  onEvent?: ProjectListener;
}

/**
 * Maps `items` through `fn` with at most `concurrency` calls in flight (a
 * fixed pool of workers: cheaper than one queued promise per item for large
 * trees). Results keep the input order; the first rejection rejects.
 */
export async function mapPool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return out;
}

/** Every locked file of a lockfile, keyed by path, with its dependency name. */
export function lockedFiles(lock: Lockfile): Map<string, { file: LockedFile; dependency: string }> {
  const out = new Map<string, { file: LockedFile; dependency: string }>();
  for (const name of Object.keys(lock.dependencies).sort()) {
    for (const file of lock.dependencies[name]!.files) out.set(file.path, { file, dependency: name });
  }
  return out;
}

/**
 * Observes the project tree. For each recorded file, `lstat` it: when size,
 * mtimeMs and inode equal the record, the recorded digest is trusted without
 * reading the file (this makes a no-op install of 10,000 files cheap);
 * otherwise (or with `verify`) the file is rehashed by streaming and a
 * `rehash` event is emitted. Lock paths we did not record are probed too, and
 * hashed only when their size equals the locked size (so a crash-interrupted
 * install can adopt them). Reads only; never writes. Stats are taken
 * synchronously in one pass (cheap metadata calls); files up to 64 KiB are hashed
 * synchronously too, larger ones streamed with bounded concurrency (`concurrency`, default 8).
 */
export async function loadActual(
  projectDir: string,
  state: InstallState,
  options: LoadActualOptions = {},
): Promise<ActualTree> {
  const wanted =
    options.ideal !== undefined
      ? lockedFiles(options.ideal)
      : new Map<string, { file: LockedFile; dependency: string }>();
  const paths = [...new Set([...Object.keys(state.files), ...wanted.keys()])].sort();
  const dirChecks = new Map<string, boolean>();
  const absentDirs = new Set<string>();
  const files: Record<string, ActualEntry> = {};
  const toHash: { entry: ActualEntry; abs: string; algorithm: DigestAlgorithm }[] = [];
  // Phase 1, synchronous: lstat is metadata-only and ~10x cheaper without the
  // thread-pool round trip, which is what makes a no-op over 10,000 files fast.
  for (const path of paths) {
    const installed = state.files[path];
    const want = wanted.get(path)?.file;
    const base: ActualEntry =
      installed !== undefined
        ? { path, installed, status: 'absent', rehashed: false }
        : { path, status: 'absent', rehashed: false };
    let abs: string;
    try {
      abs = projectPath(projectDir, path);
    } catch (err) {
      if (err instanceof OrasError && want === undefined) {
        files[path] = { ...base, status: 'other' };
        continue;
      }
      throw err;
    }
    if (!dirHasNoSymlinkSync(projectDir, path, dirChecks, absentDirs)) {
      files[path] = { ...base, status: 'other' };
      continue;
    }
    if (absentDirs.has(posix.dirname(path))) {
      // Its directory is missing (a new project, a new dependency): no `lstat` per file.
      files[path] = base;
      continue;
    }
    let st;
    try {
      st = lstatSync(abs, { throwIfNoEntry: false });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR')
        throw new OrasError('ERR_ORAS_IO', `cannot stat ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (st === undefined) {
      files[path] = base;
      continue;
    }
    if (!st.isFile()) {
      files[path] = { ...base, status: 'other' };
      continue;
    }
    const entry: ActualEntry = { ...base, status: 'file', size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    files[path] = entry;
    if (
      installed !== undefined &&
      options.verify !== true &&
      st.size === installed.size &&
      st.mtimeMs === installed.mtimeMs &&
      st.ino === installed.ino
    ) {
      entry.digest = installed.digest;
      continue;
    }
    // Hash only when the content could equal something we compare it to.
    const size = st.size;
    const candidates = [installed, want].filter((x): x is InstalledFile | LockedFile => x !== undefined);
    const worthHashing = options.verify === true ? candidates.length > 0 : candidates.some((c) => c.size === size);
    if (worthHashing) toHash.push({ entry, abs, algorithm: parseDigest((want ?? installed)!.digest).algorithm });
  }
  // Phase 2: hash what needs it: files up to 64 KiB synchronously, larger ones streamed, bounded.
  let hashed = 0;
  await mapPool(toHash, options.concurrency ?? 8, async ({ entry, abs, algorithm }) => {
    emit(options.onEvent, { type: 'rehash', path: entry.path });
    // Synchronous hashes never leave the microtask queue: let timers and signals run now and then.
    if (++hashed % 256 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      // 10,000 files of 1 KiB: `oras verify` 1.8 -> 0.8 s (no thread-pool round trips per file).
      const small = entry.size !== undefined && entry.size <= SMALL_DIGEST_BYTES;
      const { digest } =
        (small ? digestSmallFileSync(abs, algorithm) : undefined) ?? (await digestFile(abs, { algorithm }));
      entry.digest = digest;
      entry.rehashed = true;
    } catch (err) {
      // digestFile wraps system errors as ERR_ORAS_IO and keeps the errno on `cause`.
      if (((isOrasError(err) ? err.cause : err) as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
        files[entry.path] = {
          path: entry.path,
          ...(entry.installed !== undefined ? { installed: entry.installed } : {}),
          status: 'absent',
          rehashed: false,
        };
        return;
      }
      throw new OrasError('ERR_ORAS_IO', `cannot read ${entry.path}: ${(err as Error).message}`, { cause: err });
    }
  });
  return { files };
}

/**
 * Sync, memoized in `cache` (per directory): no existing ancestor of `rel` below the project root
 * is a symlink or non-directory. With `absent`, directories found missing are added to it (a
 * directory under a missing one is missing too, without an `lstat`), so a caller can skip the
 * files under them.
 */
export function dirHasNoSymlinkSync(
  projectDir: string,
  rel: string,
  cache: Map<string, boolean>,
  absent?: Set<string>,
): boolean {
  const dir = posix.dirname(rel);
  if (dir === '.') return true;
  let ok = cache.get(dir);
  if (ok === undefined) {
    ok = dirHasNoSymlinkSync(projectDir, dir, cache, absent);
    if (ok && absent?.has(posix.dirname(dir)) === true) absent.add(dir);
    else if (ok) {
      try {
        const st = lstatSync(join(projectDir, ...dir.split('/')), { throwIfNoEntry: false });
        ok = st === undefined || st.isDirectory();
        if (st === undefined) absent?.add(dir);
      } catch {
        ok = false; // ENOTDIR: a parent is a file
      }
    }
    cache.set(dir, ok);
  }
  return ok;
}
