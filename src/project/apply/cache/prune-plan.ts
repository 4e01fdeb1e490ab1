import { lastUsedOf } from './index-records.js';
import type { CacheInventory, LockNeeds } from './inventory.js';

/**
 * The pure part of `oras cache prune`: from the inventory and what the
 * protecting locks need, which blobs and unpacked trees go.
 *
 * Unprotected content is grouped into units: an artifact recorded in
 * index.json (its manifest with its unprotected config, layers and unpacked
 * trees; last use = its last-use annotation or the manifest
 * file's mtime), then each remaining blob or tree alone (last use = mtime).
 * Units are evicted least recently used first; an item shared by several
 * units goes with the last of them. Protected content is never evicted.
 */

/** Options for {@link planPrune}. */
export interface PrunePlanOptions {
  /** Only units last used before `now - olderThanMs`. */
  olderThanMs?: number;
  /** Then evict LRU units until the cache is at most this many bytes. */
  maxSize?: number;
  /** Also drop every unpacked tree (protected or not): `--ci`. */
  dropTrees?: boolean;
  /** Time reference (ms since epoch), default `Date.now()`. */
  now?: number;
}

/** What {@link planPrune} decided. */
export interface PrunePlan {
  blobs: string[];
  trees: string[];
  freedBytes: number;
  totalBytes: number;
  /** Bytes left after the plan. */
  keptBytes: number;
  /** True when `maxSize` was given and protected content alone exceeds it. */
  overBudget: boolean;
}

interface Unit {
  key: string;
  blobs: string[];
  trees: string[];
  lastUse: number;
}

function buildUnits(
  inv: CacheInventory,
  needs: LockNeeds,
  children: Map<string, string[]>,
  dropTrees: boolean,
): Unit[] {
  const treeProtected = (d: string): boolean => !dropTrees && needs.trees.has(d);
  const units: Unit[] = [];
  const claimed = new Set<string>();
  const seen = new Set<string>();
  for (const entry of inv.index.manifests) {
    const d = entry.digest;
    const blob = inv.blobs.get(d);
    if (seen.has(d) || needs.blobs.has(d) || blob === undefined) continue;
    seen.add(d);
    const lastUse = Math.max(
      ...inv.index.manifests.filter((m) => m.digest === d).map((m) => lastUsedOf(m) ?? 0),
      blob.mtimeMs,
    );
    const kids = children.get(d) ?? [];
    const u: Unit = {
      key: d,
      blobs: [d, ...kids.filter((k) => inv.blobs.has(k) && !needs.blobs.has(k))],
      trees: kids.filter((k) => inv.trees.has(k) && !treeProtected(k)),
      lastUse,
    };
    for (const x of [...u.blobs, ...u.trees.map((t) => `tree:${t}`)]) claimed.add(x);
    units.push(u);
  }
  for (const [d, b] of inv.blobs) {
    if (needs.blobs.has(d) || claimed.has(d)) continue;
    const tree = inv.trees.has(d) && !treeProtected(d) && !claimed.has(`tree:${d}`);
    if (tree) claimed.add(`tree:${d}`);
    units.push({ key: d, blobs: [d], trees: tree ? [d] : [], lastUse: b.mtimeMs });
  }
  for (const [d, t] of inv.trees) {
    if (treeProtected(d) || claimed.has(`tree:${d}`)) continue;
    units.push({ key: `tree:${d}`, blobs: [], trees: [d], lastUse: t.mtimeMs });
  }
  return units.sort((a, b) => a.lastUse - b.lastUse || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Plans a prune. Without `olderThanMs` and `maxSize` every unprotected unit
 * goes; with `olderThanMs`, only units last used before the cut-off; with
 * `maxSize`, then more units in LRU order until the total fits (reporting
 * `overBudget` when protected content alone does not fit).
 */
export function planPrune(
  inv: CacheInventory,
  needs: LockNeeds,
  children: Map<string, string[]>,
  options: PrunePlanOptions = {},
): PrunePlan {
  const now = options.now ?? Date.now();
  const blobSize = (d: string): number => inv.blobs.get(d)?.size ?? 0;
  const treeSize = (d: string): number => inv.trees.get(d)?.bytes ?? 0;
  let total = 0;
  for (const b of inv.blobs.values()) total += b.size;
  for (const t of inv.trees.values()) total += t.bytes;
  const units = buildUnits(inv, needs, children, options.dropTrees === true);
  const refs = new Map<string, number>();
  for (const u of units)
    for (const x of [...u.blobs, ...u.trees.map((t) => `tree:${t}`)]) refs.set(x, (refs.get(x) ?? 0) + 1);
  const all = options.olderThanMs === undefined && options.maxSize === undefined;
  const cutoff = options.olderThanMs !== undefined ? now - options.olderThanMs : undefined;
  let current = total;
  const blobs: string[] = [];
  const trees: string[] = [];
  for (const u of units) {
    const old = cutoff !== undefined && u.lastUse < cutoff;
    const over = options.maxSize !== undefined && current > options.maxSize;
    if (!all && !old && !over) continue;
    for (const b of u.blobs) {
      const n = (refs.get(b) ?? 1) - 1;
      refs.set(b, n);
      if (n === 0) {
        blobs.push(b);
        current -= blobSize(b);
      }
    }
    for (const t of u.trees) {
      const n = (refs.get(`tree:${t}`) ?? 1) - 1;
      refs.set(`tree:${t}`, n);
      if (n === 0) {
        trees.push(t);
        current -= treeSize(t);
      }
    }
  }
  return {
    blobs,
    trees,
    freedBytes: total - current,
    totalBytes: total,
    keptBytes: current,
    overBudget: options.maxSize !== undefined && current > options.maxSize,
  };
}
