import { lstat, rm } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { OciLayoutStore } from '../../../content/oci-layout.js';
import { removeTempFiles } from '../../../content/fs-atomic.js';
import { isOrasError, OrasError } from '../../../errors.js';
import { readLockfile } from '../../spec/lockfile.js';
import { cachedManifest } from './index-records.js';
import { addLockNeeds, emptyNeeds, scanCache, type CacheInventory, type LockNeeds } from './inventory.js';
import { lockCacheExclusive, type CacheLockOptions } from './lock.js';
import { planPrune, type PrunePlan } from './prune-plan.js';
import { forgetProjects, readProjectRegistry } from './registry.js';
import { ProjectCache } from './project-cache.js';

/**
 * `oras cache prune`: removes what no registered project's current
 * `artifacts.lock` needs (see `cache-registry.ts`), optionally only what is
 * older than an age or just enough to fit a size budget (LRU), or — `ci` —
 * everything the given project's lock does not need plus every unpacked tree
 * (a CI cache then restores exactly the blobs an `install --offline` needs).
 *
 * Safety: runs holding the cache lock exclusively, after every running
 * install released its pin (see `cache-lock.ts`). Removal is `unlink` /
 * recursive removal of directory entries only — never a truncation or a write
 * into a cache file — so a project file hard-linked or reflinked from the
 * cache keeps its content (a hard link keeps the inode alive; a reflink is an
 * independent file). Order: index.json entries, then unpacked listings, then
 * trees, then blobs, so a crash leaves only unreferenced files behind.
 */

/** Options for {@link pruneCache}. */
export interface PruneCacheOptions extends CacheLockOptions {
  /** Cache root (absolute or relative to the cwd). */
  root: string;
  olderThanMs?: number;
  maxSize?: number;
  /** Keep only what `projectDir`'s lock needs, and no unpacked trees. */
  ci?: { projectDir: string };
  /** Compute and report; remove nothing. */
  dryRun?: boolean;
}

/** One registered project as prune saw it. */
export interface PrunedProject {
  dir: string;
  /** `active`: its lock protects content; `gone`: directory or lock missing (forgotten). */
  status: 'active' | 'gone';
}

/** What {@link pruneCache} did (or would do). */
export interface PruneResult extends PrunePlan {
  projects: PrunedProject[];
  dryRun: boolean;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function projectNeeds(cache: ProjectCache, dir: string, into: LockNeeds): Promise<'active' | 'gone'> {
  if (!(await exists(dir))) return 'gone';
  let lock;
  try {
    lock = await readLockfile(dir);
  } catch (err) {
    if (isOrasError(err, 'ERR_ORAS_LOCKFILE')) {
      throw new OrasError('ERR_ORAS_LOCKFILE', `${join(dir, 'artifacts.lock')}: ${err.message}`, {
        hint: 'prune keeps what a project needs and cannot read this lock: fix it (e.g. `oras install` there) or move the project away, then prune again',
        cause: err,
      });
    }
    throw err;
  }
  if (lock === undefined) return 'gone';
  await addLockNeeds(cache, lock, into);
  return 'active';
}

/** What the registered projects (or, with `ci`, the one project) need; projects whose directory or lock is gone. */
export async function protectedContent(
  cache: ProjectCache,
  ci?: { projectDir: string },
): Promise<{ needs: LockNeeds; projects: PrunedProject[] }> {
  const needs = emptyNeeds();
  const projects: PrunedProject[] = [];
  const dirs =
    ci !== undefined
      ? [resolvePath(ci.projectDir)]
      : Object.keys((await readProjectRegistry(cache.root)).projects).sort();
  for (const dir of dirs) projects.push({ dir, status: await projectNeeds(cache, dir, needs) });
  return { needs, projects };
}

/** Config and layer digests of every cached manifest recorded in index.json. */
async function manifestChildren(cache: ProjectCache, inv: CacheInventory): Promise<Map<string, string[]>> {
  const children = new Map<string, string[]>();
  for (const e of inv.index.manifests) {
    if (children.has(e.digest) || !inv.blobs.has(e.digest)) continue;
    const m = await cachedManifest(cache, e.digest, e);
    if (m === undefined) {
      children.set(e.digest, []);
      continue;
    }
    const kids = [m.manifest.config.digest, ...m.manifest.layers.map((l) => l.digest)];
    // A directory layer's verified listing blob goes (and stays) with the artifact that unpacked it.
    for (const l of m.manifest.layers) {
      const marker = await cache.readMarker(l.digest);
      if (marker !== undefined) kids.push(marker.listing);
    }
    children.set(e.digest, kids);
  }
  return children;
}

/**
 * Removes the blobs and trees of `plan` (and their index.json entries, and
 * entries whose blob is missing). Caller holds the cache lock exclusively.
 */
export async function applyRemoval(
  cache: ProjectCache,
  inv: CacheInventory,
  plan: Pick<PrunePlan, 'blobs' | 'trees'>,
): Promise<void> {
  const gone = new Set(plan.blobs);
  const store = await OciLayoutStore.open(cache.root);
  await store.editIndex((index) => {
    const before = index.manifests.length;
    index.manifests = index.manifests.filter((m) => !gone.has(m.digest) && inv.blobs.has(m.digest));
    return index.manifests.length !== before;
  });
  for (const t of plan.trees)
    for (const p of inv.trees.get(t)?.paths ?? []) await rm(p, { recursive: true, force: true });
  for (const b of plan.blobs) await rm(cache.blobPath(b), { force: true });
  for (const alg of ['sha256', 'sha512']) await removeTempFiles(join(cache.root, 'blobs', alg));
}

/** Prunes the cache (see the module comment). */
export async function pruneCache(options: PruneCacheOptions): Promise<PruneResult> {
  const cache = await ProjectCache.open(options.root);
  const release = await lockCacheExclusive(cache.root, options);
  try {
    const { needs, projects } = await protectedContent(cache, options.ci);
    const inv = await scanCache(cache.root);
    const plan = planPrune(inv, needs, await manifestChildren(cache, inv), {
      ...(options.olderThanMs !== undefined ? { olderThanMs: options.olderThanMs } : {}),
      ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
      ...(options.ci !== undefined ? { dropTrees: true } : {}),
    });
    if (options.dryRun !== true) {
      await applyRemoval(cache, inv, plan);
      if (options.ci === undefined)
        await forgetProjects(
          cache.root,
          projects.filter((p) => p.status === 'gone').map((p) => p.dir),
        );
    }
    return { ...plan, projects, dryRun: options.dryRun === true };
  } finally {
    await release();
  }
}
