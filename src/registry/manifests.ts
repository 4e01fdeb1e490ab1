import { createHash } from 'node:crypto';
import { OrasError } from '../errors.js';
import { readAll } from '../content/read.js';
import type { Descriptor } from '../oci/descriptor.js';
import { digestOf, isDigest, parseDigest, verifyContent, type Digest } from '../oci/digest.js';
import { parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { isManifestMediaType, MANIFEST_ACCEPT } from '../oci/media-types.js';
import { validateTag } from '../oci/reference.js';
import { errorFromResponse } from './http-errors.js';
import type { RepositoryContext } from './repository.js';
import type { RegistryResponse } from './transport.js';

/** A manifest fetched by tag or digest: its descriptor and verified bytes. */
export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  parsed: ParsedManifest;
}

/** Validates a tag-or-digest reference for use in a `/manifests/` URL. */
export function validateManifestReference(reference: string): string {
  return reference.includes(':') ? (parseDigest(reference, 'reference digest'), reference) : validateTag(reference);
}

/** The Accept header for manifests, with `preferred` first when given. */
export function manifestAccept(preferred?: string): string {
  const list =
    preferred !== undefined && !MANIFEST_ACCEPT.includes(preferred)
      ? [preferred, ...MANIFEST_ACCEPT]
      : [...MANIFEST_ACCEPT];
  return list.join(', ');
}

function mediaTypeOf(res: RegistryResponse): string | undefined {
  const ct = res.headers['content-type']?.split(';')[0]?.trim();
  return ct === undefined || ct === '' ? undefined : ct;
}

function tooLarge(size: number, limit: number, what: string): OrasError {
  return new OrasError('ERR_ORAS_MANIFEST_TOO_LARGE', `${what} is ${size} bytes, over the ${limit}-byte limit`, {
    hint: 'refusing to read an oversized manifest; raise maxManifestBytes if it is legitimate',
  });
}

function digestMismatch(what: string, expected: string, actual: string): OrasError {
  return new OrasError(
    'ERR_ORAS_DIGEST_MISMATCH',
    `${what}: expected digest ${expected.slice(0, 140)}, got ${actual}`,
    {
      hint: 'the registry served different content than requested; do not trust it',
    },
  );
}

/**
 * `GET /v2/<repo>/manifests/<tag|digest>` with the full Accept list. The body
 * is capped at `ctx.maxManifestBytes` (rejected early on `Content-Length`,
 * and while reading); fetched by digest, the bytes must hash to it; a
 * `Docker-Content-Digest` header must match the bytes; the document is
 * validated with {@link parseManifest} against the response `Content-Type`
 * (`ERR_ORAS_MEDIA_TYPE_MISMATCH` when its `mediaType` disagrees).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pulling-manifests
 */
export async function fetchManifest(
  ctx: RepositoryContext,
  reference: string,
  options: { signal?: AbortSignal; accept?: string } = {},
): Promise<FetchedManifest> {
  validateManifestReference(reference);
  const what = `manifest ${ctx.repository}${reference.includes(':') ? '@' : ':'}${reference}`;
  const res = await ctx.client.request({
    method: 'GET',
    url: ctx.url(`manifests/${reference}`),
    headers: { Accept: options.accept ?? manifestAccept() },
    scopes: ctx.scopes.pull,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (res.status !== 200) throw await errorFromResponse(res, { operation: `fetch ${what}` });
  const declared = res.headers['content-length'];
  if (declared !== undefined && /^[0-9]+$/.test(declared.trim()) && Number(declared) > ctx.maxManifestBytes) {
    res.body.destroy();
    throw tooLarge(Number(declared), ctx.maxManifestBytes, what);
  }
  let bytes: Buffer;
  try {
    bytes = await readAll(res.body, ctx.maxManifestBytes, what);
  } catch (err) {
    if (err instanceof OrasError && err.code === 'ERR_ORAS_BODY_TOO_LARGE')
      throw tooLarge(ctx.maxManifestBytes + 1, ctx.maxManifestBytes, `${what} (at least)`);
    throw err;
  }
  let digest: Digest;
  if (isDigest(reference)) {
    digest = reference;
    const actual = `${parseDigest(reference).algorithm}:${createHash(parseDigest(reference).algorithm).update(bytes).digest('hex')}`;
    if (actual !== reference) throw digestMismatch(what, reference, actual);
  } else {
    digest = digestOf(bytes);
  }
  const header = res.headers['docker-content-digest']?.trim();
  if (header !== undefined && header !== '') {
    parseDigest(header, 'Docker-Content-Digest header');
    const actual = `${parseDigest(header).algorithm}:${createHash(parseDigest(header).algorithm).update(bytes).digest('hex')}`;
    if (actual !== header) throw digestMismatch(what, header, actual);
    if (!isDigest(reference) && parseDigest(header).algorithm !== 'sha256') digest = header;
  }
  const contentType = mediaTypeOf(res);
  const parsed = parseManifest(bytes, contentType);
  const descriptor: Descriptor = { mediaType: contentType ?? parsed.mediaType, digest, size: bytes.length };
  return { descriptor, bytes, parsed };
}

/**
 * Resolves a tag or digest to a manifest descriptor with
 * `HEAD /v2/<repo>/manifests/<ref>` (Accept: all manifest types), using
 * `Docker-Content-Digest`, `Content-Type` and `Content-Length`. When the HEAD
 * lacks any of them, falls back to a verified GET. `ERR_ORAS_NOT_FOUND` when absent.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#checking-if-content-exists-in-the-registry
 */
export async function resolveManifest(
  ctx: RepositoryContext,
  reference: string,
  signal?: AbortSignal,
): Promise<Descriptor> {
  validateManifestReference(reference);
  const res = await ctx.client.request({
    method: 'HEAD',
    url: ctx.url(`manifests/${reference}`),
    headers: { Accept: manifestAccept() },
    scopes: ctx.scopes.pull,
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 200) throw await errorFromResponse(res, { operation: `resolve ${ctx.repository}:${reference}` });
  res.body.resume();
  const header = res.headers['docker-content-digest']?.trim();
  const mediaType = mediaTypeOf(res);
  const length = res.headers['content-length']?.trim();
  const size = length !== undefined && /^[0-9]+$/.test(length) ? Number(length) : undefined;
  if (
    header !== undefined &&
    isDigest(header) &&
    mediaType !== undefined &&
    isManifestMediaType(mediaType) &&
    size !== undefined
  ) {
    if (isDigest(reference) && header !== reference)
      throw digestMismatch(`resolve ${ctx.repository}`, reference, header);
    if (size > ctx.maxManifestBytes) throw tooLarge(size, ctx.maxManifestBytes, `manifest ${reference}`);
    return { mediaType, digest: header, size };
  }
  return (await fetchManifest(ctx, reference, signal ? { signal } : {})).descriptor;
}

/** Fetches a manifest by descriptor (GET by digest), verified against `desc.size` and `desc.digest`. */
export async function fetchManifestBytes(
  ctx: RepositoryContext,
  desc: Descriptor,
  signal?: AbortSignal,
): Promise<Buffer> {
  parseDigest(desc.digest);
  if (desc.size > ctx.maxManifestBytes) throw tooLarge(desc.size, ctx.maxManifestBytes, `manifest ${desc.digest}`);
  const res = await ctx.client.request({
    method: 'GET',
    url: ctx.url(`manifests/${desc.digest}`),
    headers: { Accept: manifestAccept(desc.mediaType) },
    scopes: ctx.scopes.pull,
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 200)
    throw await errorFromResponse(res, { operation: `fetch manifest ${ctx.repository}@${desc.digest}` });
  const declared = res.headers['content-length']?.trim();
  if (declared !== undefined && /^[0-9]+$/.test(declared) && Number(declared) !== desc.size) {
    res.body.destroy();
    throw new OrasError(
      'ERR_ORAS_SIZE_MISMATCH',
      `registry announced ${declared} bytes for manifest ${desc.digest}, expected ${desc.size}`,
      {
        hint: 'the registry served different content than its descriptor says',
      },
    );
  }
  const bytes = await readAll(res.body, Math.max(desc.size, 0), `manifest ${desc.digest}`).catch((err: unknown) => {
    if (err instanceof OrasError && err.code === 'ERR_ORAS_BODY_TOO_LARGE') {
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `manifest ${desc.digest}: received more than the expected ${desc.size} bytes`,
        { hint: 'the registry served different content than its descriptor says' },
      );
    }
    throw err;
  });
  verifyContent(bytes, desc, `manifest ${desc.digest}`);
  return bytes;
}

/**
 * `PUT /v2/<repo>/manifests/<reference>` (the digest by default, or a tag)
 * with `Content-Type: desc.mediaType`. The bytes must already be verified
 * against `desc`. Returns the response headers (e.g. `oci-subject`).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-manifests
 */
export async function putManifest(
  ctx: RepositoryContext,
  desc: Descriptor,
  bytes: Buffer,
  reference: string = desc.digest,
  signal?: AbortSignal,
): Promise<Record<string, string>> {
  validateManifestReference(reference);
  const res = await ctx.client.request({
    method: 'PUT',
    url: ctx.url(`manifests/${reference}`),
    headers: { 'Content-Type': desc.mediaType },
    body: bytes,
    scopes: ctx.scopes.push,
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 201 && res.status !== 200) {
    const err = await errorFromResponse(res, { operation: `push manifest ${ctx.repository}:${reference}` });
    if (err.registryErrors.some((e) => e.code === 'DIGEST_INVALID')) {
      throw new OrasError(
        'ERR_ORAS_DIGEST_MISMATCH',
        `registry rejected manifest ${desc.digest}: digest does not match`,
        {
          cause: err,
          status: err.status ?? 400,
          registryErrors: err.registryErrors,
          hint: 'the pushed bytes differ from the descriptor',
        },
      );
    }
    throw err;
  }
  res.body.resume();
  const header = res.headers['docker-content-digest']?.trim();
  if (
    header !== undefined &&
    header !== '' &&
    parseDigest(desc.digest).algorithm === 'sha256' &&
    header !== desc.digest
  ) {
    throw digestMismatch(`push manifest ${ctx.repository}`, desc.digest, header.slice(0, 140));
  }
  return res.headers;
}

/**
 * Deletes a manifest (`DELETE /manifests/<digest>`) or blob
 * (`DELETE /blobs/<digest>`). 404 → `ERR_ORAS_NOT_FOUND`; 405 →
 * `ERR_ORAS_UNSUPPORTED` (deletes are disabled on the registry).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#deleting-manifests
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#deleting-blobs
 */
export async function deleteContent(ctx: RepositoryContext, desc: Descriptor, signal?: AbortSignal): Promise<void> {
  parseDigest(desc.digest);
  const kind = isManifestMediaType(desc.mediaType) ? 'manifests' : 'blobs';
  const res = await ctx.client.request({
    method: 'DELETE',
    url: ctx.url(`${kind}/${desc.digest}`),
    scopes: ctx.scopes.delete,
    ...(signal ? { signal } : {}),
  });
  if (res.status === 202 || res.status === 200 || res.status === 204) {
    res.body.resume();
    return;
  }
  const err = await errorFromResponse(res, {
    operation: `delete ${kind === 'manifests' ? 'manifest' : 'blob'} ${ctx.repository}@${desc.digest}`,
  });
  if (res.status === 405) {
    throw new OrasError(
      'ERR_ORAS_UNSUPPORTED',
      `the registry does not allow deleting ${desc.digest} from ${ctx.repository}`,
      {
        status: 405,
        registryErrors: err.registryErrors,
        hint: 'deletion is disabled on this registry (for distribution: set storage.delete.enabled: true)',
      },
    );
  }
  throw err;
}
