import type { Fetcher } from '../../../content/store.js';
import type { Descriptor } from '../../../oci/descriptor.js';

/** Options for cache reads that may need the network. */
export interface CacheFetchOptions {
  /** Never use `source`: a missing entry fails with `ERR_ORAS_OFFLINE`. */
  offline?: boolean;
  signal?: AbortSignal;
}

/**
 * Decompression bounds for directory layers read from the cache (listed, or extracted into a project; see `scanTar`):
 * defaults 100,000 entries and 8 GiB; more fails with `ERR_ORAS_LIMIT_EXCEEDED`.
 */
export interface CacheLimits {
  maxEntries?: number;
  maxUncompressedBytes?: number;
  /**
   * Largest declared size of one blob fetched into the cache (default 64 GiB,
   * `DEFAULT_MAX_ARTIFACT_BYTES`): larger → `ERR_ORAS_LIMIT_EXCEEDED`, and a
   * blob that does not fit the free space → `ERR_ORAS_NO_SPACE`, both before
   * the request is sent.
   */
  maxArtifactBytes?: number;
}

/** Options for unpacking a directory layer. */
export interface UnpackOptions extends CacheFetchOptions {
  /** The archive root to strip (the layer title, as oras does). */
  stripPrefix?: string;
  /** The `io.deis.oras.content.digest` annotation: digest of the uncompressed tar. */
  expectedUncompressedDigest?: string;
  /**
   * Where an install would place the layer's files: with a {@link LayerPrefiller} set on the
   * cache, a listing derived for it may write them meanwhile (see apply/prefill.ts).
   */
  place?: PrefillPlace;
}

/** Where the files of a directory layer go in a project (for a prefill). */
export interface PrefillPlace {
  /** The project-relative directory the layer's root is placed at. */
  root: string;
  /** Whether a file (its path below the layer root) is selected for the project. */
  selects(rel: string): boolean;
}

/**
 * What a scan that derives a layer's listing reports its files to, when an install prefills
 * (see apply/prefill.ts). It is told every regular file, or that it cannot be told all of them.
 */
export interface LayerFileSink {
  /**
   * A regular file below the strip prefix: its mode, its bytes (valid only during the call) and
   * the digest this process computed from them. A promise asks the scan to wait before the next.
   */
  file(rel: string, mode: number, bytes: Uint8Array, digest: string): Promise<void> | undefined;
  /** The scan saw an entry the sink is not told (a hard link, a file not in one view). */
  giveUp(): void;
  /** The scan completed and the layer blob verified: every file was told. */
  complete(): void;
}

/** Gives the scan deriving a layer's listing a {@link LayerFileSink} (see apply/prefill.ts). */
export interface LayerPrefiller {
  /** A sink for the layer's files placed at `place`, or undefined (no prefill). */
  sink(layer: Descriptor, stripPrefix: string | undefined, place: PrefillPlace): LayerFileSink | undefined;
}

/** One blob {@link ProjectCache.ensureBlobs} must make available. */
export interface BlobNeed {
  desc: Descriptor;
  /** Where to fetch it from when missing. */
  source: Fetcher;
  /** For messages (e.g. the dependency name). */
  label: string;
}
