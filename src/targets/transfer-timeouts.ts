import { OrasError } from '../errors.js';
import type { OrasConfig } from '../project/spec/config.js';

/**
 * Where the time bounds of registry requests come from, first match wins:
 * an explicit value (the CLI's flags) → environment → oras config → the client's default.
 *
 * | setting | environment | oras.yaml | default |
 * |---|---|---|---|
 * | total deadline of a metadata request (s) | `ORAS_TIMEOUT` | `timeouts.request` | 300 |
 * | minimum blob throughput (bytes/s) | `ORAS_SPEED_LIMIT` | `timeouts.speedLimit` | 100 |
 * | throughput window (s) | `ORAS_SPEED_TIME` | `timeouts.speedTime` | 60 |
 *
 * 0 disables a time bound.
 */

/** Time bounds as written in oras.yaml's `timeouts`: seconds, `speedLimit` in bytes/s. */
export interface TimeoutSettings {
  request?: number;
  speedLimit?: number;
  speedTime?: number;
}

/**
 * Parses a non-negative number as typed by a user (`what` names the flag or variable in the
 * `ERR_ORAS_USAGE` error). With `size`, `k`/`M`/`G`/`T` suffixes (powers of 1024, optional `i`
 * and `B`) are accepted. Empty or undefined → undefined.
 * @internal
 */
export function parseQuantity(raw: string | undefined, what: string, size = false): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?[bB]?)?\s*$/.exec(raw);
  if (m === null || (!size && m[2] !== undefined))
    throw new OrasError('ERR_ORAS_USAGE', `${what} must be a non-negative number, got ${JSON.stringify(raw)}`);
  const unit = m[2] === undefined ? 1 : 1024 ** ('kmgt'.indexOf((m[2][0] ?? 'k').toLowerCase()) + 1);
  return Number(m[1]) * unit;
}

/**
 * The `timeouts` option of a registry client (milliseconds and bytes/s): `explicit` (seconds,
 * e.g. the CLI's `--timeout`), else `ORAS_TIMEOUT` / `ORAS_SPEED_LIMIT` / `ORAS_SPEED_TIME` in
 * `env`, else the config's `timeouts`. Keys nobody set are absent (the client's defaults apply).
 * A malformed variable → `ERR_ORAS_USAGE` naming it.
 */
export function registryTimeouts(
  config: OrasConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
  explicit: TimeoutSettings = {},
): { request?: number; speedLimit?: number; speedTime?: number } {
  const t = config?.timeouts ?? {};
  const request = explicit.request ?? parseQuantity(env.ORAS_TIMEOUT, 'ORAS_TIMEOUT') ?? t.request;
  const speedLimit = explicit.speedLimit ?? parseQuantity(env.ORAS_SPEED_LIMIT, 'ORAS_SPEED_LIMIT') ?? t.speedLimit;
  const speedTime = explicit.speedTime ?? parseQuantity(env.ORAS_SPEED_TIME, 'ORAS_SPEED_TIME') ?? t.speedTime;
  return {
    ...(request !== undefined ? { request: request * 1000 } : {}),
    ...(speedLimit !== undefined ? { speedLimit } : {}),
    ...(speedTime !== undefined ? { speedTime: speedTime * 1000 } : {}),
  };
}
