/** A {@link CredentialProvider} combining explicit options with the docker config file. */
import { credentialFromConfig, defaultDockerConfigPath, readDockerConfig } from './docker-config.js';
import { credentialFromEnv } from './env.js';
import type { HelperOptions } from './helper.js';
import { sameRegistry } from './keys.js';
import type { Credential, CredentialProvider } from './types.js';

/** Options of {@link createCredentialProvider}. */
export interface CredentialProviderOptions extends HelperOptions {
  /** config.json path (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`). */
  configPath?: string;
  /** Do not read any config file (default false). */
  noConfig?: boolean;
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
  /** When set, the explicit credentials apply only to this registry (others use the config file). Default: all registries. */
  registry?: string;
}

/**
 * Returns a provider: explicit credentials (username/password/identityToken/
 * registryToken) win; then `ORAS_REGISTRY_<HOST>_*` environment variables
 * (see {@link credentialFromEnv}; `opts.env`, default `process.env`); otherwise
 * the docker config file is read on each call (helpers first, then `auths`).
 * A missing config file means anonymous.
 */
export function createCredentialProvider(opts: CredentialProviderOptions = {}): CredentialProvider {
  const explicit: Credential = {
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    ...(opts.identityToken !== undefined ? { identityToken: opts.identityToken } : {}),
    ...(opts.registryToken !== undefined ? { registryToken: opts.registryToken } : {}),
  };
  const hasExplicit = Object.keys(explicit).length > 0;
  const helperOpts: HelperOptions = {
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
  };
  return async (registry: string) => {
    if (hasExplicit && (opts.registry === undefined || sameRegistry(opts.registry, registry))) return { ...explicit };
    const fromEnv = credentialFromEnv(registry, opts.env ?? process.env);
    if (fromEnv !== undefined) return fromEnv;
    if (opts.noConfig === true) return undefined;
    const path = opts.configPath ?? defaultDockerConfigPath(opts.env);
    const config = await readDockerConfig(path);
    if (config === undefined) return undefined;
    return credentialFromConfig(config, registry, helperOpts);
  };
}
