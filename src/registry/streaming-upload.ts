import type { Readable } from 'node:stream';
import { canPullChunks } from '../content/file-upload-source.js';
import { OrasError, isOrasError } from '../errors.js';
import type { UnhashedPushOptions } from '../content/store.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseDigest } from '../oci/digest.js';
import { blobExists } from './blob-download.js';
import type { RepositoryContext } from './repository.js';
import { abortError } from './retry.js';
import type { RegistryResponse } from './transport.js';
import { uploadBlob } from './upload.js';
import {
  cancel,
  checkCommitted,
  COMMIT_UNKNOWN,
  failed,
  OCTET,
  post,
  req,
  sessionFrom,
  withDigest,
  type Session,
} from './upload-session.js';

/**
 * Upload while hashing: `POST` a session, stream the content in one `PATCH`
 * (no `Content-Range`: a streamed upload) while the caller computes the digest,
 * then — once the digest is known — `HEAD` the blob: present → abort the PATCH
 * and `DELETE` the session; missing → finish the PATCH and commit with an empty
 * `PUT <location>?digest=`. The registry verifies the digest on that PUT, so
 * content that changed while it was read fails cleanly (nothing is committed).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-a-blob-in-chunks
 */

/** Options of {@link uploadUnhashed}. */
export interface UnhashedUploadOptions extends UnhashedPushOptions {
  /** Chunked uploads configured: then the digest is awaited first and the regular (chunked) upload runs. */
  chunkSize?: number;
}

/**
 * The PATCH body: the source's chunks, counted against `size` (progress reported once enabled; more
 * or fewer bytes fail the upload as "changed while it was being pushed"). A {@link FileUploadSource}
 * is pulled into two reused buffers (undici asks for the next chunk of an iterable body only once
 * the socket took the previous one), any other source is read as the stream it is.
 */
class SizedBody {
  bytes = 0;
  /** Set to start reporting progress. */
  onProgress: ((bytes: number) => void) | undefined;
  /** The failure this body raised (the request's own error wraps or replaces it). */
  error: unknown;
  constructor(
    private readonly source: Readable,
    private readonly size: number,
    private readonly what: string,
  ) {}

  async *chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    const from: AsyncIterable<unknown> = canPullChunks(this.source) ? this.source.pullChunks() : this.source;
    try {
      for await (const piece of from) {
        const chunk = piece instanceof Uint8Array ? piece : Buffer.from(String(piece));
        this.bytes += chunk.byteLength;
        if (this.bytes > this.size) throw changed(this.what, `it grew beyond ${this.size} bytes`);
        this.onProgress?.(this.bytes);
        yield chunk;
      }
      if (this.bytes !== this.size) throw changed(this.what, `it ended after ${this.bytes} of ${this.size} bytes`);
    } catch (err) {
      this.error ??= err;
      throw err;
    }
  }
}

function changed(what: string, detail: string, cause?: unknown): OrasError {
  return new OrasError('ERR_ORAS_DIGEST_MISMATCH', `${what} changed while it was being pushed: ${detail}`, {
    ...(cause !== undefined ? { cause } : {}),
    hint: 'make sure nothing writes to the source during the push, then retry (nothing was committed)',
  });
}

/** Parses a `Range: 0-<end>` to the byte count; undefined when absent or unparsable. */
function rangeBytes(range: string | undefined): number | undefined {
  const m = range === undefined ? null : /^\s*(?:bytes=)?0-([0-9]+)\s*$/.exec(range);
  return m ? Number(m[1]) + 1 : undefined;
}

/** Read through a function so TypeScript does not keep an earlier narrowing across awaits. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The state of one streamed upload (one `PATCH` racing the digest). */
interface StreamingUpload {
  ctx: RepositoryContext;
  size: number;
  what: string;
  signal: AbortSignal | undefined;
  /** The upload session; moves on with each registry answer. */
  session: Session;
  /** Our own controller: aborted by the caller's signal, or by us when the blob turns out to exist. */
  ac: AbortController;
  source: Readable;
  body: SizedBody;
  digestResult: Promise<Settled<string>>;
  /** True once the blob was found present (the upload is being cancelled, not failed). */
  skipped: boolean;
}

type PatchResult = Promise<Settled<RegistryResponse>>;

function octetDescriptor(digest: string, size: number): Descriptor {
  return { mediaType: OCTET, digest, size };
}

/**
 * Pushes `size` bytes from `open()` while `digest` is still being computed
 * (see the module comment). Returns `'exists'` (upload cancelled; `onStart` not
 * called) or `'pushed'`. `onProgress` reports only after `onStart`. Failures:
 * a rejected `digest` or an abort (`ERR_ORAS_ABORTED`) cancel the session; content
 * of another size or digest than announced → `ERR_ORAS_DIGEST_MISMATCH` ("changed
 * while it was being pushed"). With `chunkSize` the digest is awaited first and
 * {@link uploadBlob}'s chunked upload (with its 416/transient recovery) is used.
 */
export async function uploadUnhashed(
  ctx: RepositoryContext,
  open: () => Readable,
  size: number,
  digest: Promise<string>,
  options: UnhashedUploadOptions = {},
): Promise<'pushed' | 'exists'> {
  const digestResult = settle(digest); // never an unhandled rejection, whatever fails first
  const what = options.what ?? 'content';
  const signal = options.signal;
  if (!Number.isSafeInteger(size) || size < 0)
    throw new OrasError('ERR_ORAS_USAGE', 'size must be a non-negative integer', {
      hint: 'pass the byte length of the content',
    });
  if (signal?.aborted === true) throw abortError(signal);
  if (options.chunkSize !== undefined)
    return await uploadAfterDigest(ctx, open, size, digest, options.chunkSize, options);

  const startRes = await post(ctx, {}, ctx.scopes.push, signal);
  if (startRes.status !== 202)
    throw await failed(ctx, startRes, octetDescriptor(`(digest pending) of ${what}`, size), 'start upload of');
  startRes.body.resume();
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const session = sessionFrom(ctx, startRes);
  let source: Readable;
  try {
    source = open();
  } catch (err) {
    signal?.removeEventListener('abort', onAbort);
    await cancel(ctx, session);
    throw err;
  }
  const up: StreamingUpload = {
    ctx,
    size,
    what,
    signal,
    session,
    ac,
    source,
    body: new SizedBody(source, size, what),
    digestResult,
    skipped: false,
  };
  try {
    return await streamAndCommit(up, options);
  } catch (err) {
    return await recoverOrThrow(up, err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** With chunked uploads configured: await the digest, then the regular (chunked) upload. */
async function uploadAfterDigest(
  ctx: RepositoryContext,
  open: () => Readable,
  size: number,
  digest: Promise<string>,
  chunkSize: number,
  options: UnhashedUploadOptions,
): Promise<'pushed' | 'exists'> {
  const signal = options.signal;
  const desc = octetDescriptor(await digest, size);
  if (await blobExists(ctx, desc, signal)) return 'exists';
  options.onStart?.();
  await uploadBlob(ctx, desc, open(), {
    chunkSize,
    ...(signal ? { signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  return 'pushed';
}

/** Streams the PATCH, and once the digest is known cancels it (blob present) or finishes and commits it. */
async function streamAndCommit(up: StreamingUpload, options: UnhashedUploadOptions): Promise<'pushed' | 'exists'> {
  const { ctx, size } = up;
  const patch = settle(
    ctx.client.request(
      req(
        ctx,
        up.session,
        { method: 'PATCH', headers: { 'Content-Type': OCTET }, body: up.body.chunks(), contentLength: size },
        up.ac.signal,
      ),
    ),
  );
  await failFastOnEarlyAnswer(up, patch);
  const dr = await up.digestResult;
  if (!dr.ok) throw dr.error;
  const d = dr.value;
  parseDigest(d);
  const desc = octetDescriptor(d, size);
  if (await blobExists(ctx, desc, up.signal)) {
    up.skipped = true;
    await cancelAsExisting(up, patch);
    return 'exists';
  }
  options.onStart?.();
  if (options.onProgress) {
    const report = options.onProgress;
    if (up.body.bytes > 0) report(up.body.bytes);
    up.body.onProgress = report;
  }
  await finishPatch(up, patch, desc);
  await commit(up, desc);
  return 'pushed';
}

/**
 * The body's own failure, if any (a size check, or the source's read error). A registry may answer
 * once it has Content-Length bytes, before the source signalled EOF: a source closed early then is
 * no failure.
 */
function streamError(up: StreamingUpload): unknown {
  if (up.body.error !== undefined) return up.body.error;
  const e = up.source.errored;
  if (e && (e as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' && up.body.bytes === up.size)
    return undefined;
  return e ?? undefined;
}

/** Whichever comes first: the digest (usually; the upload waits on the registry) or the PATCH outcome. A PATCH refused before the digest is known fails now instead of after hashing. */
async function failFastOnEarlyAnswer(up: StreamingUpload, patch: PatchResult): Promise<void> {
  const first = await Promise.race([
    up.digestResult.then((r) => ({ kind: 'digest' as const, r })),
    patch.then((r) => ({ kind: 'patch' as const, r })),
  ]);
  if (first.kind !== 'patch') return;
  if (!first.r.ok) throw streamError(up) ?? first.r.error;
  if (first.r.value.status !== 202)
    throw await failed(up.ctx, first.r.value, octetDescriptor(`(digest pending) of ${up.what}`, up.size), 'upload');
}

/** The blob is already present: abort the PATCH and cancel the session. */
async function cancelAsExisting(up: StreamingUpload, patch: PatchResult): Promise<void> {
  up.ac.abort(new Error('blob exists'));
  up.source.destroy();
  const pr = await patch;
  if (pr.ok) {
    pr.value.body.resume();
    // Finished before the abort: the session state moved on; cancel with the new one.
    if (pr.value.status === 202) up.session = sessionFrom(up.ctx, pr.value, up.session);
  }
  // An interrupted PATCH leaves distribution 2.8.2 unable to cancel the session (its
  // state no longer matches: 404 BLOB_UPLOAD_INVALID); its partial data is then removed
  // by the registry's upload purging. Best effort, as for any aborted upload.
  await cancel(up.ctx, up.session);
}

/** Waits for the PATCH to end and checks that the registry acknowledged every byte. */
async function finishPatch(up: StreamingUpload, patch: PatchResult, desc: Descriptor): Promise<void> {
  const pr = await patch;
  if (!pr.ok) throw streamError(up) ?? pr.error;
  const res: RegistryResponse = pr.value;
  const bad = streamError(up);
  if (bad) {
    res.body.resume();
    throw bad;
  }
  if (res.status !== 202 && res.status !== 204) throw await failed(up.ctx, res, desc, 'upload');
  res.body.resume();
  up.session = sessionFrom(up.ctx, res, up.session);
  const got = rangeBytes(res.headers['range']);
  if (got !== undefined && got !== up.size && !(up.size === 0 && got === 1)) {
    // (distribution reports an empty upload as `Range: 0-0`)
    throw new OrasError('ERR_ORAS_HTTP', `registry acknowledged ${got} of ${up.size} bytes of blob ${desc.digest}`, {
      status: res.status,
      hint: 'the registry lost part of the upload; retry the push',
    });
  }
}

/** Commits the upload with an empty `PUT <location>?digest=`; the registry verifies the digest. */
async function commit(up: StreamingUpload, desc: Descriptor): Promise<void> {
  const { ctx } = up;
  const d = desc.digest;
  const res = await ctx.client.request(
    req(
      ctx,
      up.session,
      {
        method: 'PUT',
        url: withDigest(up.session.location, d),
        headers: { 'Content-Type': OCTET },
        body: Buffer.alloc(0),
        contentLength: 0,
      },
      up.signal,
    ),
  );
  if (res.status !== 201) {
    const err = await failed(ctx, res, desc, 'commit');
    throw err.code === 'ERR_ORAS_DIGEST_MISMATCH' ? changed(up.what, `its bytes do not hash to ${d}`, err) : err;
  }
  res.body.resume();
  checkCommitted(res, desc);
}

/** After a failure: stops the stream and cancels the session; `'pushed'` when a lost commit answer hid a success. */
async function recoverOrThrow(up: StreamingUpload, err: unknown): Promise<'pushed'> {
  const { ctx, signal } = up;
  up.ac.abort(err);
  up.source.destroy();
  await cancel(ctx, up.session);
  if (isAborted(signal)) throw abortError(signal);
  // As in uploadBlob: the answer to a committed PUT may have been lost; if the registry has the blob, it is pushed.
  const dr = await Promise.race([up.digestResult, Promise.resolve(undefined)]);
  if (
    !up.skipped &&
    isOrasError(err) &&
    COMMIT_UNKNOWN.has(err.code) &&
    dr?.ok === true &&
    (await blobExists(ctx, octetDescriptor(dr.value, up.size), signal).catch(() => false))
  )
    return 'pushed';
  throw err;
}
