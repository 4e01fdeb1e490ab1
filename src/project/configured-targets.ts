import { resolve } from 'node:path';
import { ProjectTargets } from '../targets/project-targets.js';
import type { RegistryAccess } from '../targets/registry-access.js';
import { loadConfig, type OrasConfig } from './spec/config.js';

/**
 * The oras config as input of the declarative commands: with it, `install`, `publish`, `verify`
 * and `fetchLocked` open their stores and take their settings exactly as the `oras` CLI does
 * (see {@link ProjectTargets}), so a library caller needs no target factory of its own.
 */
export interface ConfigOptions {
  /**
   * The oras config: loaded (`loadConfig`), or the path of one file to load (as `ORAS_CONFIG`:
   * no trust check, the caller named the file). Default: `$ORAS_CONFIG` in `env`, else the file
   * found by searching from the project directory (a project-local file setting plain HTTP to a
   * remote host, `insecure`, CA or client certificates or `credentials.configPath` must be
   * trusted with `oras trust`, else `ERR_ORAS_UNTRUSTED_CONFIG`), else the defaults. Ignored when
   * a `targetFactory` is given.
   */
  config?: OrasConfig | string;
  /** Settings over the config's for every registry host (the CLI's flags); ignored with a `targetFactory`. */
  registryAccess?: RegistryAccess;
}

/**
 * `env` over `process.env`: a partial `env` (e.g. only `CI`) still finds the user's trust store,
 * docker config and credential helpers (PATH).
 */
export function withProcessEnv(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  return env === undefined || env === process.env ? process.env : { ...process.env, ...env };
}

/**
 * The effective oras config for a project, by the CLI's rules (see {@link ConfigOptions.config}):
 * a loaded config as is; a path → that file; else `ORAS_CONFIG`; else searched from `projectDir`.
 * Errors: `ERR_ORAS_CONFIG` (file and line), `ERR_ORAS_UNTRUSTED_CONFIG`.
 */
export async function projectConfig(
  projectDir: string,
  config: OrasConfig | string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<OrasConfig> {
  if (typeof config === 'object') return config;
  const cwd = resolve(projectDir);
  const explicit = config ?? env.ORAS_CONFIG;
  return loadConfig({ cwd, env, ...(explicit !== undefined && explicit !== '' ? { explicitPath: explicit } : {}) });
}

/**
 * Runs `fn` with the project's config and its {@link ProjectTargets}, and always closes the
 * registry clients opened meanwhile.
 */
export async function withConfiguredTargets<T>(
  projectDir: string,
  options: ConfigOptions & { env?: NodeJS.ProcessEnv },
  fn: (config: OrasConfig, targets: ProjectTargets) => Promise<T>,
): Promise<T> {
  const env = withProcessEnv(options.env);
  const config = await projectConfig(projectDir, options.config, env);
  const targets = new ProjectTargets({
    config,
    env,
    ...(options.registryAccess !== undefined ? { access: options.registryAccess } : {}),
  });
  try {
    return await fn(config, targets);
  } finally {
    await targets.close();
  }
}

/** The install-side settings of a config (cache, link mode, unpack and download limits, concurrency). */
export function installSettings(config: OrasConfig): {
  cacheDir: string;
  linkMode: OrasConfig['cache']['link'];
  concurrency: number;
  cacheMaxSize?: number;
  maxEntries?: number;
  maxUncompressedBytes?: number;
  maxArtifactBytes?: number;
} {
  const { maxEntries, maxUncompressedBytes, maxArtifactBytes } = config.limits;
  return {
    cacheDir: config.cache.dir,
    linkMode: config.cache.link,
    concurrency: config.concurrency,
    ...(config.cache.maxSize !== undefined ? { cacheMaxSize: config.cache.maxSize } : {}),
    ...(maxEntries !== undefined ? { maxEntries } : {}),
    ...(maxUncompressedBytes !== undefined ? { maxUncompressedBytes } : {}),
    ...(maxArtifactBytes !== undefined ? { maxArtifactBytes } : {}),
  };
}
