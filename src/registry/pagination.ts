import { OrasError, isOrasError } from '../errors.js';
import { readAll } from '../content/read.js';
import { errorFromResponse } from './http-errors.js';
import type { RegistryResponse, Transport } from './transport.js';

/** Largest JSON page (tag list, catalog, referrers index) we read: 4 MiB. */
export const MAX_PAGE_BYTES = 4 * 1024 * 1024;

/** Default bound on the number of pages followed by {@link paginate}. */
export const DEFAULT_MAX_PAGES = 1000;

/**
 * Extracts the `rel="next"` target of an RFC 8288 `Link` header value, or
 * `undefined` when there is none. Several links may be joined with `, `.
 */
export function parseNextLink(link: string | undefined): string | undefined {
  if (link === undefined || link === '') return undefined;
  // Split on commas that start a new `<...>` link (URLs may contain commas).
  for (const part of link.split(/,\s*(?=<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m) continue;
    for (const param of (m[2] ?? '').split(';')) {
      const eq = param.indexOf('=');
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'rel') continue;
      const rels = param
        .slice(eq + 1)
        .trim()
        .replace(/^"|"$/g, '')
        .toLowerCase()
        .split(/\s+/);
      if (rels.includes('next')) return m[1];
    }
  }
  return undefined;
}

/**
 * Resolves a next-page link relative to the URL of the page that carried it
 * and enforces that it stays on the same origin (`ERR_ORAS_CROSS_ORIGIN`):
 * a registry must not be able to send us, with our credentials, elsewhere.
 */
export function resolveNextLink(link: string, base: URL): URL {
  let next: URL;
  try {
    next = new URL(link, base);
  } catch (cause) {
    throw new OrasError('ERR_ORAS_HTTP', 'registry sent an invalid pagination Link header', {
      cause,
      hint: 'the registry is misbehaving; report it to its operator',
    });
  }
  if (next.origin !== base.origin) {
    throw new OrasError(
      'ERR_ORAS_CROSS_ORIGIN',
      `pagination link points to another origin (${next.origin}, expected ${base.origin})`,
      {
        hint: 'refusing to follow a registry Link header off its own origin',
      },
    );
  }
  return next;
}

/** Options of {@link paginate}. */
export interface PaginateOptions<T> {
  transport: Transport;
  /** URL of the first page. */
  url: URL;
  /** Token scopes for every page request. */
  scopes: string[];
  /** Picks the items out of one parsed JSON page. */
  extract: (page: unknown) => T[];
  /** Maximum pages followed (default {@link DEFAULT_MAX_PAGES}); more → `ERR_ORAS_TOO_MANY_PAGES`. */
  maxPages?: number;
  /** Largest page body read, in bytes (default {@link MAX_PAGE_BYTES}); more → `ERR_ORAS_BODY_TOO_LARGE`. */
  maxPageBytes?: number;
  /** What is being listed, for messages (e.g. `tags of acme/app`). */
  what: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Handles a non-200 first-page response instead of failing; return an
   * array of items to yield (and stop), or `undefined` to fail as usual.
   */
  onFirstPageError?: (res: RegistryResponse) => Promise<T[] | undefined>;
}

/**
 * Iterates the items of a paginated distribution-API listing (`/tags/list`,
 * `/_catalog`, `/referrers/`), following `Link: <…>; rel="next"` headers.
 * Links are resolved relative to the page URL and must stay on its origin;
 * a link already visited fails with `ERR_ORAS_CYCLE`; more than `maxPages`
 * pages fail with `ERR_ORAS_TOO_MANY_PAGES`. Page bodies are capped at
 * `maxPageBytes` (default {@link MAX_PAGE_BYTES}; more → `ERR_ORAS_BODY_TOO_LARGE`).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-tags
 */
export async function* paginate<T>(opts: PaginateOptions<T>): AsyncGenerator<T, void, undefined> {
  const maxPages = opts.maxPages ?? DEFAULT_MAX_PAGES;
  const maxPageBytes = opts.maxPageBytes ?? MAX_PAGE_BYTES;
  const seen = new Set<string>();
  let url: URL | undefined = opts.url;
  let page = 0;
  while (url !== undefined) {
    if (page >= maxPages) {
      throw new OrasError('ERR_ORAS_TOO_MANY_PAGES', `${opts.what}: more than ${maxPages} pages`, {
        hint: 'the registry kept sending next-page links; raise maxTagPages if the listing is legitimately that long',
      });
    }
    seen.add(url.href);
    page++;
    const res = await opts.transport.request({
      method: 'GET',
      url,
      headers: { Accept: 'application/json', ...opts.headers },
      scopes: opts.scopes,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (res.status !== 200) {
      if (page === 1 && opts.onFirstPageError) {
        const items = await opts.onFirstPageError(res);
        if (items !== undefined) {
          res.body.destroy();
          yield* items;
          return;
        }
      }
      throw await errorFromResponse(res, { operation: opts.what });
    }
    let bytes: Buffer;
    try {
      bytes = await readAll(res.body, maxPageBytes, `${opts.what} page`);
    } catch (err) {
      if (!isOrasError(err, 'ERR_ORAS_BODY_TOO_LARGE')) throw err;
      throw new OrasError(
        'ERR_ORAS_BODY_TOO_LARGE',
        `${opts.what}: page ${page} exceeds the ${maxPageBytes}-byte limit`,
        {
          cause: err,
          hint: 'the registry sent an oversized listing page; raise maxPageBytes if the listing is legitimately that large',
        },
      );
    }
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch (cause) {
      throw new OrasError('ERR_ORAS_HTTP', `${opts.what}: registry sent invalid JSON`, {
        cause,
        status: res.status,
        hint: 'the registry is misbehaving; report it to its operator',
      });
    }
    const items = opts.extract(doc);
    const link = parseNextLink(res.headers['link']);
    let next: URL | undefined;
    if (link !== undefined) {
      next = resolveNextLink(link, res.url);
      if (seen.has(next.href)) {
        throw new OrasError('ERR_ORAS_CYCLE', `${opts.what}: the registry's next-page link repeats an earlier page`, {
          hint: 'the registry pagination loops; report it to its operator',
        });
      }
    }
    yield* items;
    url = next;
  }
}

/** Validates that `value` is an array of strings (or null/absent → empty), for listing pages. */
export function stringArray(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new OrasError('ERR_ORAS_HTTP', `registry response field ${field} is not an array of strings`, {
      hint: 'the registry is misbehaving; report it to its operator',
    });
  }
  return value;
}
