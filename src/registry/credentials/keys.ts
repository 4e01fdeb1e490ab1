/**
 * Registry ↔ docker config key normalization. Docker Hub is stored under
 * `https://index.docker.io/v1/`; other registries under their `host[:port]`.
 * Lookups accept keys written with a scheme and/or path.
 */

/** The key Docker uses for Docker Hub in `auths` and with credential helpers. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * Normalizes a registry name or a config key to a comparable host: lower-cased,
 * scheme and path stripped; every Docker Hub alias (`docker.io`,
 * `index.docker.io`, `registry-1.docker.io`, `https://index.docker.io/v1/`) →
 * `docker.io`.
 */
export function normalizeRegistryKey(key: string): string {
  let k = key.trim().toLowerCase();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  return HUB_ALIASES.has(k) ? 'docker.io' : k;
}

/** True when `registry` is Docker Hub under any alias. */
export function isDockerHub(registry: string): boolean {
  return normalizeRegistryKey(registry) === 'docker.io';
}

/**
 * The key written for `registry` (in `auths` and as the helper's server URL):
 * `https://index.docker.io/v1/` for Docker Hub, otherwise the normalized host.
 */
export function storeKey(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_KEY : normalizeRegistryKey(registry);
}

/** True when two registry names / config keys denote the same registry. */
export function sameRegistry(a: string, b: string): boolean {
  return normalizeRegistryKey(a) === normalizeRegistryKey(b);
}
