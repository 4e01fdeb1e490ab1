import type { Digest } from '../oci/digest.js';

/**
 * A synchronous consumer of content bytes: it must be done with `chunk` (hash
 * it, write it, copy it) before it returns, because the source may reuse the
 * memory for the next read. Throwing aborts the transfer with that error.
 */
export type ChunkSink = (chunk: Buffer) => void;

/**
 * An optional capability of a fetched stream: instead of being read as a
 * stream, it can hand its bytes to a {@link ChunkSink} as they arrive.
 * Why: a large download written to a file through a stream chain pays a
 * fresh buffer per socket read and the hops between streams; a source that
 * calls the sink from the socket's read callback can read into one reused
 * buffer, hash and write each chunk in one synchronous step (numbers in
 * bench/analysis.md, round 8).
 *
 * The source verifies, as a fetched stream must: `pumpTo` resolves only when
 * exactly `expected.size` bytes with `expected.digest` were delivered, and
 * rejects otherwise (`ERR_ORAS_SIZE_MISMATCH`, `ERR_ORAS_DIGEST_MISMATCH`,
 * network errors, or the sink's own error). The last chunk reaches the sink
 * before the digest is known, so the consumer must not commit anything until
 * the promise resolves.
 */
export interface ChunkSource {
  /** What `pumpTo` verifies against. */
  readonly expected: { digest: Digest; size: number };
  /** True while neither `pumpTo` was called nor the stream read or destroyed. */
  readonly canPump: boolean;
  /**
   * Delivers every byte, in order, to `sink` (once; only while `canPump`).
   * Destroying the stream stops the transfer and rejects the promise.
   */
  pumpTo(sink: ChunkSink): Promise<void>;
}

/** True when `source` offers {@link ChunkSource} and can still use it. */
export function canPumpChunks(source: unknown): source is ChunkSource {
  const s = source as Partial<ChunkSource> | null;
  return typeof s === 'object' && s !== null && typeof s.pumpTo === 'function' && s.canPump === true;
}
