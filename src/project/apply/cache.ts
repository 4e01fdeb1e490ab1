import { lstatSync } from 'node:fs';
import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import pLimit from 'p-limit';
import { acquireLock } from '../../content/file-lock.js';
import { streamToFileAtomic, writeFileAtomic } from '../../content/fs-atomic.js';
import { OciLayoutStore } from '../../content/oci-layout.js';
import { readAll } from '../../content/read.js';
import type { Fetcher } from '../../content/store.js';
import { isOrasError, OrasError } from '../../errors.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { digestPath, verifyContent } from '../../oci/digest.js';
import { MAX_MANIFEST_BYTES } from '../../oci/manifest.js';
import { emit, FETCH_PROGRESS_MIN_BYTES, type ProjectListener } from '../events.js';

/**
 * The default cache directory: `$ORAS_CACHE_DIR`, else `configured` (the
 * config's `cache.dir`), else `$XDG_CACHE_HOME/oras-ts`, else
 * `~/.cache/oras-ts`. The cache is an OCI image layout (blobs under
 * `blobs/<alg>/<hex>`) plus `unpacked/<alg>/<hex>/` trees of directory layers.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, configured?: string): string {
  if (env.ORAS_CACHE_DIR) return resolvePath(env.ORAS_CACHE_DIR);
  if (configured !== undefined && configured !== '') return resolvePath(configured);
  if (env.XDG_CACHE_HOME) return join(resolvePath(env.XDG_CACHE_HOME), 'oras-ts');
  return join(homedir(), '.cache', 'oras-ts');
}

/** One regular file of an unpacked directory layer, relative to the layer root. */
export interface UnpackedFile {
  path: string;
  digest: string;
  size: number;
  /** 0o755 when any execute bit is set, else absent (0o644). */
  mode?: number;
}

/** Options for cache reads that may need the network. */
export interface CacheFetchOptions {
  /** Never use `source`: a missing entry fails with `ERR_ORAS_OFFLINE`. */
  offline?: boolean;
  signal?: AbortSignal;
}

/**
 * Decompression bounds for directory layers unpacked into the cache (see `extractTarGz`):
 * defaults 100,000 entries and 8 GiB; more fails with `ERR_ORAS_LIMIT_EXCEEDED`.
 */
export interface CacheLimits {
  maxEntries?: number;
  maxUncompressedBytes?: number;
}

/** One blob {@link ProjectCache.ensureBlobs} must make available. */
export interface BlobNeed {
  desc: Descriptor;
  /** Where to fetch it from when missing. */
  source: Fetcher;
  /** For messages (e.g. the dependency name). */
  label: string;
}

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
  /** Listings of unpacked layers already read (or written) and checked by this process, by layer digest. */
  private readonly listings = new Map<string, UnpackedFile[]>();
  /**
   * How many times a listing file was read and parsed from disk (diagnostics
   * and tests: stays at one per layer however many of its files are placed).
   */
  listingReads = 0;

  private constructor(root: string, store: OciLayoutStore, onEvent?: ProjectListener, limits: CacheLimits = {}) {
    this.root = root;
    this.store = store;
    this.onEvent = onEvent;
    this.limits = limits;
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
   */
  static async open(root: string = defaultCacheDir(), options: { onEvent?: ProjectListener } & CacheLimits = {}): Promise<ProjectCache> {
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
    };
    return new ProjectCache(abs, store, options.onEvent, limits);
  }

  /**
   * Adds content to the cache: verified (size + digest) while streaming into
   * a temp file, fsynced, renamed to `blobs/<alg>/<hex>`. Safe against
   * concurrent writers of the same digest (identical bytes, atomic rename).
   */
  async add(desc: Descriptor, content: Readable | Uint8Array, options: CacheFetchOptions = {}): Promise<void> {
    const path = this.blobPath(desc.digest);
    await this.ensureDir(dirname(path));
    if (content instanceof Uint8Array) {
      verifyContent(content, desc);
      await writeFileAtomic(path, content);
    } else {
      await streamToFileAtomic(path, content, { expected: { digest: desc.digest, size: desc.size }, ...(options.signal ? { signal: options.signal } : {}) });
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
    return this.once(`blob:${desc.digest}`, async () => {
      if (await this.store.exists(desc)) {
        emit(this.onEvent, { type: 'cached', digest: desc.digest });
        return this.blobPath(desc.digest);
      }
      if (options.offline === true || source === undefined) throw offlineError([`${desc.mediaType} ${desc.digest}`]);
      emit(this.onEvent, { type: 'fetch', digest: desc.digest, size: desc.size, mediaType: desc.mediaType });
      const stream = await source.fetch(desc, options.signal ? { signal: options.signal } : {});
      await this.add(desc, this.onEvent === undefined || desc.size < FETCH_PROGRESS_MIN_BYTES ? stream : withFetchProgress(stream, desc, this.onEvent), options);
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
    const limit = pLimit(options.concurrency ?? 4);
    await limit.map(unique, (n) => this.ensureBlob(n.desc, n.source, options));
  }

  /**
   * Returns the bytes of a manifest (or index), from the cache or fetched
   * from `source` and cached. Verified against `desc` either way.
   */
  async manifest(desc: Descriptor, source: Fetcher | undefined, options: CacheFetchOptions = {}): Promise<Buffer> {
    const path = await this.ensureBlob(desc, source, options);
    if (desc.size > MAX_MANIFEST_BYTES) throw new OrasError('ERR_ORAS_MANIFEST_TOO_LARGE', `manifest ${desc.digest} is ${desc.size} bytes`);
    const bytes = await readAll(await this.store.fetch(desc), MAX_MANIFEST_BYTES, path);
    verifyContent(bytes, desc);
    return bytes;
  }

  /** The directory holding the unpacked tree of a directory layer. */
  unpackedDir(layerDigest: string): string {
    return join(this.root, 'unpacked', ...digestPath(layerDigest).split('/'));
  }

  private listingPath(layerDigest: string): string {
    return `${this.unpackedDir(layerDigest)}.json`;
  }

  /**
   * Unpacks a tar+gzip directory layer into the cache once (fetching the
   * blob when needed) and returns the list of its regular files with their
   * digests, sorted by path. `stripPrefix` is the archive root to strip (the
   * layer title, as oras does). Symlinks in the archive are not listed (the
   * lockfile records regular files only). The listing is written after the
   * tree is complete, so its presence means the tree is usable.
   */
  async unpack(layer: Descriptor, source: Fetcher | undefined, options: CacheFetchOptions & { stripPrefix?: string; expectedUncompressedDigest?: string } = {}): Promise<UnpackedFile[]> {
    return this.once(`unpack:${layer.digest}`, async () => {
      const listing = await this.readListing(layer.digest);
      if (listing !== undefined) return listing;
      await this.ensureBlob(layer, source, options);
      const dest = this.unpackedDir(layer.digest);
      await mkdir(join(dest, '..'), { recursive: true });
      // Another process (another project sharing this cache) may be unpacking or reading the same layer.
      const release = await acquireLock(dest, { timeoutMs: 600_000, ...(options.signal ? { signal: options.signal } : {}) });
      try {
        const done = await this.readListing(layer.digest);
        if (done !== undefined) return done;
        return await this.extract(layer, dest, options);
      } finally {
        await release();
      }
    });
  }

  private async extract(layer: Descriptor, dest: string, options: CacheFetchOptions & { stripPrefix?: string; expectedUncompressedDigest?: string }): Promise<UnpackedFile[]> {
    // Loaded on demand: tar-stream is only needed for directory layers.
    const { extractTarGz } = await import('../../artifact/tar-extract.js');
    const extracted = await extractTarGz(await this.store.fetch(layer), dest, {
      ...(options.stripPrefix !== undefined ? { stripPrefix: options.stripPrefix } : {}),
      ...(options.expectedUncompressedDigest !== undefined ? { expectedUncompressedDigest: options.expectedUncompressedDigest } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(this.limits.maxEntries !== undefined ? { maxEntries: this.limits.maxEntries } : {}),
      ...(this.limits.maxUncompressedBytes !== undefined ? { maxUncompressedBytes: this.limits.maxUncompressedBytes } : {}),
      replaceExisting: true,
    });
    // Hashed from the bytes as they were written (no second read of the tree); the tree was synced before it was placed.
    const files: UnpackedFile[] = extracted.files;
    await writeFileAtomic(this.listingPath(layer.digest), JSON.stringify({ layer: layer.digest, files }));
    this.listings.set(layer.digest, files);
    emit(this.onEvent, { type: 'unpacked', digest: layer.digest, files: files.length });
    return files;
  }


  /**
   * The cached listing of an unpacked layer, when present and complete. Read
   * from disk once per process and layer (later calls return the same array),
   * so placing N files of one layer costs O(N), not N listing parses.
   */
  async readListing(layerDigest: string): Promise<UnpackedFile[] | undefined> {
    const known = this.listings.get(layerDigest);
    if (known !== undefined) return known;
    this.listingReads += 1;
    try {
      const doc = JSON.parse(await readFile(this.listingPath(layerDigest), 'utf8')) as { layer?: string; files?: UnpackedFile[] };
      if (doc.layer !== layerDigest || !Array.isArray(doc.files)) return undefined;
      const st = await lstat(this.unpackedDir(layerDigest));
      if (!st.isDirectory()) return undefined;
      this.listings.set(layerDigest, doc.files);
      return doc.files;
    } catch {
      return undefined;
    }
  }

  /**
   * Path of one file of an unpacked layer; re-unpacks the layer (from the
   * cached blob, or `source`) when the file went missing (e.g. a corrupt copy
   * was discarded).
   */
  async unpackedFile(layer: Descriptor, rel: string, source: Fetcher | undefined, options: CacheFetchOptions & { stripPrefix?: string } = {}): Promise<string> {
    const path = join(this.unpackedDir(layer.digest), ...rel.split('/'));
    if ((await this.readListing(layer.digest)) !== undefined) {
      try {
        // Synchronous: one metadata call per placed file, cheaper than a thread-pool round trip.
        if (lstatSync(path).isFile()) return path;
      } catch {
        // fall through: re-unpack
      }
    }
    await this.dropListing(layer.digest);
    await this.unpack(layer, source, options);
    return path;
  }

  private async dropListing(layerDigest: string): Promise<void> {
    this.listings.delete(layerDigest);
    await rm(this.listingPath(layerDigest), { force: true });
  }
}

/** Passes `stream` through, emitting `fetch-progress` events with the bytes received so far (for progress bars). */
function withFetchProgress(stream: Readable, desc: Descriptor, onEvent: ProjectListener): Readable {
  let bytes = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      emit(onEvent, { type: 'fetch-progress', digest: desc.digest, bytes, size: desc.size });
      cb(null, chunk);
    },
  });
  // Errors flow downstream; a consumer that gives up (abort, digest mismatch) releases the source too.
  stream.on('error', (err) => counted.destroy(err));
  counted.on('close', () => {
    if (!stream.destroyed) stream.destroy();
  });
  return stream.pipe(counted);
}
