import { join } from 'node:path';
import { OciLayoutStore } from '../content/oci-layout.js';
import { OrasError } from '../errors.js';
import { validateRepository } from '../oci/reference.js';
import type { OrasConfig } from '../project/spec/config.js';
import type { RegistryClient } from '../registry/client.js';
import type { Repository } from '../registry/repository.js';
import { MirroredTarget } from './mirrored-target.js';
import { createRegistryClientFor, type RegistryAccess } from './registry-access.js';
import { registrySettings } from './registry-settings.js';

/** Options of {@link ProjectTargets}. */
export interface ProjectTargetsOptions {
  /** The loaded oras config (`loadConfig`). */
  config: OrasConfig;
  /**
   * Settings over the config's, for every host (the CLI's flags). Its `credential` is ignored:
   * one explicit credential would reach every host and mirror (use `ORAS_REGISTRY_<HOST>_*`
   * variables or a docker config file, which are per host).
   */
  access?: RegistryAccess;
  /** Environment for credentials and time bounds (see `RegistryClientForOptions.env`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Splits `registry/repo` (as the project layer passes it); a malformed name → `ERR_ORAS_USAGE` / `ERR_ORAS_INVALID_REFERENCE`. */
function splitRepository(repository: string): { registry: string; repository: string } {
  const slash = repository.indexOf('/');
  if (slash <= 0)
    throw new OrasError('ERR_ORAS_USAGE', `invalid repository ${JSON.stringify(repository)}`, {
      hint: 'use registry/repository',
    });
  const registry = repository.slice(0, slash);
  const repo = repository.slice(slash + 1);
  validateRepository(repo);
  return { registry, repository: repo };
}

/**
 * The stores behind `registry/repo` names for the declarative commands, from an oras config, as
 * the `oras` CLI maps them: a host with `ociLayout` is served from the local OCI layout
 * `<ociLayout>/<repo>`; otherwise reads try the host's `mirrors` in order, then the registry
 * (a {@link MirroredTarget}); writes always go to the registry itself. One
 * {@link RegistryClient} per host (plain HTTP, TLS, credentials, headers, time bounds from the
 * config with `access` on top; `limits.maxManifestBytes` applies to every repository). The HTTP
 * stack is loaded only when a registry is first contacted: an install served from the cache or
 * from `ociLayout` fixtures never loads it. Call {@link ProjectTargets.close} when done.
 */
export class ProjectTargets {
  private readonly clients = new Map<string, Promise<RegistryClient>>();
  constructor(private readonly options: ProjectTargetsOptions) {}

  /** The (shared) client for `host`. */
  client(host: string): Promise<RegistryClient> {
    let c = this.clients.get(host);
    if (c === undefined) {
      const { config, env } = this.options;
      const { credential: _ignored, ...access } = this.options.access ?? {};
      c = createRegistryClientFor(host, {
        config,
        access,
        ...(env !== undefined ? { env } : {}),
      });
      this.clients.set(host, c);
    }
    return c;
  }

  /** The remote repository `host/repository` (no layout, no mirrors). */
  async repository(host: string, repository: string): Promise<Repository> {
    const [client, { Repository }] = await Promise.all([this.client(host), import('../registry/repository.js')]);
    const maxManifestBytes = this.options.config.limits.maxManifestBytes;
    return new Repository({
      reference: { registry: host, repository },
      client,
      ...(maxManifestBytes !== undefined ? { maxManifestBytes } : {}),
    });
  }

  /**
   * The OCI layout serving `registry/repo` when the config maps the host with
   * `ociLayout` (repository R is the layout `<ociLayout>/R`), else undefined.
   */
  private async layoutFor(registry: string, repo: string, write: boolean): Promise<OciLayoutStore | undefined> {
    const root = registrySettings(this.options.config, registry).ociLayout;
    if (root === undefined) return undefined;
    return OciLayoutStore.open(join(root, repo), write ? {} : { readOnly: true, create: false });
  }

  /** Read factory (install, verify, fetch, outdated): a configured OCI layout, else mirrors first, then the registry. */
  readFactory(): (repository: string) => Promise<MirroredTarget | Repository | OciLayoutStore> {
    return async (repository: string) => {
      const { registry, repository: repo } = splitRepository(repository);
      const layout = await this.layoutFor(registry, repo, false);
      if (layout !== undefined) return layout;
      const mirrors = registrySettings(this.options.config, registry).mirrors ?? [];
      const origin = await this.repository(registry, repo);
      if (mirrors.length === 0) return origin;
      const candidates = await Promise.all(mirrors.map((m) => this.repository(m, repo)));
      return new MirroredTarget([...candidates, origin]);
    };
  }

  /** Write factory (publish): a configured OCI layout (created on first write), else the registry itself. */
  writeFactory(): (repository: string) => Promise<Repository | OciLayoutStore> {
    return async (repository: string) => {
      const { registry, repository: repo } = splitRepository(repository);
      return (await this.layoutFor(registry, repo, true)) ?? this.repository(registry, repo);
    };
  }

  /** Closes every client opened so far (errors ignored); the targets can be used again afterwards. */
  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map(async (c) => (await c).close()));
  }
}
