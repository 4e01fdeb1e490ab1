/**
 * Time bounds that the idle timeout alone cannot give: a registry that sends
 * one byte every few seconds never trips an idle timeout, and holds the
 * client for as long as it likes.
 *
 * - {@link RequestDeadline}: a total deadline for a metadata request
 *   (manifests, tags, catalog, referrers, token and auth exchanges, error
 *   bodies, HEAD), from sending to the last byte of the body.
 * - {@link ThroughputGuard}: a minimum-throughput rule for bulk transfers
 *   (blob downloads): fewer than `speedLimit × speedTime` bytes in a window of
 *   `speedTime` aborts the transfer (curl's `--speed-limit`/`--speed-time`).
 *
 * Both fail with `ERR_ORAS_TIMEOUT`. The defaults are far from any real
 * transfer: 5 minutes for a metadata request (at most 4 MiB), and 100 bytes/s
 * averaged over 60 s for blobs (a 56k modem moves 7 KB/s).
 */
import type { Readable } from 'node:stream';
import { OrasError } from '../errors.js';

/** Default total deadline of a metadata request: 300 000 ms (5 minutes). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/** Default minimum blob throughput: 100 bytes/s. */
export const DEFAULT_SPEED_LIMIT = 100;
/** Default throughput window: 60 000 ms. */
export const DEFAULT_SPEED_TIME_MS = 60_000;

/** The minimum-throughput rule of bulk transfers (0 for either field disables it). */
export interface TransferPolicy {
  /** Bytes per second, averaged over {@link speedTimeMs}. */
  speedLimit: number;
  /** Window length in ms. */
  speedTimeMs: number;
}

const HINT =
  'the registry is too slow or stalls on purpose; raise the limit (--timeout / ORAS_TIMEOUT / timeouts.request in oras.yaml; 0 disables) if it is legitimate';
const SPEED_HINT =
  'the transfer is slower than the minimum throughput; lower it (--speed-limit / ORAS_SPEED_LIMIT / timeouts.speedLimit, or --speed-time / ORAS_SPEED_TIME / timeouts.speedTime; 0 disables) if the link is legitimately this slow';

/**
 * A total deadline for one request and its body. `signal` aborts when the
 * deadline passes (pass it to the HTTP call); {@link watch} makes the body
 * fail with `ERR_ORAS_TIMEOUT` then (instead of a bare abort) and stops the
 * timer when the body ends. A deadline of 0 never expires.
 */
export class RequestDeadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #what: string;
  readonly #ms: number;
  #body: Readable | undefined;
  #expired = false;

  constructor(ms: number, what: string) {
    this.#ms = ms;
    this.#what = what;
    if (ms > 0) {
      this.#timer = setTimeout(() => this.#expire(), ms);
      this.#timer.unref();
    }
  }

  /** Aborted when the deadline passes. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once the deadline passed. */
  get expired(): boolean {
    return this.#expired;
  }

  /** The `ERR_ORAS_TIMEOUT` error this deadline reports. */
  error(): OrasError {
    return new OrasError('ERR_ORAS_TIMEOUT', `${this.#what} did not complete within ${this.#ms / 1000} s`, {
      hint: HINT,
    });
  }

  #expire(): void {
    this.#expired = true;
    // The body first, so readers see ERR_ORAS_TIMEOUT rather than the abort.
    this.#body?.destroy(this.error());
    this.#controller.abort(this.error());
  }

  /** Covers `body` until it ends or closes. */
  watch(body: Readable): void {
    if (this.#timer === undefined) return;
    this.#body = body;
    const stop = (): void => this.clear();
    body.once('end', stop);
    body.once('close', stop);
  }

  /** Stops the timer (the request finished). */
  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#body = undefined;
  }
}

/**
 * Enforces a {@link TransferPolicy} on a transfer whose progress is reported
 * with {@link add}: every `speedTimeMs` window must bring at least
 * `speedLimit × speedTimeMs / 1000` bytes, else `onSlow` is called with an
 * `ERR_ORAS_TIMEOUT` error (once per window, until {@link stop}). Costs one
 * timer per transfer and one addition per chunk.
 */
export class ThroughputGuard {
  #bytes = 0;
  #excused = false;
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(policy: TransferPolicy, what: string, onSlow: (err: OrasError) => void) {
    if (policy.speedLimit <= 0 || policy.speedTimeMs <= 0) return;
    const need = (policy.speedLimit * policy.speedTimeMs) / 1000;
    this.#timer = setInterval(() => {
      const got = this.#bytes;
      const excused = this.#excused;
      this.#bytes = 0;
      this.#excused = false;
      if (got < need && !excused) {
        onSlow(
          new OrasError(
            'ERR_ORAS_TIMEOUT',
            `${what}: only ${got} bytes arrived in ${policy.speedTimeMs / 1000} s (minimum ${policy.speedLimit} bytes/s)`,
            { hint: SPEED_HINT },
          ),
        );
      }
    }, policy.speedTimeMs);
    this.#timer.unref();
  }

  /** Counts `n` received bytes. */
  add(n: number): void {
    this.#bytes += n;
  }

  /**
   * Exempts the current window: call it when the *consumer* held the
   * transfer (backpressure from a slow disk), so only the sender's slowness
   * counts.
   */
  excuse(): void {
    this.#excused = true;
  }

  /** Stops the guard. Idempotent. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }
}
