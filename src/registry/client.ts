/**
 * The HTTP transport for registries, in layers: the retry loop and auth rounds
 * here, one exchange with redirects in `exchange.ts`, 401 handling in
 * `auth/auth-round.ts`, TLS/connect options in `tls-connect.ts`, the total
 * deadline in `deadline.ts`. Built on undici with one Agent per client; bodies
 * are streamed, never buffered; debug lines are redacted.
 */
import type { Agent } from 'undici';
import { undiciLite } from './undici-lite.js';
import { OrasError } from '../errors.js';
import { isLoopbackHost } from '../oci/reference.js';
import { answerUnauthorized } from './auth/auth-round.js';
import { Authorizer, type AuthState, type AuthTarget } from './auth/authorizer.js';
import type { LookupFunction } from './auth/metadata-hosts.js';
import type { CredentialProvider } from './credentials/types.js';
import { emitDebug, type DebugSink } from './debug.js';
import { exchange, NEVER_FORWARD, rawExchange, type Exchange, type ExchangeContext } from './exchange.js';
import { discardBody } from './http-body.js';
import { DEFAULT_MAX_ERROR_BODY_BYTES, errorFromNetwork } from './http-errors.js';
import { redactUrl } from './redact.js';
import {
  abortError,
  errorCode,
  isRetryableNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  resolveRetryPolicy,
  retryWait,
  sleep,
  type ResolvedRetryPolicy,
  type RetryPolicy,
} from './retry.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SPEED_LIMIT,
  DEFAULT_SPEED_TIME_MS,
  RequestDeadline,
  type TransferPolicy,
} from './deadline.js';
import { authTarget, checkedUrl, oneShotBodyError, repeatability, type Repeatability } from './request-checks.js';
import { agentConnect, directConnector, type ConnectTo } from './tls-connect.js';
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
  /**
   * Blob downloads of at least this many bytes are read by the client's own
   * HTTP/1.1 reader on a dedicated connection (`direct-get.ts`) instead of
   * undici: same TLS options, resolver, auth, redirects, timeouts and resumes.
   * On plain HTTP it reads into one reused buffer, and a download written to
   * a file is hashed and written chunk by chunk in the socket's read callback
   * (a 1 GiB pull over loopback: ~1.7 s and ~1.7 s of CPU instead of ~2.9 s
   * and ~3.4 s). Default {@link DEFAULT_DIRECT_DOWNLOAD_BYTES} (16 MiB);
   * `Infinity` sends every request through undici; 0 every blob download
   * through the direct reader.
   */
  directDownloadBytes?: number;
  /**
   * Dial another address (and port) for a `hostname:port` (oras `--resolve`);
   * TLS still verifies and names the original host. Default: none.
   */
  connectTo?: ConnectTo;
}

/** Default of {@link RegistryClientOptions.directDownloadBytes}: 16 MiB. */
export const DEFAULT_DIRECT_DOWNLOAD_BYTES = 16 * 1024 * 1024;

/** Default User-Agent. */
export const DEFAULT_USER_AGENT = 'oras-ts/0.1.0';

export { discardBody, normalizeHeaders } from './http-body.js';

/** Returned by {@link RegistryClient}'s attempt helpers when the loop should go round again. */
const AGAIN = Symbol('again');

/**
 * The registry HTTP client. One instance holds one connection pool (undici
 * Agent), a token cache and the options; share it between repositories and call
 * {@link RegistryClient.close} when done.
 */
export class RegistryClient implements Transport {
  readonly #agent: Agent;
  readonly #plainHttp: (registry: string) => boolean;
  readonly #exchangeContext: ExchangeContext;
  readonly #retry: ResolvedRetryPolicy;
  readonly #debug: DebugSink | undefined;
  readonly #maxErrorBodyBytes: number;
  readonly #auth: Authorizer;
  readonly #requestTimeoutMs: number;
  /** The minimum-throughput rule for blob downloads (see `timeouts`). */
  readonly transferPolicy: TransferPolicy;
  /** Blob downloads of at least this many bytes are sent as `direct` requests (see the option). */
  readonly directDownloadBytes: number;
  /** Hostnames the caller addressed as registries (not redirect targets or realms); bounded. */
  readonly #registryHosts = new Set<string>();
  /** Origins whose `GET /v2/` probe answered without a 401: the probe is not repeated for them. */
  readonly #openOrigins = new Set<string>();
  /**
   * Origin + scopes whose request, sent without credentials, was answered with a 2xx: a one-shot
   * body needing the same scopes needs no `GET /v2/` probe either (a blob upload's POST answers for
   * its PATCH). Keyed by scopes, not origin: anonymous pulls say nothing about pushes.
   */
  readonly #openScopes = new Set<string>();

  constructor(options: RegistryClientOptions = {}) {
    const p = options.plainHttp;
    this.#plainHttp = typeof p === 'function' ? p : typeof p === 'boolean' ? () => p : isLoopbackHost;
    const headers = { ...(options.headers ?? {}) };
    for (const k of Object.keys(headers)) {
      if (NEVER_FORWARD.has(k.toLowerCase())) {
        throw new OrasError('ERR_ORAS_USAGE', `custom header ${JSON.stringify(k)} is not allowed`, {
          hint: 'use the credentials option for authentication',
        });
      }
    }
    const userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#retry = resolveRetryPolicy(options.retry);
    this.#debug = options.onDebug;
    this.#maxErrorBodyBytes = options.maxErrorBodyBytes ?? DEFAULT_MAX_ERROR_BODY_BYTES;
    const connect = agentConnect(options, (host) => this.#registryHosts.has(host));
    const idle = options.timeouts?.idle ?? 60_000;
    this.#requestTimeoutMs = options.timeouts?.request ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.transferPolicy = {
      speedLimit: options.timeouts?.speedLimit ?? DEFAULT_SPEED_LIMIT,
      speedTimeMs: options.timeouts?.speedTime ?? DEFAULT_SPEED_TIME_MS,
    };
    this.#agent = new undiciLite.Agent({ connect, headersTimeout: idle, bodyTimeout: idle, connections: 16 });
    const directBytes = options.directDownloadBytes ?? DEFAULT_DIRECT_DOWNLOAD_BYTES;
    this.directDownloadBytes = Number.isNaN(directBytes) ? DEFAULT_DIRECT_DOWNLOAD_BYTES : Math.max(0, directBytes);
    const direct = Number.isFinite(this.directDownloadBytes)
      ? { connect: directConnector(options, (host) => this.#registryHosts.has(host)), idleMs: idle }
      : undefined;
    this.#exchangeContext = {
      agent: this.#agent,
      userAgent,
      headers,
      debug: this.#debug,
      maxRedirects: Math.max(0, Math.min(20, options.maxRedirects ?? 5)),
      insecure: options.insecure === true,
      direct,
    };
    this.#auth = new Authorizer({
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      userAgent,
      maxTokenBodyBytes: options.maxTokenBodyBytes ?? 1024 * 1024,
      oauth2Password: options.oauth2Password === true,
      retry: this.#retry,
      send: (method, url, h, body, signal) => this.#rawSend(method, url, h, body, signal),
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
      throw new OrasError(
        'ERR_ORAS_INVALID_REFERENCE',
        `invalid registry host ${JSON.stringify(registry.slice(0, 200))}`,
        { cause: err, hint: 'use host[:port]' },
      );
    }
    if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') {
      throw new OrasError(
        'ERR_ORAS_INVALID_REFERENCE',
        `invalid registry host ${JSON.stringify(registry.slice(0, 200))}`,
        { hint: 'use host[:port]' },
      );
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

  /** The retry loop: attempts (network errors, retryable statuses) and auth rounds (401s), both bounded. */
  async #request(req: RegistryRequest): Promise<RegistryResponse> {
    const url = checkedUrl(req.url);
    const { signal, method } = req;
    if (isAborted(signal)) throw abortError(signal);
    // Without allowForeignOrigin the URL's origin is the registry's (credentials are looked up
    // by its host, so they only ever go to their own host). A foreign URL gets nothing.
    const registryOrigin = req.allowForeignOrigin === true ? undefined : url.origin;
    if (registryOrigin !== undefined && this.#registryHosts.size < 1024) this.#registryHosts.add(url.hostname);
    const how = repeatability(req);
    const target = authTarget(url, req.scopes, signal);
    const authState: AuthState = {};
    let authorization = await this.#initialAuthorization(target, authState, registryOrigin, how.replayable);
    const started = Date.now();
    let attempt = 0;
    let authRounds = 0;
    let bodyUsed = false;
    // Bounded: each pass either returns, throws, or consumes an attempt / an auth round.
    for (let pass = 0; pass < this.#retry.maxAttempts + 3; pass++) {
      if (bodyUsed && !how.replayable) throw oneShotBodyError(method, url);
      attempt++;
      bodyUsed = true;
      const res = await this.#attempt(req, url, authorization, registryOrigin, { how, attempt, started });
      if (res === AGAIN) continue;
      if (res.status >= 200 && res.status < 300 && authorization === undefined && registryOrigin !== undefined)
        this.#rememberOpen(scopeKey(registryOrigin, req.scopes));
      if (res.status === 401) {
        const round = {
          auth: this.#auth,
          target,
          state: authState,
          rounds: authRounds,
          method,
          url,
          maxErrorBodyBytes: this.#maxErrorBodyBytes,
        };
        authorization = await answerUnauthorized(res, round);
        authRounds++;
        attempt--; // auth rounds do not consume retry attempts
        continue;
      }
      if (
        how.canRetry &&
        isRetryableStatus(res.status) &&
        (await this.#waitToRetry(res, method, url, attempt, started, signal))
      )
        continue;
      return { status: res.status, headers: res.headers, body: res.body, url: res.url };
    }
    throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `${method} ${redactUrl(url)}: too many attempts`, {
      hint: 'the registry keeps failing; retry later',
    });
  }

  /** The Authorization of the first attempt: a cached one, or (for a one-shot body) one learnt by {@link #primeAuth}. */
  async #initialAuthorization(
    target: AuthTarget,
    state: AuthState,
    registryOrigin: string | undefined,
    replayable: boolean,
  ): Promise<string | undefined> {
    if (registryOrigin === undefined) return undefined;
    const authorization = await this.#auth.headerFor(target, state);
    if (
      authorization !== undefined ||
      replayable ||
      this.#openOrigins.has(registryOrigin) ||
      this.#openScopes.has(scopeKey(registryOrigin, target.scopes))
    )
      return authorization;
    return await this.#primeAuth(target, state);
  }

  /** One exchange; a retryable network error within the retry budget sleeps and returns {@link AGAIN}. */
  async #attempt(
    req: RegistryRequest,
    url: URL,
    authorization: string | undefined,
    registryOrigin: string | undefined,
    loop: { how: Repeatability; attempt: number; started: number },
  ): Promise<Exchange | typeof AGAIN> {
    try {
      return await exchange(this.#exchangeContext, req, url, authorization, registryOrigin);
    } catch (err) {
      const signal = req.signal;
      if (isAborted(signal)) throw abortError(signal);
      if (err instanceof OrasError) throw err;
      if (loop.how.canRetry && isRetryableNetworkError(err, loop.how.idempotent)) {
        const delay = retryWait(loop.attempt, this.#retry, loop.started);
        if (delay !== undefined) {
          emitDebug(
            this.#debug,
            () =>
              `retrying ${req.method} ${redactUrl(url)} after ${errorCode(err) ?? 'error'} in ${delay} ms (attempt ${loop.attempt + 1})`,
          );
          await sleep(delay, signal);
          return AGAIN;
        }
      }
      throw this.#networkError(err, req.method, url);
    }
  }

  /** For a retryable status: when the retry budget allows (Retry-After honoured), discards the body, sleeps and returns true. */
  async #waitToRetry(
    res: Exchange,
    method: HttpMethod,
    url: URL,
    attempt: number,
    started: number,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const delay = retryWait(attempt, this.#retry, started, parseRetryAfter(res.headers['retry-after']));
    if (delay === undefined) return false;
    discardBody(res.body);
    emitDebug(
      this.#debug,
      () => `retrying ${method} ${redactUrl(url)} after HTTP ${res.status} in ${delay} ms (attempt ${attempt + 1})`,
    );
    await sleep(delay, signal);
    return true;
  }

  /** Adds `key` to {@link #openScopes} (bounded: at most 1024 entries are remembered). */
  #rememberOpen(key: string): void {
    if (this.#openScopes.size < 1024) this.#openScopes.add(key);
  }

  /**
   * Before sending a one-shot body to a registry whose auth scheme is unknown,
   * learn it from `GET /v2/` so the body is not wasted on a 401. A non-401
   * answer is remembered per origin (bounded set) so the probe is sent once,
   * not before every upload.
   * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#determining-support
   */
  async #primeAuth(target: AuthTarget, state: AuthState): Promise<string | undefined> {
    const url = new URL('/v2/', target.origin);
    let res: Exchange;
    try {
      const probe: RegistryRequest = {
        method: 'GET',
        url,
        scopes: [],
        followRedirects: false,
        ...(target.signal !== undefined ? { signal: target.signal } : {}),
      };
      res = await exchange(this.#exchangeContext, probe, url, undefined, target.origin);
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

  /** Unauthenticated single exchange (no redirects, no custom headers): used for token endpoints. */
  async #rawSend(
    method: HttpMethod,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<RegistryResponse> {
    try {
      return await rawExchange(this.#exchangeContext, method, url, headers, body, signal);
    } catch (err) {
      if (signal?.aborted === true) throw abortError(signal);
      throw this.#networkError(err, method, url);
    }
  }

  #networkError(err: unknown, method: string, url: URL): OrasError {
    return errorFromNetwork(err, method, url, this.#auth.secrets());
  }
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** The {@link RegistryClient}'s key for an origin and the scopes of a request. */
function scopeKey(origin: string, scopes: readonly string[]): string {
  return `${origin} ${[...scopes].sort().join(' ')}`;
}
