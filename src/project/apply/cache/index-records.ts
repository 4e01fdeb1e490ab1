import { OciLayoutStore } from '../../../content/oci-layout.js';
import { isOrasError } from '../../../errors.js';
import {
  entriesByDigest,
  isValidRefName,
  plainEntry,
  refNameOf,
  tagManifest,
  recordManifest,
  type LayoutIndex,
} from '../../../content/layout-index.js';
import type { Fetcher } from '../../../content/store.js';
import { mapBounded } from '../../../artifact/map-bounded.js';
import type { Descriptor, ImageManifest } from '../../../oci/descriptor.js';
import { embeddedContent } from '../../../oci/embedded-data.js';
import { parseManifest } from '../../../oci/manifest.js';
import type { LockedDependency } from '../../types.js';
import type { ProjectCache } from './project-cache.js';

/**
 * The cache's own records in its `index.json` (OCI image-layout
 * `image-layout.md#indexjson-file`), so other OCI tools can read it: every
 * cached artifact a lock uses is an entry with
 * `org.opencontainers.image.ref.name` = `registry/repo:tag` (or
 * `registry/repo@sha256:…` for digest pins) once the whole artifact (manifest,
 * config and every layer) is in the cache — then `skopeo copy
 * oci:<cache>:<ref> dir:<out>` and umoci work — and untagged while some layer
 * was never fetched (e.g. excluded by `include`). Each entry carries
 * {@link CACHE_LAST_USED}, the last install or fetch that used it (the LRU
 * order of `oras cache prune --max-size`).
 */

/** Dependencies {@link recordArtifacts} checks at once. */
const RECORD_CONCURRENCY = 8;

/** Annotation: ISO time of the last install/fetch that used a cached manifest. */
export const CACHE_LAST_USED = 'io.github.oras-ts.cache.last-used';

/** The ref.name recorded for a locked dependency (`registry/repo:tag`, else `registry/repo@digest`), when valid. */
export function cacheRefName(dep: Pick<LockedDependency, 'resolved' | 'digest'>): string | undefined {
  const at = dep.resolved.lastIndexOf('@');
  const base = at > 0 && dep.resolved.slice(at + 1) === dep.digest ? dep.resolved.slice(0, at) : dep.resolved;
  const lastSlash = base.lastIndexOf('/');
  const name = base.slice(lastSlash + 1).includes(':') ? base : `${base}@${dep.digest}`;
  return isValidRefName(name) ? name : undefined;
}

/** One artifact to record: its manifest descriptor, ref.name (when complete) and last use. */
export interface CacheRecord {
  desc: Descriptor;
  refName?: string;
  lastUsed: string;
}

/**
 * Pure: records `r` in `index`: tags it with `refName` (moving the tag from an
 * older manifest, which stays recorded untagged) or records it untagged, and
 * stamps {@link CACHE_LAST_USED} on every entry of its digest. Returns true
 * when the index changed.
 */
export function applyCacheRecord(index: LayoutIndex, r: CacheRecord): boolean {
  return applyCacheRecords(index, [r]);
}

/**
 * Pure: {@link applyCacheRecord} for each of `records` in order, comparing the
 * index once (not once per record: an install of 200 dependencies would
 * serialize the 200-entry index 400 times). Returns true when the index changed.
 */
export function applyCacheRecords(index: LayoutIndex, records: readonly CacheRecord[]): boolean {
  const before = JSON.stringify(index.manifests);
  for (const r of records) recordOne(index, r);
  return JSON.stringify(index.manifests) !== before;
}

function recordOne(index: LayoutIndex, r: CacheRecord): void {
  const tagged =
    r.refName !== undefined && index.manifests.some((m) => m.digest === r.desc.digest && refNameOf(m) === r.refName);
  if (r.refName !== undefined && !tagged) tagManifest(index, r.desc, r.refName);
  else recordManifest(index, r.desc);
  index.manifests = index.manifests.map((m) =>
    m.digest === r.desc.digest ? { ...m, annotations: { ...m.annotations, [CACHE_LAST_USED]: r.lastUsed } } : m,
  );
}

/** The last-use time (ms) recorded on an index entry, if any. */
export function lastUsedOf(d: Descriptor): number | undefined {
  const v = d.annotations?.[CACHE_LAST_USED];
  const t = v === undefined ? Number.NaN : Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * The cached image manifest `digest`, or undefined when it is not cached or not a manifest.
 * `entry`: its index.json entry when the caller has read the index already (else the digest is
 * resolved in the cache, which reads the index).
 */
export async function cachedManifest(
  cache: ProjectCache,
  digest: string,
  entry?: Descriptor,
): Promise<{ desc: Descriptor; manifest: ImageManifest } | undefined> {
  try {
    const desc = entry !== undefined && entry.digest === digest ? plainEntry(entry) : await cache.store.resolve(digest);
    const parsed = parseManifest(await cache.manifest(desc, undefined, { offline: true }), desc.mediaType);
    return parsed.kind === 'manifest' ? { desc: plainEntry(desc), manifest: parsed.manifest } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keeps the config blob of a manifest in the cache (so the artifact is
 * complete for other OCI tools): from the descriptor's embedded `data` when it
 * verifies (see {@link embeddedContent}: the empty config of every ORAS
 * artifact, no request), else fetched from `source` when missing. Best
 * effort: a config that cannot be fetched only leaves the artifact untagged
 * in index.json (an abort still aborts).
 */
export async function keepConfig(
  cache: ProjectCache,
  manifest: ImageManifest,
  source: Fetcher,
  signal?: AbortSignal,
): Promise<void> {
  if (await cache.has(manifest.config)) return;
  try {
    const embedded = embeddedContent(manifest.config);
    if (embedded !== undefined) await cache.add(manifest.config, embedded);
    else await cache.ensureBlob(manifest.config, source, signal ? { signal } : {});
  } catch (err) {
    if (isOrasError(err, 'ERR_ORAS_ABORTED') || signal?.aborted === true) throw err;
  }
}

/**
 * Records the manifests of `deps` in the cache's index.json (one locked
 * update): tagged when complete, with last use `now`.
 */
export async function recordArtifacts(
  cache: ProjectCache,
  deps: LockedDependency[],
  now: Date = new Date(),
): Promise<void> {
  // One read of index.json for all of them (and the comparison below), not one per dependency.
  const current = await cache.store.readLayoutIndex();
  const entries = entriesByDigest(current);
  // Several dependencies at a time (each check is a few thread-pool round trips), recorded in
  // `deps` order: a later record of the same ref.name moves the tag, as one by one.
  const found = await mapBounded(deps, RECORD_CONCURRENCY, async (dep): Promise<CacheRecord | undefined> => {
    const m = await cachedManifest(cache, dep.digest, entries.get(dep.digest));
    if (m === undefined) return undefined;
    const parts = [m.manifest.config, ...m.manifest.layers];
    const complete = (await Promise.all(parts.map((p) => cache.has(p)))).every(Boolean);
    const refName = complete ? cacheRefName(dep) : undefined;
    const desc: Descriptor = {
      mediaType: m.desc.mediaType,
      digest: m.desc.digest,
      size: m.desc.size,
      ...(dep.artifactType !== undefined ? { artifactType: dep.artifactType } : {}),
    };
    return { desc, ...(refName !== undefined ? { refName } : {}), lastUsed: now.toISOString() };
  });
  const records = found.filter((r): r is CacheRecord => r !== undefined);
  if (records.length === 0) return;
  // Nothing to record (the common repeated install): no lock, no write.
  if (!applyCacheRecords(current, records)) return;
  const store = await OciLayoutStore.open(cache.root);
  await store.editIndex((index) => applyCacheRecords(index, records));
}
