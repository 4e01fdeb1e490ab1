import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isOrasError } from '../../../errors.js';
import { emit, type ProjectListener } from '../../events.js';
import type { LockedDependency } from '../../types.js';
import { ProjectCache } from './project-cache.js';
import { defaultCacheDir } from '../../spec/config.js';
import { recordArtifacts } from './index-records.js';
import { pinCache } from './lock.js';
import { registerProject } from './registry.js';

/**
 * The cache side of one install or fetch: pin the cache while it runs (so
 * `oras cache prune` waits for it, see `cache-lock.ts`), and when it
 * succeeded (not a dry run) register the project with the SHA-256 of its
 * `artifacts.lock` and record the artifacts it used in the cache's
 * index.json (ref.name + last use). Then, with a size budget
 * (`cache.maxSize`), prune least recently used unprotected content — only if
 * the cache lock is free at once (never waiting for, or blocking, other
 * installs).
 */

/** Options for {@link withCacheSession}. */
export interface CacheSessionOptions {
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Size budget in bytes applied after success (see above). */
  cacheMaxSize?: number;
  /** How long to wait while a prune holds the cache (default 10 minutes). */
  lockTimeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: ProjectListener;
}

/** What the session needs from the wrapped run's result. */
export interface SessionOutcome {
  dryRun: boolean;
  lockfile: { dependencies: Record<string, LockedDependency> };
}

async function lockSha256(projectDir: string): Promise<string | null> {
  try {
    return createHash('sha256')
      .update(await readFile(join(projectDir, 'artifacts.lock')))
      .digest('hex');
  } catch {
    return null;
  }
}

/**
 * Records a successful run: project registration and index.json records
 * (last use of its artifacts). A project that installed the same lock within
 * the last hour is already recorded: nothing is locked or written. `lockHash`:
 * the SHA-256 of the artifacts.lock the run leaves (when the caller knows it:
 * it wrote or read that file), else the file is read and hashed. The hash only
 * tells a registration that is up to date from one that is not.
 */
export async function recordCacheUse(
  root: string,
  projectDir: string,
  deps: LockedDependency[],
  lockHash?: string,
): Promise<void> {
  const cache = await ProjectCache.open(root);
  if (await registerProject(cache.root, projectDir, lockHash ?? (await lockSha256(projectDir))))
    await recordArtifacts(cache, deps);
}

/** Applies a size budget without waiting: skipped (event `skipped: 'busy'`) when the cache is in use. */
export async function applyCacheBudget(root: string, maxSize: number, onEvent?: ProjectListener): Promise<void> {
  const { pruneCache } = await import('./gc.js');
  try {
    const r = await pruneCache({ root, maxSize, timeoutMs: 0 });
    emit(onEvent, {
      type: 'cache-pruned',
      removed: r.blobs.length + r.trees.length,
      freedBytes: r.freedBytes,
      overBudget: r.overBudget,
    });
  } catch (err) {
    if (!isOrasError(err, 'ERR_ORAS_LOCKED')) throw err;
    emit(onEvent, { type: 'cache-pruned', removed: 0, freedBytes: 0, overBudget: false, skipped: 'busy' });
  }
}

/**
 * Runs `fn` (an install or fetch) inside a cache session (see the module comment). `fn` may call
 * `recordEarly` with the dependencies it is installing and the SHA-256 of the artifacts.lock it
 * leaves, once it is sure to record them (an install while its writes are synced): the records are
 * then made meanwhile, and awaited (their errors thrown) when `fn` has succeeded, instead of made after.
 */
export async function withCacheSession<T extends SessionOutcome>(
  options: CacheSessionOptions,
  projectDir: string,
  fn: (recordEarly: (deps: LockedDependency[], lockHash?: string) => void) => Promise<T>,
): Promise<T> {
  const root = defaultCacheDir(options.env ?? process.env, options.cacheDir);
  await ProjectCache.open(root);
  const unpin = await pinCache(root, {
    timeoutMs: options.lockTimeoutMs ?? 600_000,
    ...(options.signal ? { signal: options.signal } : {}),
    onWait: (_what, path) => emit(options.onEvent, { type: 'lock-wait', path }),
  });
  let result: T;
  let early: Promise<void> | undefined;
  const recordEarly = (deps: LockedDependency[], lockHash?: string): void => {
    early ??= recordCacheUse(root, projectDir, deps, lockHash);
    early.catch(() => undefined); // observed below, once fn has succeeded
  };
  try {
    result = await fn(recordEarly);
    if (!result.dryRun) await (early ?? recordCacheUse(root, projectDir, Object.values(result.lockfile.dependencies)));
  } finally {
    await early?.catch(() => undefined); // never left running past the session
    await unpin();
  }
  if (!result.dryRun && options.cacheMaxSize !== undefined)
    await applyCacheBudget(root, options.cacheMaxSize, options.onEvent);
  return result;
}
