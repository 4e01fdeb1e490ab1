/**
 * Pure checks and facts about a registry request, computed before it is sent:
 * whether its URL is acceptable, whether it may be repeated (retries, auth
 * rounds) and what the authorizer needs to know about it.
 */
import { OrasError } from '../errors.js';
import type { AuthTarget } from './auth/authorizer.js';
import { redactUrl } from './redact.js';
import type { HttpMethod, RegistryRequest } from './transport.js';

const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set<HttpMethod>(['GET', 'HEAD', 'PUT', 'DELETE']);

/** How a request may be repeated. */
export interface Repeatability {
  idempotent: boolean;
  /** The body can be sent again (none, a Buffer, or a stream factory). */
  replayable: boolean;
  /** Transient failures may be retried. */
  canRetry: boolean;
}

/** A copy of `url`, refused when it is not http(s) or carries userinfo. */
export function checkedUrl(requestUrl: URL): URL {
  const url = new URL(requestUrl.href);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OrasError('ERR_ORAS_USAGE', `unsupported URL scheme ${url.protocol}`, {
      hint: 'registry URLs are http: or https:',
    });
  }
  if (url.username !== '' || url.password !== '') {
    throw new OrasError('ERR_ORAS_USAGE', `request URL ${redactUrl(url)} carries credentials`, {
      hint: 'use the credentials option',
    });
  }
  return url;
}

/** POST and PATCH are retried only when the caller says so; a one-shot stream body never is. */
export function repeatability(req: RegistryRequest): Repeatability {
  const replayable = req.body === undefined || Buffer.isBuffer(req.body) || typeof req.body === 'function';
  return {
    idempotent: IDEMPOTENT.has(req.method),
    replayable,
    canRetry: replayable && (req.retryable ?? (req.method !== 'POST' && req.method !== 'PATCH')),
  };
}

/** The registry a request goes to, as the authorizer sees it. */
export function authTarget(url: URL, scopes: readonly string[], signal: AbortSignal | undefined): AuthTarget {
  return {
    registry: url.host,
    origin: url.origin,
    plainHttp: url.protocol === 'http:',
    scopes,
    ...(signal !== undefined ? { signal } : {}),
  };
}

/** A one-shot stream body was already sent and a retry or auth round needs it again. */
export function oneShotBodyError(method: HttpMethod, url: URL): OrasError {
  return new OrasError(
    'ERR_ORAS_HTTP',
    `${method} ${redactUrl(url)} cannot be repeated: its body is a one-shot stream`,
    {
      hint: 'pass the body as a function returning a fresh stream to make it replayable',
    },
  );
}
