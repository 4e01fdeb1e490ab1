import type { Readable } from 'node:stream';
import { OrasError, isOrasError } from '../errors.js';
import type { FetchOptions } from '../content/store.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseDigest, VerifyingStream } from '../oci/digest.js';
import { ThroughputGuard, type TransferPolicy } from './deadline.js';
import { errorFromResponse } from './http-errors.js';
import type { RepositoryContext } from './repository.js';
import type { RegistryResponse } from './transport.js';

/** Default number of requests (first + resumes) a blob download may use. */
export const DEFAULT_DOWNLOAD_ATTEMPTS = 5;

/** Options of {@link fetchBlob}. */
export interface BlobFetchOptions extends FetchOptions {
  /** Requests allowed in total (the first one plus Range resumes). Default {@link DEFAULT_DOWNLOAD_ATTEMPTS}. */
  maxAttempts?: number;
}

function checkDigestHeader(res: RegistryResponse, desc: Descriptor): void {
  const header = res.headers['docker-content-digest'];
  if (header !== undefined && header !== '' && header.trim() !== desc.digest) {
    res.body.destroy();
    throw new OrasError(
      'ERR_ORAS_DIGEST_MISMATCH',
      `registry says blob ${desc.digest} has digest ${header.trim().slice(0, 140)}`,
      {
        hint: 'the registry served different content than requested; do not trust it',
      },
    );
  }
}

function checkLength(res: RegistryResponse, expected: number, desc: Descriptor): void {
  const header = res.headers['content-length'];
  if (header === undefined || header === '') return;
  if (!/^[0-9]+$/.test(header.trim()) || Number(header) !== expected) {
    res.body.destroy();
    throw new OrasError(
      'ERR_ORAS_SIZE_MISMATCH',
      `registry announced ${header.trim().slice(0, 20)} bytes for blob ${desc.digest}, expected ${expected}`,
      {
        hint: 'the registry served different content than its descriptor says; nothing was written',
      },
    );
  }
}

/** Parses `bytes <start>-<end>/<total|*>`. */
function parseContentRange(
  value: string | undefined,
): { start: number; end: number; total: number | undefined } | undefined {
  const m = /^\s*bytes\s+([0-9]+)-([0-9]+)\/([0-9]+|\*)\s*$/i.exec(value ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** True for errors worth a Range resume: connection-level failures, not our own verdicts or aborts. */
function isResumable(err: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return false;
  if (isOrasError(err)) return err.code === 'ERR_ORAS_NETWORK' || err.code === 'ERR_ORAS_TIMEOUT';
  return !(err instanceof Error && err.name === 'AbortError');
}

/**
 * Fetches a blob as one continuous stream verified against `desc.size` and
 * `desc.digest` while streaming (errors instead of ending on corruption,
 * truncation or trailing bytes). The first response is awaited before this
 * resolves, so a missing blob rejects (`ERR_ORAS_NOT_FOUND`) and a
 * `Content-Length` ≠ `desc.size` or contradicting `Docker-Content-Digest`
 * rejects before any byte is delivered.
 *
 * When the connection breaks mid-body, the download resumes with
 * `Range: bytes=<received>-` (accepting a 206 whose `Content-Range` starts
 * exactly there, or a 200 whose already-received prefix is skipped), feeding
 * the same running hash, for at most `maxAttempts` requests in total.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pulling-blobs
 */
export async function fetchBlob(
  ctx: RepositoryContext,
  desc: Descriptor,
  options: BlobFetchOptions = {},
): Promise<Readable> {
  parseDigest(desc.digest);
  const url = ctx.url(`blobs/${desc.digest}`);
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_DOWNLOAD_ATTEMPTS);
  const signal = options.signal;
  const what = `blob ${desc.digest}`;

  const send = async (from: number): Promise<RegistryResponse> =>
    await ctx.client.request({
      method: 'GET',
      url,
      headers: from > 0 ? { Range: `bytes=${from}-` } : {},
      scopes: ctx.scopes.pull,
      followRedirects: true,
      transfer: true,
      ...(signal ? { signal } : {}),
    });

  const first = await send(0);
  if (first.status !== 200) throw await errorFromResponse(first, { operation: `fetch ${what} from ${ctx.repository}` });
  checkLength(first, desc.size, desc);
  checkDigestHeader(first, desc);

  const verifier = new VerifyingStream(desc, { what });
  pumpBody(first, verifier, {
    size: desc.size,
    maxAttempts,
    signal,
    what,
    policy: ctx.client.transferPolicy,
    onProgress: options.onProgress,
    resume: async (received) => {
      const res = await send(received);
      if (res.status === 206) {
        const range = parseContentRange(res.headers['content-range']);
        if (
          !range ||
          range.start !== received ||
          range.end !== desc.size - 1 ||
          (range.total !== undefined && range.total !== desc.size)
        ) {
          res.body.destroy();
          throw new OrasError(
            'ERR_ORAS_HTTP',
            `${what}: registry answered a resume from byte ${received} with Content-Range ${JSON.stringify((res.headers['content-range'] ?? '').slice(0, 80))}`,
            {
              status: 206,
              hint: 'the registry does not resume downloads correctly; retry the whole download',
            },
          );
        }
        checkLength(res, desc.size - received, desc);
        checkDigestHeader(res, desc);
        return { res, skip: 0 };
      }
      if (res.status === 200) {
        checkLength(res, desc.size, desc);
        checkDigestHeader(res, desc);
        return { res, skip: received };
      }
      throw await errorFromResponse(res, { operation: `resume ${what} from ${ctx.repository}` });
    },
  });
  return verifier;
}

interface PumpOptions {
  size: number;
  maxAttempts: number;
  signal: AbortSignal | undefined;
  what: string;
  /** Minimum throughput (see {@link ThroughputGuard}); a slow body is dropped and resumed like a broken one. */
  policy: TransferPolicy | undefined;
  onProgress: ((bytes: number) => void) | undefined;
  /** Sends the Range request for a resume at `received`; `skip` = bytes of the new body to drop. */
  resume: (received: number) => Promise<{ res: RegistryResponse; skip: number }>;
}

/**
 * Moves response bodies into `verifier` with plain 'data' events and
 * backpressure (one hop per chunk), resuming on connection failures: ends the
 * verifier when a body ends, destroys it with the error otherwise, and
 * destroys the current body when the verifier is destroyed by its consumer.
 */
function pumpBody(first: RegistryResponse, verifier: VerifyingStream, o: PumpOptions): void {
  let res = first;
  let skip = 0;
  let attempts = 1;
  let received = 0;
  let done = false;
  let waitingDrain = false;
  const guard =
    o.policy === undefined
      ? undefined
      : new ThroughputGuard(o.policy, o.what, (err) => {
          if (!done && !waitingDrain) res.body.destroy(err);
        });

  const onDrain = (): void => {
    waitingDrain = false;
    guard?.excuse();
    if (!done) res.body.resume();
  };
  const onData = (chunk: Buffer | Uint8Array): void => {
    if (verifier.destroyed) return; // 'close' follows and stops the body
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (skip > 0) {
      if (buf.length <= skip) {
        skip -= buf.length;
        return;
      }
      buf = buf.subarray(skip);
      skip = 0;
    }
    received += buf.length;
    guard?.add(buf.length);
    o.onProgress?.(received);
    if (!verifier.write(buf) && !waitingDrain) {
      waitingDrain = true;
      guard?.excuse();
      res.body.pause();
      verifier.once('drain', onDrain);
    }
  };
  const detach = (): void => {
    res.body.off('data', onData);
    res.body.off('end', onEnd);
    res.body.off('error', onError);
  };
  const finish = (err?: unknown): void => {
    if (done) return;
    done = true;
    guard?.stop();
    detach();
    verifier.off('close', onVerifierClose);
    if (err === undefined) verifier.end();
    else verifier.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  const onEnd = (): void => finish();
  const onError = (err: unknown): void => {
    if (done) return;
    detach();
    res.body.on('error', () => undefined);
    res.body.destroy();
    if (received === o.size && !isOrasError(err)) {
      finish(); // all bytes arrived; the verifier judges them
      return;
    }
    if (!isResumable(err, o.signal)) {
      finish(err);
      return;
    }
    if (attempts >= o.maxAttempts) {
      const slow = isOrasError(err) && err.code === 'ERR_ORAS_TIMEOUT';
      finish(
        new OrasError(
          slow ? 'ERR_ORAS_TIMEOUT' : 'ERR_ORAS_NETWORK',
          `${o.what}: ${slow ? (err as Error).message : 'connection lost'} at byte ${received} of ${o.size} after ${attempts} attempts`,
          {
            cause: err,
            hint: slow
              ? ((err as OrasError).hint ?? 'the registry is too slow')
              : 'the network or registry keeps dropping the download; retry later',
          },
        ),
      );
      return;
    }
    attempts++;
    o.resume(received).then((next) => {
      if (done) {
        next.res.body.on('error', () => undefined);
        next.res.body.destroy();
        return;
      }
      res = next.res;
      skip = next.skip;
      attach();
    }, finish);
  };
  const onVerifierClose = (): void => {
    // The consumer destroyed the verifier (or it failed): stop the transfer.
    if (done) return;
    done = true;
    guard?.stop();
    detach();
    res.body.on('error', () => undefined);
    res.body.destroy();
  };
  const attach = (): void => {
    res.body.on('data', onData);
    res.body.on('end', onEnd);
    res.body.on('error', onError);
    if (waitingDrain) res.body.pause();
  };
  verifier.on('close', onVerifierClose);
  // Errors reach the consumer through the stream's state and its own listeners;
  // this one only keeps an error raised before the consumer listens from crashing.
  verifier.on('error', () => undefined);
  attach();
}

/**
 * `HEAD /v2/<repo>/blobs/<digest>`: true on 200, false on 404; other
 * statuses fail via the registry's error mapping.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#checking-if-content-exists-in-the-registry
 */
export async function blobExists(ctx: RepositoryContext, desc: Descriptor, signal?: AbortSignal): Promise<boolean> {
  parseDigest(desc.digest);
  const res = await ctx.client.request({
    method: 'HEAD',
    url: ctx.url(`blobs/${desc.digest}`),
    scopes: ctx.scopes.pull,
    ...(signal ? { signal } : {}),
  });
  if (res.status === 200) {
    res.body.resume();
    return true;
  }
  if (res.status === 404) {
    res.body.resume();
    return false;
  }
  throw await errorFromResponse(res, { operation: `check blob ${desc.digest} in ${ctx.repository}` });
}
