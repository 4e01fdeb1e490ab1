import type { OrasConfig, RegistryConfig } from '../project/spec/config.js';

/**
 * The `registries.<host>` settings of an oras config for one registry host: an exact
 * `host[:port]` entry wins, then the host without its port; `docker.io` entries apply to Docker
 * Hub's wire host `registry-1.docker.io`. Returns `{}` when nothing is configured (or no config).
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
