import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { parseDigest, type DigestAlgorithm } from '../../../oci/digest.js';
import { digestFile } from '../../../oci/hash-file.js';
import { scanCache } from './inventory.js';
import { lockCacheExclusive, type CacheLockOptions } from './lock.js';
import { applyRemoval } from './gc.js';
import { ProjectCache } from './project-cache.js';

/**
 * `oras cache verify`: rehashes every blob (its file name is its digest),
 * checks every directory layer's listing marker (it must name a listing blob
 * that hashes to its digest and names the layer) and every file of an
 * unpacked tree an older version left (against that listing), holding the
 * cache lock exclusively, and removes what is corrupt. Removal is by
 * `unlink` only, so a project file hard-linked to a corrupt blob keeps its
 * inode (and its content). A removed blob is fetched again by the next
 * install that needs it; a removed marker is derived again from the layer blob.
 */

/** Options for {@link verifyCache}. */
export interface VerifyCacheOptions extends CacheLockOptions {
  root: string;
  /** Parallel hashes (default 4). */
  concurrency?: number;
  /** Report only; remove nothing. */
  dryRun?: boolean;
}

/** What {@link verifyCache} found. */
export interface VerifyCacheResult {
  blobsChecked: number;
  treesChecked: number;
  /** Corrupt blobs (removed unless dry-run). */
  corruptBlobs: string[];
  /** Corrupt or incomplete unpacked trees, by layer digest (removed unless dry-run). */
  corruptTrees: string[];
}

async function treeOk(cache: ProjectCache, layer: string): Promise<boolean> {
  const listing = await cache.readListing(layer);
  if (listing === undefined) return false;
  const dir = cache.unpackedDir(layer);
  const st = await lstat(dir).catch(() => undefined);
  if (st === undefined) return true; // a listing marker alone (no tree is unpacked any more): its listing blob verified
  if (!st.isDirectory()) return false;
  for (const f of listing) {
    const path = join(dir, ...f.path.split('/'));
    const st = await lstat(path).catch(() => undefined);
    if (st?.isFile() !== true || st.size !== f.size) return false;
    const got = await digestFile(path, { algorithm: parseDigest(f.digest).algorithm as DigestAlgorithm });
    if (got.digest !== f.digest) return false;
  }
  return true;
}

/** Verifies the cache (see the module comment). */
export async function verifyCache(options: VerifyCacheOptions): Promise<VerifyCacheResult> {
  const cache = await ProjectCache.open(options.root);
  const release = await lockCacheExclusive(cache.root, options);
  try {
    const inv = await scanCache(cache.root);
    const limit = pLimit(Math.max(1, options.concurrency ?? 4));
    const corruptBlobs: string[] = [];
    await limit.map([...inv.blobs.keys()], async (digest) => {
      const { algorithm } = parseDigest(digest);
      const got = await digestFile(cache.blobPath(digest), { algorithm: algorithm as DigestAlgorithm }).catch(
        () => undefined,
      );
      if (got?.digest !== digest) corruptBlobs.push(digest);
    });
    const corruptTrees: string[] = [];
    await limit.map([...inv.trees.keys()], async (layer) => {
      if (!(await treeOk(cache, layer))) corruptTrees.push(layer);
    });
    corruptBlobs.sort();
    corruptTrees.sort();
    if (options.dryRun !== true && (corruptBlobs.length > 0 || corruptTrees.length > 0)) {
      await applyRemoval(cache, inv, { blobs: corruptBlobs, trees: corruptTrees });
    }
    return { blobsChecked: inv.blobs.size, treesChecked: inv.trees.size, corruptBlobs, corruptTrees };
  } finally {
    await release();
  }
}
