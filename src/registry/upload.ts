import type { Hash } from 'node:crypto';
import { pipeline, Readable, type TransformCallback } from 'node:stream';
import { OrasError, isOrasError } from '../errors.js';
import type { PushOptions } from '../content/store.js';
import type { Descriptor } from '../oci/descriptor.js';
import { hasherFor, parseDigest, verifyContent, VerifyingStream } from '../oci/digest.js';
import { validateRepository } from '../oci/reference.js';
import { blobExists, fetchBlob } from './blob-download.js';
import {
  cancel,
  checkCommitted,
  COMMIT_UNKNOWN,
  failed,
  mapPushError,
  OCTET,
  post,
  progressTap,
  req,
  sessionFrom,
  withDigest,
  type Session,
} from './upload-session.js';
import type { RepositoryContext } from './repository.js';
import type { RegistryResponse } from './transport.js';

/**
 * Blob uploads (distribution spec "push"): monolithic POST + PUT, chunked
 * POST + PATCH… + PUT, and cross-repository mounts.
 *
 * Upload `Location`s are resolved against the URL of the response that sent
 * them. The spec lets a registry hand out an upload URL on another host (e.g.
 * a storage front-end); we follow it (`allowForeignOrigin`), relying on the
 * transport to send no registry credentials there, but refuse a downgrade
 * from https to http, non-http(s) schemes, userinfo and (on a foreign host)
 * link-local addresses such as cloud metadata services (`ERR_ORAS_INSECURE`).
 *
 * The single-request `POST ?digest=` upload is deliberately not used:
 * distribution 2.8.2 answers it with 202 and ignores the body (checked), so
 * every upload is POST + PUT (or PATCH… + PUT).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-blobs
 */

/** Options of {@link uploadBlob} and {@link mountBlob}. */
export interface UploadOptions extends PushOptions {
  /** Chunk size for chunked (PATCH) uploads; undefined → one monolithic PUT. Raised to the registry's `OCI-Chunk-Min-Length`. */
  chunkSize?: number;
}

/** Attempts per chunk to recover (via the upload status) from a 416, a transient status or a broken connection. */
const MAX_CHUNK_RECOVERIES = 3;

/** PATCH statuses after which the upload status is read instead of failing: 416, 408, 429 and 5xx. */
function isRecoverableChunkStatus(status: number): boolean {
  return status === 416 || status === 408 || status === 429 || status >= 500;
}

/** Monolithic: one PUT with the whole (verified-while-streaming) body. */
async function putMonolithic(
  ctx: RepositoryContext,
  s: Session,
  desc: Descriptor,
  content: Readable | Uint8Array,
  options: UploadOptions,
): Promise<void> {
  let body: Buffer | Readable;
  let verifier: UploadVerifier | undefined;
  let hash: Hash | undefined;
  // The verifier's verdict wins over whatever the transport makes of the aborted body. One
  // exception: a registry may answer as soon as it has Content-Length bytes, before the source
  // has signalled EOF (a file stream needs one more read to see it). undici then completes the
  // request and destroys the unfinished body ("response completed before request"), which the
  // pipeline reports as ERR_STREAM_PREMATURE_CLOSE. Once every byte went out and they hash to
  // the descriptor's digest that is no failure (the registry's answer is still checked below).
  const verdict = (): Error | null | undefined => {
    const e = verifier?.errored ?? (content instanceof Readable ? content.errored : undefined);
    if (
      !e ||
      verifier === undefined ||
      verifier.bytes !== desc.size ||
      (e as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE'
    )
      return e;
    const match = verifier.verified || hashMatches(hash, desc);
    if (match === true) return null;
    if (match === false) {
      return new OrasError(
        'ERR_ORAS_DIGEST_MISMATCH',
        `blob ${desc.digest}: the ${desc.size} bytes sent do not match the digest`,
        {
          hint: 'the source content differs from the descriptor (was the file modified while pushing?)',
        },
      );
    }
    return e;
  };
  if (content instanceof Readable) {
    hash = hasherFor(desc.digest);
    verifier = new UploadVerifier(desc, { hash });
    const tap = progressTap(options.onProgress);
    pipeline(content, verifier, tap, () => {
      /* errors are read from the streams' `errored` state */
    });
    body = tap;
  } else {
    verifyContent(content, desc);
    body = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  }
  let res: RegistryResponse;
  try {
    res = await ctx.client.request(
      req(
        ctx,
        s,
        {
          method: 'PUT',
          url: withDigest(s.location, desc.digest),
          headers: { 'Content-Type': OCTET },
          body,
          contentLength: desc.size,
          retryable: Buffer.isBuffer(body),
        },
        options.signal,
      ),
    );
  } catch (err) {
    if (body instanceof Readable) body.destroy();
    throw verdict() ?? err;
  }
  const bad = verdict();
  if (bad) {
    res.body.resume();
    throw bad;
  }
  if (res.status !== 201) throw await failed(ctx, res, desc, 'push');
  res.body.resume();
  if (!(content instanceof Readable)) options.onProgress?.(desc.size);
  checkCommitted(res, desc);
}

/** A {@link VerifyingStream} that records whether its final size+digest check passed. */
class UploadVerifier extends VerifyingStream {
  /** True once `_flush` verified size and digest. */
  verified = false;
  override _flush(cb: TransformCallback): void {
    super._flush((err, data) => {
      if (err == null) this.verified = true;
      cb(err, data);
    });
  }
}

/** Whether `hash` (not yet finalized) is the digest of `desc`; undefined when it cannot tell. */
function hashMatches(hash: Hash | undefined, desc: Descriptor): boolean | undefined {
  if (hash === undefined) return undefined;
  try {
    return `${parseDigest(desc.digest).algorithm}:${hash.copy().digest('hex')}` === desc.digest;
  } catch {
    return undefined; // already finalized
  }
}

/** Reads up to `n` bytes at a time from an async iterator of buffers (holds at most one chunk). */
class ChunkReader {
  private rest: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [this.rest];
    let have = this.rest.length;
    while (have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      parts.push(b);
      have += b.length;
    }
    const all = Buffer.concat(parts, have);
    this.rest = all.subarray(Math.min(n, all.length));
    return all.subarray(0, Math.min(n, all.length));
  }
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/** Parses an upload `Range: 0-<end>` header to the next offset (end+1); 0 when absent. */
function nextOffset(range: string | undefined): number | undefined {
  if (range === undefined || range.trim() === '') return 0;
  const m = /^\s*(?:bytes=)?0-([0-9]+)\s*$/.exec(range);
  return m ? Number(m[1]) + 1 : undefined;
}

/**
 * Chunked: PATCH each chunk (`Content-Range: <start>-<end>`); after a 416, 408, 429, 5xx or a
 * broken connection, read the upload status and resume from the registry's offset (at most
 * {@link MAX_CHUNK_RECOVERIES} times per chunk); then PUT.
 */
async function putChunked(
  ctx: RepositoryContext,
  s0: Session,
  desc: Descriptor,
  content: Readable | Uint8Array,
  chunkSize: number,
  options: UploadOptions,
): Promise<void> {
  let s = s0;
  const size = Math.max(1, chunkSize, s.minChunk);
  let source: ChunkReader;
  if (content instanceof Readable) {
    const verifier = new VerifyingStream(desc);
    pipeline(content, verifier, () => {
      /* errors surface through the iterator */
    });
    source = new ChunkReader(verifier[Symbol.asyncIterator]());
  } else {
    verifyContent(content, desc);
    const buf = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    let pos = 0;
    source = new ChunkReader({
      next: async () => {
        if (pos >= buf.length) return { done: true, value: undefined };
        const v = buf.subarray(pos, pos + size);
        pos += v.length;
        return { done: false, value: v };
      },
    });
  }
  let offset = 0;
  try {
    for (;;) {
      const chunk = await source.read(size);
      if (chunk.length === 0) break;
      const chunkStart = offset;
      let pending = chunk;
      for (let recoveries = 0; pending.length > 0;) {
        // PATCH is not idempotent: on a 416, a transient status (408/429/5xx) or a broken
        // connection we do not blindly resend; we ask the registry where the session stands
        // (GET <location>, `Range: 0-<end>`) and continue from there (bounded).
        let res: RegistryResponse | undefined;
        let lost: unknown;
        try {
          res = await ctx.client.request(
            req(
              ctx,
              s,
              {
                method: 'PATCH',
                headers: { 'Content-Type': OCTET, 'Content-Range': `${offset}-${offset + pending.length - 1}` },
                body: pending,
                contentLength: pending.length,
              },
              options.signal,
            ),
          );
        } catch (err) {
          if (
            !isOrasError(err) ||
            (err.code !== 'ERR_ORAS_NETWORK' && err.code !== 'ERR_ORAS_TIMEOUT') ||
            options.signal?.aborted === true ||
            recoveries >= MAX_CHUNK_RECOVERIES
          )
            throw err;
          lost = err;
        }
        if (res !== undefined && res.status === 202) {
          res.body.resume();
          s = sessionFrom(ctx, res, s);
          const next = nextOffset(res.headers['range']);
          offset += pending.length;
          if (next !== undefined && next !== offset && res.headers['range'] !== undefined) {
            throw new OrasError(
              'ERR_ORAS_HTTP',
              `registry acknowledged ${next} bytes of blob ${desc.digest}, expected ${offset}`,
              { status: 202, hint: 'the registry lost part of the chunked upload; retry the push' },
            );
          }
          pending = Buffer.alloc(0);
        } else if (
          (lost !== undefined || (res !== undefined && isRecoverableChunkStatus(res.status))) &&
          recoveries < MAX_CHUNK_RECOVERIES
        ) {
          res?.body.resume();
          recoveries++;
          const stat = await ctx.client.request(req(ctx, s, { method: 'GET' }, options.signal));
          stat.body.resume();
          if (stat.status !== 204 && stat.status !== 200) {
            // e.g. distribution answers BLOB_UPLOAD_INVALID when the PATCH was applied but its
            // answer (with the new session state) was lost: the session cannot be continued.
            const cause = await failed(ctx, stat, desc, 'read upload status of');
            throw new OrasError(
              'ERR_ORAS_HTTP',
              `chunked upload of blob ${desc.digest} to ${ctx.repository} was interrupted (${res !== undefined ? `HTTP ${res.status}` : 'connection lost'}) and the registry cannot report the upload state (HTTP ${stat.status})`,
              {
                cause,
                status: res?.status ?? stat.status,
                registryErrors: cause.registryErrors,
                hint: 'retry the push: uploads are content-addressed, so a retry is safe',
              },
            );
          }
          s = sessionFrom(ctx, stat, s);
          const at = nextOffset(stat.headers['range']);
          if (at === undefined || at < chunkStart || at > chunkStart + chunk.length) {
            throw new OrasError(
              'ERR_ORAS_HTTP',
              `cannot resume chunked upload of ${desc.digest}: registry is at byte ${at ?? '?'}, current chunk starts at ${chunkStart}`,
              { status: res?.status ?? stat.status, hint: 'retry the push' },
            );
          }
          offset = at;
          pending = chunk.subarray(at - chunkStart);
        } else if (res !== undefined) {
          throw await failed(ctx, res, desc, 'upload chunk of');
        } else {
          throw lost;
        }
      }
      options.onProgress?.(offset);
    }
  } catch (err) {
    await source.close();
    throw err;
  }
  const res = await ctx.client.request(
    req(
      ctx,
      s,
      {
        method: 'PUT',
        url: withDigest(s.location, desc.digest),
        headers: { 'Content-Type': OCTET },
        body: Buffer.alloc(0),
        contentLength: 0,
      },
      options.signal,
    ),
  );
  if (res.status !== 201) throw await failed(ctx, res, desc, 'commit');
  res.body.resume();
  checkCommitted(res, desc);
}

/** Sends content into an open upload session, cancelling the session on failure. */
async function continueUpload(
  ctx: RepositoryContext,
  s: Session,
  desc: Descriptor,
  content: Readable | Uint8Array,
  options: UploadOptions,
): Promise<void> {
  try {
    if (options.chunkSize !== undefined) await putChunked(ctx, s, desc, content, options.chunkSize, options);
    else await putMonolithic(ctx, s, desc, content, options);
  } catch (err) {
    if (content instanceof Readable) content.destroy();
    await cancel(ctx, s);
    const mapped = isOrasError(err) ? mapPushError(err, desc) : err;
    // The answer may have been lost after the registry committed the blob (e.g. a 500 or a reset
    // after the final PUT; a retried PUT then finds the session gone). Blobs are content-addressed:
    // if the registry now has this digest, the push has succeeded.
    if (
      isOrasError(mapped) &&
      COMMIT_UNKNOWN.has(mapped.code) &&
      options.signal?.aborted !== true &&
      (await blobExists(ctx, desc, options.signal).catch(() => false))
    )
      return;
    throw mapped;
  }
}

/**
 * Uploads a blob: `POST /v2/<repo>/blobs/uploads/` then either one streamed
 * `PUT <location>?digest=` (default) or, with `chunkSize`, `PATCH` chunks of
 * that size (raised to the registry's `OCI-Chunk-Min-Length`) and a final
 * empty `PUT`. The content is verified against `desc` while streaming (a
 * mismatch aborts the request before the registry commits); a registry
 * `DIGEST_INVALID` maps to `ERR_ORAS_DIGEST_MISMATCH`. Monolithic uploads never
 * buffer; chunked uploads hold at most one chunk (to replay it after a 416, a
 * transient status or a reset, from the offset the upload status reports). When a
 * push fails with a transient/unknown outcome (`ERR_ORAS_HTTP`, `_NETWORK`,
 * `_TIMEOUT`, `_NOT_FOUND`), a `HEAD` decides: if the registry has the blob, the
 * push succeeded (the answer to a committed PUT was lost).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#post-then-put
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-a-blob-in-chunks
 */
export async function uploadBlob(
  ctx: RepositoryContext,
  desc: Descriptor,
  content: Readable | Uint8Array,
  options: UploadOptions = {},
): Promise<void> {
  parseDigest(desc.digest);
  let res: RegistryResponse;
  try {
    res = await post(ctx, {}, ctx.scopes.push, options.signal);
  } catch (err) {
    if (content instanceof Readable) content.destroy();
    throw err;
  }
  if (res.status !== 202) {
    if (content instanceof Readable) content.destroy();
    throw await failed(ctx, res, desc, 'start upload of');
  }
  res.body.resume();
  await continueUpload(ctx, sessionFrom(ctx, res), desc, content, options);
}

/** Options of {@link mountBlob}. */
export interface MountOptions extends UploadOptions {
  /** Supplies the content when the registry declines the mount; default: fetch it from `fromRepository` on the same registry. */
  getContent?: () => Promise<Readable | Uint8Array>;
}

/**
 * Cross-repository mount: `POST /blobs/uploads/?mount=<digest>&from=<repo>`.
 * 201 → mounted (emits `skip`/`mounted` and returns `'mounted'`); 202 → the
 * registry opened a normal upload session instead, which is completed with
 * `getContent()` (or the blob streamed from `fromRepository`), returning
 * `'uploaded'`.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#mounting-a-blob-from-another-repository
 */
export async function mountBlob(
  ctx: RepositoryContext,
  desc: Descriptor,
  fromRepository: string,
  options: MountOptions = {},
): Promise<'mounted' | 'uploaded'> {
  parseDigest(desc.digest);
  validateRepository(fromRepository);
  const scopes = [...ctx.scopes.push, `repository:${fromRepository}:pull`];
  const res = await post(ctx, { mount: desc.digest, from: fromRepository }, scopes, options.signal);
  if (res.status === 201) {
    res.body.resume();
    checkCommitted(res, desc);
    ctx.onEvent?.({ type: 'skip', descriptor: desc, reason: 'mounted' });
    return 'mounted';
  }
  if (res.status !== 202) throw await failed(ctx, res, desc, 'mount');
  res.body.resume();
  const s = sessionFrom(ctx, res);
  let content: Readable | Uint8Array;
  try {
    content = options.getContent
      ? await options.getContent()
      : await fetchBlob(
          {
            ...ctx,
            repository: fromRepository,
            url: (p) => ctx.urlFor(fromRepository, p),
            scopes: { ...ctx.scopes, pull: [`repository:${fromRepository}:pull`] },
          },
          desc,
          options.signal ? { signal: options.signal } : {},
        );
  } catch (err) {
    await cancel(ctx, s);
    throw err;
  }
  await continueUpload(ctx, s, desc, content, options);
  return 'uploaded';
}
