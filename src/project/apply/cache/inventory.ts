import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayoutIndex } from '../../../content/layout-index.js';
import { OciLayoutStore } from '../../../content/oci-layout.js';
import { TEMP_MARKER } from '../../../content/fs-atomic.js';
import { isDigest } from '../../../oci/digest.js';
import type { Lockfile } from '../../types.js';
import { cachedManifest } from './index-records.js';
import type { ProjectCache } from './project-cache.js';

/**
 * What a cache directory holds, read from disk (no lock needed to read):
 * blob files by digest, unpacked trees by layer digest, and `index.json`.
 * Sizes are apparent sizes; `nlink > 1` marks a blob hard-linked into a
 * project (`cache.link: hardlink`), whose removal frees no disk space until
 * the project file goes too.
 */

/** One blob file. */
export interface BlobInfo {
  size: number;
  mtimeMs: number;
  nlink: number;
}

/** One unpacked layer: its tree and side files (listing) under `unpacked/<alg>/`. */
export interface TreeInfo {
  /** Total bytes of the regular files below the tree and of its side files. */
  bytes: number;
  /** Absolute paths of the side files (listings) and the tree directory, in removal order. */
  paths: string[];
  mtimeMs: number;
}

/** The inventory of a cache. */
export interface CacheInventory {
  blobs: Map<string, BlobInfo>;
  trees: Map<string, TreeInfo>;
  index: LayoutIndex;
}

const HEX_LEN: Record<string, number> = { sha256: 64, sha512: 128 };

/** Sum of the sizes of the regular files below `dir` (bounded by the tree itself; symlinks are not followed). */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(p);
    else if (e.isFile()) total += (await lstat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

async function scanBlobs(root: string): Promise<Map<string, BlobInfo>> {
  const blobs = new Map<string, BlobInfo>();
  for (const alg of Object.keys(HEX_LEN)) {
    const dir = join(root, 'blobs', alg);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const digest = `${alg}:${name}`;
      if (!isDigest(digest)) continue;
      const st = await lstat(join(dir, name)).catch(() => undefined);
      if (st?.isFile() === true) blobs.set(digest, { size: st.size, mtimeMs: st.mtimeMs, nlink: st.nlink });
    }
  }
  return blobs;
}

async function scanTrees(root: string): Promise<Map<string, TreeInfo>> {
  const trees = new Map<string, TreeInfo>();
  for (const [alg, len] of Object.entries(HEX_LEN)) {
    const dir = join(root, 'unpacked', alg);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.name.includes(TEMP_MARKER) || e.name.endsWith('.lock')) continue;
      const digest = `${alg}:${e.name.slice(0, len)}`;
      if (!isDigest(digest)) continue;
      const p = join(dir, e.name);
      const st = await lstat(p).catch(() => undefined);
      if (st === undefined) continue;
      const t = trees.get(digest) ?? { bytes: 0, paths: [], mtimeMs: 0 };
      if (e.isDirectory()) {
        t.bytes += await treeBytes(p);
        t.paths.push(p); // the tree last: side files (the listing saying "complete") go first
      } else {
        t.bytes += st.size;
        t.paths.unshift(p);
      }
      t.mtimeMs = Math.max(t.mtimeMs, st.mtimeMs);
      trees.set(digest, t);
    }
  }
  return trees;
}

/** Reads the inventory of the cache at `root`. */
export async function scanCache(root: string): Promise<CacheInventory> {
  const store = await OciLayoutStore.open(root, { readOnly: true });
  const [blobs, trees, index] = await Promise.all([scanBlobs(root), scanTrees(root), store.readLayoutIndex()]);
  return { blobs, trees, index };
}

/** What a lock needs from the cache: blob digests (manifests, configs, layers, files) and unpacked layers. */
export interface LockNeeds {
  blobs: Set<string>;
  trees: Set<string>;
}

/** An empty {@link LockNeeds}. */
export function emptyNeeds(): LockNeeds {
  return { blobs: new Set(), trees: new Set() };
}

/**
 * Adds what `lock` needs to `into`: each dependency's manifest and, when the
 * manifest is cached, its config and every layer (the whole artifact, so it
 * stays readable by other OCI tools); every locked file's blob or layer; and
 * the unpacked tree of every directory layer a file comes from.
 */
export async function addLockNeeds(cache: ProjectCache, lock: Lockfile, into: LockNeeds): Promise<LockNeeds> {
  for (const dep of Object.values(lock.dependencies)) {
    into.blobs.add(dep.digest);
    const m = await cachedManifest(cache, dep.digest);
    if (m !== undefined) for (const d of [m.manifest.config, ...m.manifest.layers]) into.blobs.add(d.digest);
    for (const l of dep.layers ?? []) if (l.listing !== undefined) into.blobs.add(l.listing); // verified listings (lock v2)
    for (const f of dep.files) {
      into.blobs.add(f.layer);
      if (f.layer !== f.digest) into.trees.add(f.layer);
    }
  }
  return into;
}
