import { setMaxListeners } from 'node:events';
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import pLimit, { type LimitFunction } from 'p-limit';
import { fetchAll } from '../content/read.js';
import {
  hasPushReference,
  type ReadOnlyStorage,
  type ReadOnlyTarget,
  type Storage,
  type Target,
} from '../content/store.js';
import { isOrasError, OrasError } from '../errors.js';
import type { TransferEvent } from '../events.js';
import type { Descriptor } from '../oci/descriptor.js';
import { isDigest, parseDigest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { isManifestMediaType } from '../oci/media-types.js';
import { DEFAULT_COPY_CONCURRENCY, DEFAULT_MAX_DEPTH, type CopyOptions } from './options.js';
import { settleAll } from '../content/settle-all.js';

function aborted(what: string, cause?: unknown): OrasError {
  return new OrasError('ERR_ORAS_ABORTED', `${what}: aborted`, cause === undefined ? {} : { cause });
}

/**
 * The graph-copy engine shared by `copy`, `copyGraph` and `extendedCopy`.
 * One instance = one copy operation: it de-duplicates descriptors across
 * every graph it copies (one shared promise per digest), bounds parallel
 * transfers with one limiter, and cancels everything in flight on the first
 * failure. Nodes are copied children-first, so a manifest is pushed only
 * after everything it references exists at the destination.
 */
export class GraphCopier {
  private readonly limit: LimitFunction;
  private readonly memo = new Map<string, Promise<void>>();
  private readonly parsed = new Map<string, ParsedManifest>();
  private readonly controller = new AbortController();
  private readonly maxManifestBytes: number;
  private readonly maxDepth: number;
  private firstError: unknown;
  private readonly reported = new Set<unknown>();
  private rootRef: { digest: string; tag: string } | undefined;
  /** True once the root was pushed directly under its tag (see {@link GraphCopier.copyGraph}). */
  rootTagged = false;
  /** Combined user + internal cancellation signal. */
  readonly signal: AbortSignal;

  constructor(
    private readonly src: ReadOnlyStorage,
    private readonly dst: Storage,
    private readonly options: CopyOptions = {},
  ) {
    const concurrency = options.concurrency ?? DEFAULT_COPY_CONCURRENCY;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new OrasError('ERR_ORAS_USAGE', `concurrency must be a positive integer, got ${concurrency}`);
    }
    this.limit = pLimit(concurrency);
    this.maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.signal = options.signal ? AbortSignal.any([options.signal, this.controller.signal]) : this.controller.signal;
    setMaxListeners(0, this.signal); // one listener per in-flight transfer; removed as each settles
  }

  private emit(event: TransferEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // listeners must not throw; a faulty one never breaks the copy
    }
  }

  private check(what: string): void {
    if (this.signal.aborted) throw this.firstError ?? aborted(what, this.options.signal?.reason);
  }

  /** Records the first failure and cancels all other work. */
  private fail(err: unknown): unknown {
    if (this.firstError === undefined) {
      this.firstError = this.options.signal?.aborted && !isOrasError(err) ? aborted('copy', err) : err;
      this.controller.abort();
    }
    return this.firstError;
  }

  /**
   * Copies the graph rooted at `root` (the root is pushed last). Rejects with
   * the first error: `ERR_ORAS_CYCLE`, `ERR_ORAS_LIMIT_EXCEEDED`,
   * `ERR_ORAS_MANIFEST_TOO_LARGE`, verification errors, or the stores' errors.
   * With `tag`, a destination implementing {@link ReferencePusher} receives the
   * root under that tag in one step and {@link rootTagged} becomes true;
   * otherwise the caller tags afterwards.
   */
  async copyGraph(root: Descriptor, options: { tag?: string } = {}): Promise<void> {
    this.check('copy');
    if (options.tag !== undefined) this.rootRef = { digest: root.digest, tag: options.tag };
    try {
      await this.node(root, [], 0);
    } catch (err) {
      throw this.fail(err);
    }
  }

  /**
   * The child manifests of `desc` (entries of an index; none for an image
   * manifest or a blob), from the copy's cache or fetched from the source.
   */
  async childManifests(desc: Descriptor): Promise<Descriptor[]> {
    if (!isManifestMediaType(desc.mediaType)) return [];
    const parsed = await this.parse(desc);
    return parsed.kind === 'index' ? parsed.index.manifests.filter((m) => isManifestMediaType(m.mediaType)) : [];
  }

  private async parse(desc: Descriptor): Promise<ParsedManifest> {
    const cached = this.parsed.get(desc.digest);
    if (cached) return cached;
    const bytes = await this.limit(() => fetchAll(this.src, desc, this.maxManifestBytes, { signal: this.signal }));
    const parsed = parseManifest(bytes, desc.mediaType);
    this.parsed.set(desc.digest, parsed);
    return parsed;
  }

  private node(desc: Descriptor, ancestors: readonly string[], depth: number): Promise<void> {
    parseDigest(desc.digest);
    if (ancestors.includes(desc.digest)) {
      return Promise.reject(
        new OrasError(
          'ERR_ORAS_CYCLE',
          `content graph cycle: ${desc.digest} references itself through ${ancestors.length} level(s)`,
          {
            hint: 'the source holds a malformed graph; it cannot be copied',
          },
        ),
      );
    }
    if (depth > this.maxDepth) {
      return Promise.reject(
        new OrasError(
          'ERR_ORAS_LIMIT_EXCEEDED',
          `content graph deeper than ${this.maxDepth} levels at ${desc.digest}`,
          {
            hint: 'raise the maxDepth option if this nesting is legitimate',
          },
        ),
      );
    }
    let p = this.memo.get(desc.digest);
    if (!p) {
      p = this.process(desc, [...ancestors, desc.digest], depth).catch((err: unknown) => {
        // Report each failure once, at the node where it happened (not again for every ancestor,
        // nor the cancellations it caused elsewhere).
        if (!this.reported.has(err) && (this.firstError === undefined || err === this.firstError)) {
          this.reported.add(err);
          this.emit({ type: 'error', descriptor: desc, error: err });
        }
        throw this.fail(err);
      });
      this.memo.set(desc.digest, p);
    }
    return p;
  }

  /** Awaits all, then rethrows the first failure (so nothing keeps running after we return). */
  private async all(tasks: Promise<void>[]): Promise<void> {
    await settleAll(tasks).catch((err: unknown) => {
      throw this.firstError ?? err;
    });
  }

  private async process(desc: Descriptor, path: readonly string[], depth: number): Promise<void> {
    this.check(`copying ${desc.digest}`);
    if (await this.limit(() => this.dst.exists(desc, { signal: this.signal }))) {
      this.emit({ type: 'skip', descriptor: desc, reason: 'exists' });
      return;
    }
    if (isManifestMediaType(desc.mediaType)) {
      await this.copyManifest(desc, path, depth);
      return;
    }
    if (this.options.mount) {
      const mounted = await this.limit(async () => {
        this.check(`mounting ${desc.digest}`);
        return (this.options.mount as NonNullable<CopyOptions['mount']>)(desc);
      });
      if (mounted === true || mounted === 'mounted') {
        this.emit({ type: 'skip', descriptor: desc, reason: 'mounted' });
        return;
      }
      if (mounted === 'uploaded') {
        this.emit({ type: 'done', descriptor: desc });
        return;
      }
    }
    this.check(`copying ${desc.digest}`);
    await this.limit(() => this.transfer(desc));
  }

  private async copyManifest(desc: Descriptor, path: readonly string[], depth: number): Promise<void> {
    const bytes = await this.limit(() => fetchAll(this.src, desc, this.maxManifestBytes, { signal: this.signal }));
    const parsed = parseManifest(bytes, desc.mediaType);
    this.parsed.set(desc.digest, parsed);
    const children: Descriptor[] = [];
    if (parsed.kind === 'manifest') {
      children.push(parsed.manifest.config);
      const filter = this.options.filter;
      children.push(...(filter ? parsed.manifest.layers.filter((l) => filter(l)) : parsed.manifest.layers));
    } else {
      children.push(...parsed.index.manifests);
    }
    const subject = parsed.kind === 'manifest' ? parsed.manifest.subject : parsed.index.subject;
    if (this.options.includeSubject && subject) children.push(subject);
    await this.all(children.map((c) => this.node(c, path, depth + 1)));
    this.check(`copying ${desc.digest}`);
    await this.limit(async () => {
      this.emit({ type: 'start', descriptor: desc });
      const ref = this.rootRef;
      if (ref !== undefined && ref.digest === desc.digest && hasPushReference(this.dst)) {
        await this.dst.pushReference(desc, bytes, ref.tag, { signal: this.signal });
        this.rootTagged = true;
      } else {
        await this.dst.push(desc, bytes, { signal: this.signal });
      }
      this.emit({ type: 'progress', descriptor: desc, bytes: bytes.length });
      this.emit({ type: 'done', descriptor: desc });
    });
  }

  /** Streams one blob from src to dst (both sides verify). */
  private async transfer(desc: Descriptor): Promise<void> {
    this.check(`copying ${desc.digest}`);
    this.emit({ type: 'start', descriptor: desc });
    const source: Readable = await this.src.fetch(desc, { signal: this.signal });
    let bytes = 0;
    const counter = new Transform({
      transform: (chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) => {
        bytes += chunk.length;
        this.emit({ type: 'progress', descriptor: desc, bytes });
        cb(null, chunk);
      },
    });
    const piped = pipeline(source, counter, () => undefined);
    try {
      await this.dst.push(desc, piped, { signal: this.signal });
    } catch (err) {
      source.destroy();
      counter.destroy();
      throw err;
    }
    this.emit({ type: 'done', descriptor: desc });
  }
}

/**
 * The tag `copy()` applies at the destination: `dstRef` when given, else
 * `srcRef` when it is a tag; undefined (no tag) for a digest. A digest
 * `dstRef` must equal the root digest (then nothing is tagged).
 */
export function destinationTag(srcRef: string, dstRef: string | undefined, root: Descriptor): string | undefined {
  const ref = dstRef === undefined || dstRef === '' ? srcRef : dstRef;
  const byDigest: boolean = isDigest(ref);
  if (!byDigest) return ref;
  if (dstRef !== undefined && dstRef !== '' && dstRef !== root.digest) {
    throw new OrasError(
      'ERR_ORAS_INVALID_REFERENCE',
      `destination digest ${dstRef} does not match the copied root ${root.digest}`,
      {
        hint: 'give a tag as the destination reference, or the digest of the source',
      },
    );
  }
  return undefined;
}

/**
 * The common first step of `copy()` and `extendedCopy()`: resolves `srcRef`
 * at `src`, copies its graph to `dst` with a new {@link GraphCopier} and tags
 * the root as {@link destinationTag} says (in one step when the destination
 * can push by reference). Returns the root and the copier, so further graphs
 * (referrers) share its de-duplication.
 */
export async function copyReference(
  src: ReadOnlyTarget,
  srcRef: string,
  dst: Target,
  dstRef: string | undefined,
  options: CopyOptions,
): Promise<{ root: Descriptor; copier: GraphCopier }> {
  const callOpts = options.signal ? { signal: options.signal } : {};
  const root = await src.resolve(srcRef, callOpts);
  const tag = destinationTag(srcRef, dstRef, root);
  const copier = new GraphCopier(src, dst, options);
  await copier.copyGraph(root, tag !== undefined ? { tag } : {});
  if (tag !== undefined && !copier.rootTagged) await dst.tag(root, tag, callOpts);
  return { root, copier };
}
