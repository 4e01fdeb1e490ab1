import { posix } from 'node:path';
import { mapBounded } from '../../artifact/map-bounded.js';
import { isDigest } from '../../oci/digest.js';
import type { ProjectCache } from '../apply/cache/project-cache.js';
import type { DeferredLock } from '../spec/deferred-lock.js';
import { parseDependencyRef } from '../spec/dependency-ref.js';
import { dependencyEntryText, parseLockfileText } from '../spec/lockfile.js';
import { dependencyRoot } from '../spec/lock-format.js';
import type { LockedDependency, LockedFile, Lockfile } from '../types.js';
import { filesFor, recordedListings, type Sources } from './locked-files.js';

/**
 * The files of a lock read without its file lines (see `spec/deferred-lock.ts`), bound from the
 * cache: each deferred entry's files are what its locked manifest (from the cache) and its layers'
 * listings (recorded and verified, or derived from the cached layer blob) produce under its
 * specifier, exactly as {@link bindToManifest} computes them; the entry so completed is written as
 * the lock writer would write it and compared with the entry's text in the file. When every
 * deferred entry's text is equal and no path is listed twice, the lock is the one a full parse
 * would give, its deferred entries are marked bound in `sources` (the install does not bind them
 * again), and no file line was parsed: the produced files were checked instead (`filesFor`, then
 * {@link passesLockRules}: the full validation's rules for a lock's files).
 * Anything else (a manifest or listing not in the cache, a digest pin resolved through an index,
 * an entry whose text differs, a path twice) parses and validates the whole lock instead
 * (`parseLockfileText`: the same lock, errors and messages as without this step). Reads the cache
 * only, never the network.
 */
export async function settleDeferredLock(
  deferred: DeferredLock,
  sources: Sources,
  cache: ProjectCache,
  options: { concurrency: number; signal?: AbortSignal },
): Promise<Lockfile> {
  const names = [...deferred.entries.keys()];
  let settled = true;
  const completed = await mapBounded(names, options.concurrency, async (name) => {
    const dep = settled ? await completeEntry(name, deferred, sources, cache, options.signal) : undefined;
    if (dep === undefined) settled = false;
    return dep;
  });
  if (!settled) return parseLockfileText(deferred.text);
  const dependencies = { ...deferred.skeleton.dependencies };
  names.forEach((name, i) => (dependencies[name] = completed[i]!));
  if (listsAPathTwice(dependencies)) return parseLockfileText(deferred.text);
  for (const dep of completed) sources.markBound(dep!);
  return { ...deferred.skeleton, dependencies };
}

/** A deferred entry with the files its manifest produces, when its text in the lock is exactly that; else undefined. */
async function completeEntry(
  name: string,
  deferred: DeferredLock,
  sources: Sources,
  cache: ProjectCache,
  signal: AbortSignal | undefined,
): Promise<LockedDependency | undefined> {
  const dep = deferred.skeleton.dependencies[name];
  if (dep === undefined || !(await sources.isCached(dep.digest))) return undefined;
  const pin = parseDependencyRef(dep.specifier.ref);
  // A digest pin to an index locks the chosen manifest: bindToManifest checks it against the index.
  if (pin.kind === 'digest' && pin.digest !== dep.digest) return undefined;
  let produced;
  try {
    produced = await filesFor(name, dep.specifier, await sources.manifest(dep), cache, undefined, {
      offline: true,
      recorded: recordedListings(dep),
      checkIncludes: false,
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    // Not in the cache, or not usable from it: the full parse, and the install's own binding, decide.
    if (signal?.aborted === true) throw err;
    return undefined;
  }
  if (!passesLockRules(produced.files, dependencyRoot(dep.specifier.path))) return undefined;
  const complete: LockedDependency = { ...dep, files: produced.files, layers: produced.layers };
  return dependencyEntryText(name, complete, produced.written) === deferred.entries.get(name) ? complete : undefined;
}

/**
 * The full validation's rules for a lock's files that `filesFor` (its `assertProjectRelativePath`:
 * relative, normal form, no NUL or backslash, not in `.oras/`) does not apply itself: below the
 * dependency's path (so outside `.git/` and `.oras/` too, since that path was validated), the
 * schema's digest (`isDigest` accepts the same two forms), size and mode. A listing is
 * content-addressed, but one a lock names can be planted in a shared cache together with that
 * lock: its paths must still stay in the entry's directory.
 */
function passesLockRules(files: readonly LockedFile[], depRoot: string): boolean {
  const prefix = `${depRoot}/`;
  return files.every(
    (f) =>
      f.path.startsWith(prefix) &&
      isDigest(f.digest) &&
      Number.isSafeInteger(f.size) &&
      f.size >= 0 &&
      (f.mode === undefined || (Number.isInteger(f.mode) && f.mode >= 0 && f.mode <= 0o777)),
  );
}

/**
 * True when two files of the lock may have one path (the full validation's "also installed by"
 * issue), without hashing every path: within an entry files are sorted by path (so one listed
 * twice is not strictly after its neighbour), and every file lies below its entry's path (the
 * validation, or {@link passesLockRules}), so entries can only share a file when one's path is
 * the other's or below it; then every path is compared.
 */
function listsAPathTwice(dependencies: Record<string, LockedDependency>): boolean {
  const deps = Object.values(dependencies);
  const roots = new Set<string>();
  let overlap = false;
  for (const dep of deps) {
    const files = dep.files;
    for (let i = 1; i < files.length && !overlap; i++) overlap = !(files[i - 1]!.path < files[i]!.path);
    const root = dependencyRoot(dep.specifier.path);
    overlap ||= roots.has(root);
    roots.add(root);
  }
  overlap ||= [...roots].some((root) => {
    for (let d = posix.dirname(root); d !== '.' && d !== '/'; d = posix.dirname(d)) if (roots.has(d)) return true;
    return false;
  });
  if (!overlap) return false;
  const seen = new Set<string>();
  for (const dep of deps) {
    for (const f of dep.files) {
      if (seen.has(f.path)) return true;
      seen.add(f.path);
    }
  }
  return false;
}
