import type { OrasConfig } from '../project/spec/config.js';

/**
 * The CLI's view of the oras config file (`oras.yaml`, `.orasrc*`, the
 * global `$XDG_CONFIG_HOME/oras/config*`): loaded once per process by
 * {@link cliConfig} by the library's rules (`projectConfig`); registry settings
 * are applied by the library's target layer (`src/targets/`) with command-line
 * flags taking precedence (targets.ts turns them into `RegistryAccess`).
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
  const config = import('../project/configured-targets.js').then(({ projectConfig }) =>
    projectConfig(cwd, undefined, process.env),
  );
  cached = { cwd, config };
  return config;
}

/** The concurrency to use: the flag, else the config file's value when a file set it, else `fallback`. */
export function effectiveConcurrency(flag: number | undefined, config: OrasConfig | undefined, fallback = 3): number {
  if (flag !== undefined) return flag;
  if (config?.file !== undefined) return config.concurrency;
  return fallback;
}
