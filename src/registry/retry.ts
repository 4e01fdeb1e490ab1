/**
 * Retry policy: which failures are retried, and how long to wait between attempts
 * (exponential backoff with full jitter, honouring `Retry-After`).
 */
import { OrasError } from '../errors.js';

/** How requests are retried. Every field is optional; see the defaults. */
export interface RetryPolicy {
  /** Total attempts including the first one (default 5; 1 disables retries). */
  maxAttempts?: number;
  /** Base of the exponential backoff in ms (default 200). */
  baseDelayMs?: number;
  /** Upper bound of a single wait in ms, also caps `Retry-After` (default 10 000). */
  maxDelayMs?: number;
  /** No new attempt starts once this many ms have passed since the first one (default 60 000). */
  maxTotalMs?: number;
}

/** {@link RetryPolicy} with every field set. */
export type ResolvedRetryPolicy = Required<RetryPolicy>;

/** The defaults: 5 attempts, 200 ms base, 10 s max delay, 60 s total. */
export const DEFAULT_RETRY_POLICY: ResolvedRetryPolicy = Object.freeze({
  maxAttempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  maxTotalMs: 60_000,
});

/** Fills the unset fields of `policy` with {@link DEFAULT_RETRY_POLICY}; clamps to sane bounds. */
export function resolveRetryPolicy(policy: RetryPolicy = {}): ResolvedRetryPolicy {
  const num = (v: number | undefined, d: number, min: number, max: number): number =>
    v === undefined || !Number.isFinite(v) ? d : Math.min(max, Math.max(min, Math.floor(v)));
  return {
    maxAttempts: num(policy.maxAttempts, DEFAULT_RETRY_POLICY.maxAttempts, 1, 20),
    baseDelayMs: num(policy.baseDelayMs, DEFAULT_RETRY_POLICY.baseDelayMs, 0, 60_000),
    maxDelayMs: num(policy.maxDelayMs, DEFAULT_RETRY_POLICY.maxDelayMs, 0, 600_000),
    maxTotalMs: num(policy.maxTotalMs, DEFAULT_RETRY_POLICY.maxTotalMs, 0, 3_600_000),
  };
}

const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** True for 408, 429, 500, 502, 503, 504. */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/** Network error codes that mean "the connection broke / timed out"; retried when the request is retryable. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** The error's `code`, looking through `cause` chains (bounded). */
export function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e !== null && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('ERR_ORAS_')) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * True when a network error may be retried: connection resets, socket errors and
 * timeouts; `ECONNREFUSED` only for idempotent requests (`idempotent`).
 */
export function isRetryableNetworkError(err: unknown, idempotent: boolean): boolean {
  const code = errorCode(err);
  if (code === undefined) return false;
  if (code === 'ECONNREFUSED') return idempotent;
  return TRANSIENT_CODES.has(code);
}

/**
 * Parses a `Retry-After` value (delta seconds or an HTTP date) into milliseconds
 * from `now`. Returns undefined for a missing or malformed value; never negative.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+$/.test(v)) {
    const s = Number(v);
    return Number.isSafeInteger(s) ? s * 1000 : undefined;
  }
  // HTTP-date (IMF-fixdate, RFC 850, asctime): require a letter so plain junk like "1.5" is rejected.
  if (!/^[A-Za-z]{3}/.test(v)) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/**
 * The wait before attempt number `attempt + 1` (`attempt` is 1 after the first
 * failure): full jitter over `min(maxDelay, base * 2^(attempt-1))`, or the
 * `Retry-After` delay when given (capped by `maxDelayMs`).
 */
export function retryDelay(
  attempt: number,
  policy: ResolvedRetryPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return Math.min(policy.maxDelayMs, retryAfterMs);
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.floor(random() * exp);
}

/**
 * The wait before another attempt, or undefined when the policy allows none:
 * `attempt` (attempts made so far) has reached `maxAttempts`, or waiting would
 * end past `maxTotalMs` counted from `startedAt` (a `Date.now()` value).
 */
export function retryWait(
  attempt: number,
  policy: ResolvedRetryPolicy,
  startedAt: number,
  retryAfterMs?: number,
): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  const delay = retryDelay(attempt, policy, retryAfterMs);
  return Date.now() - startedAt + delay <= policy.maxTotalMs ? delay : undefined;
}

/** The abort reason as an `ERR_ORAS_ABORTED` error. */
export function abortError(signal: AbortSignal | undefined): OrasError {
  return new OrasError('ERR_ORAS_ABORTED', 'the operation was aborted', {
    cause: signal?.reason,
    hint: 'the caller cancelled the request',
  });
}

/** Waits `ms` milliseconds; rejects with `ERR_ORAS_ABORTED` when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.reject(abortError(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
