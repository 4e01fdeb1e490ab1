import { createHash, hash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OrasError } from '../errors.js';

/** A content digest string such as `sha256:<64 hex>`. Always validated by {@link parseDigest}. */
export type Digest = string;

/** Digest algorithms this library can compute and verify. */
export type DigestAlgorithm = 'sha256' | 'sha512';

const DIGEST_PATTERNS: Record<DigestAlgorithm, RegExp> = {
  sha256: /^sha256:[a-f0-9]{64}$/,
  sha512: /^sha512:[a-f0-9]{128}$/,
};

/** The parts of a validated digest. */
export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/**
 * Validates a digest strictly (lower-case hex, exact length, known algorithm)
 * and returns its parts. Throws `ERR_ORAS_INVALID_DIGEST` otherwise. Call this
 * before a digest is used in any URL or file path.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/descriptor.md#digests
 */
export function parseDigest(digest: unknown, field = 'digest'): ParsedDigest {
  if (typeof digest === 'string') {
    const colon = digest.indexOf(':');
    const algorithm = digest.slice(0, colon);
    if (algorithm === 'sha256' || algorithm === 'sha512') {
      if (DIGEST_PATTERNS[algorithm].test(digest)) {
        return { algorithm, hex: digest.slice(colon + 1) };
      }
    }
  }
  const shown = typeof digest === 'string' ? JSON.stringify(digest.slice(0, 80)) : typeof digest;
  throw new OrasError('ERR_ORAS_INVALID_DIGEST', `invalid ${field}: ${shown}`, {
    hint: 'a digest must look like sha256:<64 lower-case hex characters> (or sha512:<128>)',
  });
}

/** True when `digest` passes {@link parseDigest}. */
export function isDigest(digest: unknown): digest is Digest {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

/** Computes the digest of a buffer (sha256 by default). One-shot `crypto.hash`: about half the cost of a Hash object for small inputs. */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${hash(algorithm, data, 'hex')}`;
}

/** Creates a hash for the algorithm of `digest` (which must be valid). */
export function hasherFor(digest: Digest): Hash {
  return createHash(parseDigest(digest).algorithm);
}

/** Throws `ERR_ORAS_DIGEST_MISMATCH` / `ERR_ORAS_SIZE_MISMATCH` when content does not match. */
export function verifyContent(data: Uint8Array, expected: { digest: Digest; size: number }, what = 'content'): void {
  if (data.byteLength !== expected.size) {
    throw new OrasError(
      'ERR_ORAS_SIZE_MISMATCH',
      `${what} size ${data.byteLength} does not match expected ${expected.size} (${expected.digest})`,
      {
        hint: 'the source served different content than its descriptor says; do not trust it',
      },
    );
  }
  const { algorithm } = parseDigest(expected.digest);
  const actual = digestOf(data, algorithm);
  if (actual !== expected.digest) {
    throw new OrasError(
      'ERR_ORAS_DIGEST_MISMATCH',
      `${what} digest mismatch: expected ${expected.digest}, got ${actual}`,
      {
        hint: 'the source served corrupted or tampered content; nothing was written',
      },
    );
  }
}

/** Options of {@link VerifyingStream}. */
export interface VerifyingStreamOptions {
  /** What is verified, for messages. Default `blob <digest>`. */
  what?: string;
  /** A running hash of an already-verified prefix (resume); implies inline hashing. Default: a fresh hash. */
  hash?: Hash;
  /** Bytes already hashed into `hash` (resume). Default 0. */
  offset?: number;
}

/**
 * A pass-through stream that hashes and counts bytes and fails the stream
 * when the content does not match the expected size and digest: it errors as
 * soon as more than `size` bytes arrive, and at the end (in `_flush`, before
 * the readable side ends) when fewer arrived or the digest differs.
 * `hash`/`offset` allow resuming a partial download whose prefix was already
 * hashed.
 */
export class VerifyingStream extends Transform {
  readonly expected: { digest: Digest; size: number };
  private readonly hash: Hash;
  private count: number;
  private readonly what: string;
  private readonly algorithm: DigestAlgorithm;

  constructor(expected: { digest: Digest; size: number }, options: VerifyingStreamOptions = {}) {
    super();
    this.algorithm = parseDigest(expected.digest).algorithm;
    this.expected = expected;
    this.count = options.offset ?? 0;
    this.what = options.what ?? `blob ${expected.digest}`;
    this.hash = options.hash ?? createHash(this.algorithm);
  }

  /** Bytes seen so far (including the resumed offset). */
  get bytes(): number {
    return this.count;
  }

  /**
   * Counts and hashes `chunk` synchronously (the bytes are read before this
   * returns, so the caller may reuse the buffer); throws
   * `ERR_ORAS_SIZE_MISMATCH` as soon as more than `size` bytes were seen.
   * The stream's own `_transform` uses it; a source that delivers bytes to a
   * synchronous consumer instead of through the stream calls it directly,
   * then {@link VerifyingStream.verifyEnd} at the end.
   */
  verifyChunk(chunk: Uint8Array): void {
    this.count += chunk.length;
    if (this.count > this.expected.size) {
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `${this.what}: received more than the expected ${this.expected.size} bytes`,
        {
          hint: 'the source sent trailing bytes beyond the descriptor size; nothing was written',
        },
      );
    }
    this.hash.update(chunk);
  }

  /** Throws `ERR_ORAS_SIZE_MISMATCH` / `ERR_ORAS_DIGEST_MISMATCH` unless exactly the expected bytes were seen. */
  verifyEnd(): void {
    if (this.count !== this.expected.size) {
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `${this.what}: received ${this.count} of ${this.expected.size} bytes (truncated)`,
        {
          hint: 'the transfer ended early; retry, and check the network or registry',
        },
      );
    }
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.expected.digest) {
      throw new OrasError('ERR_ORAS_DIGEST_MISMATCH', `${this.what}: digest mismatch, got ${actual}`, {
        hint: 'the source served corrupted or tampered content; nothing was written',
      });
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.verifyChunk(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.verifyEnd();
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }
}

/**
 * Returns the `<algorithm>/<hex>` relative path of a blob in an OCI layout (validated).
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md#blobs
 */
export function digestPath(digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}/${hex}`;
}
