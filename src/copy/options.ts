import type { TransferListener } from '../events.js';
import type { Descriptor } from '../oci/descriptor.js';

/** Options for `copy()` / `copyGraph()`. */
export interface CopyOptions {
  /** Parallel transfers (blob/manifest fetch+push, existence checks). Default 3. */
  concurrency?: number;
  /** Receives start/progress/skip/done/error events per descriptor. Must not throw. */
  onEvent?: TransferListener;
  /** Aborts the copy; rejects with `ERR_ORAS_ABORTED`. In-flight transfers are cancelled. */
  signal?: AbortSignal;
  /**
   * Chooses which layers of image manifests are copied (return false to skip
   * one). Config blobs, index entries and the root are never filtered.
   * Default: copy everything.
   */
  filter?: (desc: Descriptor) => boolean;
  /**
   * Called for a blob missing at the destination before it is streamed (counts
   * against `concurrency`). Return false to stream it normally; true or
   * `'mounted'` when the destination obtained it another way (e.g. a
   * cross-repository mount: a `skip` event with reason `mounted`); `'uploaded'`
   * when the hook itself transferred it (a `done` event). Fits
   * `(d) => repository.mount(d, fromRepository)` directly.
   */
  mount?: (desc: Descriptor) => Promise<boolean | 'mounted' | 'uploaded'>;
  /** Largest manifest/index read into memory (default `MAX_MANIFEST_BYTES`, 4 MiB). */
  maxManifestBytes?: number;
  /** Deepest nesting of manifests below the root (default 32); deeper → `ERR_ORAS_LIMIT_EXCEEDED`. */
  maxDepth?: number;
  /** Also copy each manifest's `subject` (default false, like oras-go). */
  includeSubject?: boolean;
}

/** Options for `extendedCopy()`: {@link CopyOptions} plus referrer discovery bounds. */
export interface ExtendedCopyOptions extends CopyOptions {
  /** Only follow referrers with this artifact type (default: all). */
  referrersArtifactType?: string;
  /** Levels of referrers-of-referrers followed (default 16); deeper → `ERR_ORAS_LIMIT_EXCEEDED`. */
  maxReferrerDepth?: number;
  /** Most referrer manifests copied in total (default 10 000); more → `ERR_ORAS_LIMIT_EXCEEDED`. */
  maxReferrers?: number;
}

/** Default {@link CopyOptions.concurrency}. */
export const DEFAULT_COPY_CONCURRENCY = 3;
/** Default {@link CopyOptions.maxDepth}. */
export const DEFAULT_MAX_DEPTH = 32;
