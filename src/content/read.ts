import { Readable } from 'node:stream';
import { OrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { verifyContent } from '../oci/digest.js';
import type { FetchOptions, Fetcher } from './store.js';

/**
 * Reads a stream fully into memory, failing with `ERR_ORAS_BODY_TOO_LARGE`
 * as soon as more than `limit` bytes arrive (the stream is destroyed).
 */
export async function readAll(
  stream: Readable | AsyncIterable<Uint8Array>,
  limit: number,
  what = 'body',
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += buf.length;
    if (total > limit) {
      if (stream instanceof Readable) stream.destroy();
      throw new OrasError('ERR_ORAS_BODY_TOO_LARGE', `${what} exceeds the ${limit}-byte limit`, {
        hint: 'the source sent more data than allowed; if this is legitimate, raise the limit option',
      });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Fetches a (small) descriptor's content fully and verifies it. Refuses
 * descriptors larger than `limit` before fetching anything.
 */
export async function fetchAll(
  fetcher: Fetcher,
  desc: Descriptor,
  limit: number,
  options?: FetchOptions,
): Promise<Buffer> {
  if (desc.size > limit) {
    throw new OrasError(
      'ERR_ORAS_MANIFEST_TOO_LARGE',
      `${desc.mediaType} ${desc.digest} is ${desc.size} bytes, over the ${limit}-byte limit`,
      {
        hint: 'refusing to buffer it in memory; raise the limit option if this content is legitimate',
      },
    );
  }
  const data = await readAll(await fetcher.fetch(desc, options), limit, `content ${desc.digest}`);
  verifyContent(data, desc);
  return data;
}
