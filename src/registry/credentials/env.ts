/**
 * Credentials from environment variables, one set per registry host, as CI secrets arrive:
 *
 * | variable | becomes |
 * | --- | --- |
 * | `ORAS_REGISTRY_<KEY>_USERNAME` | `username` |
 * | `ORAS_REGISTRY_<KEY>_PASSWORD` | `password` |
 * | `ORAS_REGISTRY_<KEY>_IDENTITY_TOKEN` | `identityToken` (OAuth2 refresh token) |
 * | `ORAS_REGISTRY_<KEY>_REGISTRY_TOKEN` | `registryToken` (a bearer token sent as is) |
 *
 * `<KEY>` is the registry's `host[:port]` upper-cased with every character outside `A-Z0-9`
 * replaced by `_`: `ghcr.io` → `GHCR_IO`, `localhost:5000` → `LOCALHOST_5000`, Docker Hub under any
 * alias → `DOCKER_IO`. Values are read on each lookup and never written anywhere.
 */
import { normalizeRegistryKey } from './keys.js';
import type { Credential } from './types.js';

/** The variable-name key of `registry` (see the module doc): `ghcr.io` → `GHCR_IO`. */
export function envKeyOf(registry: string): string {
  return normalizeRegistryKey(registry)
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '_');
}

const FIELDS: ReadonlyArray<readonly [suffix: string, field: keyof Credential]> = [
  ['USERNAME', 'username'],
  ['PASSWORD', 'password'],
  ['IDENTITY_TOKEN', 'identityToken'],
  ['REGISTRY_TOKEN', 'registryToken'],
];

/**
 * The credential the environment holds for `registry`, or undefined when no
 * `ORAS_REGISTRY_<KEY>_*` variable is set (empty values count as unset).
 */
export function credentialFromEnv(registry: string, env: NodeJS.ProcessEnv = process.env): Credential | undefined {
  const prefix = `ORAS_REGISTRY_${envKeyOf(registry)}_`;
  const cred: Credential = {};
  for (const [suffix, field] of FIELDS) {
    const value = env[prefix + suffix];
    if (value !== undefined && value !== '') cred[field] = value;
  }
  return Object.keys(cred).length > 0 ? cred : undefined;
}
