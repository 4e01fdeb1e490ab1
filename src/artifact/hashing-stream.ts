import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OrasError } from '../errors.js';

/**
 * A pass-through that counts and sha256-hashes the bytes flowing through it,
 * optionally failing with `ERR_ORAS_LIMIT_EXCEEDED` once more than `limit`
 * bytes passed (`limitHint` explains which option raises the limit). With
 * `hash: false` it only counts (and {@link HashingStream.digest} is `''`).
 */
export class HashingStream extends Transform {
  private readonly hash: Hash | undefined;
  private count = 0;
  private result: string | undefined;

  constructor(private readonly options: { limit?: number; what?: string; limitHint?: string; hash?: boolean } = {}) {
    super();
    this.hash = options.hash === false ? undefined : createHash('sha256');
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count;
  }

  /** `sha256:<hex>` of everything seen (`''` with `hash: false`); only valid once the stream has ended. */
  get digest(): string {
    this.result ??= this.hash === undefined ? '' : `sha256:${this.hash.digest('hex')}`;
    return this.result;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    const limit = this.options.limit;
    if (limit !== undefined && this.count > limit) {
      cb(
        new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `${this.options.what ?? 'content'} exceeds the ${limit}-byte limit`, {
          hint: this.options.limitHint ?? 'raise the limit option if this content is legitimate',
        }),
      );
      return;
    }
    this.hash?.update(chunk);
    cb(null, chunk);
  }
}
