import { Transform } from 'node:stream';
import { OrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { isLinkLocalHost } from './auth/realm.js';
import { errorFromResponse } from './http-errors.js';
import type { RepositoryContext } from './repository.js';
import type { RegistryRequest, RegistryResponse } from './transport.js';

/**
 * Upload-session helpers shared by the blob upload paths (`upload.ts`:
 * monolithic / chunked / mount; `streaming-upload.ts`: upload while hashing):
 * starting a session, vetting its `Location`, building requests to it,
 * cancelling it, and mapping the registry's verdicts. Internal.
 */

/** Content type of every blob upload request (distribution 2.8.2 requires it). */
export const OCTET = 'application/octet-stream';

/** An upload session: where to send the next request. */
export interface Session {
  location: URL;
  foreign: boolean;
  minChunk: number;
}

/**
 * The session a response (POST/PATCH/GET status) hands out: its `Location` resolved against the
 * response URL and vetted (http(s) only, no userinfo, no link-local foreign host, no https→http
 * downgrade; `ERR_ORAS_INSECURE` otherwise). No Location → `prev` (or `ERR_ORAS_HTTP` without one).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#post-then-put
 */
export function sessionFrom(ctx: RepositoryContext, res: RegistryResponse, prev?: Session): Session {
  const raw = res.headers['location'];
  if (raw === undefined || raw === '') {
    if (prev) return prev;
    throw new OrasError('ERR_ORAS_HTTP', `registry started an upload to ${ctx.repository} without a Location header`, {
      status: res.status,
      hint: 'the registry is misbehaving; report it to its operator',
    });
  }
  let location: URL;
  try {
    location = new URL(raw, res.url);
  } catch (cause) {
    throw new OrasError('ERR_ORAS_HTTP', 'registry sent an invalid upload Location', {
      cause,
      status: res.status,
      hint: 'the registry is misbehaving; report it to its operator',
    });
  }
  if (location.protocol !== 'http:' && location.protocol !== 'https:') {
    throw new OrasError(
      'ERR_ORAS_INSECURE',
      `registry sent an upload Location with the unsupported scheme ${location.protocol}`,
      { hint: 'the registry is misbehaving or malicious; uploads only go to http(s) URLs' },
    );
  }
  if (location.username !== '' || location.password !== '') {
    throw new OrasError('ERR_ORAS_INSECURE', 'registry sent an upload Location with embedded credentials', {
      hint: 'the registry is misbehaving or malicious',
    });
  }
  const foreign = location.origin !== ctx.base.origin;
  if (foreign && isLinkLocalHost(location.hostname)) {
    throw new OrasError(
      'ERR_ORAS_INSECURE',
      `registry sent an upload Location on a link-local address (${location.hostname})`,
      {
        hint: 'link-local addresses (e.g. cloud metadata services) are never contacted',
      },
    );
  }
  if (foreign && ctx.base.protocol === 'https:' && location.protocol !== 'https:') {
    throw new OrasError(
      'ERR_ORAS_INSECURE',
      `registry redirected the upload from https to ${location.protocol.replace(':', '')}`,
      {
        hint: 'refusing to send content over plain HTTP when the registry uses HTTPS',
      },
    );
  }
  const minHeader = res.headers['oci-chunk-min-length'];
  const minChunk =
    minHeader !== undefined && /^[0-9]+$/.test(minHeader.trim()) ? Number(minHeader) : (prev?.minChunk ?? 0);
  return { location, foreign, minChunk };
}

/** `location` with `?digest=<digest>` set (a copy). */
export function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

/** A request to the session's location with push scopes (foreign origins allowed only for a vetted foreign session). */
export function req(
  ctx: RepositoryContext,
  s: Session,
  r: Omit<RegistryRequest, 'scopes' | 'url'> & { url?: URL },
  signal?: AbortSignal,
): RegistryRequest {
  return {
    url: s.location,
    scopes: ctx.scopes.push,
    ...(s.foreign ? { allowForeignOrigin: true } : {}),
    ...(signal ? { signal } : {}),
    ...r,
  };
}

/** Maps a registry's DIGEST_INVALID / SIZE_INVALID verdict to `ERR_ORAS_DIGEST_MISMATCH`. */
export function mapPushError(err: OrasError, desc: Descriptor): OrasError {
  if (err.registryErrors.some((e) => e.code === 'DIGEST_INVALID' || e.code === 'SIZE_INVALID')) {
    return new OrasError(
      'ERR_ORAS_DIGEST_MISMATCH',
      `registry rejected blob ${desc.digest}: content does not match its digest or size`,
      {
        cause: err,
        status: err.status ?? 400,
        registryErrors: err.registryErrors,
        hint: 'the pushed bytes differ from the descriptor; check the source content',
      },
    );
  }
  return err;
}

export async function failed(
  ctx: RepositoryContext,
  res: RegistryResponse,
  desc: Descriptor,
  what: string,
): Promise<OrasError> {
  return mapPushError(
    await errorFromResponse(res, { operation: `${what} blob ${desc.digest} to ${ctx.repository}` }),
    desc,
  );
}

/** Best-effort cancellation of an upload session (DELETE <location>). */
export async function cancel(ctx: RepositoryContext, s: Session): Promise<void> {
  try {
    const res = await ctx.client.request(req(ctx, s, { method: 'DELETE' }));
    res.body.resume();
  } catch {
    /* the session expires on its own */
  }
}

export function checkCommitted(res: RegistryResponse, desc: Descriptor): void {
  const header = res.headers['docker-content-digest'];
  if (header !== undefined && header !== '' && header.trim() !== desc.digest) {
    throw new OrasError(
      'ERR_ORAS_DIGEST_MISMATCH',
      `registry committed blob as ${header.trim().slice(0, 140)}, expected ${desc.digest}`,
      {
        hint: 'the registry stored different content than was pushed',
      },
    );
  }
}

/** A Transform that reports the running byte count. */
export function progressTap(onProgress: ((bytes: number) => void) | undefined, start = 0): Transform {
  let total = start;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      onProgress?.(total);
      cb(null, chunk);
    },
  });
}

/** `POST /v2/<repo>/blobs/uploads/` (optionally with a mount query); returns the response. */
export async function post(
  ctx: RepositoryContext,
  query: Record<string, string>,
  scopes: string[],
  signal?: AbortSignal,
): Promise<RegistryResponse> {
  const url = ctx.url('blobs/uploads/');
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return await ctx.client.request({
    method: 'POST',
    url,
    scopes,
    body: Buffer.alloc(0),
    ...(signal ? { signal } : {}),
  });
}

/** Failures after which the blob may nevertheless have been committed (checked with a HEAD). */
export const COMMIT_UNKNOWN: ReadonlySet<string> = new Set([
  'ERR_ORAS_HTTP',
  'ERR_ORAS_NETWORK',
  'ERR_ORAS_TIMEOUT',
  'ERR_ORAS_NOT_FOUND',
]);
