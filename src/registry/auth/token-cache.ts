/** In-memory cache of bearer tokens keyed by registry, realm, service and scope set. */

/** A cached token and when it stops being used (epoch ms). */
export interface CachedToken {
  token: string;
  expiresAt: number;
  /** The merged scopes the token was requested for. */
  scopes: string[];
}

/**
 * Default lifetime when the token response has no `expires_in`: 60 s.
 * https://github.com/distribution/distribution/blob/v2.8.3/docs/spec/auth/token.md#token-response-fields
 */
export const DEFAULT_TOKEN_LIFETIME_S = 60;

/**
 * Tokens are dropped `skew` before they expire: 10% of the lifetime, between
 * 1 s and 30 s.
 */
export function tokenExpiry(expiresInS: number | undefined, now: number = Date.now()): number {
  const life =
    expiresInS !== undefined && Number.isFinite(expiresInS) && expiresInS > 0 ? expiresInS : DEFAULT_TOKEN_LIFETIME_S;
  const skew = Math.min(30, Math.max(1, life * 0.1));
  return now + Math.max(0, life - skew) * 1000;
}

/** Builds the cache key; `scopes` must already be merged (sorted). */
export function tokenCacheKey(
  registry: string,
  realm: string,
  service: string | undefined,
  scopes: readonly string[],
): string {
  return JSON.stringify([registry, realm, service ?? '', [...scopes].sort()]);
}

/** A bounded (default 256 entries) token cache with expiry. */
export class TokenCache {
  readonly #entries = new Map<string, CachedToken>();
  readonly #max: number;

  constructor(maxEntries = 256) {
    this.#max = maxEntries;
  }

  /** The token for `key` unless expired (expired entries are removed). */
  get(key: string, now: number = Date.now()): CachedToken | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Stores a token, evicting the oldest entry when full. */
  set(key: string, value: CachedToken): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, value);
  }

  /** Forgets `key`. */
  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Every cached token value (for redaction). */
  tokens(): string[] {
    return [...this.#entries.values()].map((e) => e.token);
  }
}
