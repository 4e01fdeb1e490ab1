import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.js';
import type { ParsedManifest } from '../oci/manifest.js';

/**
 * Capability interfaces, after oras-go's `content` and `registry` packages.
 * Every store (memory, OCI layout, remote repository) implements the subset it
 * can, and {@link Target} is their composition that `copy()` works against.
 */

/** Options accepted by every I/O call. */
export interface CallOptions {
  /** Aborts the operation; the promise rejects with `ERR_ORAS_ABORTED` or the signal's reason. */
  signal?: AbortSignal;
}

/** Options for {@link Pusher.push}. */
export interface PushOptions extends CallOptions {
  /** Called with the running byte count while content is uploaded/written. */
  onProgress?: (bytes: number) => void;
}

/** Options for {@link Fetcher.fetch}. */
export interface FetchOptions extends CallOptions {
  /** Called with the running byte count while content is received. */
  onProgress?: (bytes: number) => void;
}

/**
 * Fetches content by descriptor. The returned stream MUST be verified against
 * `desc.size` and `desc.digest` by the implementation: it errors (with
 * `ERR_ORAS_SIZE_MISMATCH` / `ERR_ORAS_DIGEST_MISMATCH`) instead of ending
 * normally when the bytes do not match, so a consumer that waits for `end`
 * before committing never commits bad bytes.
 */
export interface Fetcher {
  fetch(desc: Descriptor, options?: FetchOptions): Promise<Readable>;
}

/**
 * Pushes content. Implementations MUST verify the bytes against `desc` before
 * making them visible (commit), and leave nothing behind on failure.
 */
export interface Pusher {
  push(desc: Descriptor, content: Readable | Uint8Array, options?: PushOptions): Promise<void>;
}

/** Options for {@link UnhashedPusher.pushUnhashed}. */
export interface UnhashedPushOptions extends PushOptions {
  /**
   * Called once, after the digest is known and the store lacks the blob, before the
   * first `onProgress` call (progress is reported from then on, starting with the bytes
   * already sent). Not called when the blob already exists.
   */
  onStart?: () => void;
  /** Names the source in error messages (e.g. a file path). Default: `content`. */
  what?: string;
}

/**
 * Optional capability (e.g. a remote repository): push a blob whose digest is
 * still being computed, so reading/sending and hashing overlap. `open()` gives the
 * `size`-byte content; `digest` resolves to its digest (computed by the caller,
 * e.g. from the same file in parallel). Once the digest is known the store checks
 * for the blob: present → the upload is cancelled and the result is `'exists'`;
 * missing → the upload is committed under that digest (the store verifies the bytes
 * against it; a mismatch — e.g. the source changed meanwhile — fails with
 * `ERR_ORAS_DIGEST_MISMATCH` and commits nothing) and the result is `'pushed'`.
 * A rejected `digest` or an abort cancels the upload and rejects. Blobs only.
 */
export interface UnhashedPusher {
  pushUnhashed(
    open: () => Readable,
    size: number,
    digest: Promise<string>,
    options?: UnhashedPushOptions,
  ): Promise<'pushed' | 'exists'>;
}

/** Tells whether content exists. */
export interface Exists {
  exists(desc: Descriptor, options?: CallOptions): Promise<boolean>;
}

/** Resolves a tag or digest string to a manifest descriptor; `ERR_ORAS_NOT_FOUND` when absent. */
export interface Resolver {
  resolve(reference: string, options?: CallOptions): Promise<Descriptor>;
}

/** A target that can fetch a manifest by tag or digest in one request (a registry `Repository`). */
export interface ManifestFetcher {
  fetchManifest(
    reference: string,
    options?: { signal?: AbortSignal },
  ): Promise<{ descriptor: Descriptor; bytes: Buffer; parsed: ParsedManifest }>;
}

/** Points a tag at an existing manifest. */
export interface Tagger {
  tag(desc: Descriptor, reference: string, options?: CallOptions): Promise<void>;
}

/** A destination that can push a manifest directly under a tag in one step (e.g. a remote repository). */
export interface ReferencePusher {
  pushReference(
    desc: Descriptor,
    content: Readable | Uint8Array,
    reference: string,
    options?: { signal?: AbortSignal },
  ): Promise<void>;
}

/** Deletes content; `ERR_ORAS_NOT_FOUND` when absent. */
export interface Deleter {
  delete(desc: Descriptor, options?: CallOptions): Promise<void>;
}

/** Lists the tags of a repository/store, sorted as the source returns them. */
export interface TagLister {
  tags(options?: CallOptions & { last?: string }): AsyncIterable<string>;
}

/** Lists the manifests whose `subject` is `desc` (the referrers API or its fallback). */
export interface ReferrerLister {
  referrers(desc: Descriptor, options?: CallOptions & { artifactType?: string }): Promise<Descriptor[]>;
}

/** A store that can be read. */
export interface ReadOnlyStorage extends Fetcher, Exists {}
/** A store that can be read and written. */
export interface Storage extends ReadOnlyStorage, Pusher {}
/** A readable graph of content with named references. */
export interface ReadOnlyTarget extends ReadOnlyStorage, Resolver {}
/** A read-write graph of content with named references: what `copy()` copies between. */
export interface Target extends Storage, Resolver, Tagger {}

/** True when `t` implements {@link ManifestFetcher}. */
export function hasFetchManifest(t: object): t is ManifestFetcher {
  return typeof (t as Partial<ManifestFetcher>).fetchManifest === 'function';
}
/** True when `t` implements {@link ReferrerLister}. */
export function hasReferrers(t: object): t is ReferrerLister {
  return typeof (t as Partial<ReferrerLister>).referrers === 'function';
}
/** True when `t` implements {@link TagLister}. */
export function hasTags(t: object): t is TagLister {
  return typeof (t as Partial<TagLister>).tags === 'function';
}
/** True when `t` implements {@link Deleter}. */
export function hasDelete(t: object): t is Deleter {
  return typeof (t as Partial<Deleter>).delete === 'function';
}
/** True when `t` has a `pushReference` method ({@link ReferencePusher}). */
export function hasPushReference(t: object): t is ReferencePusher {
  return typeof (t as Partial<ReferencePusher>).pushReference === 'function';
}
/** True when `t` implements {@link UnhashedPusher}. */
export function hasUnhashedPush(t: object): t is UnhashedPusher {
  return typeof (t as Partial<UnhashedPusher>).pushUnhashed === 'function';
}
