/**
 * The HTTP transport for registries: TLS options, auth challenges and token
 * scopes, retries, redirects (credentials stripped across origins), timeouts and
 * redacted debug logging. Built on undici with one Agent per client; bodies are
 * streamed, never buffered.
 */
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import type { Agent } from 'undici';
import { undiciLite } from './undici-lite.js';
import { OrasError } from '../errors.js';
import { isLoopbackHost } from '../oci/reference.js';
import { Authorizer, type AuthState, type AuthTarget } from './auth/authorizer.js';
import { vettedLookup, type LookupFunction } from './auth/metadata-hosts.js';
import { vetRedirect } from './auth/origin-policy.js';
import type { CredentialProvider } from './credentials/types.js';
import { emitDebug, formatRequestLine, formatResponseLine, type DebugSink } from './debug.js';
import { DEFAULT_MAX_ERROR_BODY_BYTES, errorFromNetwork, errorFromResponse } from './http-errors.js';
import { redactUrl } from './redact.js';
import {
  abortError, errorCode, isRetryableNetworkError, isRetryableStatus, parseRetryAfter, resolveRetryPolicy,
  retryDelay, sleep, type ResolvedRetryPolicy, type RetryPolicy,
} from './retry.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SPEED_LIMIT, DEFAULT_SPEED_TIME_MS, RequestDeadline, type TransferPolicy,
} from './deadline.js';
import type { HttpMethod, RegistryRequest, RegistryResponse, Transport } from './transport.js';

/** Options of {@link RegistryClient}. Every field is optional. */
export interface RegistryClientOptions {
  /**
   * Use `http:` instead of `https:` for a registry. A boolean applies to all
   * registries; a function decides per registry host. Default: plain HTTP for
   * loopback hosts only (localhost, 127.0.0.0/8, ::1), HTTPS for everything else.
   */
  plainHttp?: boolean | ((registry: string) => boolean);
  /** Skip TLS certificate verification (dangerous; default false). */
  insecure?: boolean;
  /** Extra trusted CA certificate(s), PEM. Added to Node's default roots. Default: none. */
  ca?: string | Buffer;
  /** Path of a PEM file with extra trusted CA certificate(s), read at construction. Default: none. */
  caFile?: string;
  /** Client certificate (PEM) for mutual TLS. Default: none. */
  cert?: string | Buffer;
  /** Private key (PEM) of {@link cert}. Default: none. */
  key?: string | Buffer;
  /** Where credentials come from. Default: none (anonymous). */
  credentials?: CredentialProvider;
  /** Custom headers sent to the registry origin only (never to redirect targets or token realms). Default: none. */
  headers?: Record<string, string>;
  /** User-Agent header. Default `oras-ts/<version>`. */
  userAgent?: string;
  /** Retry policy (see {@link RetryPolicy} for defaults: 5 attempts, 200 ms base, 10 s cap, 60 s total). */
  retry?: RetryPolicy;
  /**
   * Timeouts in ms: `connect` (default 30 000); `idle`, the max silence while
   * waiting for headers or body data (default 60 000); `request`, the total
   * deadline of a metadata request including its body (manifests, tags,
   * referrers, tokens, error bodies; default 300 000; 0 = none); and the
   * minimum throughput of blob downloads, `speedLimit` bytes/s averaged over
   * windows of `speedTime` ms (defaults 100 and 60 000; 0 = none). Failures
   * are `ERR_ORAS_TIMEOUT`.
   */
  timeouts?: { connect?: number; idle?: number; request?: number; speedLimit?: number; speedTime?: number };
  /** Receives one redacted line per request and response. Bodies are never logged. Default: none. */
  onDebug?: DebugSink;
  /** Maximum redirects followed for GET/HEAD (default 5). */
  maxRedirects?: number;
  /** Cap on error bodies read (default 64 KiB). */
  maxErrorBodyBytes?: number;
  /** Cap on token endpoint responses (default 1 MiB). */
  maxTokenBodyBytes?: number;
  /**
   * For username/password credentials, ask the token endpoint with an OAuth2
   * `grant_type=password` POST first (falling back to GET on 404/405) instead of
   * a Basic-authenticated GET. Default false (GET, like docker).
   */
  oauth2Password?: boolean;
  /**
   * Resolver used for every connection (`dns.lookup`-compatible; default
   * `dns.lookup`), e.g. for a private name map like curl's `--resolve`.
   * Whatever it returns, a connection to a host other than a registry the
   * caller addressed (redirect targets, upload Locations, token realms) that
   * resolves to a link-local or cloud metadata address fails with
   * `ERR_ORAS_INSECURE` before any byte is sent.
   */
  lookup?: LookupFunction;
}

/** Default User-Agent. */
export const DEFAULT_USER_AGENT = 'oras-ts/0.1.0';

/** Low-level result of one HTTP exchange (after redirects). */
interface Exchange extends RegistryResponse {
  /** True when the final URL is on the registry origin (credentials were allowed). */
  onRegistryOrigin: boolean;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set<HttpMethod>(['GET', 'HEAD', 'PUT', 'DELETE']);
const NEVER_FORWARD = new Set(['authorization', 'proxy-authorization', 'cookie', 'host', 'content-length', 'transfer-encoding', 'connection']);

/** Joins undici header values to the `Record<string,string>` form of {@link RegistryResponse}. */
export function normalizeHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Discards a response body without throwing (reads a little to keep the connection, then destroys). */
export function discardBody(body: Readable): void {
  const b = body as Readable & { dump?: (o: { limit: number }) => Promise<void> };
  if (typeof b.dump === 'function') {
    b.dump({ limit: 64 * 1024 }).catch(() => undefined);
  } else {
    body.resume();
    body.on('error', () => undefined);
    body.destroy();
  }
}

/**
 * The registry HTTP client. One instance holds one connection pool (undici
 * Agent), a token cache and the options; share it between repositories and call
 * {@link RegistryClient.close} when done.
 */
export class RegistryClient implements Transport {
  readonly #agent: Agent;
  readonly #plainHttp: (registry: string) => boolean;
  readonly #headers: Record<string, string>;
  readonly #userAgent: string;
  readonly #retry: ResolvedRetryPolicy;
  readonly #debug: DebugSink | undefined;
  readonly #maxRedirects: number;
  readonly #maxErrorBodyBytes: number;
  readonly #insecure: boolean;
  readonly #auth: Authorizer;
  readonly #requestTimeoutMs: number;
  /** The minimum-throughput rule for blob downloads (see `timeouts`). */
  readonly transferPolicy: TransferPolicy;
  /** Hostnames the caller addressed as registries (not redirect targets or realms); bounded. */
  readonly #registryHosts = new Set<string>();
  /** Origins whose `GET /v2/` probe answered without a 401: the probe is not repeated for them. */
  readonly #openOrigins = new Set<string>();

  constructor(options: RegistryClientOptions = {}) {
    const p = options.plainHttp;
    this.#plainHttp = typeof p === 'function' ? p : typeof p === 'boolean' ? () => p : isLoopbackHost;
    this.#headers = { ...(options.headers ?? {}) };
    for (const k of Object.keys(this.#headers)) {
      if (NEVER_FORWARD.has(k.toLowerCase())) {
        throw new OrasError('ERR_ORAS_USAGE', `custom header ${JSON.stringify(k)} is not allowed`, { hint: 'use the credentials option for authentication' });
      }
    }
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#retry = resolveRetryPolicy(options.retry);
    this.#debug = options.onDebug;
    this.#maxRedirects = Math.max(0, Math.min(20, options.maxRedirects ?? 5));
    this.#maxErrorBodyBytes = options.maxErrorBodyBytes ?? DEFAULT_MAX_ERROR_BODY_BYTES;
    this.#insecure = options.insecure === true;
    let ca: string | Buffer | undefined = options.ca;
    if (options.caFile !== undefined) {
      try {
        const fromFile = readFileSync(options.caFile);
        ca = ca === undefined ? fromFile : Buffer.concat([Buffer.from(ca), Buffer.from('\n'), fromFile]);
      } catch (err) {
        throw new OrasError('ERR_ORAS_CONFIG', `cannot read CA file ${options.caFile}: ${(err as Error).message}`, { cause: err, hint: 'check the --ca-file path' });
      }
    }
    const connect = {
      timeout: options.timeouts?.connect ?? 30_000,
      rejectUnauthorized: !this.#insecure,
      lookup: vettedLookup((host) => this.#registryHosts.has(host), options.lookup),
      ...(ca !== undefined ? { ca: withSystemRoots(ca) } : {}),
      ...(options.cert !== undefined ? { cert: options.cert } : {}),
      ...(options.key !== undefined ? { key: options.key } : {}),
    };
    const idle = options.timeouts?.idle ?? 60_000;
    this.#requestTimeoutMs = options.timeouts?.request ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.transferPolicy = { speedLimit: options.timeouts?.speedLimit ?? DEFAULT_SPEED_LIMIT, speedTimeMs: options.timeouts?.speedTime ?? DEFAULT_SPEED_TIME_MS };
    this.#agent = new undiciLite.Agent({ connect, headersTimeout: idle, bodyTimeout: idle, connections: 16 });
    this.#auth = new Authorizer({
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      userAgent: this.#userAgent,
      maxTokenBodyBytes: options.maxTokenBodyBytes ?? 1024 * 1024,
      oauth2Password: options.oauth2Password === true,
      retry: this.#retry,
      send: (method, url, headers, body, signal) => this.#rawSend(method, url, headers, body, signal),
      ...(this.#debug !== undefined ? { onDebug: this.#debug } : {}),
    });
  }

  /** True when `registry` is contacted over plain HTTP (per the `plainHttp` option). */
  isPlainHttp(registry: string): boolean {
    return this.#plainHttp(registry);
  }

  /** `http://registry` or `https://registry` per the `plainHttp` option (no path). */
  baseUrl(registry: string): URL {
    let url: URL;
    try {
      url = new URL(`${this.#plainHttp(registry) ? 'http' : 'https'}://${registry}`);
    } catch (err) {
      throw new OrasError('ERR_ORAS_INVALID_REFERENCE', `invalid registry host ${JSON.stringify(registry.slice(0, 200))}`, { cause: err, hint: 'use host[:port]' });
    }
    if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') {
      throw new OrasError('ERR_ORAS_INVALID_REFERENCE', `invalid registry host ${JSON.stringify(registry.slice(0, 200))}`, { hint: 'use host[:port]' });
    }
    return url;
  }

  /** Closes the connection pool. Pending requests fail. */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  /**
   * Sends `req`: adds auth (answering 401 challenges at most twice: first
   * authentication plus one re-authentication for `insufficient_scope` /
   * `invalid_token`), retries transient failures per the retry policy, follows
   * redirects for GET/HEAD (dropping Authorization, cookies and custom headers on
   * another origin). Returns every status except a final 401, which throws
   * `ERR_ORAS_UNAUTHORIZED` / `ERR_ORAS_DENIED` (or `ERR_ORAS_CROSS_ORIGIN` when a
   * foreign origin asked for credentials). Without `allowForeignOrigin` the
   * URL's origin is taken as the registry origin (credentials are looked up by
   * its host, so they only ever go to their own host); with it, the request is
   * sent with no Authorization and no custom headers. Network failures throw
   * `ERR_ORAS_NETWORK` / `ERR_ORAS_TIMEOUT`; an abort throws `ERR_ORAS_ABORTED`.
   * A metadata request (not `transfer`, no stream body) must complete within
   * the `timeouts.request` deadline, body included: the call or the body then
   * fails with `ERR_ORAS_TIMEOUT`.
   */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    const bulk = req.transfer === true || (req.body !== undefined && !Buffer.isBuffer(req.body));
    if (bulk || this.#requestTimeoutMs <= 0) return await this.#request(req);
    const deadline = new RequestDeadline(this.#requestTimeoutMs, `${req.method} ${redactUrl(req.url)}`);
    const signal = req.signal === undefined ? deadline.signal : AbortSignal.any([req.signal, deadline.signal]);
    try {
      const res = await this.#request({ ...req, signal });
      deadline.watch(res.body);
      return res;
    } catch (err) {
      deadline.clear();
      if (deadline.expired && req.signal?.aborted !== true) throw deadline.error();
      throw err;
    }
  }

  async #request(req: RegistryRequest): Promise<RegistryResponse> {
    const url = new URL(req.url.href);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new OrasError('ERR_ORAS_USAGE', `unsupported URL scheme ${url.protocol}`, { hint: 'registry URLs are http: or https:' });
    }
    if (url.username !== '' || url.password !== '') {
      throw new OrasError('ERR_ORAS_USAGE', `request URL ${redactUrl(url)} carries credentials`, { hint: 'use the credentials option' });
    }
    const signal = req.signal;
    if (signal?.aborted === true) throw abortError(signal);
    // Without allowForeignOrigin the URL's origin is the registry's (credentials are looked up
    // by its host, so they only ever go to their own host). A foreign URL gets nothing.
    const registryOrigin = req.allowForeignOrigin === true ? undefined : url.origin;
    if (registryOrigin !== undefined && this.#registryHosts.size < 1024) this.#registryHosts.add(url.hostname);
    const method = req.method;
    const idempotent = IDEMPOTENT.has(method);
    const replayable = req.body === undefined || Buffer.isBuffer(req.body) || typeof req.body === 'function';
    const canRetry = replayable && (req.retryable ?? (method !== 'POST' && method !== 'PATCH'));
    const target: AuthTarget = {
      registry: url.host,
      origin: url.origin,
      plainHttp: url.protocol === 'http:',
      scopes: req.scopes,
      ...(signal !== undefined ? { signal } : {}),
    };
    const authState: AuthState = {};
    let authorization = registryOrigin !== undefined ? await this.#auth.headerFor(target, authState) : undefined;
    if (authorization === undefined && !replayable && registryOrigin !== undefined && !this.#openOrigins.has(registryOrigin)) {
      authorization = await this.#primeAuth(target, authState);
    }
    const started = Date.now();
    let attempt = 0;
    let authRounds = 0;
    let bodyUsed = false;
    // Bounded: each pass either returns, throws, or consumes an attempt / an auth round.
    for (let pass = 0; pass < this.#retry.maxAttempts + 3; pass++) {
      if (bodyUsed && !replayable) {
        throw new OrasError('ERR_ORAS_HTTP', `${method} ${redactUrl(url)} cannot be repeated: its body is a one-shot stream`, {
          hint: 'pass the body as a function returning a fresh stream to make it replayable',
        });
      }
      attempt++;
      let res: Exchange;
      try {
        bodyUsed = true;
        res = await this.#exchange(req, url, authorization, registryOrigin);
      } catch (err) {
        if (isAborted(signal)) throw abortError(signal);
        if (err instanceof OrasError) throw err;
        if (canRetry && isRetryableNetworkError(err, idempotent) && attempt < this.#retry.maxAttempts) {
          const delay = retryDelay(attempt, this.#retry);
          if (Date.now() - started + delay <= this.#retry.maxTotalMs) {
            emitDebug(this.#debug, () => `retrying ${method} ${redactUrl(url)} after ${errorCode(err) ?? 'error'} in ${delay} ms (attempt ${attempt + 1})`);
            await sleep(delay, signal);
            continue;
          }
        }
        throw this.#networkError(err, method, url);
      }
      if (res.status === 401) {
        const challenge = res.headers['www-authenticate'];
        if (!res.onRegistryOrigin) {
          discardBody(res.body);
          throw new OrasError('ERR_ORAS_CROSS_ORIGIN', `${res.url.origin}, which is not the registry origin, asked for credentials on ${method} ${redactUrl(res.url)}`, {
            status: 401,
            hint: 'registry credentials are never sent to another origin (redirect targets, foreign upload locations); that server must not require authentication',
          });
        }
        if (authRounds < 2) {
          let outcome: Awaited<ReturnType<Authorizer['onChallenge']>>;
          try {
            outcome = await this.#auth.onChallenge(target, challenge, authState);
          } catch (err) {
            discardBody(res.body);
            throw err;
          }
          if ('authorization' in outcome) {
            discardBody(res.body);
            authorization = outcome.authorization;
            authRounds++;
            attempt--; // auth rounds do not consume retry attempts
            continue;
          }
          const e = await errorFromResponse(res, { method, registry: url.host, authenticated: authState.sent !== undefined, maxBodyBytes: this.#maxErrorBodyBytes });
          throw outcome.fail === 'denied' ? asDenied(e, url.host) : e;
        }
        const kind = await this.#auth.finalFailure(target, challenge, authState).catch(() => 'unauthorized' as const);
        const e = await errorFromResponse(res, { method, registry: url.host, authenticated: authState.sent !== undefined, maxBodyBytes: this.#maxErrorBodyBytes });
        throw kind === 'denied' ? asDenied(e, url.host) : e;
      }
      if (canRetry && isRetryableStatus(res.status) && attempt < this.#retry.maxAttempts) {
        const delay = retryDelay(attempt, this.#retry, parseRetryAfter(res.headers['retry-after']));
        if (Date.now() - started + delay <= this.#retry.maxTotalMs) {
          discardBody(res.body);
          emitDebug(this.#debug, () => `retrying ${method} ${redactUrl(url)} after HTTP ${res.status} in ${delay} ms (attempt ${attempt + 1})`);
          await sleep(delay, signal);
          continue;
        }
      }
      return { status: res.status, headers: res.headers, body: res.body, url: res.url };
    }
    throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `${method} ${redactUrl(url)}: too many attempts`, { hint: 'the registry keeps failing; retry later' });
  }

  /**
   * Before sending a one-shot body to a registry whose auth scheme is unknown,
   * learn it from `GET /v2/` so the body is not wasted on a 401. A non-401
   * answer is remembered per origin (bounded set) so the probe is sent once,
   * not before every upload.
   */
  async #primeAuth(target: AuthTarget, state: AuthState): Promise<string | undefined> {
    const url = new URL('/v2/', target.origin);
    let res: Exchange;
    try {
      res = await this.#exchange({ method: 'GET', url, scopes: [], followRedirects: false, ...(target.signal !== undefined ? { signal: target.signal } : {}) }, url, undefined, target.origin);
    } catch (err) {
      if (isAborted(target.signal)) throw abortError(target.signal);
      if (err instanceof OrasError) throw err;
      throw this.#networkError(err, 'GET', url);
    }
    discardBody(res.body);
    if (res.status !== 401) {
      if (this.#openOrigins.size < 1024) this.#openOrigins.add(target.origin);
      return undefined;
    }
    const outcome = await this.#auth.onChallenge(target, res.headers['www-authenticate'], state);
    return 'authorization' in outcome ? outcome.authorization : undefined;
  }

  /** One exchange including redirects (GET/HEAD only). */
  async #exchange(req: RegistryRequest, url: URL, authorization: string | undefined, registryOrigin: string | undefined): Promise<Exchange> {
    let current = url;
    let method = req.method;
    const follow = (req.followRedirects ?? true) && (method === 'GET' || method === 'HEAD');
    for (let hop = 0; ; hop++) {
      const onRegistryOrigin = registryOrigin !== undefined && current.origin === registryOrigin;
      const headers: Record<string, string> = { 'user-agent': this.#userAgent };
      if (onRegistryOrigin) Object.assign(headers, lowerKeys(this.#headers));
      for (const [k, v] of Object.entries(req.headers ?? {})) {
        const name = k.toLowerCase();
        if (!NEVER_FORWARD.has(name)) headers[name] = v;
      }
      if (onRegistryOrigin && authorization !== undefined) headers['authorization'] = authorization;
      let body: Buffer | Readable | undefined;
      if (hop === 0 && req.body !== undefined) {
        body = typeof req.body === 'function' ? req.body() : req.body;
        if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
        else if (req.contentLength !== undefined) headers['content-length'] = String(req.contentLength);
      } else if (hop === 0 && (method === 'PUT' || method === 'POST' || method === 'PATCH')) {
        headers['content-length'] = '0';
      }
      emitDebug(this.#debug, () => formatRequestLine(method, current, headers));
      const r = await undiciLite.request(this.#agent, current, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(req.signal !== undefined ? { signal: req.signal } : {}),
      });
      const resHeaders = normalizeHeaders(r.headers);
      const status = r.statusCode;
      emitDebug(this.#debug, () => formatResponseLine(status, method, current, resHeaders));
      const location = resHeaders['location'];
      if (follow && REDIRECT_STATUSES.has(status) && location !== undefined) {
        discardBody(r.body);
        if (hop >= this.#maxRedirects) {
          throw new OrasError('ERR_ORAS_HTTP', `${req.method} ${redactUrl(url)}: more than ${this.#maxRedirects} redirects`, { status, hint: 'the registry redirects in a loop' });
        }
        const next = vetRedirect(current, location, status, this.#insecure);
        if (status === 303) method = 'GET';
        current = next;
        continue;
      }
      return { status, headers: resHeaders, body: safeBody(r.body), url: current, onRegistryOrigin };
    }
  }

  /** Unauthenticated single exchange (no redirects, no custom headers): used for token endpoints. */
  async #rawSend(method: HttpMethod, url: URL, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal | undefined): Promise<RegistryResponse> {
    const h: Record<string, string> = { 'user-agent': this.#userAgent, ...headers };
    if (body !== undefined) h['content-length'] = String(body.length);
    emitDebug(this.#debug, () => formatRequestLine(method, url, h));
    let r;
    try {
      r = await undiciLite.request(this.#agent, url, {
        method,
        headers: h,
        ...(body !== undefined ? { body } : {}),
        ...(signal !== undefined ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted === true) throw abortError(signal);
      throw this.#networkError(err, method, url);
    }
    const resHeaders = normalizeHeaders(r.headers);
    emitDebug(this.#debug, () => formatResponseLine(r.statusCode, method, url, resHeaders));
    return { status: r.statusCode, headers: resHeaders, body: safeBody(r.body), url };
  }

  #networkError(err: unknown, method: string, url: URL): OrasError {
    return errorFromNetwork(err, method, url, this.#auth.secrets());
  }
}

/**
 * undici bodies emit an AbortError when destroyed before the end; with no
 * listener that would be an uncaught exception. Readers (for await, pipeline)
 * still see errors through their own listeners; `destroy()` becomes safe.
 */
function safeBody<T extends Readable>(body: T): T {
  body.on('error', () => undefined);
  return body;
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

/** A 401 `insufficient_scope` after authenticating with credentials: the account lacks access. */
function asDenied(e: OrasError, registry: string): OrasError {
  return new OrasError('ERR_ORAS_DENIED', `${e.message} (insufficient scope: the token granted lacks the requested access)`, {
    status: 401,
    registryErrors: e.registryErrors,
    hint: `your credentials lack the needed access (e.g. push access) to this repository on ${registry}`,
  });
}

/** Custom CAs are added to (not replacing) Node's bundled roots. */
function withSystemRoots(ca: string | Buffer): (string | Buffer)[] {
  return [...rootCertificates, ca];
}
