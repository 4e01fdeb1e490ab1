import { realpathSync } from 'node:fs';
import { lstat, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { OrasError } from '../errors.js';

/**
 * Path confinement for everything that turns an untrusted name (a layer
 * title, a tar entry name, a symlink target) into a file-system path.
 */

const TRAVERSAL_HINT =
  'the artifact tries to write outside the output directory; if you trust it, pass --allow-path-traversal (allowPathTraversal)';

function refuse(title: string, problem: string, hint = TRAVERSAL_HINT): never {
  throw new OrasError('ERR_ORAS_PATH_TRAVERSAL', `refusing path ${JSON.stringify(title.slice(0, 200))}: ${problem}`, {
    hint,
  });
}

/** Options for {@link resolveInside} and {@link normalizeRelativePath}. */
export interface ResolveInsideOptions {
  /**
   * Skip the confinement checks (`..`, absolute paths, drive letters): the
   * title is resolved against `root` as the OS would. NUL bytes and empty
   * titles are refused regardless. Default `false`.
   */
  allowTraversal?: boolean;
}

/**
 * True when `p` is a non-empty run of names separated by single `/`: no
 * empty, `.` or `..` segment (so no leading, trailing or doubled `/`). Such a
 * path is its own POSIX normal form. One pass, no allocation: this runs
 * several times per file of an install.
 */
export function hasOnlyNamedSegments(p: string): boolean {
  for (let start = 0; start <= p.length;) {
    let end = p.indexOf('/', start);
    if (end < 0) end = p.length;
    const n = end - start;
    if (n === 0 || (p.charCodeAt(start) === 0x2e && (n === 1 || (n === 2 && p.charCodeAt(start + 1) === 0x2e))))
      return false;
    start = end + 1;
  }
  return true;
}

/**
 * `path.posix.join(base, rel)`, without its normalize pass when both are
 * already in normal form ({@link hasOnlyNamedSegments}; `base` `''` or `.`
 * = none), which is how every path of a validated lock or listing is
 * written. Same result as `posix.join` for every input (anything else takes
 * `posix.join`); it runs once or twice per file of an install.
 */
export function joinRelative(base: string, rel: string): string {
  if (hasOnlyNamedSegments(rel)) {
    if (base === '' || base === '.') return rel;
    if (hasOnlyNamedSegments(base)) return `${base}/${rel}`;
  }
  return path.posix.join(base, rel);
}

/**
 * Validates an untrusted relative name and returns it normalized to POSIX
 * form (`a/b/c`: no `.` segments, no duplicate or trailing slashes, no
 * leading `./`). Refuses with `ERR_ORAS_PATH_TRAVERSAL`: empty names and
 * names that normalize to nothing (`.`, `./`), NUL bytes, `..` segments,
 * absolute paths (`/x`), backslashes (`\x`, `C:..\x`, `\\server`) and
 * Windows drive letters (`C:x`).
 */
export function normalizeRelativePath(title: string): string {
  if (typeof title !== 'string' || title.length === 0)
    refuse(String(title), 'empty name', 'every written path needs a non-empty relative name');
  if (title.includes('\0')) refuse(title, 'contains a NUL byte');
  if (title.includes('\\')) refuse(title, 'contains a backslash (Windows path separator)');
  if (/^[A-Za-z]:/.test(title)) refuse(title, 'starts with a Windows drive letter');
  if (title.startsWith('/')) refuse(title, 'is an absolute path');
  if (hasOnlyNamedSegments(title)) return title;
  const parts: string[] = [];
  for (const seg of title.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') refuse(title, 'contains a ".." segment');
    parts.push(seg);
  }
  if (parts.length === 0)
    refuse(title, 'names the output directory itself', 'give the file or directory a name (title) other than "."');
  return parts.join('/');
}

/**
 * Resolves an untrusted relative `title` inside `root` and returns the
 * absolute path. Applies {@link normalizeRelativePath} (unless
 * `allowTraversal`), then double-checks that the result is strictly below
 * `root`. Does not touch the file system: pair it with
 * {@link assertNoSymlinkEscape} before writing.
 */
export function resolveInside(root: string, title: string, options: ResolveInsideOptions = {}): string {
  const absRoot = path.resolve(root);
  if (options.allowTraversal === true) {
    if (typeof title !== 'string' || title.length === 0 || title === '.')
      refuse(String(title), 'empty name', 'every written path needs a non-empty name');
    if (title.includes('\0')) refuse(title, 'contains a NUL byte');
    return path.resolve(absRoot, title);
  }
  const rel = normalizeRelativePath(title);
  const abs = path.resolve(absRoot, ...rel.split('/'));
  const back = path.relative(absRoot, abs);
  if (back === '' || back === '..' || back.startsWith(`..${path.sep}`) || path.isAbsolute(back))
    refuse(title, 'resolves outside the output directory');
  return abs;
}

/** True when `child` is `parent` or below it (both absolute, already resolved). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

/**
 * Symlink-aware confinement check before writing `absPath` (which must be
 * below `root`). Walks every existing component from `root` down to and
 * including `absPath` with `lstat`; stops at the first component that does
 * not exist. Policy: a symlink *inside* root is allowed when its fully
 * resolved target (`realpath`) stays inside `realpath(root)`; a symlink that
 * resolves outside root, or that dangles, is refused with
 * `ERR_ORAS_PATH_TRAVERSAL`. Paths that are not below `root` (only possible
 * with `allowTraversal`) are not checked.
 */
export async function assertNoSymlinkEscape(root: string, absPath: string): Promise<void> {
  const absRoot = path.resolve(root);
  const target = path.resolve(absPath);
  if (!isInside(absRoot, target) || target === absRoot) return;
  let realRoot: string;
  try {
    realRoot = await realpath(absRoot);
  } catch {
    return; // root does not exist yet: nothing below it exists either
  }
  const parts = path.relative(absRoot, target).split(path.sep);
  let current = absRoot;
  for (const part of parts) {
    current = path.join(current, part);
    let st;
    try {
      st = await lstat(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new OrasError('ERR_ORAS_IO', `cannot inspect ${current}: ${(err as Error).message}`, { cause: err });
    }
    if (!st.isSymbolicLink()) continue;
    let resolved: string;
    try {
      resolved = await realpath(current);
    } catch {
      const link = await readlink(current).catch(() => '?');
      refuse(
        path.relative(absRoot, target),
        `path component ${JSON.stringify(path.relative(absRoot, current))} is a dangling symlink (-> ${JSON.stringify(link)})`,
        'remove the symlink from the output directory, or pull into an empty directory',
      );
    }
    if (!isInside(realRoot, resolved)) {
      refuse(
        path.relative(absRoot, target),
        `path component ${JSON.stringify(path.relative(absRoot, current))} is a symlink that points outside the output directory`,
        'remove the symlink from the output directory, or pull into an empty directory',
      );
    }
  }
}

/**
 * {@link assertNoSymlinkEscape} for many writes below one `root` within one
 * operation (e.g. one pull), with the directory part of the walk cached:
 * once every component of a directory exists and was found free of escaping
 * symlinks, later writes into that directory only `lstat` their own final
 * component. Same policy as {@link assertNoSymlinkEscape} (a symlink inside
 * root is allowed only when it resolves inside `realpath(root)`; dangling or
 * escaping links are refused with `ERR_ORAS_PATH_TRAVERSAL`); a directory
 * whose walk stopped at a missing component is not cached and is walked
 * again next time. Create one guard per operation: the cache assumes the
 * verified directories are not swapped for symlinks while the operation
 * runs (the same time-of-check/time-of-use assumption the uncached check
 * makes for the span between its walk and the write).
 */
export class SymlinkEscapeGuard {
  private readonly root: string;
  private realRoot: string | undefined;
  private readonly verified = new Map<string, Promise<boolean>>();

  /** `root`: the directory writes must stay in (resolved with `path.resolve`). */
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private async resolvedRoot(): Promise<string | undefined> {
    if (this.realRoot === undefined) {
      try {
        this.realRoot = await realpath(this.root);
      } catch {
        return undefined; // root does not exist yet: nothing below it exists either
      }
    }
    return this.realRoot;
  }

  /**
   * Checks one existing-or-not component (`current`, below root) for an
   * escaping symlink. Returns false when it does not exist.
   */
  private async checkComponent(realRoot: string, target: string, current: string): Promise<boolean> {
    let st;
    try {
      st = await lstat(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new OrasError('ERR_ORAS_IO', `cannot inspect ${current}: ${(err as Error).message}`, { cause: err });
    }
    if (!st.isSymbolicLink()) return true;
    let resolved: string;
    try {
      resolved = await realpath(current);
    } catch {
      const link = await readlink(current).catch(() => '?');
      refuse(
        path.relative(this.root, target),
        `path component ${JSON.stringify(path.relative(this.root, current))} is a dangling symlink (-> ${JSON.stringify(link)})`,
        'remove the symlink from the output directory, or pull into an empty directory',
      );
    }
    if (!isInside(realRoot, resolved)) {
      refuse(
        path.relative(this.root, target),
        `path component ${JSON.stringify(path.relative(this.root, current))} is a symlink that points outside the output directory`,
        'remove the symlink from the output directory, or pull into an empty directory',
      );
    }
    return true;
  }

  /** Walks `dir` (below root) component by component; true when every component exists (and none escapes). */
  private async walkDir(realRoot: string, dir: string, target: string): Promise<boolean> {
    const parent = path.dirname(dir);
    if (parent !== this.root && isInside(this.root, parent)) {
      if (!(await this.checkDirCached(realRoot, parent, target))) return false;
    }
    return await this.checkComponent(realRoot, target, dir);
  }

  private async checkDirCached(realRoot: string, dir: string, target: string): Promise<boolean> {
    let p = this.verified.get(dir);
    if (p === undefined) {
      p = this.walkDir(realRoot, dir, target);
      this.verified.set(dir, p);
      p.then(
        (complete) => {
          if (!complete) this.verified.delete(dir);
        },
        () => this.verified.delete(dir),
      );
    }
    return await p;
  }

  /**
   * Checks the directories above `absPath` (cached) and, unless `dirOnly`,
   * `absPath` itself (never cached). Resolves with whether `absPath` exists
   * (lstat; `false` with `dirOnly` or when a directory above it is missing).
   * Paths not strictly below root are not checked (resolves `false`).
   */
  async check(absPath: string, options: { dirOnly?: boolean } = {}): Promise<boolean> {
    const target = path.resolve(absPath);
    if (!isInside(this.root, target) || target === this.root) return false;
    const realRoot = await this.resolvedRoot();
    if (realRoot === undefined) return false;
    const dir = path.dirname(target);
    if (dir !== this.root && !(await this.checkDirCached(realRoot, dir, target))) return false;
    if (options.dirOnly === true) return false;
    return await this.checkComponent(realRoot, target, target);
  }
}

/** Real paths of write roots (bounded): a root does not move during an operation. */
const realRoots = new Map<string, string>();

/** Remembers `realRoot` as the real path of `absRoot` in {@link realRoots}. */
function rememberRealRoot(absRoot: string, realRoot: string): string {
  if (realRoots.size >= 64) realRoots.clear();
  realRoots.set(absRoot, realRoot);
  return realRoot;
}

/**
 * Re-verifies, right before a write or a rename into `dirname(absPath)`, that
 * this directory still resolves (`fs.promises.realpath`: one native realpath(3) call) to a place
 * inside `realpath(root)`: a parent directory swapped for a symlink after the
 * per-operation checks ({@link SymlinkEscapeGuard}, `ensureParentDirs`) is
 * refused with `ERR_ORAS_PATH_TRAVERSAL` instead of letting the file land
 * outside. A parent that vanished is refused too. Paths not below `root`
 * (only with `allowTraversal`) are not checked. Node has no `renameat`, so a
 * swap in the instant between this check and the rename stays possible: the
 * window is one system call wide and hits at most that one file.
 */
export async function assertParentStillInside(root: string, absPath: string): Promise<void> {
  const absRoot = path.resolve(root);
  const dir = path.dirname(path.resolve(absPath));
  if (!isInside(absRoot, dir)) return;
  const realRoot = realRoots.get(absRoot) ?? rememberRealRoot(absRoot, await realpath(absRoot));
  let actual: string;
  try {
    actual = await realpath(dir);
  } catch (err) {
    parentUnresolvable(absRoot, absPath, err);
  }
  if (!isInside(realRoot, actual)) parentEscaped(absRoot, absPath);
}

/** The real path of write root `root` (`realpathSync.native`, cached like {@link assertParentStillInsideSync}'s). */
export function realRootSync(root: string): string {
  const absRoot = path.resolve(root);
  return realRoots.get(absRoot) ?? rememberRealRoot(absRoot, realpathSync.native(absRoot));
}

/**
 * {@link assertParentStillInside} for synchronous write paths (one
 * `realpathSync.native` of the parent, the root's real path cached per root):
 * called right before a synchronous open-write-rename sequence, it leaves no
 * event-loop turn between the check and the writes.
 */
export function assertParentStillInsideSync(root: string, absPath: string): void {
  const absRoot = path.resolve(root);
  const dir = path.dirname(path.resolve(absPath));
  if (!isInside(absRoot, dir)) return;
  const realRoot = realRootSync(absRoot);
  let actual: string;
  try {
    actual = realpathSync.native(dir);
  } catch (err) {
    parentUnresolvable(absRoot, absPath, err);
  }
  if (!isInside(realRoot, actual)) parentEscaped(absRoot, absPath);
}

function parentUnresolvable(absRoot: string, absPath: string, err: unknown): never {
  refuse(
    path.relative(absRoot, absPath),
    `its parent directory cannot be resolved any more (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    'something changed the output directory while writing; retry',
  );
}

function parentEscaped(absRoot: string, absPath: string): never {
  refuse(
    path.relative(absRoot, absPath),
    'a parent directory was replaced by a symlink that points outside the output directory while writing',
    'something changed the output directory while writing (a swapped parent directory); nothing was written there',
  );
}
