import type { Readable } from 'node:stream';
import { OrasError } from '../errors.js';
import type { FetchOptions } from '../content/store.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseDigest } from '../oci/digest.js';
import { pumpBody, type PumpOptions } from './blob-pump.js';
import { BlobStream } from './blob-stream.js';
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
 * The transfer starts on the first read of the stream, or on its `pumpTo`
 * ({@link BlobStream}); blobs of at least the client's `directDownloadBytes`
 * are read by the client's own HTTP/1.1 reader (`direct-get.ts`).
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
      direct: desc.size >= (ctx.client.directDownloadBytes ?? Infinity),
      ...(signal ? { signal } : {}),
    });

  const first = await send(0);
  if (first.status !== 200) throw await errorFromResponse(first, { operation: `fetch ${what} from ${ctx.repository}` });
  checkLength(first, desc.size, desc);
  checkDigestHeader(first, desc);

  const pumpOptions: PumpOptions = {
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
  };
  return new BlobStream(
    desc,
    what,
    (stream, sink) => pumpBody(first, stream, { ...pumpOptions, sink }),
    () => {
      first.body.on('error', () => undefined);
      first.body.destroy();
    },
  );
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
