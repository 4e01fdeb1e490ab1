/**
 * Turning a failed registry response into an {@link OrasError} with a stable code,
 * the registry's own error entries and a hint.
 */
import type { Readable } from 'node:stream';
import { OrasError, type OrasErrorCode, type RegistryErrorEntry } from '../errors.js';
import { redactUrl, scrubSecrets, scrubServerText } from './redact.js';
import { errorCode } from './retry.js';

/** Default cap on error bodies read by {@link errorFromResponse}: 64 KiB. */
export const DEFAULT_MAX_ERROR_BODY_BYTES = 64 * 1024;

/** What {@link errorFromResponse} needs from a response. */
export interface ErrorResponseLike {
  status: number;
  headers: Record<string, string>;
  body?: Readable;
  url?: URL;
}

/** Context for the message and hint. */
export interface ErrorContext {
  /** What was being done, e.g. `fetch manifest acme/app:v1` (no secrets). */
  operation?: string;
  /** Registry host, for the `oras login` hint (default: the response URL's host). */
  registry?: string;
  /** HTTP method, for the message. */
  method?: string;
  /** Whether credentials were sent (changes the 401/403 hint). */
  authenticated?: boolean;
  /** Cap on the body bytes read (default 64 KiB). */
  maxBodyBytes?: number;
}

/**
 * Reads at most `max` bytes of `body` and destroys it. Never throws: a failing
 * body yields what was read so far.
 */
export async function readCapped(
  body: Readable | undefined,
  max: number,
): Promise<{ data: Buffer; truncated: boolean }> {
  if (body === undefined) return { data: Buffer.alloc(0), truncated: false };
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of body) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      if (size + b.length > max) {
        chunks.push(b.subarray(0, max - size));
        size = max;
        truncated = true;
        break;
      }
      chunks.push(b);
      size += b.length;
    }
  } catch {
    // keep what we have
  } finally {
    if (!body.destroyed) body.destroy();
  }
  return { data: Buffer.concat(chunks, size), truncated };
}

/**
 * Parses `{"errors":[{code,message,detail}]}`; returns [] for anything else. Messages and
 * details are scrubbed of credentials (`scrubServerText`): a registry may echo them back.
 */
export function parseRegistryErrors(text: string): RegistryErrorEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  if (json === null || typeof json !== 'object') return [];
  const errors = (json as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return [];
  const out: RegistryErrorEntry[] = [];
  for (const e of errors.slice(0, 50)) {
    if (e === null || typeof e !== 'object') continue;
    const { code, message, detail } = e as { code?: unknown; message?: unknown; detail?: unknown };
    if (typeof code !== 'string') continue;
    out.push({
      code: scrubServerText(code.slice(0, 100)),
      ...(typeof message === 'string' ? { message: scrubServerText(message.slice(0, 500)) } : {}),
      ...(detail !== undefined ? { detail: scrubDetail(detail) } : {}),
    });
  }
  return out;
}

/** A registry error `detail` with credentials scrubbed (unchanged when it holds none). */
function scrubDetail(detail: unknown): unknown {
  let text: string;
  try {
    text = JSON.stringify(detail);
  } catch {
    return undefined;
  }
  if (text === undefined) return undefined;
  const scrubbed = scrubServerText(text);
  if (scrubbed === text) return detail;
  try {
    return JSON.parse(scrubbed) as unknown;
  } catch {
    return scrubbed;
  }
}

/** The error code for an HTTP status (and the registry's error codes). */
export function codeForStatus(status: number, registryErrors: RegistryErrorEntry[] = []): OrasErrorCode {
  const codes = new Set(registryErrors.map((e) => e.code));
  if (status === 401) return 'ERR_ORAS_UNAUTHORIZED';
  if (status === 403 || codes.has('DENIED')) return 'ERR_ORAS_DENIED';
  if (status === 404) return 'ERR_ORAS_NOT_FOUND';
  if (status === 413) return 'ERR_ORAS_BODY_TOO_LARGE';
  if (status === 405 && codes.has('UNSUPPORTED')) return 'ERR_ORAS_UNSUPPORTED';
  return 'ERR_ORAS_HTTP';
}

function hintFor(
  code: OrasErrorCode,
  status: number,
  registry: string,
  authenticated: boolean | undefined,
  errs: RegistryErrorEntry[],
): string {
  switch (code) {
    case 'ERR_ORAS_UNAUTHORIZED':
      return authenticated === true
        ? `the registry rejected the credentials; check them or run \`oras login ${registry}\``
        : `the registry requires authentication; run \`oras login ${registry}\``;
    case 'ERR_ORAS_DENIED':
      return authenticated === true
        ? `your credentials lack the needed access (e.g. push access) to this repository on ${registry}`
        : `access denied; run \`oras login ${registry}\` with an account that has access`;
    case 'ERR_ORAS_NOT_FOUND':
      return errs.some((e) => e.code === 'NAME_UNKNOWN')
        ? 'the repository does not exist (check the name)'
        : 'check the repository, tag or digest';
    case 'ERR_ORAS_BODY_TOO_LARGE':
      return 'the registry refused the request body as too large';
    case 'ERR_ORAS_UNSUPPORTED':
      return 'the registry does not support this operation';
    default:
      if (status === 429) return 'the registry is rate limiting; retry later';
      if (status >= 500) return 'the registry had an internal error; retry later';
      return 'see the registry error details';
  }
}

/**
 * Builds an {@link OrasError} from a non-success response: reads the body (capped
 * at `context.maxBodyBytes`, default 64 KiB, then destroys it), parses the
 * registry's `{"errors":[...]}`, maps 401 → `ERR_ORAS_UNAUTHORIZED`, 403 (or a
 * `DENIED` entry) → `ERR_ORAS_DENIED`, 404 → `ERR_ORAS_NOT_FOUND`, 413 →
 * `ERR_ORAS_BODY_TOO_LARGE`, anything else → `ERR_ORAS_HTTP`, with `status`,
 * `registryErrors` and a hint. The message carries the redacted URL, never a body
 * that is not a registry error list.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#error-codes
 */
export async function errorFromResponse(res: ErrorResponseLike, context: ErrorContext = {}): Promise<OrasError> {
  const { data } = await readCapped(res.body, context.maxBodyBytes ?? DEFAULT_MAX_ERROR_BODY_BYTES);
  const registryErrors = parseRegistryErrors(data.toString('utf8'));
  return errorFromStatus(res.status, registryErrors, {
    ...context,
    ...(res.url !== undefined ? { url: res.url } : {}),
  });
}

/** Like {@link errorFromResponse} for an already read response. */
export function errorFromStatus(
  status: number,
  registryErrors: RegistryErrorEntry[],
  context: ErrorContext & { url?: URL } = {},
): OrasError {
  const code = codeForStatus(status, registryErrors);
  const registry = context.registry ?? context.url?.host ?? '<registry>';
  const what =
    context.operation ??
    (context.method !== undefined && context.url !== undefined
      ? `${context.method} ${redactUrl(context.url)}`
      : 'request');
  const detail =
    registryErrors.length > 0
      ? `: ${registryErrors.map((e) => `${e.code}${e.message !== undefined ? ` (${e.message})` : ''}`).join('; ')}`
      : '';
  return new OrasError(code, `${what} failed with HTTP ${status}${detail}`, {
    status,
    registryErrors,
    hint: hintFor(code, status, registry, context.authenticated, registryErrors),
  });
}

/**
 * Maps a network-level failure (undici / Node error) of `method url` to
 * `ERR_ORAS_TIMEOUT` (connect/headers/body timeouts) or `ERR_ORAS_NETWORK`
 * (with a TLS- or reachability-specific hint). The URL is redacted and every
 * string of `secrets` is scrubbed from the message.
 */
export function errorFromNetwork(err: unknown, method: string, url: URL, secrets: Iterable<string> = []): OrasError {
  const code = errorCode(err) ?? 'UNKNOWN';
  const raw = err instanceof Error ? err.message : String(err);
  const msg = scrubSecrets(raw, secrets)
    .replace(/https?:\/\/\S+/g, (u) => redactUrl(u))
    .slice(0, 300);
  const timeout = /TIMEOUT|ETIMEDOUT/.test(code);
  const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|EPROTO|ERR_SSL/.test(code);
  const hint = timeout
    ? 'the registry did not answer in time; check the network or raise the timeouts'
    : tls
      ? code === 'EPROTO' || code.startsWith('ERR_SSL')
        ? 'TLS handshake failed; if the registry speaks plain HTTP use --plain-http'
        : 'TLS verification failed; pass the registry CA with --ca-file (or --insecure for testing)'
      : 'check that the registry is reachable';
  return new OrasError(
    timeout ? 'ERR_ORAS_TIMEOUT' : 'ERR_ORAS_NETWORK',
    `${method} ${redactUrl(url)}: ${code}: ${msg}`,
    { cause: err, hint },
  );
}
