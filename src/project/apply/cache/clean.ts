import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayoutStore } from '../../../content/oci-layout.js';
import { scanCache } from './inventory.js';
import { lockCacheExclusive } from './lock.js';
import { ProjectCache } from './project-cache.js';

/**
 * `oras cache clean`: removes every blob and unpacked tree and empties
 * `index.json`, keeping the layout itself (`oci-layout`) and the project
 * registry (who uses this cache stays true; their next install fills it
 * again). Refuses at once with `ERR_ORAS_LOCKED` while an install, fetch or
 * another cache command holds the cache (no waiting, no forcing): clean is the
 * one command that would break a running install. Removal is by unlink only
 * (safe for hard-linked and reflinked projects).
 */
export async function cleanCache(root: string): Promise<{ blobs: number; trees: number; freedBytes: number }> {
  const cache = await ProjectCache.open(root);
  const release = await lockCacheExclusive(cache.root, { timeoutMs: 0 });
  try {
    const inv = await scanCache(cache.root);
    let freed = 0;
    for (const b of inv.blobs.values()) freed += b.size;
    for (const t of inv.trees.values()) freed += t.bytes;
    const store = await OciLayoutStore.open(cache.root);
    await store.editIndex((index) => {
      const changed = index.manifests.length > 0;
      index.manifests = [];
      return changed;
    });
    await rm(join(cache.root, 'unpacked'), { recursive: true, force: true });
    for (const digest of inv.blobs.keys()) await rm(cache.blobPath(digest), { force: true });
    return { blobs: inv.blobs.size, trees: inv.trees.size, freedBytes: freed };
  } finally {
    await release();
  }
}
