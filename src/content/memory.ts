import { Readable } from 'node:stream';
import { isOrasError, OrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { isDigest, parseDigest, verifyContent } from '../oci/digest.js';
import { parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { isManifestMediaType } from '../oci/media-types.js';
import { readAll } from './read.js';
import type { CallOptions, Deleter, FetchOptions, PushOptions, ReferrerLister, TagLister, Target } from './store.js';

/**
 * The descriptor a referrers listing returns for a manifest (OCI distribution
 * spec): media type, digest, size, `artifactType` (the manifest's, else its
 * config media type) and the manifest's annotations.
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-referrers
 */
export function toReferrerDescriptor(desc: Descriptor, parsed: ParsedManifest): Descriptor {
  const doc = parsed.kind === 'manifest' ? parsed.manifest : parsed.index;
  const artifactType = doc.artifactType ?? (parsed.kind === 'manifest' ? parsed.manifest.config.mediaType : undefined);
  return {
    mediaType: parsed.mediaType,
    digest: desc.digest,
    size: desc.size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(doc.annotations !== undefined ? { annotations: { ...doc.annotations } } : {}),
  };
}

/** The subject of a parsed manifest, if any. */
export function manifestSubject(parsed: ParsedManifest): Descriptor | undefined {
  return parsed.kind === 'manifest' ? parsed.manifest.subject : parsed.index.subject;
}

/** Throws `ERR_ORAS_ABORTED` when the signal has fired. */
export function checkAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new OrasError('ERR_ORAS_ABORTED', `${what}: aborted`);
}

function notFound(what: string): OrasError {
  return new OrasError('ERR_ORAS_NOT_FOUND', `${what} not found`, {
    hint: 'check the tag or digest; list tags to see what the store holds',
  });
}

interface Entry {
  desc: Descriptor;
  data: Buffer;
  parsed?: ParsedManifest;
}

/** Plain descriptor fields kept by the store (no `data`, no ref.name). */
function plain(desc: Descriptor): Descriptor {
  const { data: _data, ...rest } = desc;
  return { ...rest };
}

/**
 * An in-memory content store: blobs and manifests by digest plus a tag map.
 *
 * - `push` verifies size and digest before storing; on mismatch nothing is
 *   stored. Pushing content that already exists is a no-op (idempotent).
 * - Manifests (descriptors with a manifest/index media type) are parsed on
 *   push, so invalid ones are rejected with `ERR_ORAS_INVALID_MANIFEST`, and
 *   their `subject` feeds {@link MemoryStore.referrers}.
 * - `resolve` accepts a tag or a digest of stored content.
 * - Memory grows with the content: meant for tests and small artifacts.
 */
export class MemoryStore implements Target, Deleter, TagLister, ReferrerLister {
  private readonly content = new Map<string, Entry>();
  private readonly tagMap = new Map<string, Descriptor>();

  /** Stores content after verifying it against `desc`. */
  async push(desc: Descriptor, content: Readable | Uint8Array, options: PushOptions = {}): Promise<void> {
    parseDigest(desc.digest);
    checkAborted(options.signal, `pushing ${desc.digest}`);
    let data: Buffer;
    try {
      data =
        content instanceof Uint8Array
          ? Buffer.from(content)
          : await readAll(content, desc.size, `content ${desc.digest}`);
    } catch (err) {
      if (!(content instanceof Uint8Array)) content.destroy();
      if (isOrasError(err, 'ERR_ORAS_BODY_TOO_LARGE')) {
        throw new OrasError(
          'ERR_ORAS_SIZE_MISMATCH',
          `content ${desc.digest}: received more than the expected ${desc.size} bytes`,
          { cause: err },
        );
      }
      throw err;
    }
    verifyContent(data, desc);
    options.onProgress?.(data.length);
    if (this.content.has(desc.digest)) return;
    const entry: Entry = { desc: plain(desc), data };
    if (isManifestMediaType(desc.mediaType)) entry.parsed = parseManifest(data, desc.mediaType);
    this.content.set(desc.digest, entry);
  }

  /** Returns a stream of the stored content; `ERR_ORAS_NOT_FOUND` when absent. */
  async fetch(desc: Descriptor, options: FetchOptions = {}): Promise<Readable> {
    parseDigest(desc.digest);
    checkAborted(options.signal, `fetching ${desc.digest}`);
    const entry = this.content.get(desc.digest);
    if (!entry) throw notFound(`content ${desc.digest}`);
    if (entry.data.length !== desc.size) {
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `content ${desc.digest} is ${entry.data.length} bytes, descriptor says ${desc.size}`,
      );
    }
    options.onProgress?.(entry.data.length);
    return Readable.from([entry.data]);
  }

  /** True when content with this digest (and size) is stored. */
  async exists(desc: Descriptor, options: CallOptions = {}): Promise<boolean> {
    parseDigest(desc.digest);
    checkAborted(options.signal, `checking ${desc.digest}`);
    const entry = this.content.get(desc.digest);
    return entry !== undefined && entry.data.length === desc.size;
  }

  /** Resolves a tag or a digest of stored content to its descriptor. */
  async resolve(reference: string, options: CallOptions = {}): Promise<Descriptor> {
    checkAborted(options.signal, `resolving ${reference}`);
    const tagged = this.tagMap.get(reference);
    if (tagged) return { ...tagged };
    if (isDigest(reference)) {
      const entry = this.content.get(reference);
      if (entry) return { ...entry.desc };
    }
    throw notFound(`reference ${JSON.stringify(reference)}`);
  }

  /**
   * Points `reference` at stored content. A digest reference must equal
   * `desc.digest` (no-op). `ERR_ORAS_NOT_FOUND` when the content is absent.
   */
  async tag(desc: Descriptor, reference: string, options: CallOptions = {}): Promise<void> {
    parseDigest(desc.digest);
    checkAborted(options.signal, `tagging ${reference}`);
    if (!this.content.has(desc.digest)) throw notFound(`content ${desc.digest}`);
    const byDigest: boolean = isDigest(reference);
    if (byDigest) {
      if (reference !== desc.digest)
        throw new OrasError(
          'ERR_ORAS_INVALID_REFERENCE',
          `cannot tag ${desc.digest} as a different digest ${reference}`,
        );
      return;
    }
    if (reference.length === 0 || reference.length > 1024)
      throw new OrasError('ERR_ORAS_INVALID_REFERENCE', 'tag must be 1..1024 characters');
    this.tagMap.set(reference, plain(desc));
  }

  /** Removes content and every tag pointing at it; `ERR_ORAS_NOT_FOUND` when absent. */
  async delete(desc: Descriptor, options: CallOptions = {}): Promise<void> {
    parseDigest(desc.digest);
    checkAborted(options.signal, `deleting ${desc.digest}`);
    if (!this.content.delete(desc.digest)) throw notFound(`content ${desc.digest}`);
    for (const [t, d] of this.tagMap) if (d.digest === desc.digest) this.tagMap.delete(t);
  }

  /** Tags in lexical (code point) order; with `last`, only tags after it. */
  async *tags(options: CallOptions & { last?: string } = {}): AsyncIterable<string> {
    checkAborted(options.signal, 'listing tags');
    const all = [...this.tagMap.keys()].sort();
    for (const t of all) if (options.last === undefined || t > options.last) yield t;
  }

  /** Stored manifests whose `subject` is `desc`, optionally filtered by artifact type. */
  async referrers(desc: Descriptor, options: CallOptions & { artifactType?: string } = {}): Promise<Descriptor[]> {
    parseDigest(desc.digest);
    checkAborted(options.signal, `listing referrers of ${desc.digest}`);
    const out: Descriptor[] = [];
    for (const entry of this.content.values()) {
      if (!entry.parsed || manifestSubject(entry.parsed)?.digest !== desc.digest) continue;
      const r = toReferrerDescriptor(entry.desc, entry.parsed);
      if (options.artifactType === undefined || r.artifactType === options.artifactType) out.push(r);
    }
    return out;
  }

  /** Number of stored blobs and manifests (for tests and diagnostics). */
  get size(): number {
    return this.content.size;
  }
}
