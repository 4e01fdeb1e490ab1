import type { Readable } from 'node:stream';
import type { TransferPolicy } from './deadline.js';

/**
 * The contract between the HTTP/auth layer ({@link RegistryClient} in
 * `client.ts`) and the distribution-API code (`repository.ts`, `registry.ts`).
 * Repository code builds requests; the transport handles TLS, auth challenges
 * and token scopes, retries, redirects (stripping credentials across origins),
 * timeouts, debug logging with redaction.
 */

/** HTTP methods the distribution API uses. */
export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** One request to a registry. */
export interface RegistryRequest {
  method: HttpMethod;
  /** Absolute URL. Must be on the registry's origin unless `allowForeignOrigin` is set. */
  url: URL;
  /** Extra headers (e.g. Accept, Content-Type, Range). Never put credentials here. */
  headers?: Record<string, string>;
  /**
   * Request body. A Buffer can be replayed (retry, auth challenge); a stream cannot,
   * so pass `body` as a function returning a fresh stream to make it replayable.
   */
  body?: Buffer | Readable | AsyncIterable<Uint8Array> | (() => Readable);
  /** Body length, sent as Content-Length when the body is a stream. */
  contentLength?: number;
  /** Token scopes this request needs, e.g. `repository:acme/app:pull,push`. */
  scopes: string[];
  signal?: AbortSignal;
  /** Follow redirects (default true for GET/HEAD; credentials are stripped cross-origin). */
  followRedirects?: boolean;
  /** Permit `url` on another origin (e.g. an upload Location the caller has vetted). Default false. */
  allowForeignOrigin?: boolean;
  /** Whether the request may be retried on 408/429/5xx/reset (default: true for GET/HEAD/PUT/DELETE with a replayable body). */
  retryable?: boolean;
  /**
   * A bulk transfer (a blob download): no total deadline, the caller applies
   * the {@link Transport.transferPolicy} throughput rule instead. Requests with
   * a stream body (uploads) are bulk transfers too. Default: a metadata
   * request, bounded by the client's total request deadline.
   */
  transfer?: boolean;
  /**
   * Read the response with the client's own HTTP/1.1 reader on a dedicated
   * connection (`direct-get.ts`) instead of undici: for large blob downloads,
   * where it costs less CPU per byte. GET without a body only; a transport
   * without a direct reader ignores it. Default false.
   */
  direct?: boolean;
}

/** The response; the caller must consume or destroy `body`. */
export interface RegistryResponse {
  status: number;
  /** Lower-cased header names. Multiple values joined with `, ` except `link`/`www-authenticate` which keep arrays joined by `, ` too. */
  headers: Record<string, string>;
  body: Readable;
  /** Final URL after redirects. */
  url: URL;
}

/**
 * A response body that can also hand its bytes to a synchronous consumer
 * straight from the socket's read callback (the client's own reader,
 * `direct-get.ts`): `sinkTo(fn)` first passes whatever the stream buffered,
 * then every further body byte goes to `fn` as a view of a reused read
 * buffer (valid only during the call) and not through the stream; 'end' and
 * 'error' are still emitted on the stream. `sinkTo(undefined)` stops it.
 */
export interface SinkableBody {
  sinkTo(fn: ((chunk: Buffer) => void) | undefined): void;
}

/** True when `body` implements {@link SinkableBody}. */
export function isSinkableBody(body: Readable): body is Readable & SinkableBody {
  return typeof (body as Partial<SinkableBody>).sinkTo === 'function';
}

/** Anything that can send a {@link RegistryRequest}. */
export interface Transport {
  request(req: RegistryRequest): Promise<RegistryResponse>;
  /** The minimum-throughput rule for bulk transfers (absent: none). */
  readonly transferPolicy?: TransferPolicy;
  /** Blob downloads of at least this many bytes should be sent as `direct` requests (absent: never). */
  readonly directDownloadBytes?: number;
}
