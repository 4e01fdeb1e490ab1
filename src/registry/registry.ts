import type { CallOptions } from '../content/store.js';
import { validateRepository } from '../oci/reference.js';
import { errorFromResponse } from './http-errors.js';
import { DEFAULT_MAX_PAGES, MAX_PAGE_BYTES, paginate, stringArray } from './pagination.js';
import { Repository, type RepositoryClient, type RepositoryOptions } from './repository.js';

/** Constructor argument of {@link Registry}. */
export interface RegistryInit {
  /** Registry host[:port], e.g. `localhost:5000`. */
  registry: string;
  client: RepositoryClient;
  /** Most catalog pages followed by {@link Registry.repositories}. Default 1000. */
  maxPages?: number;
  /** Largest catalog page read, in bytes. Default {@link MAX_PAGE_BYTES} (4 MiB). */
  maxPageBytes?: number;
  /** Defaults for repositories made by {@link Registry.repository}. */
  repositoryOptions?: RepositoryOptions;
}

/** A remote registry: ping, catalog, and {@link Repository} handles sharing one client. */
export class Registry {
  /** Registry host[:port]. */
  readonly registry: string;
  readonly #client: RepositoryClient;
  readonly #base: URL;
  readonly #maxPages: number;
  readonly #maxPageBytes: number;
  readonly #repositoryOptions: RepositoryOptions;

  constructor(init: RegistryInit) {
    this.registry = init.registry;
    this.#client = init.client;
    this.#base = init.client.baseUrl(init.registry);
    this.#maxPages = init.maxPages ?? DEFAULT_MAX_PAGES;
    this.#maxPageBytes = init.maxPageBytes ?? MAX_PAGE_BYTES;
    this.#repositoryOptions = init.repositoryOptions ?? {};
  }

  /**
   * `GET /v2/`: resolves when the registry speaks the distribution API (and,
   * with credentials, accepts them); otherwise rejects with the mapped error
   * (e.g. `ERR_ORAS_UNAUTHORIZED`, `ERR_ORAS_NETWORK`).
   * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#determining-support
   */
  async ping(options: CallOptions = {}): Promise<void> {
    const res = await this.#client.request({
      method: 'GET',
      url: new URL('/v2/', this.#base),
      scopes: [],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (res.status !== 200) throw await errorFromResponse(res, { operation: `ping ${this.registry}` });
    res.body.resume();
  }

  /**
   * Iterates repository names from `GET /v2/_catalog` (scope
   * `registry:catalog:*`), following same-origin `Link` pages, at most
   * `maxPages` pages. `last` is sent as the `last` query parameter.
   */
  async *repositories(options: CallOptions & { last?: string } = {}): AsyncGenerator<string, void, undefined> {
    const url = new URL('/v2/_catalog', this.#base);
    if (options.last !== undefined) url.searchParams.set('last', options.last);
    yield* paginate<string>({
      transport: this.#client,
      url,
      scopes: ['registry:catalog:*'],
      extract: (page) => stringArray((page as { repositories?: unknown } | null)?.repositories, 'repositories'),
      maxPages: this.#maxPages,
      maxPageBytes: this.#maxPageBytes,
      what: `list repositories of ${this.registry}`,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** A {@link Repository} on this registry (options override the registry's defaults). */
  repository(name: string, options: RepositoryOptions = {}): Repository {
    validateRepository(name);
    return new Repository({
      ...this.#repositoryOptions,
      ...options,
      reference: { registry: this.registry, repository: name },
      client: this.#client,
    });
  }
}
