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
}

/** One blob {@link ProjectCache.ensureBlobs} must make available. */
export interface BlobNeed {
  desc: Descriptor;
  /** Where to fetch it from when missing. */
  source: Fetcher;
  /** For messages (e.g. the dependency name). */
  label: string;
}
