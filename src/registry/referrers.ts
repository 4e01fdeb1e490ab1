import { manifestSubject, toReferrerDescriptor } from '../content/memory.js';
import { OrasError, isOrasError } from '../errors.js';
import { validateDescriptor, type Descriptor, type ImageIndex } from '../oci/descriptor.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { encodeManifest, type ParsedManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { deleteContent, fetchManifest, putManifest, type FetchedManifest } from './manifests.js';
import { paginate } from './pagination.js';
import type { RepositoryContext } from './repository.js';

/**
 * Referrers: the distribution-spec v1.1 referrers API
 * (`GET /v2/<repo>/referrers/<digest>`) with the referrers tag schema as the
 * fallback (tag `<alg>-<hex>` holding an OCI index of the referrers), which is
 * what registries without the API (e.g. distribution 2.8) get.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-referrers
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#unavailable-referrers-api
 */

/** How to find referrers: probe the API (`auto`), require it (`always`), or use only the tag schema (`never`). */
export type ReferrersApiMode = 'auto' | 'always' | 'never';

/** Per transport, per `registry/repository`: true = API available, false = use the tag schema. */
const capability = new WeakMap<object, Map<string, boolean>>();

function keyOf(ctx: RepositoryContext): string {
  return `${ctx.registry}/${ctx.repository}`;
}

/** The remembered referrers-API capability of the repository, if known. */
export function referrersCapability(ctx: RepositoryContext): boolean | undefined {
  return capability.get(ctx.client)?.get(keyOf(ctx));
}

/** Remembers whether the repository's registry serves the referrers API. */
export function setReferrersCapability(ctx: RepositoryContext, supported: boolean): void {
  let m = capability.get(ctx.client);
  if (!m) capability.set(ctx.client, (m = new Map()));
  m.set(keyOf(ctx), supported);
}

/**
 * The referrers fallback tag of a subject digest: `<alg>-<hex>`, with the
 * algorithm truncated to 32 and the hex to 64 characters (distribution spec).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#referrers-tag-schema
 */
export function referrersTag(digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm.slice(0, 32)}-${hex.slice(0, 64)}`;
}

/**
 * The descriptor listing a referrer manifest in a referrers index:
 * media type (`desc`'s), digest, size, `artifactType` (the manifest's, else
 * its config media type) and the manifest's annotations. Same as
 * {@link toReferrerDescriptor}, but keeping the media type of `desc`.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-referrers
 */
export function referrerDescriptor(desc: Descriptor, parsed: ParsedManifest): Descriptor {
  return toReferrerDescriptor(desc, { ...parsed, mediaType: desc.mediaType });
}

/** The subject of a parsed manifest/index, if any (alias of {@link manifestSubject}). */
export const subjectOf: (parsed: ParsedManifest) => Descriptor | undefined = manifestSubject;

function indexEntries(doc: unknown): Descriptor[] {
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { manifests?: unknown }).manifests)) {
    throw new OrasError('ERR_ORAS_INVALID_MANIFEST', 'referrers response is not an OCI image index', {
      hint: 'the registry is misbehaving; report it to its operator',
    });
  }
  return (doc as { manifests: unknown[] }).manifests.map((m, i) => validateDescriptor(m, `referrers.manifests[${i}]`));
}

/** Lists via the API; `undefined` when the registry does not serve it (404 without an index body, 405, 400). */
async function listViaApi(
  ctx: RepositoryContext,
  subject: Descriptor,
  artifactType: string | undefined,
  signal?: AbortSignal,
): Promise<Descriptor[] | undefined> {
  const url = ctx.url(`referrers/${subject.digest}`);
  if (artifactType !== undefined) url.searchParams.set('artifactType', artifactType);
  let unsupported = false;
  const out: Descriptor[] = [];
  for await (const d of paginate<Descriptor>({
    transport: ctx.client,
    url,
    scopes: ctx.scopes.pull,
    headers: { Accept: MediaType.ImageIndex },
    extract: indexEntries,
    maxPages: ctx.maxTagPages,
    maxPageBytes: ctx.maxPageBytes,
    what: `referrers of ${ctx.repository}@${subject.digest}`,
    ...(signal ? { signal } : {}),
    onFirstPageError: async (res) => {
      const isIndex = res.headers['content-type']?.split(';')[0]?.trim() === MediaType.ImageIndex;
      if ((res.status === 404 && !isIndex) || res.status === 405 || res.status === 400) {
        unsupported = true;
        return [];
      }
      return res.status === 404 ? [] : undefined;
    },
  })) {
    out.push(d);
  }
  return unsupported ? undefined : out;
}

async function fetchFallbackIndex(
  ctx: RepositoryContext,
  subject: Descriptor,
  signal?: AbortSignal,
): Promise<FetchedManifest | undefined> {
  try {
    const fetched = await fetchManifest(ctx, referrersTag(subject.digest), {
      accept: MediaType.ImageIndex,
      ...(signal ? { signal } : {}),
    });
    if (fetched.parsed.kind !== 'index') {
      throw new OrasError(
        'ERR_ORAS_INVALID_MANIFEST',
        `referrers tag ${referrersTag(subject.digest)} in ${ctx.repository} is not an image index`,
        {
          hint: 'something else was pushed under the referrers fallback tag; remove it',
        },
      );
    }
    return fetched;
  } catch (err) {
    if (isOrasError(err, 'ERR_ORAS_NOT_FOUND')) return undefined;
    throw err;
  }
}

/**
 * Lists the referrers of `subject`: via the API when available (probed once
 * per repository in `auto` mode and remembered), else via the tag schema.
 * Filters by `artifactType` client-side (whether or not the registry did).
 */
export async function listReferrers(
  ctx: RepositoryContext,
  subject: Descriptor,
  options: { artifactType?: string; signal?: AbortSignal } = {},
): Promise<Descriptor[]> {
  parseDigest(subject.digest);
  let result: Descriptor[] | undefined;
  if (ctx.referrersApi !== 'never' && referrersCapability(ctx) !== false) {
    result = await listViaApi(ctx, subject, options.artifactType, options.signal);
    if (result === undefined) {
      if (ctx.referrersApi === 'always') {
        throw new OrasError(
          'ERR_ORAS_UNSUPPORTED',
          `the registry does not serve the referrers API for ${ctx.repository}`,
          {
            hint: "use referrersApi: 'auto' to fall back to the referrers tag schema",
          },
        );
      }
      setReferrersCapability(ctx, false);
    } else {
      setReferrersCapability(ctx, true);
    }
  }
  if (result === undefined) result = await listFromTag(ctx, subject, options.signal);
  const type = options.artifactType;
  return type === undefined ? result : result.filter((d) => d.artifactType === type);
}

async function listFromTag(ctx: RepositoryContext, subject: Descriptor, signal?: AbortSignal): Promise<Descriptor[]> {
  const fetched = await fetchFallbackIndex(ctx, subject, signal);
  return fetched?.parsed.kind === 'index' ? fetched.parsed.index.manifests : [];
}

/**
 * Adds `add` to (or removes `remove` from) the referrers fallback index of
 * `subject`: fetch the index under the tag (404 → empty), change it, PUT the
 * new index under the tag (or, when it became empty, push nothing), then
 * delete the old index by digest unless `ctx.skipReferrersGc` (failures of
 * that clean-up are ignored). No-op when nothing changes. Updates of the
 * same index through the same transport are serialized in-process; concurrent
 * writers in other processes can still race (the tag schema has no locking).
 */
export async function updateFallbackIndex(
  ctx: RepositoryContext,
  subject: Descriptor,
  change: { add?: Descriptor; remove?: Digest },
  signal?: AbortSignal,
): Promise<void> {
  // Serialize read-modify-write cycles on the same index within this process
  // (concurrent pushes of referrers of one subject would otherwise lose entries).
  let locks = indexLocks.get(ctx.client);
  if (!locks) indexLocks.set(ctx.client, (locks = new Map()));
  const key = `${keyOf(ctx)}:${referrersTag(subject.digest)}`;
  const previous = locks.get(key) ?? Promise.resolve();
  const run = previous.then(async () => await applyIndexChange(ctx, subject, change, signal));
  const tail = run.catch(() => undefined);
  locks.set(key, tail);
  try {
    await run;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}

/** In-flight fallback index updates per transport, keyed by repository and tag. */
const indexLocks = new WeakMap<object, Map<string, Promise<unknown>>>();

async function applyIndexChange(
  ctx: RepositoryContext,
  subject: Descriptor,
  change: { add?: Descriptor; remove?: Digest },
  signal?: AbortSignal,
): Promise<void> {
  const old = await fetchFallbackIndex(ctx, subject, signal);
  const existing = old?.parsed.kind === 'index' ? old.parsed.index.manifests : [];
  let entries = existing;
  if (change.remove !== undefined) entries = entries.filter((d) => d.digest !== change.remove);
  if (change.add !== undefined && !entries.some((d) => d.digest === change.add?.digest))
    entries = [...entries, change.add];
  if (entries.length === existing.length && entries.every((d, i) => d === existing[i])) return;
  if (entries.length > 0) {
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: entries };
    const bytes = encodeManifest(index);
    const desc: Descriptor = { mediaType: MediaType.ImageIndex, digest: digestOf(bytes), size: bytes.length };
    await putManifest(ctx, desc, bytes, referrersTag(subject.digest), signal);
    if (old !== undefined && old.descriptor.digest === desc.digest) return;
  }
  if (old !== undefined && !ctx.skipReferrersGc) {
    try {
      await deleteContent(ctx, { ...old.descriptor, mediaType: MediaType.ImageIndex }, signal);
    } catch {
      /* garbage collection of the old index is best effort (405 when deletes are disabled, …) */
    }
  }
}

/**
 * After a manifest PUT: when the manifest has a `subject`, keep the referrers
 * discoverable. With an `OCI-Subject` response header the registry indexed it
 * (API available, remembered); otherwise (or with `referrersApi: 'never'`)
 * the fallback index is updated. `always` trusts the registry and does nothing.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-manifests-with-subject
 */
export async function indexReferrerOnPush(
  ctx: RepositoryContext,
  desc: Descriptor,
  parsed: ParsedManifest,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<void> {
  const subject = subjectOf(parsed);
  if (subject === undefined) return;
  if (ctx.referrersApi !== 'never') {
    if ((headers['oci-subject'] ?? '') !== '') {
      setReferrersCapability(ctx, true);
      return;
    }
    if (ctx.referrersApi === 'always') return;
    if (referrersCapability(ctx) === undefined) setReferrersCapability(ctx, false);
  }
  await updateFallbackIndex(ctx, subject, { add: referrerDescriptor(desc, parsed) }, signal);
}
