import { join, posix } from 'node:path';
import pLimit from 'p-limit';
import { readFile } from 'node:fs/promises';
import { isOrasError, OrasError } from '../../errors.js';
import { parseReference, type Reference } from '../../oci/reference.js';
import type { ProjectCache } from '../apply/cache/project-cache.js';
import { keepConfig } from '../apply/cache/index-records.js';
import { mapBounded } from '../../artifact/map-bounded.js';
import { settleAll } from '../../content/settle-all.js';
import { bindToManifest, filesFor, sameLayers, type Sources } from './locked-files.js';
import { LOCK_MISMATCH_HINT } from '../spec/lock-binding.js';
import { repositoryOf } from '../spec/dependency-ref.js';
import { emit, type ProjectListener } from '../events.js';
import type { InstallOptions } from '../install.js';
import { LOCKFILE_NAME, readLockfileDeferred } from '../spec/lockfile.js';
import type { DeferredLock } from '../spec/deferred-lock.js';
import { resolveAll, type ResolvedDependency, type ResolveTarget } from './resolve.js';
import {
  LOCKFILE_VERSION,
  type FileStamp,
  type LockedDependency,
  type Lockfile,
  type ProjectManifest,
} from '../types.js';

/**
 * The new lock of a full install, computed in memory (moved out of `install-full.ts`): the lock
 * as found (merged by entry when it holds git conflict markers), resolution of what is missing,
 * unsatisfied or updated, binding of kept entries to their locked manifests, overlap checks.
 */

/** Refuses two dependencies writing the same path, or a file where another needs a directory. */
export function checkOverlaps(lock: Lockfile): void {
  const owner = new Map<string, string>();
  for (const [name, dep] of Object.entries(lock.dependencies)) {
    for (const f of dep.files) {
      const other = owner.get(f.path);
      if (other !== undefined && other !== name) {
        throw new OrasError('ERR_ORAS_USAGE', `dependencies '${other}' and '${name}' both install ${f.path}`, {
          hint: 'give them different `path`s, or narrow them with include/exclude',
        });
      }
      owner.set(f.path, name);
    }
  }
  // A directory already walked was checked with all its parents: stop there (one step per file, not one per level).
  const walked = new Set<string>();
  for (const path of owner.keys()) {
    for (let d = posix.dirname(path); d !== '.' && !walked.has(d); d = posix.dirname(d)) {
      walked.add(d);
      if (owner.has(d))
        throw new OrasError(
          'ERR_ORAS_USAGE',
          `${d} is installed as a file by '${owner.get(d)}' but is a directory for ${path} ('${owner.get(path)}')`,
          { hint: 'give the dependencies different `path`s' },
        );
    }
  }
}

/**
 * artifacts.lock as found: parsed; or `deferred` (and `lock` undefined) when it is in the lock
 * writer's form, its unpacked layers' file lines unread until `settleDeferredLock` binds them from
 * the cache; or — when it holds git conflict markers — merged entry by entry (`spec/lock-merge.ts`;
 * then `merged`, to be rewritten). With `frozen` a conflicted lock is `ERR_ORAS_FROZEN_LOCKFILE`
 * naming the file and the fix.
 */
export async function readOldLock(
  projectDir: string,
  frozen: boolean,
  onEvent: ProjectListener | undefined,
): Promise<{ lock: Lockfile | undefined; deferred?: DeferredLock; stamp: FileStamp | null; merged: boolean }> {
  try {
    const read = await readLockfileDeferred(projectDir);
    if (read !== undefined && 'deferred' in read)
      return { lock: undefined, deferred: read.deferred, stamp: read.stamp, merged: false };
    return { lock: read?.lock, stamp: read?.stamp ?? null, merged: false };
  } catch (err) {
    if (!isOrasError(err, 'ERR_ORAS_LOCKFILE')) throw err;
    const file = join(projectDir, LOCKFILE_NAME);
    const { hasConflictMarkers, mergeConflictedLockfileText } = await import('../spec/lock-merge.js');
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined || !hasConflictMarkers(text)) throw err;
    if (frozen) {
      throw new OrasError(
        'ERR_ORAS_FROZEN_LOCKFILE',
        `${file} has unresolved git merge conflicts, and --frozen-lockfile never changes the lock`,
        {
          hint: 'run `oras install` without --frozen-lockfile (and without CI=true) to merge it entry by entry, then commit artifacts.lock (or set up the `oras lock merge` git merge driver, see README)',
        },
      );
    }
    const merged = mergeConflictedLockfileText(text);
    emit(onEvent, { type: 'lockfile-merged', path: file, conflicts: merged.conflicts });
    return { lock: merged.lock, stamp: null, merged: true };
  }
}

/**
 * The new lock (in memory): {@link resolveAll} (no silent upgrades), then the
 * files of freshly resolved entries (manifests cached, directory layers
 * unpacked) and of kept resolutions under an edited spec (from the locked
 * manifest, cache first), concurrently; entries assigned in name order.
 */
export async function computeLock(
  manifest: ProjectManifest,
  oldLock: Lockfile | undefined,
  options: InstallOptions,
  sources: Sources,
  cache: ProjectCache,
): Promise<Lockfile> {
  const offline = options.offline === true;
  const signal = options.signal;
  const ctx = {
    repositoryFor: (ref: Reference) => sources.target(repositoryOf(ref)),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(signal ? { signal } : {}),
  };
  const resolved = await resolveAll(manifest, oldLock, ctx, {
    ...(options.update !== undefined ? { update: options.update } : {}),
    concurrency: options.concurrency ?? 8,
  });
  const jobs: [string, () => Promise<LockedDependency>][] = [
    ...Object.entries(resolved.resolved).map(([name, r]): [string, () => Promise<LockedDependency>] => [
      name,
      async () =>
        lockResolved(r, cache, await sources.target(repositoryOf(parseReference(r.locked.resolved))), offline, signal),
    ]),
    ...Object.entries(resolved.rebased)
      .filter(([, rb]) => rb.files === undefined)
      .map(([name, rb]): [string, () => Promise<LockedDependency>] => [
        name,
        async () => {
          const dep: LockedDependency = { ...rb.locked, files: [] };
          const m = await sources.manifest(dep);
          const source = offline ? undefined : await sources.forDependency(dep);
          const { files, layers } = await filesFor(name, rb.locked.specifier, m, cache, source, {
            offline,
            ...(signal ? { signal } : {}),
          });
          return { ...rb.locked, files, layers };
        },
      ]),
  ];
  // Entries kept from the old lock (also those whose files stay as they were under an edited spec):
  // files re-derived from the locked manifest when they differ (and said so), layer records
  // refreshed (a v1 entry gains them), otherwise the old lock's own objects.
  const keptEntries: Record<string, LockedDependency> = { ...resolved.kept };
  for (const [name, rb] of Object.entries(resolved.rebased))
    if (rb.files !== undefined) keptEntries[name] = { ...rb.locked, files: rb.files };
  const kept = (await bindEntries(keptEntries, sources, cache, bindOptions(options))).entries;
  jobs.sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const limit = pLimit(Math.max(1, options.concurrency ?? 8));
  const settled = await Promise.allSettled(jobs.map(([, job]) => limit(job)));
  const dependencies: Record<string, LockedDependency> = { ...kept };
  for (const [i, [name]] of jobs.entries()) {
    const s = settled[i]!;
    if (s.status === 'rejected') throw s.reason;
    dependencies[name] = s.value;
  }
  return { lockfileVersion: LOCKFILE_VERSION, dependencies, publish: resolved.publish };
}

/**
 * Turns a freshly resolved dependency into a lock entry (caches the manifest;
 * computes its files, listings of directory layers derived from their
 * verified blobs).
 */
async function lockResolved(
  r: ResolvedDependency,
  cache: ProjectCache,
  source: ResolveTarget | undefined,
  offline: boolean,
  signal?: AbortSignal,
): Promise<LockedDependency> {
  await cache.add(r.descriptor, r.manifestBytes);
  // The config (kept for other OCI tools, best effort) travels beside the layers, not before them.
  // Both settle before an error is reported: nothing is left writing to the cache (a temp file)
  // after the install has failed and the process exits.
  const [{ files, layers }] = await settleAll([
    filesFor(r.name, r.locked.specifier, r.manifest, cache, source, { offline, ...(signal ? { signal } : {}) }),
    source !== undefined && !offline ? keepConfig(cache, r.manifest, source, signal) : undefined,
  ]);
  return { ...r.locked, files, layers };
}

/** `lock` without the named dependency entries (undefined stays undefined). */
export function withoutEntries(lock: Lockfile | undefined, names: string[]): Lockfile | undefined {
  if (lock === undefined || names.length === 0) return lock;
  const dependencies = { ...lock.dependencies };
  for (const n of names) delete dependencies[n];
  return { ...lock, dependencies };
}

export interface BindOptions {
  offline: boolean;
  signal?: AbortSignal;
  concurrency: number;
  onEvent?: ProjectListener;
}

export function bindOptions(options: InstallOptions): BindOptions {
  return {
    offline: options.offline === true,
    ...(options.signal ? { signal: options.signal } : {}),
    concurrency: options.concurrency ?? 8,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  };
}

/**
 * Binds lock entries to their locked manifests ({@link bindToManifest},
 * bounded concurrency). Returns the entries as they should be locked (an
 * entry whose files differ from what its manifest produces is re-derived
 * from that manifest, with a `lock-entry-rejected` event; one whose layer
 * records differ gets the manifest's; others are returned as they are) and
 * the problems found, by name.
 */
export async function bindEntries(
  deps: Record<string, LockedDependency>,
  sources: Sources,
  cache: ProjectCache,
  options: BindOptions,
): Promise<{ entries: Record<string, LockedDependency>; problems: { name: string; problem: string }[] }> {
  const names = Object.keys(deps).sort();
  // An entry already bound this run (the lock's deferred file lines, see deferred-files.ts) is as it should be locked.
  // mapBounded: on a failure, the binds already running settle before it is reported (they write to the cache).
  const bound = await mapBounded(names, Math.max(1, options.concurrency), (name) =>
    sources.isBound(deps[name]!)
      ? Promise.resolve(undefined)
      : bindToManifest(name, deps[name]!, sources, cache, {
          offline: options.offline,
          ...(options.signal ? { signal: options.signal } : {}),
        }),
  );
  const entries: Record<string, LockedDependency> = {};
  const problems: { name: string; problem: string }[] = [];
  for (const [i, name] of names.entries()) {
    const dep = deps[name]!;
    if (bound[i] === undefined) {
      entries[name] = dep;
      continue;
    }
    const { produced, problem } = bound[i];
    if (problem !== undefined) {
      problems.push({ name, problem });
      emit(options.onEvent, { type: 'lock-entry-rejected', dependency: name, reason: problem, action: 're-derive' });
      entries[name] = { ...dep, files: produced.files, layers: produced.layers };
    } else entries[name] = sameLayers(dep.layers, produced.layers) ? dep : { ...dep, layers: produced.layers };
  }
  return { entries, problems };
}

/** `ERR_ORAS_LOCK_MISMATCH` for lock entries whose files their locked manifest does not produce. */
export function manifestBindingError(problems: { name: string; problem: string }[]): OrasError {
  return new OrasError(
    'ERR_ORAS_LOCK_MISMATCH',
    `artifacts.lock lists files its locked manifests do not produce:\n${problems.map((p) => `dependencies.${p.name}: ${p.problem}`).join('\n')}`,
    { hint: LOCK_MISMATCH_HINT },
  );
}
