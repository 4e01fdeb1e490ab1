import type { OrasConfig, RegistryConfig } from '../project/spec/config.js';

/**
 * The CLI's view of the oras config file (`oras.yaml`, `.orasrc*`, the
 * global `$XDG_CONFIG_HOME/oras/config*`): loaded once per process by
 * {@link cliConfig}; registry settings are applied by the target factory
 * (targets.ts) with command-line flags taking precedence.
 */

let cached: { cwd: string; config: Promise<OrasConfig> } | undefined;

/**
 * Loads the effective config searched from `cwd` (default: the working
 * directory), once per process and directory. Set `ORAS_CONFIG` to load an
 * exact file instead. Errors (`ERR_ORAS_CONFIG`) name the file and line.
 * The loader (cosmiconfig, yaml, ajv) is imported on the first call only.
 */
export function cliConfig(cwd: string = process.cwd()): Promise<OrasConfig> {
  if (cached !== undefined && cached.cwd === cwd) return cached.config;
  const explicit = process.env.ORAS_CONFIG;
  const config = import('../project/spec/config.js').then(({ loadConfig }) =>
    loadConfig({ cwd, ...(explicit !== undefined && explicit !== '' ? { explicitPath: explicit } : {}) }),
  );
  cached = { cwd, config };
  return config;
}

/**
 * The settings for one registry host: an exact `host[:port]` entry wins, then
 * the host without its port; `docker.io` entries apply to Docker Hub's wire
 * host `registry-1.docker.io`. Returns `{}` when nothing is configured.
 */
export function registrySettings(config: OrasConfig | undefined, host: string): RegistryConfig {
  if (config === undefined) return {};
  const regs = config.registries;
  const candidates = [host, host.replace(/:\d+$/, '')];
  if (host === 'registry-1.docker.io') candidates.push('docker.io', 'index.docker.io');
  for (const c of candidates) {
    const r = regs[c];
    if (r !== undefined) return r;
  }
  return {};
}

/** The concurrency to use: the flag, else the config file's value when a file set it, else `fallback`. */
export function effectiveConcurrency(flag: number | undefined, config: OrasConfig | undefined, fallback = 3): number {
  if (flag !== undefined) return flag;
  if (config?.file !== undefined) return config.concurrency;
  return fallback;
}
