import { assertDeclaredSizes, assertFreeSpace } from '../../artifact/size-limits.js';
import type { Descriptor } from '../../oci/descriptor.js';
import type { LockedDependency } from '../types.js';

/**
 * Install's size rules (issue 12, item 9), checked after planning and
 * before the first blob of the fetch phase is requested:
 *
 * - every dependency that has something to download declares at most
 *   `maxArtifactBytes` (its locked layers, each and together — the same
 *   limit and default as `oras pull`, 64 GiB);
 * - everything to download (deduplicated by digest) fits into the free
 *   space of the cache's file system with a 64 MiB reserve.
 *
 * Each blob is checked again as the cache fetches it (also during
 * resolution, which may download a directory layer to list it), so a blob
 * over the limit is never requested. Unpacked directory layers are bounded
 * separately by `maxUncompressedBytes`.
 */

/** One blob the fetch phase will download, and the dependency that needs it. */
export interface PlannedDownload {
  dependency: string;
  desc: Descriptor;
}

/** Throws `ERR_ORAS_LIMIT_EXCEEDED` or `ERR_ORAS_NO_SPACE` (see the module doc); nothing is written either way. */
export async function assertDownloadBudget(
  deps: Record<string, LockedDependency>,
  downloads: readonly PlannedDownload[],
  cacheRoot: string,
  maxArtifactBytes: number,
): Promise<void> {
  if (downloads.length === 0) return;
  const byDigest = new Map<string, number>();
  const needing = new Set<string>();
  for (const d of downloads) {
    byDigest.set(d.desc.digest, d.desc.size);
    needing.add(d.dependency);
  }
  for (const name of [...needing].sort()) {
    const dep = deps[name];
    const declared: Descriptor[] = (dep?.layers ?? []).map((l) => ({
      mediaType: l.mediaType ?? 'application/octet-stream',
      digest: l.digest,
      size: l.size ?? 0,
    }));
    // A v1 lock entry has no layer records: its downloads are what it declares.
    const checked = declared.length > 0 ? declared : downloads.filter((d) => d.dependency === name).map((d) => d.desc);
    assertDeclaredSizes(checked, maxArtifactBytes, `dependency '${name}'`);
  }
  let total = 0;
  for (const size of byDigest.values()) total += size;
  await assertFreeSpace(total, cacheRoot);
}
