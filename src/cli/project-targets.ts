import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { OciLayoutStore } from '../content/oci-layout.js';
import type { CallOptions, FetchOptions, ReadOnlyTarget, TagLister } from '../content/store.js';
import { isOrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { validateRepository } from '../oci/reference.js';
import type { OrasConfig } from '../project/spec/config.js';
import type { RegistryClient } from '../registry/client.js';
import type { Repository } from '../registry/repository.js';
import { registrySettings } from './config.js';
import { usageError } from './errors.js';
import type { RemoteFlags } from './options.js';

/**
 * Target factories for the declarative commands (install/update/outdated/
 * publish): one {@link RegistryClient} per registry host (config settings +
 * flags), and for reads a {@link MirroredTarget} that tries the configured
 * mirrors before the registry itself. The HTTP stack (undici) is loaded only
 * when a registry client is first needed: a no-op install or one served from
 * `ociLayout` fixtures never loads it.
 */

/** A read-only target that tries each candidate in order (mirrors first, then the origin). */
export class MirroredTarget implements ReadOnlyTarget, TagLister {
  constructor(private readonly candidates: Repository[]) {
    if (candidates.length === 0) throw new Error('MirroredTarget needs at least one candidate');
  }

  private async first<T>(fn: (t: Repository) => Promise<T>): Promise<T> {
    let lastErr: unknown;
    for (const t of this.candidates) {
      try {
        return await fn(t);
      } catch (err) {
        if (isOrasError(err, 'ERR_ORAS_ABORTED')) throw err;
        lastErr = err;
      }
    }
    throw lastErr;
  }

  resolve(reference: string, options?: CallOptions): Promise<Descriptor> {
    return this.first((t) => t.resolve(reference, options));
  }

  fetch(desc: Descriptor, options?: FetchOptions): Promise<Readable> {
    return this.first((t) => t.fetch(desc, options));
  }

  async exists(desc: Descriptor, options?: CallOptions): Promise<boolean> {
    for (const t of this.candidates) {
      try {
        if (await t.exists(desc, options)) return true;
      } catch (err) {
        if (isOrasError(err, 'ERR_ORAS_ABORTED')) throw err;
      }
    }
    return false;
  }

  async *tags(options?: CallOptions & { last?: string }): AsyncIterable<string> {
    // Tags come from the origin (last candidate): mirrors may lag behind.
    const origin = this.candidates[this.candidates.length - 1]!;
    yield* origin.tags(options);
  }
}

/** Splits `registry/repo` (as the project layer passes it). */
function splitRepository(repository: string): { registry: string; repository: string } {
  const slash = repository.indexOf('/');
  if (slash <= 0) throw usageError(`invalid repository ${JSON.stringify(repository)}`, 'use registry/repository');
  const registry = repository.slice(0, slash);
  const repo = repository.slice(slash + 1);
  validateRepository(repo);
  return { registry, repository: repo };
}

/** Caches one client per host and closes them all. */
export class ClientPool {
  private readonly clients = new Map<string, Promise<RegistryClient>>();
  constructor(
    private readonly flags: RemoteFlags,
    private readonly config: OrasConfig,
  ) {}

  client(host: string): Promise<RegistryClient> {
    let c = this.clients.get(host);
    if (c === undefined) {
      c = import('./targets.js').then(({ clientFor }) => clientFor(host, this.flags, this.config));
      this.clients.set(host, c);
    }
    return c;
  }

  async repository(host: string, repository: string): Promise<Repository> {
    const [client, { Repository }] = await Promise.all([this.client(host), import('../registry/repository.js')]);
    return new Repository({
      reference: { registry: host, repository },
      client,
      ...(this.config.limits.maxManifestBytes !== undefined
        ? { maxManifestBytes: this.config.limits.maxManifestBytes }
        : {}),
    });
  }

  /**
   * The OCI layout serving `registry/repo` when the config maps the host with
   * `ociLayout` (repository R is the layout `<ociLayout>/R`), else undefined.
   */
  private async layoutFor(registry: string, repo: string, write: boolean): Promise<OciLayoutStore | undefined> {
    const root = registrySettings(this.config, registry).ociLayout;
    if (root === undefined) return undefined;
    return OciLayoutStore.open(join(root, repo), write ? {} : { readOnly: true, create: false });
  }

  /** Read factory: a configured OCI layout, else mirrors (from the config) first, then the registry. */
  readFactory(): (repository: string) => Promise<MirroredTarget | Repository | OciLayoutStore> {
    return async (repository: string) => {
      const { registry, repository: repo } = splitRepository(repository);
      const layout = await this.layoutFor(registry, repo, false);
      if (layout !== undefined) return layout;
      const mirrors = registrySettings(this.config, registry).mirrors ?? [];
      const origin = await this.repository(registry, repo);
      if (mirrors.length === 0) return origin;
      const candidates = await Promise.all(mirrors.map((m) => this.repository(m, repo)));
      return new MirroredTarget([...candidates, origin]);
    };
  }

  /** Write factory (publish): always the registry itself. */
  writeFactory(): (repository: string) => Promise<Repository | OciLayoutStore> {
    return async (repository: string) => {
      const { registry, repository: repo } = splitRepository(repository);
      return (await this.layoutFor(registry, repo, true)) ?? this.repository(registry, repo);
    };
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map(async (c) => (await c).close()));
  }
}
