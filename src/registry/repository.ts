import { Readable } from 'node:stream';
import { OrasError, isOrasError } from '../errors.js';
import type { TransferListener } from '../events.js';
import { readAll } from '../content/read.js';
import type {
  CallOptions,
  Deleter,
  FetchOptions,
  PushOptions,
  ReferrerLister,
  TagLister,
  Target,
  UnhashedPushOptions,
  UnhashedPusher,
} from '../content/store.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseDigest, verifyContent } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/manifest.js';
import { isManifestMediaType } from '../oci/media-types.js';
import { parseReference, validateRepository, validateTag } from '../oci/reference.js';
import { blobExists, DEFAULT_DOWNLOAD_ATTEMPTS, fetchBlob } from './blob-download.js';
import { errorFromResponse } from './http-errors.js';
import {
  deleteContent,
  fetchManifest,
  fetchManifestBytes,
  manifestAccept,
  putManifest,
  resolveManifest,
  type FetchedManifest,
} from './manifests.js';
import { DEFAULT_MAX_PAGES, MAX_PAGE_BYTES } from './pagination.js';
import {
  indexReferrerOnPush,
  listReferrers,
  referrersCapability,
  subjectOf,
  updateFallbackIndex,
  type ReferrersApiMode,
} from './referrers.js';
import { listTags } from './tags.js';
import type { Transport } from './transport.js';
import { uploadUnhashed } from './streaming-upload.js';
import { mountBlob, uploadBlob, type MountOptions } from './upload.js';

/** A transport that also knows each registry's base URL (e.g. {@link RegistryClient}). */
export type RepositoryClient = Transport & { baseUrl(registry: string): URL };

/** Tunables of a {@link Repository}. Every field is optional. */
export interface RepositoryOptions {
  /**
   * Largest manifest read or pushed, in bytes. Default {@link MAX_MANIFEST_BYTES} (4 MiB).
   * Lowering it is effective everywhere; documents above 4 MiB are refused by
   * `parseManifest` regardless.
   */
  maxManifestBytes?: number;
  /** Most pages followed when listing tags or referrers. Default 1000. */
  maxTagPages?: number;
  /** Largest listing page (tags, referrers) read, in bytes. Default {@link MAX_PAGE_BYTES} (4 MiB). */
  maxPageBytes?: number;
  /**
   * Blob upload chunk size in bytes: undefined (default) → one monolithic PUT;
   * set → chunked PATCH upload (raised to the registry's `OCI-Chunk-Min-Length`).
   */
  chunkSize?: number;
  /**
   * Referrers discovery: `auto` (default) probes `GET /v2/<repo>/referrers/<digest>`
   * and falls back to the `<alg>-<hex>` tag schema on 404 (no index body) / 405 / 400,
   * remembered per repository; `always` uses only the API; `never` only the tag schema.
   */
  referrersApi?: ReferrersApiMode;
  /** Keep the previous referrers fallback index instead of deleting it after an update. Default false. */
  skipReferrersGc?: boolean;
  /** Requests a blob download may use, including Range resumes after a broken connection. Default 5. */
  maxDownloadAttempts?: number;
  /** Receives transfer events (e.g. `skip`/`mounted`). Must not throw. Default: none. */
  onEvent?: TransferListener;
}

/** Constructor argument of {@link Repository}. */
export interface RepositoryInit extends RepositoryOptions {
  /** `registry/repository` (a tag or digest, if present, is ignored) or its parts. */
  reference: string | { registry: string; repository: string };
  client: RepositoryClient;
}

/** What the distribution-API helpers (manifests.ts, upload.ts, …) need about a repository. Internal. */
export interface RepositoryContext {
  client: Transport;
  registry: string;
  repository: string;
  /** The registry origin, e.g. `http://127.0.0.1:5000/`. */
  base: URL;
  /** A fresh URL `/v2/<repository>/<path>` on the registry. */
  url(path: string): URL;
  /** A fresh URL `/v2/<other repository>/<path>` on the same registry. */
  urlFor(repository: string, path: string): URL;
  scopes: { pull: string[]; push: string[]; delete: string[] };
  maxManifestBytes: number;
  maxTagPages: number;
  maxPageBytes: number;
  chunkSize: number | undefined;
  maxDownloadAttempts: number;
  referrersApi: ReferrersApiMode;
  skipReferrersGc: boolean;
  onEvent: TransferListener | undefined;
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new OrasError('ERR_ORAS_USAGE', `${name} must be a positive integer`, {
      hint: `omit ${name} for the default`,
    });
  return value;
}

function referrersMode(value: ReferrersApiMode | undefined): ReferrersApiMode {
  if (value === undefined) return 'auto';
  if (value !== 'auto' && value !== 'always' && value !== 'never') {
    throw new OrasError('ERR_ORAS_USAGE', `referrersApi must be 'auto', 'always' or 'never'`, {
      hint: "omit it for 'auto'",
    });
  }
  return value;
}

/**
 * A remote repository speaking the OCI distribution API over a
 * {@link Transport}. Blobs and manifests are told apart by media type
 * (`isManifestMediaType`). Every fetched byte is verified against its
 * descriptor; pushed content is verified while streaming.
 */
export class Repository implements Target, Deleter, TagLister, ReferrerLister, UnhashedPusher {
  /** Registry host[:port]. */
  readonly registry: string;
  /** Repository path. */
  readonly repository: string;
  readonly #ctx: RepositoryContext;

  constructor(init: RepositoryInit) {
    const ref = typeof init.reference === 'string' ? parseReference(init.reference) : init.reference;
    validateRepository(ref.repository);
    this.registry = ref.registry;
    this.repository = ref.repository;
    const base = init.client.baseUrl(ref.registry);
    const urlFor = (repo: string, path: string): URL => new URL(`/v2/${repo}/${path}`, base);
    const repo = ref.repository;
    this.#ctx = {
      client: init.client,
      registry: ref.registry,
      repository: repo,
      base,
      url: (path) => urlFor(repo, path),
      urlFor,
      scopes: {
        pull: [`repository:${repo}:pull`],
        push: [`repository:${repo}:pull,push`],
        delete: [`repository:${repo}:delete`],
      },
      maxManifestBytes: positiveInt(init.maxManifestBytes, MAX_MANIFEST_BYTES, 'maxManifestBytes'),
      maxTagPages: positiveInt(init.maxTagPages, DEFAULT_MAX_PAGES, 'maxTagPages'),
      maxPageBytes: positiveInt(init.maxPageBytes, MAX_PAGE_BYTES, 'maxPageBytes'),
      chunkSize: init.chunkSize === undefined ? undefined : positiveInt(init.chunkSize, 1, 'chunkSize'),
      maxDownloadAttempts: positiveInt(init.maxDownloadAttempts, DEFAULT_DOWNLOAD_ATTEMPTS, 'maxDownloadAttempts'),
      referrersApi: referrersMode(init.referrersApi),
      skipReferrersGc: init.skipReferrersGc === true,
      onEvent: init.onEvent,
    };
  }

  /** `registry/repository`. */
  toString(): string {
    return `${this.registry}/${this.repository}`;
  }

  /**
   * Fetches content, verified while streaming (see {@link Fetcher}). Manifests
   * are read whole (capped) and verified before the stream is returned; blobs
   * stream with Range resume on broken connections.
   */
  async fetch(desc: Descriptor, options: FetchOptions = {}): Promise<Readable> {
    if (isManifestMediaType(desc.mediaType)) {
      const bytes = await fetchManifestBytes(this.#ctx, desc, options.signal);
      options.onProgress?.(bytes.length);
      return Readable.from([bytes], { objectMode: false });
    }
    return await fetchBlob(this.#ctx, desc, { ...options, maxAttempts: this.#ctx.maxDownloadAttempts });
  }

  /** True when the blob (HEAD /blobs/) or manifest (HEAD /manifests/) exists. */
  async exists(desc: Descriptor, options: CallOptions = {}): Promise<boolean> {
    if (!isManifestMediaType(desc.mediaType)) return await blobExists(this.#ctx, desc, options.signal);
    parseDigest(desc.digest);
    const res = await this.#ctx.client.request({
      method: 'HEAD',
      url: this.#ctx.url(`manifests/${desc.digest}`),
      headers: { Accept: manifestAccept(desc.mediaType) },
      scopes: this.#ctx.scopes.pull,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (res.status === 200 || res.status === 404) {
      res.body.resume();
      return res.status === 200;
    }
    throw await errorFromResponse(res, { operation: `check manifest ${desc.digest} in ${this.repository}` });
  }

  /**
   * Pushes a blob (upload, verified while streaming; `chunkSize` → chunked) or
   * a manifest (PUT by digest with `Content-Type: desc.mediaType`; a manifest
   * with a `subject` also updates the referrers fallback index when needed).
   */
  async push(desc: Descriptor, content: Readable | Uint8Array, options: PushOptions = {}): Promise<void> {
    if (isManifestMediaType(desc.mediaType)) {
      await this.#pushManifest(desc, content, desc.digest, options);
      return;
    }
    await uploadBlob(this.#ctx, desc, content, {
      ...options,
      ...(this.#ctx.chunkSize !== undefined ? { chunkSize: this.#ctx.chunkSize } : {}),
    });
  }

  /**
   * Pushes a blob while its digest is still being computed ({@link UnhashedPusher}):
   * `POST` + one streamed `PATCH` of `open()` (`size` bytes) in parallel with `digest`;
   * once the digest is known, `HEAD` → `'exists'` (upload cancelled, session deleted) or
   * the PATCH is finished and committed with `PUT ?digest=` → `'pushed'`. Bytes that do not
   * match (source changed meanwhile) → `ERR_ORAS_DIGEST_MISMATCH`, nothing committed. With
   * `chunkSize` set the digest is awaited first and the chunked upload is used.
   */
  async pushUnhashed(
    open: () => Readable,
    size: number,
    digest: Promise<string>,
    options: UnhashedPushOptions = {},
  ): Promise<'pushed' | 'exists'> {
    return await uploadUnhashed(this.#ctx, open, size, digest, {
      ...options,
      ...(this.#ctx.chunkSize !== undefined ? { chunkSize: this.#ctx.chunkSize } : {}),
    });
  }

  /** Pushes a manifest directly under `tag` (one PUT), with the same checks as {@link push}. */
  async pushReference(
    desc: Descriptor,
    content: Readable | Uint8Array,
    tag: string,
    options: PushOptions = {},
  ): Promise<void> {
    validateTag(tag);
    if (!isManifestMediaType(desc.mediaType)) {
      throw new OrasError('ERR_ORAS_USAGE', `cannot tag non-manifest content of type ${desc.mediaType}`, {
        hint: 'only manifests and indexes can be tagged',
      });
    }
    await this.#pushManifest(desc, content, tag, options);
  }

  async #pushManifest(
    desc: Descriptor,
    content: Readable | Uint8Array,
    reference: string,
    options: PushOptions,
  ): Promise<void> {
    if (desc.size > this.#ctx.maxManifestBytes) {
      if (content instanceof Readable) content.destroy();
      throw new OrasError(
        'ERR_ORAS_MANIFEST_TOO_LARGE',
        `manifest ${desc.digest} is ${desc.size} bytes, over the ${this.#ctx.maxManifestBytes}-byte limit`,
        { hint: 'registries refuse manifests this large' },
      );
    }
    const bytes =
      content instanceof Readable
        ? await readAll(content, desc.size, `manifest ${desc.digest}`).catch((err: unknown) => {
            throw isOrasError(err, 'ERR_ORAS_BODY_TOO_LARGE')
              ? new OrasError(
                  'ERR_ORAS_SIZE_MISMATCH',
                  `manifest ${desc.digest}: content is larger than ${desc.size} bytes`,
                  { hint: 'the content does not match its descriptor' },
                )
              : err;
          })
        : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    verifyContent(bytes, desc, `manifest ${desc.digest}`);
    const parsed = parseManifest(bytes, desc.mediaType);
    const headers = await putManifest(this.#ctx, desc, bytes, reference, options.signal);
    options.onProgress?.(bytes.length);
    await indexReferrerOnPush(this.#ctx, desc, parsed, headers, options.signal);
  }

  /** Resolves a tag or digest to a manifest descriptor (HEAD, GET fallback). `ERR_ORAS_NOT_FOUND` when absent. */
  async resolve(reference: string, options: CallOptions = {}): Promise<Descriptor> {
    return await resolveManifest(this.#ctx, reference, options.signal);
  }

  /** Fetches a manifest by tag or digest: its descriptor, verified bytes and parsed document. */
  async fetchManifest(reference: string, options: CallOptions = {}): Promise<FetchedManifest> {
    return await fetchManifest(this.#ctx, reference, options.signal ? { signal: options.signal } : {});
  }

  /** Points `tag` at an existing manifest: fetches its bytes by digest (verified) and PUTs them under the tag. */
  async tag(desc: Descriptor, reference: string, options: CallOptions = {}): Promise<void> {
    validateTag(reference);
    if (!isManifestMediaType(desc.mediaType)) {
      throw new OrasError('ERR_ORAS_USAGE', `cannot tag non-manifest content of type ${desc.mediaType}`, {
        hint: 'only manifests and indexes can be tagged',
      });
    }
    const bytes = await fetchManifestBytes(this.#ctx, desc, options.signal);
    await putManifest(this.#ctx, desc, bytes, reference, options.signal);
  }

  /**
   * Deletes a manifest or blob by digest. 404 → `ERR_ORAS_NOT_FOUND`; 405 →
   * `ERR_ORAS_UNSUPPORTED`. Deleting a manifest with a `subject` on a registry
   * without the referrers API also removes it from the fallback index.
   */
  async delete(desc: Descriptor, options: CallOptions = {}): Promise<void> {
    let subject: Descriptor | undefined;
    if (
      isManifestMediaType(desc.mediaType) &&
      this.#ctx.referrersApi !== 'always' &&
      referrersCapability(this.#ctx) !== true
    ) {
      try {
        subject = subjectOf(parseManifest(await fetchManifestBytes(this.#ctx, desc, options.signal), desc.mediaType));
      } catch {
        subject = undefined;
      }
    }
    await deleteContent(this.#ctx, desc, options.signal);
    if (subject !== undefined) await updateFallbackIndex(this.#ctx, subject, { remove: desc.digest }, options.signal);
  }

  /** Iterates the repository's tags (paginated, bounded by `maxTagPages`). */
  tags(options: CallOptions & { last?: string } = {}): AsyncIterable<string> {
    return listTags(this.#ctx, options);
  }

  /** Lists manifests whose `subject` is `desc` (API or tag fallback), filtered by `artifactType`. */
  async referrers(desc: Descriptor, options: CallOptions & { artifactType?: string } = {}): Promise<Descriptor[]> {
    return await listReferrers(this.#ctx, desc, options);
  }

  /**
   * Mounts a blob from another repository of the same registry. Returns
   * `'mounted'` (and emits `skip`/`mounted`) or, when the registry declines,
   * `'uploaded'` after uploading `getContent()` (default: the blob streamed
   * from `fromRepository`).
   */
  async mount(desc: Descriptor, fromRepository: string, options: MountOptions = {}): Promise<'mounted' | 'uploaded'> {
    return await mountBlob(this.#ctx, desc, fromRepository, {
      ...(this.#ctx.chunkSize !== undefined ? { chunkSize: this.#ctx.chunkSize } : {}),
      ...options,
    });
  }
}
