/**
 * One HTTP exchange over the client's Agent: request headers (custom headers
 * and Authorization on the registry origin only), the body, debug lines, and
 * redirects for GET/HEAD (each hop vetted by the origin policy). No retries,
 * no auth rounds: those are layered on top by the client.
 */
import type { Readable } from 'node:stream';
import type { Agent } from 'undici';
import { OrasError } from '../errors.js';
import { vetRedirect } from './auth/origin-policy.js';
import { emitDebug, formatRequestLine, formatResponseLine, type DebugSink } from './debug.js';
import { directGet, type DirectConnector } from './direct-get.js';
import { discardBody, normalizeHeaders, safeBody } from './http-body.js';
import { redactUrl } from './redact.js';
import type { HttpMethod, RegistryRequest, RegistryResponse } from './transport.js';
import { undiciLite } from './undici-lite.js';

/** Low-level result of one HTTP exchange (after redirects). */
export interface Exchange extends RegistryResponse {
  /** True when the final URL is on the registry origin (credentials were allowed). */
  onRegistryOrigin: boolean;
}

/** What an exchange needs from the client. */
export interface ExchangeContext {
  agent: Agent;
  userAgent: string;
  /** Custom headers, sent to the registry origin only. */
  headers: Record<string, string>;
  debug: DebugSink | undefined;
  maxRedirects: number;
  /** Allows an https→http redirect. */
  insecure: boolean;
  /** The client's own HTTP/1.1 reader for requests marked `direct` (absent: undici for everything). */
  direct?: { connect: DirectConnector; idleMs: number } | undefined;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Request headers that callers may never set (the client owns them). */
export const NEVER_FORWARD = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
]);

/**
 * Sends `req` to `url` and follows redirects for GET/HEAD (unless
 * `followRedirects` is false), at most `maxRedirects` hops. `authorization`
 * and custom headers go only to `registryOrigin`; a 303 turns into a GET.
 */
export async function exchange(
  ctx: ExchangeContext,
  req: RegistryRequest,
  url: URL,
  authorization: string | undefined,
  registryOrigin: string | undefined,
): Promise<Exchange> {
  let current = url;
  let method = req.method;
  const follow = (req.followRedirects ?? true) && (method === 'GET' || method === 'HEAD');
  for (let hop = 0; ; hop++) {
    const onRegistryOrigin = registryOrigin !== undefined && current.origin === registryOrigin;
    const headers = hopHeaders(ctx, req, onRegistryOrigin ? authorization : undefined, onRegistryOrigin);
    const body = hop === 0 ? firstHopBody(req, headers) : undefined;
    emitDebug(ctx.debug, () => formatRequestLine(method, current, headers));
    const r =
      ctx.direct !== undefined && req.direct === true && method === 'GET' && body === undefined
        ? await directGet(current, headers, { ...ctx.direct, signal: req.signal })
        : await undiciLite.request(ctx.agent, current, {
            method,
            headers,
            ...(body !== undefined ? { body } : {}),
            ...(req.signal !== undefined ? { signal: req.signal } : {}),
          });
    const resHeaders = normalizeHeaders(r.headers);
    const status = r.statusCode;
    emitDebug(ctx.debug, () => formatResponseLine(status, method, current, resHeaders));
    const location = resHeaders['location'];
    if (follow && REDIRECT_STATUSES.has(status) && location !== undefined) {
      discardBody(r.body);
      if (hop >= ctx.maxRedirects) {
        throw new OrasError(
          'ERR_ORAS_HTTP',
          `${req.method} ${redactUrl(url)}: more than ${ctx.maxRedirects} redirects`,
          { status, hint: 'the registry redirects in a loop' },
        );
      }
      const next = vetRedirect(current, location, status, ctx.insecure);
      if (status === 303) method = 'GET';
      current = next;
      continue;
    }
    return { status, headers: resHeaders, body: safeBody(r.body), url: current, onRegistryOrigin };
  }
}

/** Headers of one hop: User-Agent, custom headers (registry origin only), the caller's headers minus {@link NEVER_FORWARD}, Authorization. */
function hopHeaders(
  ctx: ExchangeContext,
  req: RegistryRequest,
  authorization: string | undefined,
  onRegistryOrigin: boolean,
): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': ctx.userAgent };
  if (onRegistryOrigin) Object.assign(headers, lowerKeys(ctx.headers));
  for (const [k, v] of Object.entries(req.headers ?? {})) {
    const name = k.toLowerCase();
    if (!NEVER_FORWARD.has(name)) headers[name] = v;
  }
  if (authorization !== undefined) headers['authorization'] = authorization;
  return headers;
}

/** The body of the first hop (redirects are GET/HEAD, bodiless); sets `content-length` in `headers`. */
function firstHopBody(
  req: RegistryRequest,
  headers: Record<string, string>,
): Buffer | Readable | AsyncIterable<Uint8Array> | undefined {
  if (req.body === undefined) {
    if (req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH') headers['content-length'] = '0';
    return undefined;
  }
  const body = typeof req.body === 'function' ? req.body() : req.body;
  if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
  else if (req.contentLength !== undefined) headers['content-length'] = String(req.contentLength);
  return body;
}

/**
 * Unauthenticated single exchange (no redirects, no custom headers), used for
 * token endpoints. Network errors propagate unmapped.
 */
export async function rawExchange(
  ctx: ExchangeContext,
  method: HttpMethod,
  url: URL,
  headers: Record<string, string>,
  body: Buffer | undefined,
  signal: AbortSignal | undefined,
): Promise<RegistryResponse> {
  const h: Record<string, string> = { 'user-agent': ctx.userAgent, ...headers };
  if (body !== undefined) h['content-length'] = String(body.length);
  emitDebug(ctx.debug, () => formatRequestLine(method, url, h));
  const r = await undiciLite.request(ctx.agent, url, {
    method,
    headers: h,
    ...(body !== undefined ? { body } : {}),
    ...(signal !== undefined ? { signal } : {}),
  });
  const resHeaders = normalizeHeaders(r.headers);
  emitDebug(ctx.debug, () => formatResponseLine(r.statusCode, method, url, resHeaders));
  return { status: r.statusCode, headers: resHeaders, body: safeBody(r.body), url };
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}
