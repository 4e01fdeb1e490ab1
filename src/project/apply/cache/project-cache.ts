import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { mapBounded } from '../../../artifact/map-bounded.js';
import { streamToFileAtomic, writeFileAtomic } from '../../../content/fs-atomic.js';
import { OciLayoutStore } from '../../../content/oci-layout.js';
import { readAll } from '../../../content/read.js';
import { readSmallFileSync, SMALL_READ_BYTES } from '../../../oci/read-small-sync.js';
import type { Fetcher } from '../../../content/store.js';
import { isOrasError, OrasError } from '../../../errors.js';
import type { Descriptor } from '../../../oci/descriptor.js';
import { digestPath, verifyContent } from '../../../oci/digest.js';
import { MAX_MANIFEST_BYTES } from '../../../oci/manifest.js';
import type { TarScanVisitor } from '../../../artifact/tar-scan.js';
import { checkDownloadSize, DEFAULT_MAX_ARTIFACT_BYTES } from '../../../artifact/size-limits.js';
import { emit, FETCH_PROGRESS_MIN_BYTES, type ProjectListener } from '../../events.js';
import { defaultCacheDir } from '../../spec/config.js';
import type { BlobNeed, CacheFetchOptions, CacheLimits, UnpackOptions } from './cache-options.js';
import type { LayerListing, UnpackedFile } from './layer-listing.js';
import { LayerListings, SCAN_WHILE_FETCHING_BYTES } from './layer-listings.js';
import type { LayerPrefiller } from './cache-options.js';

function offlineError(what: string[]): OrasError {
  const shown = what.slice(0, 10).join(', ') + (what.length > 10 ? `, … (${what.length} in all)` : '');
  return new OrasError('ERR_ORAS_OFFLINE', `offline: not in the cache: ${shown}`, {
    hint: 'run install once with network access (without --offline) to fill the cache',
  });
}

/**
 * The machine-wide content-addressable cache shared by all projects. Blobs
 * and manifests are fetched at most once per machine, verified (size and
 * digest) before an atomic rename into place, so concurrent processes are
 * safe: the worst case is two identical downloads. Within one process,
 * concurrent requests for the same digest share one download.
 */
export class ProjectCache {
  /** Absolute cache root (the OCI layout directory). */
  readonly root: string;
  /** The underlying OCI image layout. */
  readonly store: OciLayoutStore;
  private readonly onEvent: ProjectListener | undefined;
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly dirs = new Map<string, Promise<void>>();
  private readonly limits: CacheLimits;
  /** {@link CacheLimits.maxArtifactBytes} or its default. */
  get maxArtifactBytes(): number {
    return this.limits.maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES;
  }
  /** Directory layers' listings and scans (see layer-listings.ts). */
  private readonly listings: LayerListings;
  /**
   * How many times a completion marker was read from disk (diagnostics and
   * tests: stays at one per layer however many of its files are placed).
   */
  get listingReads(): number {
    return this.listings.listingReads;
  }

  private constructor(
    root: string,
    store: OciLayoutStore,
    onEvent: ProjectListener | undefined,
    limits: CacheLimits,
    replayBytes: number,
    scanWhileFetchingBytes: number,
  ) {
    this.root = root;
    this.store = store;
    this.onEvent = onEvent;
    this.limits = limits;
    this.listings = new LayerListings(this, { onEvent, limits, replayBytes, scanWhileFetchingBytes });
  }

  /**
   * Opens (creating when missing) the cache at `root` (default
   * {@link defaultCacheDir}). The layout is then used read-only, and content
   * (blobs and manifests alike) is added as plain blob files with a verified
   * atomic write ({@link ProjectCache.add}): no `index.json` lock is ever
   * taken while content is fetched, so a process killed at any moment cannot
   * leave a lock that stalls the next install. (An install that changed its
   * lock records its artifacts in index.json once at the end, under the
   * layout's lock: `cache-index.ts`.)
   *
   * `replayBytes` (default 0: off) lets the listings derived by this object
   * record their scans, up to that many bytes in all, so that a
   * {@link ProjectCache.scanLayer} of the same layer soon after (an install
   * placing what it just listed) replays the record instead of reading the
   * blob again (see scan-replay.ts).
   *
   * `scanWhileFetchingBytes` (default {@link SCAN_WHILE_FETCHING_BYTES}; never at or below 1 MiB,
   * whose layers are read on this thread instead): the smallest directory layer whose listing is
   * derived while it downloads rather than after (see `fetchScanning`).
   */
  static async open(
    root: string = defaultCacheDir(),
    options: { onEvent?: ProjectListener; replayBytes?: number; scanWhileFetchingBytes?: number } & CacheLimits = {},
  ): Promise<ProjectCache> {
    const abs = resolvePath(root);
    await mkdir(abs, { recursive: true });
    let store: OciLayoutStore;
    try {
      store = await OciLayoutStore.open(abs, { readOnly: true });
    } catch (err) {
      if (!isOrasError(err, 'ERR_ORAS_NOT_FOUND')) throw err;
      await OciLayoutStore.open(abs); // creates oci-layout, index.json, blobs/
      store = await OciLayoutStore.open(abs, { readOnly: true });
    }
    const limits: CacheLimits = {
      ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
      ...(options.maxUncompressedBytes !== undefined ? { maxUncompressedBytes: options.maxUncompressedBytes } : {}),
      ...(options.maxArtifactBytes !== undefined ? { maxArtifactBytes: options.maxArtifactBytes } : {}),
    };
    return new ProjectCache(
      abs,
      store,
      options.onEvent,
      limits,
      options.replayBytes ?? 0,
      Math.max(options.scanWhileFetchingBytes ?? SCAN_WHILE_FETCHING_BYTES, SMALL_READ_BYTES + 1),
    );
  }

  /**
   * Adds content to the cache: verified (size + digest) while streaming into
   * a temp file, fsynced, renamed to `blobs/<alg>/<hex>`. Safe against
   * concurrent writers of the same digest (identical bytes, atomic rename).
   */
  async add(
    desc: Descriptor,
    content: Readable | Uint8Array,
    options: CacheFetchOptions & { onProgress?: (bytes: number) => void } = {},
  ): Promise<void> {
    const path = this.blobPath(desc.digest);
    await this.ensureDir(dirname(path));
    if (content instanceof Uint8Array) {
      verifyContent(content, desc);
      await writeFileAtomic(path, content);
    } else {
      await streamToFileAtomic(path, content, {
        expected: { digest: desc.digest, size: desc.size },
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
    }
  }

  /** `mkdir -p` once per directory per cache object (blob directories are shared by all blobs of an algorithm). */
  private ensureDir(dir: string): Promise<void> {
    let p = this.dirs.get(dir);
    if (p === undefined) {
      p = mkdir(dir, { recursive: true }).then(() => undefined);
      p.catch(() => this.dirs.delete(dir));
      this.dirs.set(dir, p);
    }
    return p;
  }

  private once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.inflight.get(key);
    if (existing !== undefined) return existing as Promise<T>;
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** Absolute path of a blob file (it may not exist). */
  blobPath(digest: string): string {
    return this.store.blobPath(digest);
  }

  /** True when the blob is cached with the descriptor's size. */
  async has(desc: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean> {
    return this.store.exists({ mediaType: 'application/octet-stream', digest: desc.digest, size: desc.size });
  }

  /**
   * Makes the blob available in the cache (fetching it from `source` unless
   * cached) and returns its path. Emits `cached` or `fetch`/`fetched`.
   */
  async ensureBlob(desc: Descriptor, source: Fetcher | undefined, options: CacheFetchOptions = {}): Promise<string> {
    return this.fetchOnce(desc, source, options);
  }

  /**
   * {@link ProjectCache.ensureBlob}, where `tap`, when given, sees the fetched stream first (and
   * returns the stream to cache): it is called only when this call fetches the blob, not when the
   * blob is cached or another call is fetching it. (For {@link LayerListings}: not for other callers.)
   */
  fetchOnce(
    desc: Descriptor,
    source: Fetcher | undefined,
    options: CacheFetchOptions,
    tap?: (stream: Readable) => Readable,
  ): Promise<string> {
    return this.once(`blob:${desc.digest}`, async () => {
      if (await this.store.exists(desc)) {
        emit(this.onEvent, { type: 'cached', digest: desc.digest });
        return this.blobPath(desc.digest);
      }
      if (options.offline === true || source === undefined) throw offlineError([`${desc.mediaType} ${desc.digest}`]);
      // Declared size within the limit and the free space, before the request: nothing written yet.
      await checkDownloadSize([desc], this.root, { maxArtifactBytes: this.maxArtifactBytes });
      emit(this.onEvent, { type: 'fetch', digest: desc.digest, size: desc.size, mediaType: desc.mediaType });
      const fetched = await source.fetch(desc, options.signal ? { signal: options.signal } : {});
      // Progress comes from the writer's byte count, not from a stage in front of it: the registry's
      // own reader can then hand a big download to the writer from one reused buffer (ChunkSource).
      const onEvent = this.onEvent;
      const progress =
        onEvent === undefined || desc.size < FETCH_PROGRESS_MIN_BYTES
          ? {}
          : {
              onProgress: (bytes: number) =>
                emit(onEvent, { type: 'fetch-progress', digest: desc.digest, bytes, size: desc.size }),
            };
      await this.add(desc, tap === undefined ? fetched : tap(fetched), { ...options, ...progress });
      emit(this.onEvent, { type: 'fetched', digest: desc.digest, size: desc.size });
      return this.blobPath(desc.digest);
    });
  }

  /**
   * Ensures every needed blob is cached (at most `concurrency`, default 4,
   * downloads at once). With `offline`, fails before any work with
   * `ERR_ORAS_OFFLINE` naming every missing blob.
   */
  async ensureBlobs(needs: BlobNeed[], options: CacheFetchOptions & { concurrency?: number } = {}): Promise<void> {
    const unique = [...new Map(needs.map((n) => [n.desc.digest, n])).values()];
    if (options.offline === true) {
      const missing: string[] = [];
      for (const n of unique) if (!(await this.store.exists(n.desc))) missing.push(`${n.label}: ${n.desc.digest}`);
      if (missing.length > 0) throw offlineError(missing);
      // All present (just checked): nothing to fetch, so no second existence check per blob.
      for (const n of unique) emit(this.onEvent, { type: 'cached', digest: n.desc.digest });
      return;
    }
    await mapBounded(unique, options.concurrency ?? 4, (n) => this.ensureBlob(n.desc, n.source, options));
  }

  /**
   * Returns the bytes of a manifest (or index), from the cache or fetched
   * from `source` and cached. Verified against `desc` either way.
   */
  async manifest(desc: Descriptor, source: Fetcher | undefined, options: CacheFetchOptions = {}): Promise<Buffer> {
    const path = await this.ensureBlob(desc, source, options);
    if (desc.size > MAX_MANIFEST_BYTES)
      throw new OrasError('ERR_ORAS_MANIFEST_TOO_LARGE', `manifest ${desc.digest} is ${desc.size} bytes`);
    // Small manifests (all but pathological ones) are read on this thread: an install of 200
    // dependencies reads 200 of them, twice; a stream costs several thread-pool round trips each.
    const bytes = this.readSmallBlob(desc) ?? (await readAll(await this.store.fetch(desc), MAX_MANIFEST_BYTES, path));
    verifyContent(bytes, desc);
    return bytes;
  }

  /**
   * Where an unpacked tree of a directory layer lived: caches written before
   * installs extracted directory layers straight from their blobs hold one here (`gc`, `cache verify` and `cache
   * clean` still handle them); nothing reads files from it any more.
   */
  unpackedDir(layerDigest: string): string {
    return join(this.root, 'unpacked', ...digestPath(layerDigest).split('/'));
  }

  /**
   * Makes sure a directory layer's listing is known to the cache (its marker exists), deriving it
   * from the verified layer blob (fetched when needed) otherwise. See {@link LayerListings.unpack}.
   */
  unpack(layer: Descriptor, source: Fetcher | undefined, options: UnpackOptions = {}): Promise<void> {
    return this.listings.unpack(layer, source, options);
  }

  /**
   * The listing of a directory layer: the listing blob the lock records (`recorded`) when it
   * verifies, else derived from the verified layer blob. See {@link LayerListings.listing}.
   */
  listing(
    layer: Descriptor,
    source: Fetcher | undefined,
    options: UnpackOptions & { recorded?: string } = {},
  ): Promise<LayerListing> {
    return this.listings.listing(layer, source, options);
  }

  /** Derives a directory layer's listing from its verified blob, once per layer. See {@link LayerListings.deriveListing}. */
  deriveListing(layer: Descriptor, source: Fetcher | undefined, options: UnpackOptions = {}): Promise<LayerListing> {
    return this.listings.deriveListing(layer, source, options);
  }

  /**
   * Reads a cached directory layer under the tar rules and reports its entries to `visitor`
   * (a recorded scan replayed once). See {@link LayerListings.scanLayer}.
   */
  scanLayer(
    layer: Descriptor,
    options: Pick<UnpackOptions, 'stripPrefix' | 'expectedUncompressedDigest' | 'signal'>,
    visitor: TarScanVisitor,
  ): Promise<void> {
    return this.listings.scanLayer(layer, options, visitor);
  }

  /**
   * Lets the listings this object derives from now on prefill an install's stages (see
   * apply/prefill.ts; undefined: stop). Set by one install on its own cache object.
   */
  setPrefiller(prefiller: LayerPrefiller | undefined): void {
    this.listings.prefiller = prefiller;
  }

  /** The listing of a directory layer as its marker records it, when verifiable. See {@link LayerListings.readListing}. */
  readListing(layerDigest: string): Promise<UnpackedFile[] | undefined> {
    return this.listings.readListing(layerDigest);
  }

  /** The listing marker of a directory layer, when present. See {@link LayerListings.readMarker}. */
  readMarker(layerDigest: string): Promise<{ listing: string } | undefined> {
    return this.listings.readMarker(layerDigest);
  }

  /**
   * The bytes of a cached blob of at most {@link SMALL_READ_BYTES} (1 MiB), read on this thread
   * (not verified yet; a symlink is not followed); undefined for a bigger or unreadable one, which
   * the caller streams, and the stream reports any error (a stream costs several thread-pool round
   * trips, more than reading a small manifest or layer: an install of 200 small dependencies reads
   * 200 of each).
   */
  readSmallBlob(desc: Pick<Descriptor, 'digest' | 'size'>): Buffer | undefined {
    if (desc.size > SMALL_READ_BYTES) return undefined;
    try {
      return readSmallFileSync(this.blobPath(desc.digest), { limit: desc.size, noFollow: true });
    } catch {
      return undefined; // missing or unreadable: the store's stream reports it as before
    }
  }
}
