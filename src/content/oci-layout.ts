import { lstatSync } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream';
import { isOrasError, OrasError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { digestPath, isDigest, parseDigest, verifyContent, VerifyingStream } from '../oci/digest.js';
import { childrenOf, MAX_MANIFEST_BYTES, parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { isManifestMediaType } from '../oci/media-types.js';
import { acquireLock } from './file-lock.js';
import {
  emptyLayoutIndex,
  findTagged,
  isValidRefName,
  parseLayoutIndex,
  plainEntry,
  recordManifest,
  removeEntries,
  tagManifest,
  tagNames,
  untagManifest,
  type LayoutIndex,
} from './layout-index.js';
import { ioError, removeTempFiles, streamToFileAtomic, writeFileAtomic } from './fs-atomic.js';
import { checkAborted, manifestSubject, toReferrerDescriptor } from './memory.js';
import type { CallOptions, Deleter, FetchOptions, PushOptions, ReferrerLister, TagLister, Target } from './store.js';

/** Options for {@link OciLayoutStore.open}. */
export interface OciLayoutOptions {
  /** Refuse every write (`ERR_ORAS_UNSUPPORTED`). Default false. */
  readOnly?: boolean;
  /** Create the layout (directory, `oci-layout`, `index.json`, `blobs/`) when missing. Default `!readOnly`. */
  create?: boolean;
  /** Verify size and digest of every blob while it is read. Default true. */
  verifyOnRead?: boolean;
  /** How long `index.json` updates wait for another process' lock (default 30 s). */
  lockTimeoutMs?: number;
}

const LAYOUT_FILE = 'oci-layout';
const INDEX_FILE = 'index.json';
const LAYOUT_VERSION = '1.0.0';
/** Largest index.json this store reads (64 MiB). */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
/** Bound on manifests visited by graph scans (referrers, gc). */
const MAX_SCAN_NODES = 100_000;

function notFound(what: string, hint = 'check the tag or digest; `tags()` lists what the layout holds'): OrasError {
  return new OrasError('ERR_ORAS_NOT_FOUND', `${what} not found`, { hint });
}

/**
 * A content store over an OCI image layout directory (image-spec
 * `image-layout.md`): `oci-layout`, `index.json`, `blobs/<alg>/<hex>`.
 * Interoperates with skopeo, oras-go and containerd layouts.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md
 *
 * - Blobs are streamed to a temp file, verified (size + digest), then renamed
 *   into place: a partial or wrong blob is never visible. Digests are
 *   validated strictly before being used in a path.
 * - Tags are `index.json` entries carrying the `org.opencontainers.image.ref.name`
 *   annotation. Every `index.json` change is a read-modify-write under a
 *   cross-process file lock (`index.json.lock`) followed by an atomic
 *   replace, so concurrent writers in several processes never lose updates.
 * - A pushed manifest is recorded in `index.json` even when untagged (like
 *   oras-go), so it is not garbage; moving a tag keeps the old manifest as an
 *   untagged entry.
 * - `index.json` is re-read on every call, so changes by other processes are seen.
 * - Crash safety: every file is replaced atomically (see fs-atomic.ts); stale
 *   temp files are removed by `open()` (layout root) and `gc()` (blobs).
 */
export class OciLayoutStore implements Target, Deleter, TagLister, ReferrerLister {
  /** Absolute path of the layout directory. */
  readonly dir: string;
  /** True when opened read-only. */
  readonly readOnly: boolean;
  private readonly verifyOnRead: boolean;
  private readonly lockTimeoutMs: number;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, options: OciLayoutOptions) {
    this.dir = dir;
    this.readOnly = options.readOnly ?? false;
    this.verifyOnRead = options.verifyOnRead ?? true;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
  }

  /**
   * Opens (and by default creates) the layout at `dir`. Rejects with
   * `ERR_ORAS_NOT_FOUND` when it is missing and `create` is false,
   * `ERR_ORAS_UNSUPPORTED` for an unknown `imageLayoutVersion`,
   * `ERR_ORAS_PATH_TRAVERSAL` when `blobs/` is a symlink in a writable store.
   */
  static async open(dir: string, options: OciLayoutOptions = {}): Promise<OciLayoutStore> {
    const store = new OciLayoutStore(resolvePath(dir), options);
    const create = options.create ?? !store.readOnly;
    const layoutPath = join(store.dir, LAYOUT_FILE);
    let layoutText: string | undefined;
    try {
      layoutText = await readFile(layoutPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, 'reading', layoutPath);
    }
    if (layoutText === undefined) {
      if (!create || store.readOnly)
        throw notFound(`OCI layout ${store.dir}`, 'the directory has no oci-layout file; create the layout first');
      await store.initialize();
    } else {
      let version: unknown;
      try {
        version = (JSON.parse(layoutText) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      } catch {
        version = undefined;
      }
      if (version !== LAYOUT_VERSION) {
        throw new OrasError(
          'ERR_ORAS_UNSUPPORTED',
          `${layoutPath}: unsupported imageLayoutVersion ${JSON.stringify(version)}`,
          { hint: `only OCI image layout ${LAYOUT_VERSION} is supported` },
        );
      }
    }
    if (!store.readOnly) {
      await store.checkNoSymlink(join(store.dir, 'blobs'));
      await mkdir(join(store.dir, 'blobs', 'sha256'), { recursive: true }).catch((e: unknown) => {
        throw ioError(e, 'creating', join(store.dir, 'blobs'));
      });
      await store.checkNoSymlink(join(store.dir, 'blobs', 'sha256'));
      await removeTempFiles(store.dir); // index.json temps left by a crash (older than an hour); blob temps: gc()
      if (layoutText !== undefined) {
        await store.locked(async () => {
          if (!(await store.fileExists(join(store.dir, INDEX_FILE)))) await store.writeIndex(emptyLayoutIndex());
        });
      }
    }
    return store;
  }

  private async initialize(): Promise<void> {
    try {
      await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    } catch (err) {
      throw ioError(err, 'creating', this.dir);
    }
    await this.locked(async () => {
      if (!(await this.fileExists(join(this.dir, INDEX_FILE)))) await this.writeIndex(emptyLayoutIndex());
      if (!(await this.fileExists(join(this.dir, LAYOUT_FILE)))) {
        await writeFileAtomic(join(this.dir, LAYOUT_FILE), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
      }
    });
  }

  private async checkNoSymlink(path: string): Promise<void> {
    try {
      const st = await lstat(path);
      if (st.isSymbolicLink()) {
        throw new OrasError('ERR_ORAS_PATH_TRAVERSAL', `${path} is a symlink; refusing to write through it`, {
          hint: 'an OCI layout must hold its blobs in real directories',
        });
      }
    } catch (err) {
      if (isOrasError(err)) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, 'checking', path);
    }
  }

  private async fileExists(path: string): Promise<boolean> {
    try {
      await lstat(path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw ioError(err, 'checking', path);
    }
  }

  private denyWrite(what: string): void {
    if (this.readOnly)
      throw new OrasError('ERR_ORAS_UNSUPPORTED', `${what}: the OCI layout ${this.dir} is opened read-only`, {
        hint: 'open the layout without readOnly to modify it',
      });
  }

  /** Absolute path of the blob file for `digest` (digest validated first). */
  blobPath(digest: string): string {
    return join(this.dir, 'blobs', digestPath(digest));
  }

  /** Runs `fn` holding the in-process queue and the cross-process lock on index.json. */
  private locked<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const run = async (): Promise<T> => {
      const release = await acquireLock(join(this.dir, INDEX_FILE), {
        timeoutMs: this.lockTimeoutMs,
        ...(signal ? { signal } : {}),
      });
      try {
        return await fn();
      } finally {
        await release();
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async readIndex(): Promise<LayoutIndex> {
    const path = join(this.dir, INDEX_FILE);
    let bytes: Buffer;
    try {
      const fh = await open(path, 'r');
      try {
        // Bounded read on the one handle (no stream: closing a handle under a stream can hang).
        const { size } = await fh.stat();
        if (size > MAX_INDEX_BYTES) {
          throw new OrasError(
            'ERR_ORAS_BODY_TOO_LARGE',
            `${path} is ${size} bytes, over the ${MAX_INDEX_BYTES}-byte limit`,
            {
              hint: 'the layout index is unexpectedly large; check that the directory is an OCI image layout',
            },
          );
        }
        bytes = await fh.readFile();
        if (bytes.length > MAX_INDEX_BYTES)
          throw new OrasError(
            'ERR_ORAS_BODY_TOO_LARGE',
            `${path} grew over the ${MAX_INDEX_BYTES}-byte limit while being read`,
          );
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyLayoutIndex();
      if (isOrasError(err)) throw err;
      throw ioError(err, 'reading', path);
    }
    return parseLayoutIndex(bytes, path);
  }

  private async writeIndex(index: LayoutIndex): Promise<void> {
    await writeFileAtomic(join(this.dir, INDEX_FILE), JSON.stringify(index));
  }

  /** Read-modify-write of index.json under the lock; `mutate` returns false when nothing changed. */
  private updateIndex(mutate: (index: LayoutIndex) => boolean | Promise<boolean>, signal?: AbortSignal): Promise<void> {
    return this.locked(async () => {
      const index = await this.readIndex();
      if (await mutate(index)) await this.writeIndex(index);
    }, signal);
  }

  /**
   * Read-modify-write of `index.json` under the same cross-process lock as
   * every other index update, for callers that keep their own records in it
   * (the project cache annotates entries with last use). `mutate` edits the
   * index in place and returns false when nothing changed (nothing is written).
   */
  editIndex(mutate: (index: LayoutIndex) => boolean | Promise<boolean>, options: CallOptions = {}): Promise<void> {
    this.denyWrite('editing index.json');
    return this.updateIndex(mutate, options.signal);
  }

  /** The current `index.json` (re-read on every call; an empty index when the file is missing). */
  readLayoutIndex(): Promise<LayoutIndex> {
    return this.readIndex();
  }

  /**
   * Writes a blob or manifest after verifying it against `desc`; content that
   * already exists (same size) is not rewritten. A manifest media type is
   * also recorded (untagged) in index.json.
   */
  async push(desc: Descriptor, content: Readable | Uint8Array, options: PushOptions = {}): Promise<void> {
    const path = this.blobPath(desc.digest);
    try {
      this.denyWrite(`pushing ${desc.digest}`);
      checkAborted(options.signal, `pushing ${desc.digest}`);
    } catch (err) {
      if (!(content instanceof Uint8Array)) content.destroy();
      throw err;
    }
    if (await this.exists(desc)) {
      if (!(content instanceof Uint8Array)) content.destroy();
    } else {
      const algDir = join(this.dir, 'blobs', parseDigest(desc.digest).algorithm);
      await mkdir(algDir, { recursive: true }).catch((e: unknown) => {
        throw ioError(e, 'creating', algDir);
      });
      if (content instanceof Uint8Array) {
        verifyContent(content, desc);
        await writeFileAtomic(path, content, { mode: 0o644 });
        options.onProgress?.(content.byteLength);
      } else {
        await streamToFileAtomic(path, content, {
          mode: 0o644,
          expected: { digest: desc.digest, size: desc.size },
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        });
      }
    }
    if (isManifestMediaType(desc.mediaType)) {
      await this.updateIndex((index) => recordManifest(index, desc), options.signal);
    }
  }

  /**
   * Opens a blob for reading. With `verifyOnRead` (default) the stream errors
   * instead of ending when size or digest do not match. `ERR_ORAS_NOT_FOUND`
   * when absent; `ERR_ORAS_SIZE_MISMATCH` when the file size differs from `desc.size`.
   */
  async fetch(desc: Descriptor, options: FetchOptions = {}): Promise<Readable> {
    const path = this.blobPath(desc.digest);
    checkAborted(options.signal, `fetching ${desc.digest}`);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`blob ${desc.digest}`);
      throw ioError(err, 'opening', path);
    }
    const st = await fh.stat().catch(async (e: unknown) => {
      await fh.close();
      throw ioError(e, 'reading', path);
    });
    if (!st.isFile() || st.size !== desc.size) {
      await fh.close();
      throw new OrasError(
        'ERR_ORAS_SIZE_MISMATCH',
        `blob ${desc.digest} in ${this.dir} is ${st.size} bytes, descriptor says ${desc.size}`,
        {
          hint: 'the layout is corrupted or the descriptor is wrong',
        },
      );
    }
    const source = fh.createReadStream();
    const stages: NodeJS.ReadWriteStream[] = [];
    if (this.verifyOnRead)
      stages.push(
        new VerifyingStream({ digest: desc.digest, size: desc.size }, { what: `blob ${desc.digest} in ${this.dir}` }),
      );
    const onProgress = options.onProgress;
    if (onProgress) {
      let bytes = 0;
      stages.push(
        new Transform({
          transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) {
            bytes += chunk.length;
            onProgress(bytes);
            cb(null, chunk);
          },
        }),
      );
    }
    if (stages.length === 0 && !options.signal) return source;
    const out = (stages.length > 0 ? pipeline([source, ...stages], () => undefined) : source) as Readable;
    if (options.signal) {
      const signal = options.signal;
      const onAbort = (): void => {
        out.destroy(new OrasError('ERR_ORAS_ABORTED', `fetching ${desc.digest}: aborted`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      out.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return out;
  }

  /**
   * Cheap existence check: the blob file exists (not a symlink) and has `desc.size` bytes. One
   * `lstat` on this thread: a thread-pool round trip costs more than the call (an install of 200
   * dependencies makes ~600 of these).
   */
  async exists(desc: Descriptor, options: CallOptions = {}): Promise<boolean> {
    const path = this.blobPath(desc.digest);
    checkAborted(options.signal, `checking ${desc.digest}`);
    try {
      const st = lstatSync(path, { throwIfNoEntry: false });
      return st !== undefined && st.isFile() && st.size === desc.size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
        return false;
      throw ioError(err, 'checking', path);
    }
  }

  /**
   * Resolves a tag (an index.json entry whose ref.name equals `reference`; the
   * last one wins) or a digest (an index.json entry, else a stored manifest
   * blob, whose media type is read from the document). The returned
   * descriptor has no ref.name annotation. `ERR_ORAS_NOT_FOUND` when absent.
   */
  async resolve(reference: string, options: CallOptions = {}): Promise<Descriptor> {
    checkAborted(options.signal, `resolving ${reference}`);
    const index = await this.readIndex();
    if (isDigest(reference)) {
      const entry = index.manifests.find((m) => m.digest === reference);
      if (entry) return plainEntry(entry);
      const path = this.blobPath(reference);
      let size: number;
      try {
        const st = await lstat(path);
        if (!st.isFile()) throw notFound(`manifest ${reference}`);
        size = st.size;
      } catch (err) {
        if (isOrasError(err)) throw err;
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`manifest ${reference}`);
        throw ioError(err, 'checking', path);
      }
      if (size > MAX_MANIFEST_BYTES)
        throw new OrasError('ERR_ORAS_MANIFEST_TOO_LARGE', `${reference} is ${size} bytes, too large for a manifest`);
      const bytes = await readFile(path).catch((e: unknown) => {
        throw ioError(e, 'reading', path);
      });
      verifyContent(bytes, { digest: reference, size });
      const parsed = parseManifest(bytes);
      return { mediaType: parsed.mediaType, digest: reference, size };
    }
    const tagged = findTagged(index, reference);
    if (tagged) return tagged;
    throw notFound(`tag ${JSON.stringify(reference)} in ${this.dir}`);
  }

  /**
   * Points `reference` (an OCI ref.name, e.g. a tag) at stored content,
   * replacing what it pointed at. A digest reference only records the manifest
   * (untagged). `ERR_ORAS_NOT_FOUND` when the content is absent;
   * `ERR_ORAS_INVALID_REFERENCE` for a name outside the ref.name grammar.
   */
  async tag(desc: Descriptor, reference: string, options: CallOptions = {}): Promise<void> {
    this.denyWrite(`tagging ${reference}`);
    parseDigest(desc.digest);
    const byDigest: boolean = isDigest(reference);
    if (byDigest) {
      if (reference !== desc.digest)
        throw new OrasError(
          'ERR_ORAS_INVALID_REFERENCE',
          `cannot tag ${desc.digest} as a different digest ${reference}`,
        );
    } else if (!isValidRefName(reference)) {
      throw new OrasError(
        'ERR_ORAS_INVALID_REFERENCE',
        `invalid tag ${JSON.stringify(reference.slice(0, 200))} for an OCI layout`,
        {
          hint: 'use letters, digits and . _ - : @ + / separators, e.g. v1.0',
        },
      );
    }
    if (!(await this.exists(desc, options)))
      throw notFound(`content ${desc.digest}`, 'push the manifest before tagging it');
    await this.updateIndex(
      (index) => (byDigest ? recordManifest(index, desc) : tagManifest(index, desc, reference)),
      options.signal,
    );
  }

  /** Removes a tag (the manifest stays, recorded untagged). `ERR_ORAS_NOT_FOUND` when the tag is absent. */
  async untag(reference: string, options: CallOptions = {}): Promise<void> {
    this.denyWrite(`untagging ${reference}`);
    let found = false;
    await this.updateIndex((index) => (found = untagManifest(index, reference)), options.signal);
    if (!found) throw notFound(`tag ${JSON.stringify(reference)}`);
  }

  /** Deletes a blob/manifest and every index.json entry for it. `ERR_ORAS_NOT_FOUND` when absent. */
  async delete(desc: Descriptor, options: CallOptions = {}): Promise<void> {
    this.denyWrite(`deleting ${desc.digest}`);
    const path = this.blobPath(desc.digest);
    let found = false;
    await this.updateIndex(async (index) => {
      const changed = removeEntries(index, desc.digest);
      found = changed;
      try {
        await rm(path);
        found = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, 'deleting', path);
      }
      return changed;
    }, options.signal);
    if (!found) throw notFound(`content ${desc.digest}`);
  }

  /** Tag names (ref.name values) in code-point order, without duplicates; with `last`, only those after it. */
  async *tags(options: CallOptions & { last?: string } = {}): AsyncIterable<string> {
    checkAborted(options.signal, 'listing tags');
    for (const n of tagNames(await this.readIndex())) if (options.last === undefined || n > options.last) yield n;
  }

  /** Reads and parses a stored manifest (verified, capped at {@link MAX_MANIFEST_BYTES}). */
  private async readManifest(desc: Descriptor): Promise<ParsedManifest | undefined> {
    if (!isManifestMediaType(desc.mediaType) || desc.size > MAX_MANIFEST_BYTES) return undefined;
    const path = this.blobPath(desc.digest);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError(err, 'reading', path);
    }
    verifyContent(bytes, desc, `manifest ${desc.digest} in ${this.dir}`);
    return parseManifest(bytes, desc.mediaType);
  }

  /** Visits every manifest reachable from index.json (entries and index children), once each. */
  private async walkManifests(
    visit: (desc: Descriptor, parsed: ParsedManifest) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const index = await this.readIndex();
    const seen = new Set<string>();
    const queue = index.manifests.map(plainEntry);
    while (queue.length > 0) {
      checkAborted(signal, 'scanning the layout');
      const desc = queue.shift() as Descriptor;
      if (seen.has(desc.digest)) continue;
      seen.add(desc.digest);
      if (seen.size > MAX_SCAN_NODES)
        throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `more than ${MAX_SCAN_NODES} manifests in ${this.dir}`);
      const parsed = await this.readManifest(desc);
      if (!parsed) continue;
      visit(desc, parsed);
      if (parsed.kind === 'index') queue.push(...parsed.index.manifests);
    }
  }

  /**
   * Manifests in the layout whose `subject` is `desc` (scanning the manifests
   * reachable from index.json), optionally filtered by artifact type.
   */
  async referrers(desc: Descriptor, options: CallOptions & { artifactType?: string } = {}): Promise<Descriptor[]> {
    parseDigest(desc.digest);
    const out: Descriptor[] = [];
    await this.walkManifests((m, parsed) => {
      if (manifestSubject(parsed)?.digest !== desc.digest) return;
      const r = toReferrerDescriptor(m, parsed);
      if (options.artifactType === undefined || r.artifactType === options.artifactType) out.push(r);
    }, options.signal);
    return out;
  }

  /**
   * Deletes blobs not reachable from index.json (entries, their children
   * and subjects) and stale temp files. Must not run while another writer is
   * pushing content it has not recorded yet. Returns the number of blobs removed.
   */
  async gc(options: CallOptions = {}): Promise<number> {
    this.denyWrite('garbage collection');
    let removed = 0;
    await this.locked(async () => {
      const live = new Set<string>();
      await this.walkManifests((m, parsed) => {
        live.add(m.digest);
        for (const c of childrenOf(parsed)) live.add(c.digest);
        const s = manifestSubject(parsed);
        if (s) live.add(s.digest);
      }, options.signal);
      for (const m of (await this.readIndex()).manifests) live.add(m.digest);
      const blobsDir = join(this.dir, 'blobs');
      for (const alg of await readdir(blobsDir).catch(() => [] as string[])) {
        if (alg !== 'sha256' && alg !== 'sha512') continue;
        const algDir = join(blobsDir, alg);
        await removeTempFiles(algDir);
        for (const hex of await readdir(algDir)) {
          const digest = `${alg}:${hex}`;
          if (!isDigest(digest) || live.has(digest)) continue;
          await rm(join(algDir, hex), { force: true });
          removed++;
        }
      }
      await removeTempFiles(this.dir);
    }, options.signal);
    return removed;
  }
}
