import { paginate, stringArray } from './pagination.js';
import type { RepositoryContext } from './repository.js';

/**
 * Lists the tags of a repository (`GET /v2/<repo>/tags/list`), following
 * `Link: <…>; rel="next"` pages on the same origin, at most `ctx.maxTagPages`
 * pages. `last` is passed as the `last` query parameter (registries such as
 * distribution 2.8 may ignore it). Yields tags in the registry's order.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-tags
 */
export async function* listTags(
  ctx: RepositoryContext,
  options: { last?: string; signal?: AbortSignal } = {},
): AsyncGenerator<string, void, undefined> {
  const url = ctx.url('tags/list');
  if (options.last !== undefined) url.searchParams.set('last', options.last);
  yield* paginate<string>({
    transport: ctx.client,
    url,
    scopes: ctx.scopes.pull,
    extract: (page) => stringArray((page as { tags?: unknown } | null)?.tags, 'tags'),
    maxPages: ctx.maxTagPages,
    maxPageBytes: ctx.maxPageBytes,
    what: `list tags of ${ctx.repository}`,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
