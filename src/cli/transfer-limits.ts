import type { OrasConfig } from '../project/spec/config.js';
import { usageError } from './errors.js';

/**
 * Where the CLI's time and size bounds come from, first match wins:
 * flag → environment → oras config file → library default.
 *
 * | setting | flag | environment | oras.yaml | default |
 * |---|---|---|---|---|
 * | total deadline of a metadata request (s) | `--timeout` | `ORAS_TIMEOUT` | `timeouts.request` | 300 |
 * | minimum blob throughput (bytes/s) | `--speed-limit` | `ORAS_SPEED_LIMIT` | `timeouts.speedLimit` | 100 |
 * | throughput window (s) | `--speed-time` | `ORAS_SPEED_TIME` | `timeouts.speedTime` | 60 |
 * | largest artifact pulled (bytes, `k`/`M`/`G`/`T` suffixes: powers of 1024) | `--max-artifact-size` | `ORAS_MAX_ARTIFACT_SIZE` | `limits.maxArtifactBytes` | 64 GiB |
 *
 * 0 disables a time bound.
 */

/** Timeout flags (seconds / bytes per second, as typed). */
export interface TimeoutFlags {
  timeout?: string;
  speedLimit?: string;
  speedTime?: string;
}

function number(raw: string | undefined, what: string, size = false): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?[bB]?)?\s*$/.exec(raw);
  if (m === null || (!size && m[2] !== undefined))
    throw usageError(`${what} must be a non-negative number, got ${JSON.stringify(raw)}`);
  const unit = m[2] === undefined ? 1 : 1024 ** ('kmgt'.indexOf((m[2][0] ?? 'k').toLowerCase()) + 1);
  return Number(m[1]) * unit;
}

/** The `timeouts` option of the registry client (ms and bytes/s) for these flags, environment and config. */
export function clientTimeouts(
  flags: TimeoutFlags,
  config: OrasConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { request?: number; speedLimit?: number; speedTime?: number } {
  const t = config?.timeouts ?? {};
  const request = number(flags.timeout, '--timeout') ?? number(env.ORAS_TIMEOUT, 'ORAS_TIMEOUT') ?? t.request;
  const speedLimit =
    number(flags.speedLimit, '--speed-limit') ?? number(env.ORAS_SPEED_LIMIT, 'ORAS_SPEED_LIMIT') ?? t.speedLimit;
  const speedTime =
    number(flags.speedTime, '--speed-time') ?? number(env.ORAS_SPEED_TIME, 'ORAS_SPEED_TIME') ?? t.speedTime;
  return {
    ...(request !== undefined ? { request: request * 1000 } : {}),
    ...(speedLimit !== undefined ? { speedLimit } : {}),
    ...(speedTime !== undefined ? { speedTime: speedTime * 1000 } : {}),
  };
}

/** The largest artifact `pull` accepts (bytes; undefined: the library default of 64 GiB). */
export function maxArtifactBytes(
  flag: string | undefined,
  config: OrasConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): number | undefined {
  return (
    number(flag, '--max-artifact-size', true) ??
    number(env.ORAS_MAX_ARTIFACT_SIZE, 'ORAS_MAX_ARTIFACT_SIZE', true) ??
    config?.limits.maxArtifactBytes
  );
}
