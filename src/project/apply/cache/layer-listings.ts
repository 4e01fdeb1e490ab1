import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { writeFileAtomic } from '../../../content/fs-atomic.js';
import { teeTo } from '../../../content/tee-stream.js';
import { readSmallFileSync } from '../../../oci/read-small-sync.js';
import type { Fetcher } from '../../../content/store.js';
import { isOrasError, OrasError } from '../../../errors.js';
import type { Descriptor } from '../../../oci/descriptor.js';
import { digestOf, parseDigest, verifyContent } from '../../../oci/digest.js';
import { digestFile } from '../../../oci/hash-file.js';
import type { TarBody, TarScanOptions, TarScanVisitor } from '../../../artifact/tar-scan.js';
import { emit, type ProjectListener } from '../../events.js';
import { replayScan, ScanRecorder, type ScanReplay } from './scan-replay.js';
import type { CacheLimits, LayerFileSink, LayerPrefiller, UnpackOptions } from './cache-options.js';
import {
  canonicalListing,
  LISTING_MEDIA_TYPE,
  MAX_LISTING_BYTES,
  sha256Of,
  type LayerListing,
  type UnpackedFile,
} from './layer-listing.js';
import type { ProjectCache } from './project-cache.js';

/**
 * The listings of a cache's directory layers, and the scans that derive them and place their
 * files: each listing derived from the verified layer blob at most once per cache object, written
 * as a content-addressed blob and then a completion marker; a big layer scanned while it downloads
 * (`fetchScanning`); a scan recorded while a listing is derived, replayed once by the install
 * placing the same layer (scan-replay.ts). Reached through {@link ProjectCache}, which owns the
 * blobs this reads and writes.
 */
export class LayerListings {
  private readonly onEvent: ProjectListener | undefined;
  private readonly limits: CacheLimits;
  /** Listings derived from verified layer blobs by this object (each layer at most once). */
  private readonly derived = new Map<string, Promise<LayerListing>>();
  /** Scans recorded while listings were derived, by `<layer digest> <strip prefix>`: each used once (see scan-replay.ts). */
  private readonly replays = new Map<string, ScanReplay>();
  /** Bytes the recorded scans may still take (see ProjectCache.open's `replayBytes`). */
  private replayBudget: number;
  /** The smallest layer scanned while it downloads (see ProjectCache.open's `scanWhileFetchingBytes`). */
  private readonly scanWhileFetchingBytes: number;
  /** Completion markers already read (or written) by this object, by layer digest: one read per layer, not per file. */
  private readonly markers = new Map<string, { listing: string }>();
  /** How many times a completion marker was read from disk (see {@link ProjectCache.listingReads}). */
  listingReads = 0;
  /** An install's prefills, told the files of the listings derived for a placement (see {@link ProjectCache.setPrefiller}). */
  prefiller: LayerPrefiller | undefined;

  constructor(
    private readonly cache: ProjectCache,
    options: {
      onEvent: ProjectListener | undefined;
      limits: CacheLimits;
      replayBytes: number;
      scanWhileFetchingBytes: number;
    },
  ) {
    this.onEvent = options.onEvent;
    this.limits = options.limits;
    this.replayBudget = options.replayBytes;
    this.scanWhileFetchingBytes = options.scanWhileFetchingBytes;
  }

  /** The listing marker of a directory layer: `{layer, listing}` (the listing blob's digest), next to {@link ProjectCache.unpackedDir}. */
  private markerPath(layerDigest: string): string {
    return `${this.cache.unpackedDir(layerDigest)}.json`;
  }

  /**
   * Makes sure a directory layer's listing is known to the cache (its marker
   * exists), deriving it from the verified layer blob (fetched when needed)
   * otherwise: after this, the layer's blob and listing are cached and an
   * offline install can place its files. Files are extracted into projects
   * straight from the blob at placement, never from a tree in the cache.
   */
  async unpack(layer: Descriptor, source: Fetcher | undefined, options: UnpackOptions = {}): Promise<void> {
    if ((await this.readMarker(layer.digest)) !== undefined) return;
    await this.deriveListing(layer, source, options);
  }

  /**
   * The listing of a directory layer: every regular file (path below the
   * layer root, size, digest, mode), sorted by path, and the digest of its
   * canonical JSON, which is stored in the cache as a content-addressed blob.
   *
   * With `recorded` (the listing digest a lock records for this layer) the
   * listing blob is read from the cache and used when its bytes hash to
   * `recorded` and it names this layer. Otherwise, and always without
   * `recorded`, the listing is derived from the verified layer blob (see
   * {@link LayerListings.deriveListing}): nothing read from the cache's
   * mutable files (its marker, a tree left by an older version) is ever trusted.
   */
  async listing(
    layer: Descriptor,
    source: Fetcher | undefined,
    options: UnpackOptions & { recorded?: string } = {},
  ): Promise<LayerListing> {
    if (options.recorded !== undefined) {
      const files = await this.readListingBlob(options.recorded, layer.digest);
      if (files !== undefined) return { digest: options.recorded, files };
    }
    return this.deriveListing(layer, source, options);
  }

  /**
   * Derives the listing of a directory layer from its verified blob, at most
   * once per layer per cache object: the blob (fetched when missing) is read
   * through a digest-verifying stream and scanned under the tar rules
   * (`scanTar`: a malicious archive is refused here, before anything is
   * placed), each regular file hashed; nothing is written but the listing,
   * stored as a content-addressed blob, and then the completion marker.
   * Concurrent derivations (other processes sharing the cache) write the
   * same bytes atomically.
   */
  deriveListing(layer: Descriptor, source: Fetcher | undefined, options: UnpackOptions = {}): Promise<LayerListing> {
    let p = this.derived.get(layer.digest);
    if (p === undefined) {
      p = this.derive(layer, source, options);
      p.catch(() => this.derived.delete(layer.digest));
      this.derived.set(layer.digest, p);
    }
    return p;
  }

  private async derive(layer: Descriptor, source: Fetcher | undefined, options: UnpackOptions): Promise<LayerListing> {
    const files: UnpackedFile[] = [];
    const byPath = new Map<string, UnpackedFile>(); // for hard links: the file entry holding their content
    // A prefilled layer is placed from its stage, not replayed: no record (and no memory for one).
    const sink =
      options.place !== undefined ? this.prefiller?.sink(layer, options.stripPrefix, options.place) : undefined;
    const recorder = sink === undefined && this.replayBudget > 0 ? new ScanRecorder(this.replayBudget) : undefined;
    const visitor: TarScanVisitor = {
      file: async (rel, mode, size, body) => {
        const f: UnpackedFile = {
          path: rel,
          digest: await sha256Of(body),
          size,
          ...((mode & 0o111) !== 0 ? { mode: 0o755 } : {}),
        };
        recorder?.file(rel, mode, body, f.digest);
        files.push(f);
        byPath.set(rel, f);
        const wait = sink !== undefined ? tellSink(sink, rel, mode, body, f.digest) : undefined;
        if (wait !== undefined) await wait;
      },
      link: (rel, _target, origin) => {
        sink?.giveUp();
        const same = byPath.get(origin);
        if (same !== undefined) files.push({ ...same, path: rel });
      },
    };
    const scanVisitor = recorder !== undefined ? recorder.wrap(visitor) : visitor;
    if (!(await this.fetchScanning(layer, source, options, scanVisitor)))
      await this.scanLayer(layer, options, scanVisitor);
    sink?.complete();
    this.keepReplay(layer.digest, options, recorder?.finish(options.expectedUncompressedDigest));
    const bytes = Buffer.from(canonicalListing(layer.digest, files));
    const digest = digestOf(bytes);
    await this.cache.add({ mediaType: LISTING_MEDIA_TYPE, digest, size: bytes.length }, bytes);
    await mkdir(dirname(this.markerPath(layer.digest)), { recursive: true });
    await writeFileAtomic(this.markerPath(layer.digest), JSON.stringify({ layer: layer.digest, listing: digest }));
    this.markers.set(layer.digest, { listing: digest });
    emit(this.onEvent, { type: 'unpacked', digest: layer.digest, files: files.length });
    return { digest, files: files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
  }

  /**
   * Reads a directory layer from its verified cached blob (it must be cached:
   * `ERR_ORAS_NOT_FOUND` otherwise) and reports every entry that passes the
   * tar rules to `visitor` (see `scanTar`; the cache's entry and size limits
   * apply, the modes are those of a shared tree). The blob's own digest is
   * checked as it is read: a corrupt cache blob fails the scan at its end and
   * is removed (the next install fetches it again), so a visitor that places
   * files verifies each one on its own (against the lock).
   *
   * When this object derived the layer's listing with a recorded scan (see
   * `replayBytes`), the first scan under the same strip prefix replays that
   * record: the same entries in the same order, each file's body a
   * `HashedBody` carrying the digest computed from its bytes.
   */
  async scanLayer(
    layer: Descriptor,
    options: Pick<UnpackOptions, 'stripPrefix' | 'expectedUncompressedDigest' | 'signal'>,
    visitor: TarScanVisitor,
  ): Promise<void> {
    const replay = this.takeReplay(layer.digest, options);
    if (replay !== undefined) return replayScan(replay, visitor, options.signal);
    const { scanTar, scanTarBytes } = await import('../../../artifact/tar-scan.js');
    const scanOptions = this.scanOptions(options);
    try {
      const small = this.cache.readSmallBlob(layer);
      if (small !== undefined) {
        verifyContent(small, layer, `cached layer ${layer.digest}`);
        await scanTarBytes(small, scanOptions, visitor);
      } else await scanTar(await this.cache.store.fetch(layer), scanOptions, visitor);
    } catch (err) {
      // A corrupt cache blob shows as a gzip or tar error before the store's digest check at the end:
      // on any failure, rehash the blob, and drop it when it does not match its name.
      if (isOrasError(err, 'ERR_ORAS_ABORTED') || isOrasError(err, 'ERR_ORAS_NOT_FOUND')) throw err;
      const algorithm = parseDigest(layer.digest).algorithm;
      const got = await digestFile(this.cache.blobPath(layer.digest), { algorithm }).catch(() => undefined);
      if (got !== undefined && got.digest === layer.digest && got.size === layer.size) throw err;
      await rm(this.cache.blobPath(layer.digest), { force: true });
      throw new OrasError(
        'ERR_ORAS_DIGEST_MISMATCH',
        `cached layer ${layer.digest} does not match its digest (${err instanceof Error ? err.message : String(err)})`,
        { cause: err, hint: 'the cache entry is corrupt; it was removed, run install again' },
      );
    }
  }

  /**
   * Fetches a directory layer of at least `scanWhileFetchingBytes` into the cache while `visitor`
   * scans the same bytes (the scan of {@link LayerListings.scanLayer}, on the download's stream: a
   * cold install reads the layer once, and its scan overlaps the transfer). True when it did;
   * false when the layer is smaller (scanned from the cache after the fetch instead), already
   * cached, or fetched by another call: then nothing was scanned, and the blob is cached.
   *
   * The scan sees bytes not yet verified, as any streaming extractor does: the visitor only hashes
   * and records, and nothing it derives is kept unless the download verified (size and digest)
   * and was renamed into the cache. The download's error comes first: a corrupt transfer reports
   * its digest mismatch, not the tar error it may also cause; a blob that verifies but that the
   * scan refused stays cached (it is what its digest names) and the scan's error is thrown.
   */
  private async fetchScanning(
    layer: Descriptor,
    source: Fetcher | undefined,
    options: UnpackOptions,
    visitor: TarScanVisitor,
  ): Promise<boolean> {
    if (layer.size < this.scanWhileFetchingBytes) {
      await this.cache.ensureBlob(layer, source, options);
      return false;
    }
    const { scanTar } = await import('../../../artifact/tar-scan.js');
    let scan: Promise<unknown> | undefined;
    const tap = (stream: Readable): Readable => {
      const branch = new PassThrough({ highWaterMark: SCAN_BRANCH_BYTES });
      scan = scanTar(branch, this.scanOptions(options), visitor);
      scan.catch(() => undefined); // awaited below, after the download
      return teeTo(stream, branch);
    };
    try {
      await this.cache.fetchOnce(layer, source, options, tap);
    } catch (err) {
      await scan?.catch(() => undefined); // its branch was destroyed with the download: let it settle
      throw err;
    }
    if (scan === undefined) return false;
    await scan;
    return true;
  }

  /** The `scanTar` options of a directory layer read for the cache (its limits; the modes of a shared tree). */
  private scanOptions(
    options: Pick<UnpackOptions, 'stripPrefix' | 'expectedUncompressedDigest' | 'signal'>,
  ): TarScanOptions {
    return {
      ...(options.stripPrefix !== undefined ? { stripPrefix: options.stripPrefix } : {}),
      ...(options.expectedUncompressedDigest !== undefined
        ? { expectedUncompressedDigest: options.expectedUncompressedDigest }
        : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(this.limits.maxEntries !== undefined ? { maxEntries: this.limits.maxEntries } : {}),
      ...(this.limits.maxUncompressedBytes !== undefined
        ? { maxUncompressedBytes: this.limits.maxUncompressedBytes }
        : {}),
      shared: true,
      uncompressedDigest: false, // only checked against the annotation (when given)
    };
  }

  /** Keeps the record of a completed scan of `layerDigest` for one later {@link LayerListings.scanLayer}, within the budget. */
  private keepReplay(
    layerDigest: string,
    options: Pick<UnpackOptions, 'stripPrefix'>,
    replay: ScanReplay | undefined,
  ): void {
    if (replay === undefined || replay.cost > this.replayBudget) return;
    this.replayBudget -= replay.cost;
    this.replays.set(`${layerDigest} ${options.stripPrefix ?? ''}`, replay);
  }

  /**
   * The recorded scan of `layerDigest` under the same strip prefix (removed: used once), when it
   * checked whatever uncompressed digest `options` asks for; undefined otherwise.
   */
  private takeReplay(
    layerDigest: string,
    options: Pick<UnpackOptions, 'stripPrefix' | 'expectedUncompressedDigest'>,
  ): ScanReplay | undefined {
    const key = `${layerDigest} ${options.stripPrefix ?? ''}`;
    const replay = this.replays.get(key);
    if (replay === undefined) return undefined;
    this.replays.delete(key);
    this.replayBudget += replay.cost;
    const wanted = options.expectedUncompressedDigest;
    return wanted === undefined || wanted === replay.checkedUncompressed ? replay : undefined;
  }

  /** A listing blob's files when the cache holds `digest` with exactly those bytes and it lists `layerDigest`. */
  private async readListingBlob(digest: string, layerDigest: string): Promise<UnpackedFile[] | undefined> {
    let bytes: Buffer;
    try {
      const path = this.cache.blobPath(digest);
      const small = readSmallFileSync(path, { noFollow: true }); // most listings: no thread-pool round trip
      if (small !== undefined) bytes = small;
      else {
        const st = await lstat(path);
        if (!st.isFile() || st.size > MAX_LISTING_BYTES) return undefined;
        bytes = await readFile(path);
      }
      verifyContent(bytes, { digest, size: bytes.length });
    } catch {
      return undefined;
    }
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { layer?: unknown; files?: unknown };
      return doc.layer === layerDigest && Array.isArray(doc.files) ? (doc.files as UnpackedFile[]) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The listing of a directory layer as recorded by its marker: the listing
   * blob the marker names, used only when its bytes hash to that digest and
   * it names `layerDigest` (for `oras cache verify`, which rehashes a tree an
   * older version left against it). Undefined when missing or not verifiable.
   */
  async readListing(layerDigest: string): Promise<UnpackedFile[] | undefined> {
    const marker = await this.readMarker(layerDigest);
    return marker === undefined ? undefined : this.readListingBlob(marker.listing, layerDigest);
  }

  /** The listing marker of a directory layer (written once its listing blob was stored), when present. */
  async readMarker(layerDigest: string): Promise<{ listing: string } | undefined> {
    const known = this.markers.get(layerDigest);
    if (known !== undefined) return known;
    this.listingReads += 1;
    try {
      const doc = JSON.parse(await readFile(this.markerPath(layerDigest), 'utf8')) as {
        layer?: string;
        listing?: string;
      };
      if (doc.layer !== layerDigest || typeof doc.listing !== 'string') return undefined;
      const marker = { listing: doc.listing };
      this.markers.set(layerDigest, marker);
      return marker;
    } catch {
      return undefined;
    }
  }
}

/** Tells `sink` one file of a scan: its one view of bytes (the sink gives up on a file in pieces). */
function tellSink(
  sink: LayerFileSink,
  rel: string,
  mode: number,
  body: TarBody,
  digest: string,
): Promise<void> | undefined {
  const view = Array.isArray(body) && body.length === 1 ? (body[0] as Uint8Array) : undefined;
  if (view !== undefined) return sink.file(rel, mode, view, digest);
  sink.giveUp();
  return undefined;
}

/**
 * The smallest directory layer a cold install scans while it downloads (32 MiB; see
 * `fetchScanning`). Decision, from interleaved runs (bench/analysis.md, round 21): a 100 MB
 * layer's cold install 4.35-4.77 -> 3.49-3.63 s through a 50 MB/s link and 3-12 % faster on
 * loopback, peak RSS the same either way (the 64 MiB scan record dominates it), but a 21 MB layer
 * of 20,000 files of 1 KiB gained ~25 ms
 * and took 14 MiB more peak RSS (139.9 -> 153.8 MiB, over issue 14's 150 MiB: the download's
 * buffers live beside the scan's). Below this size, reading the layer back from the page cache
 * costs less than that memory; above it, the second read costs real time, and on a real network
 * the whole scan hides behind the transfer.
 */
export const SCAN_WHILE_FETCHING_BYTES = 32 * 1024 * 1024;

/** How far a layer's scan may fall behind its download (see `fetchScanning`): 1 MiB. */
const SCAN_BRANCH_BYTES = 1024 * 1024;
