/**
 * Per-client authentication state: remembers which scheme each registry uses,
 * caches bearer tokens, answers 401 challenges (bounded by the client).
 */
import { OrasError } from '../../errors.js';
import { credentialSecrets, type Credential, type CredentialProvider } from '../credentials/types.js';
import { emitDebug, type DebugSink } from '../debug.js';
import { rememberSecrets } from '../redact.js';
import { parseWwwAuthenticate } from './challenge.js';
import { validateRealm } from './realm.js';
import { mergeScopes } from './scope.js';
import { fetchToken, type RawSend } from './token.js';
import { isRetryableStatus, resolveRetryPolicy, retryDelay, sleep, type ResolvedRetryPolicy } from '../retry.js';
import { TokenCache, tokenCacheKey, tokenExpiry } from './token-cache.js';

export type { RawSend } from './token.js';

/** The registry a request goes to and what it needs. */
export interface AuthTarget {
  /** Registry host[:port]. */
  registry: string;
  /** Registry origin (scheme://host[:port]). */
  origin: string;
  /** True when the registry is contacted over plain HTTP (the user's choice). */
  plainHttp: boolean;
  /** Scopes the request needs. */
  scopes: readonly string[];
  signal?: AbortSignal;
}

/** Per-request auth memory, created empty by the client for each request. */
export interface AuthState {
  /** The Authorization value last sent. */
  sent?: string;
  /** Scopes of the bearer token last sent. */
  scopes?: string[];
  /** Cache key of the bearer token last sent. */
  cacheKey?: string;
}

/** What to do after a 401: retry with a header, or give up. */
export type ChallengeOutcome = { authorization: string } | { fail: 'unauthorized' | 'denied' };

/** Options of {@link Authorizer}. */
export interface AuthorizerOptions {
  credentials?: CredentialProvider;
  userAgent: string;
  /** Cap on token response bodies. */
  maxTokenBodyBytes: number;
  oauth2Password: boolean;
  send: RawSend;
  onDebug?: DebugSink;
  /** Retry policy for token requests (at most 3 attempts are used). Default: the default policy. */
  retry?: ResolvedRetryPolicy;
}

type SchemeInfo = { scheme: 'basic' } | { scheme: 'bearer'; realm: URL; service: string | undefined };

function basic(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`, 'utf8').toString('base64')}`;
}

function hasUserPass(c: Credential | undefined): c is Credential & { username: string } {
  return c !== undefined && c.username !== undefined && c.username !== '' && c.password !== undefined;
}

/**
 * Decides the Authorization header of registry requests. Credentials are looked
 * up once per registry per client; tokens are cached per (registry, realm,
 * service, scope set) until shortly before `expires_in` (default 60 s).
 * Concurrent requests for the same token share one fetch.
 */
export class Authorizer {
  readonly #opts: AuthorizerOptions;
  readonly #schemes = new Map<string, SchemeInfo>();
  readonly #creds = new Map<string, Promise<Credential | undefined>>();
  readonly #cache = new TokenCache();
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #secrets = new Set<string>();

  constructor(options: AuthorizerOptions) {
    this.#opts = options;
  }

  /** Every secret seen so far (credentials, tokens), for scrubbing messages. */
  secrets(): string[] {
    return [...this.#secrets, ...this.#cache.tokens()];
  }

  async #credential(registry: string): Promise<Credential | undefined> {
    const provider = this.#opts.credentials;
    if (provider === undefined) return undefined;
    let p = this.#creds.get(registry);
    if (p === undefined) {
      p = provider(registry).then((c) => {
        for (const s of credentialSecrets(c)) this.#secrets.add(s);
        const basicForm =
          c?.username !== undefined && c.password !== undefined
            ? Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')
            : undefined;
        rememberSecrets([...credentialSecrets(c), basicForm]);
        return c;
      });
      this.#creds.set(registry, p);
      p.catch(() => this.#creds.delete(registry));
    }
    return p;
  }

  /**
   * The header to send up front, when the registry's scheme is already known
   * from an earlier challenge (Basic credentials, a cached or freshly fetched
   * token). Undefined means "send anonymously and see".
   */
  async headerFor(target: AuthTarget, state: AuthState): Promise<string | undefined> {
    const info = this.#schemes.get(target.origin);
    if (info === undefined) return undefined;
    const cred = await this.#credential(target.registry);
    if (info.scheme === 'basic') {
      if (!hasUserPass(cred)) return undefined;
      state.sent = basic(cred);
      return state.sent;
    }
    if (cred?.registryToken !== undefined && cred.registryToken !== '') {
      state.sent = `Bearer ${cred.registryToken}`;
      return state.sent;
    }
    const scopes = mergeScopes(target.scopes);
    state.sent = await this.#token(target, info, scopes, cred, state, false);
    return state.sent;
  }

  /**
   * Handles a 401 from the registry origin. Basic: send credentials unless they
   * were already sent (then fail). Bearer: first time, get a token for the
   * request's scopes merged with the challenge's; after a token was sent,
   * `insufficient_scope` gets a token for the merged scopes (or fails `denied`
   * when that adds nothing) and anything else (`invalid_token`) refetches once.
   */
  async onChallenge(target: AuthTarget, header: string | undefined, state: AuthState): Promise<ChallengeOutcome> {
    const challenges = parseWwwAuthenticate(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basicCh = challenges.find((c) => c.scheme === 'basic');
    const cred = await this.#credential(target.registry);
    const authed = cred !== undefined;
    if (bearer !== undefined) {
      const realmText = bearer.params['realm'];
      if (realmText === undefined || realmText === '') return { fail: 'unauthorized' };
      const realm = validateRealm(realmText, target.registry, target.plainHttp);
      const info: SchemeInfo = { scheme: 'bearer', realm, service: bearer.params['service'] };
      this.#schemes.set(target.origin, info);
      if (cred?.registryToken !== undefined && cred.registryToken !== '') {
        const h = `Bearer ${cred.registryToken}`;
        if (state.sent === h) return { fail: 'unauthorized' };
        state.sent = h;
        return { authorization: h };
      }
      const challengeScope = bearer.params['scope'];
      const error = bearer.params['error'];
      const wasBearer = state.sent?.startsWith('Bearer ') === true;
      let scopes = mergeScopes(target.scopes, challengeScope);
      let fresh = false;
      if (wasBearer) {
        scopes = mergeScopes(scopes, state.scopes);
        if (error === 'insufficient_scope') {
          if (state.scopes !== undefined && sameScopes(scopes, state.scopes)) {
            return { fail: authed ? 'denied' : 'unauthorized' };
          }
        } else {
          // invalid_token (or no reason): drop the cached token and refetch once
          if (state.cacheKey !== undefined) this.#cache.delete(state.cacheKey);
          fresh = true;
        }
      }
      emitDebug(
        this.#opts.onDebug,
        () =>
          `auth: bearer challenge from ${target.registry}${error !== undefined ? ` (error=${error})` : ''}; requesting scopes ${scopes.join(' ') || '(none)'}`,
      );
      const token = await this.#token(target, info, scopes, cred, state, fresh);
      if (state.sent === token && wasBearer) return { fail: authed ? 'denied' : 'unauthorized' };
      state.sent = token;
      return { authorization: token };
    }
    if (basicCh !== undefined) {
      this.#schemes.set(target.origin, { scheme: 'basic' });
      if (!hasUserPass(cred)) return { fail: 'unauthorized' };
      const h = basic(cred);
      if (state.sent === h) return { fail: 'unauthorized' };
      state.sent = h;
      return { authorization: h };
    }
    return { fail: 'unauthorized' };
  }

  /**
   * Classifies a 401 that will not be retried: `denied` when credentials were
   * used and the registry says `insufficient_scope`, else `unauthorized`.
   */
  async finalFailure(
    target: AuthTarget,
    header: string | undefined,
    state: AuthState,
  ): Promise<'denied' | 'unauthorized'> {
    const bearer = parseWwwAuthenticate(header).find((c) => c.scheme === 'bearer');
    if (bearer?.params['error'] !== 'insufficient_scope' || state.sent === undefined) return 'unauthorized';
    return (await this.#credential(target.registry)) !== undefined ? 'denied' : 'unauthorized';
  }

  /** fetchToken with up to 3 attempts on network errors, 408/429/5xx (never on 401/403). */
  async #fetchWithRetry(
    target: AuthTarget,
    req: Parameters<typeof fetchToken>[1],
  ): Promise<Awaited<ReturnType<typeof fetchToken>>> {
    const policy = this.#opts.retry ?? resolveRetryPolicy();
    const attempts = Math.min(3, policy.maxAttempts);
    for (let attempt = 1; ; attempt++) {
      try {
        return await fetchToken(this.#opts.send, req);
      } catch (err) {
        const transient =
          err instanceof OrasError &&
          (err.code === 'ERR_ORAS_NETWORK' ||
            err.code === 'ERR_ORAS_TIMEOUT' ||
            (err.code === 'ERR_ORAS_HTTP' && err.status !== undefined && isRetryableStatus(err.status)));
        if (!transient || attempt >= attempts) throw err;
        const delay = retryDelay(attempt, policy);
        emitDebug(this.#opts.onDebug, () => `auth: retrying the token request for ${target.registry} in ${delay} ms`);
        await sleep(delay, target.signal);
      }
    }
  }

  async #token(
    target: AuthTarget,
    info: SchemeInfo & { scheme: 'bearer' },
    scopes: string[],
    cred: Credential | undefined,
    state: AuthState,
    fresh: boolean,
  ): Promise<string> {
    const key = tokenCacheKey(target.registry, info.realm.href, info.service, scopes);
    state.scopes = scopes;
    state.cacheKey = key;
    if (!fresh) {
      const hit = this.#cache.get(key);
      if (hit !== undefined) return `Bearer ${hit.token}`;
      const pending = this.#inflight.get(key);
      if (pending !== undefined) return pending;
    }
    const p = (async () => {
      const res = await this.#fetchWithRetry(target, {
        realm: info.realm,
        service: info.service,
        scopes,
        credential: cred,
        registry: target.registry,
        maxBodyBytes: this.#opts.maxTokenBodyBytes,
        oauth2Password: this.#opts.oauth2Password,
        ...(target.signal !== undefined ? { signal: target.signal } : {}),
      });
      this.#cache.set(key, { token: res.token, expiresAt: tokenExpiry(res.expiresIn), scopes });
      rememberSecrets([res.token]);
      return `Bearer ${res.token}`;
    })();
    this.#inflight.set(key, p);
    try {
      return await p;
    } catch (err) {
      if (err instanceof OrasError) throw err;
      throw new OrasError('ERR_ORAS_NETWORK', `token request for ${target.registry} failed`, {
        cause: err,
        hint: 'check that the registry auth server is reachable',
      });
    } finally {
      if (this.#inflight.get(key) === p) this.#inflight.delete(key);
    }
  }
}

function sameScopes(a: readonly string[], b: readonly string[]): boolean {
  const x = mergeScopes(a);
  const y = mergeScopes(b);
  return x.length === y.length && x.every((s, i) => s === y[i]);
}
