import type { OrasConfig } from '../project/spec/config.js';
import { parseQuantity, registryTimeouts, type TimeoutSettings } from '../targets/transfer-timeouts.js';

/**
 * Where the CLI's time and size bounds come from, first match wins:
 * flag → environment → oras config file → library default (the time bounds
 * by the library's `registryTimeouts`, with the flags as explicit values).
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

/**
 * The `timeouts` option of the registry client (ms and bytes/s): the flags (parsed here, so a
 * bad value names its flag), then the library's rules (`registryTimeouts`: environment, config).
 */
export function clientTimeouts(
  flags: TimeoutFlags,
  config: OrasConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { request?: number; speedLimit?: number; speedTime?: number } {
  return registryTimeouts(config, env, timeoutSettings(flags));
}

/** The flags as seconds / bytes per second (absent keys: not given). */
export function timeoutSettings(flags: TimeoutFlags): TimeoutSettings {
  const request = parseQuantity(flags.timeout, '--timeout');
  const speedLimit = parseQuantity(flags.speedLimit, '--speed-limit');
  const speedTime = parseQuantity(flags.speedTime, '--speed-time');
  return {
    ...(request !== undefined ? { request } : {}),
    ...(speedLimit !== undefined ? { speedLimit } : {}),
    ...(speedTime !== undefined ? { speedTime } : {}),
  };
}

/** The largest artifact `pull` accepts (bytes; undefined: the library default of 64 GiB). */
export function maxArtifactBytes(
  flag: string | undefined,
  config: OrasConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): number | undefined {
  return (
    parseQuantity(flag, '--max-artifact-size', true) ??
    parseQuantity(env.ORAS_MAX_ARTIFACT_SIZE, 'ORAS_MAX_ARTIFACT_SIZE', true) ??
    config?.limits.maxArtifactBytes
  );
}
