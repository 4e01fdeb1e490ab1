import { readLockfile } from '../../spec/lockfile.js';
import type { Lockfile } from '../../types.js';
import { cachedManifest, cacheRefName, lastUsedOf } from './index-records.js';
import { entriesByDigest, refNameOf } from '../../../content/layout-index.js';
import { addLockNeeds, emptyNeeds, scanCache } from './inventory.js';
import { planPrune } from './prune-plan.js';
import { readProjectRegistry } from './registry.js';
import { ProjectCache } from './project-cache.js';

/**
 * `oras cache ls` and `oras cache du`: read-only reports (no lock taken; a
 * concurrent install may make them slightly stale, never wrong on disk).
 */

/** One cached artifact. */
export interface CachedArtifact {
  digest: string;
  /** `org.opencontainers.image.ref.name` values (and, for manifests not recorded yet, the refs locks resolved). */
  refs: string[];
  artifactType?: string;
  /** Bytes of the manifest, config, cached layers and unpacked trees. */
  size: number;
  /** ISO time of the last install/fetch that used it (else the manifest file's mtime). */
  lastUsed: string;
  /** True when the manifest, config and every layer are cached (readable by skopeo/umoci). */
  complete: boolean;
  /** Registered projects whose current lock uses it. */
  projects: string[];
}

/** Registered projects with their (readable) current locks; unreadable or missing locks are skipped. */
async function projectLocks(root: string): Promise<Map<string, Lockfile>> {
  const out = new Map<string, Lockfile>();
  for (const dir of Object.keys((await readProjectRegistry(root)).projects).sort()) {
    const lock = await readLockfile(dir).catch(() => undefined);
    if (lock !== undefined) out.set(dir, lock);
  }
  return out;
}

/** Lists the artifacts in the cache, most recently used first. */
export async function listCache(root: string): Promise<CachedArtifact[]> {
  const cache = await ProjectCache.open(root);
  const inv = await scanCache(cache.root);
  const locks = await projectLocks(cache.root);
  const byDigest = new Map<
    string,
    { refs: Set<string>; lastUse: number; artifactType?: string; projects: Set<string> }
  >();
  const entry = (d: string): { refs: Set<string>; lastUse: number; artifactType?: string; projects: Set<string> } => {
    let e = byDigest.get(d);
    if (e === undefined)
      byDigest.set(d, (e = { refs: new Set(), lastUse: inv.blobs.get(d)?.mtimeMs ?? 0, projects: new Set() }));
    return e;
  };
  for (const m of inv.index.manifests) {
    if (!inv.blobs.has(m.digest)) continue;
    const e = entry(m.digest);
    const ref = refNameOf(m);
    if (ref !== undefined) e.refs.add(ref);
    e.lastUse = Math.max(e.lastUse, lastUsedOf(m) ?? 0);
    if (m.artifactType !== undefined) e.artifactType = m.artifactType;
  }
  for (const [dir, lock] of locks) {
    for (const dep of Object.values(lock.dependencies)) {
      if (!inv.blobs.has(dep.digest)) continue;
      const e = entry(dep.digest);
      e.projects.add(dir);
      if (e.refs.size === 0) e.refs.add(cacheRefName(dep) ?? dep.resolved);
    }
  }
  const out: CachedArtifact[] = [];
  const indexed = entriesByDigest(inv.index);
  for (const [digest, e] of byDigest) {
    const m = await cachedManifest(cache, digest, indexed.get(digest));
    const parts = m === undefined ? [] : [m.manifest.config, ...m.manifest.layers];
    let size = inv.blobs.get(digest)?.size ?? 0;
    let complete = m !== undefined;
    for (const p of parts) {
      const b = inv.blobs.get(p.digest);
      if (b === undefined) complete = false;
      else size += b.size;
      size += inv.trees.get(p.digest)?.bytes ?? 0;
    }
    out.push({
      digest,
      refs: [...e.refs].sort(),
      ...(e.artifactType !== undefined ? { artifactType: e.artifactType } : {}),
      size,
      lastUsed: new Date(e.lastUse).toISOString(),
      complete,
      projects: [...e.projects].sort(),
    });
  }
  return out.sort((a, b) =>
    a.lastUsed < b.lastUsed ? 1 : a.lastUsed > b.lastUsed ? -1 : a.digest < b.digest ? -1 : 1,
  );
}

/** Totals of the cache. */
export interface CacheUsage {
  root: string;
  blobs: number;
  blobBytes: number;
  trees: number;
  treeBytes: number;
  totalBytes: number;
  /** Bytes a plain `oras cache prune` would free now (content no registered project's lock needs). */
  reclaimableBytes: number;
  /** Bytes of blobs hard-linked into projects (removing them frees nothing until the project files go). */
  sharedBytes: number;
  projects: number;
}

/** Computes {@link CacheUsage}. */
export async function cacheUsage(root: string): Promise<CacheUsage> {
  const cache = await ProjectCache.open(root);
  const inv = await scanCache(cache.root);
  const locks = await projectLocks(cache.root);
  const needs = emptyNeeds();
  for (const lock of locks.values()) await addLockNeeds(cache, lock, needs);
  const plan = planPrune(inv, needs, new Map());
  let blobBytes = 0;
  let sharedBytes = 0;
  for (const b of inv.blobs.values()) {
    blobBytes += b.size;
    if (b.nlink > 1) sharedBytes += b.size;
  }
  let treeBytes = 0;
  for (const t of inv.trees.values()) treeBytes += t.bytes;
  return {
    root: cache.root,
    blobs: inv.blobs.size,
    blobBytes,
    trees: inv.trees.size,
    treeBytes,
    totalBytes: blobBytes + treeBytes,
    reclaimableBytes: plan.freedBytes,
    sharedBytes,
    projects: locks.size,
  };
}
