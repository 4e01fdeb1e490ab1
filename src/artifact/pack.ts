import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { UnhashedPusher } from '../content/store.js';
import { digestFile } from '../oci/hash-file.js';
import { OrasError } from '../errors.js';
import type { TransferListener } from '../events.js';
import { hasUnhashedPush, type CallOptions, type Exists, type Pusher, type Tagger } from '../content/store.js';
import type { Descriptor, ImageManifest } from '../oci/descriptor.js';
import { digestOf } from '../oci/digest.js';
import { Annotation, MediaType } from '../oci/media-types.js';
import { buildManifest, type ImageSpecVersion } from './build-manifest.js';
import { runAll } from './run-all.js';
import { normalizeRelativePath } from './safe-path.js';
import { packDirectory, type PackedDirectory } from './tar.js';

export { buildManifest, canonicalDescriptor, sortedRecord, type BuildManifestInput, type BuiltManifest, type ImageSpecVersion } from './build-manifest.js';

/** A file or directory to push as one layer. */
export interface PackFileInput {
  /** File-system path (relative to `cwd` or absolute). A directory becomes a tar+gzip layer. */
  path: string;
  /** Layer media type; default `application/vnd.oci.image.layer.v1.tar` (files) / `...tar+gzip` (directories). */
  mediaType?: string;
  /** `org.opencontainers.image.title`; default: `path` normalized to POSIX without `./`. */
  title?: string;
}

/** Options for {@link packArtifact}. */
export interface PackArtifactOptions extends CallOptions {
  files: PackFileInput[];
  /** Config from a file (`/dev/null` gives an empty config) with its media type. */
  config?: { path: string; mediaType: string };
  artifactType?: string;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  /** Per-title layer annotations plus `$config` and `$manifest` (oras `--annotation-file`). Unknown titles are refused. */
  fileAnnotations?: Record<string, Record<string, string>>;
  /** Default `'v1.1'`. */
  imageSpec?: ImageSpecVersion;
  subject?: Descriptor;
  /** RFC 3339 `org.opencontainers.image.created`; omitted when not given (reproducible by default). */
  created?: string;
  /** Directory tar mtime in seconds (e.g. SOURCE_DATE_EPOCH). Default 0. */
  mtime?: number;
  /** Allow absolute or `..` titles (oras `--disable-path-validation`). Default `false`. */
  allowAbsolutePaths?: boolean;
  /** Base for relative paths. Default `process.cwd()`. */
  cwd?: string;
  /**
   * Files of at least this many bytes are uploaded while they are hashed when the store
   * supports it ({@link UnhashedPusher}, e.g. a remote Repository); smaller files, directories
   * and other stores hash first. Default {@link OVERLAP_THRESHOLD} (64 MiB); `Infinity` disables.
   */
  overlapThreshold?: number;
  /** Parallel blob hashing/uploads. Default 3. */
  concurrency?: number;
  /** Tags to point at the manifest after it is pushed. */
  tags?: string[];
  onEvent?: TransferListener;
}

/** A pushed layer and where it came from. */
export interface PackedLayer {
  path: string;
  title: string;
  descriptor: Descriptor;
}

/** Result of {@link packArtifact}. */
export interface PackArtifactResult {
  /** Manifest descriptor (with artifactType and annotations, like oras-go). */
  descriptor: Descriptor;
  manifest: ImageManifest;
  /** The exact manifest bytes (for `--export-manifest`). */
  manifestBytes: Buffer;
  config: Descriptor;
  layers: PackedLayer[];
  /** Every blob referenced (config first, then layers; deduplicated). */
  blobs: Descriptor[];
}

interface BlobSource {
  descriptor: Descriptor;
  open: () => Readable | Uint8Array;
}

function usage(message: string, hint: string): never {
  throw new OrasError('ERR_ORAS_USAGE', message, { hint });
}

/** Title rules of the Go oras CLI: the given path, cleaned, POSIX; absolute / escaping paths need `allowAbsolutePaths`. */
export function titleForPath(given: string, allowAbsolutePaths = false): string {
  const posix = given.split(path.sep).join('/');
  const cleaned = path.posix.normalize(posix).replace(/\/+$/, '');
  const escaping = path.isAbsolute(given) || cleaned === '..' || cleaned.startsWith('../');
  if (escaping) {
    if (allowAbsolutePaths) return cleaned;
    throw new OrasError('ERR_ORAS_PATH_TRAVERSAL', `refusing to use ${JSON.stringify(given)} as a title: absolute or outside the working directory`, {
      hint: 'give a relative path, set an explicit title, or pass --disable-path-validation (allowAbsolutePaths)',
    });
  }
  return normalizeRelativePath(cleaned);
}

/** Read chunk size of files hashed or uploaded (1 MiB: ~16× fewer read/write calls than the 64 KiB default; bounded memory). */
export const UPLOAD_CHUNK_BYTES = 1024 * 1024;

/**
 * Files of at least this many bytes (64 MiB) are uploaded while they are hashed
 * (when the store supports {@link UnhashedPusher}); smaller ones are hashed first.
 */
export const OVERLAP_THRESHOLD = 64 * 1024 * 1024;

/**
 * Opens a file of `size` bytes for upload with reads of at most {@link UPLOAD_CHUNK_BYTES}, but no
 * bigger than the file: a read buffer is allocated per read, and a 1 MiB buffer for each of 1000
 * 4 KiB files costs more CPU (allocation, page faults, GC) than the uploads themselves.
 */
function openForUpload(file: string, size: number): Readable {
  return createReadStream(file, { highWaterMark: Math.min(UPLOAD_CHUNK_BYTES, Math.max(size, 1)) });
}

/** The digest of a big file hashed while it uploads: the one place to swap in an off-thread hash. */
function digestWhileUploading(file: string, signal: AbortSignal): Promise<{ digest: string; size: number }> {
  return digestFile(file, { signal });
}

function notRegular(file: string): never {
  throw new OrasError('ERR_ORAS_UNSUPPORTED', `${file} is not a regular file or directory`, { hint: 'only regular files and directories can be pushed (and /dev/null as an empty config)' });
}

async function statOrFail(file: string): Promise<import('node:fs').Stats> {
  try {
    return await stat(file);
  } catch (cause) {
    throw new OrasError('ERR_ORAS_IO', `cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause, hint: 'check that the file exists and is readable' });
  }
}

/**
 * Builds an artifact from files and directories and pushes it, like
 * `oras push`: blobs are hashed by streaming (memory flat; directories are
 * packed reproducibly to a temp file), uploaded only when `store.exists` says
 * they are missing (`skip` events otherwise) with `concurrency` in parallel,
 * then the manifest is pushed last and tagged with `tags` (needs a Tagger).
 * Pushing the same inputs twice yields the same manifest digest. Titles must
 * be unique (`ERR_ORAS_USAGE`). See {@link buildManifest} for the manifest rules.
 */
export async function packArtifact(store: Pusher & Exists & Partial<Tagger>, options: PackArtifactOptions): Promise<PackArtifactResult> {
  const cwd = options.cwd ?? process.cwd();
  const concurrency = options.concurrency ?? 3;
  const overlapThreshold = options.overlapThreshold ?? OVERLAP_THRESHOLD;
  const emit: TransferListener = (e) => options.onEvent?.(e);
  const fileAnn = { ...(options.fileAnnotations ?? {}) };
  const manifestExtra = fileAnn.$manifest;
  const configAnn = fileAnn.$config;
  delete fileAnn.$manifest;
  delete fileAnn.$config;
  const titles = new Set<string>();
  const inputs = options.files.map((f) => {
    const title = f.title !== undefined ? (options.allowAbsolutePaths ? f.title : normalizeRelativePath(f.title)) : titleForPath(f.path, options.allowAbsolutePaths);
    if (titles.has(title)) usage(`duplicate title ${JSON.stringify(title)}`, 'each file must have a unique title (path)');
    titles.add(title);
    return { ...f, title, abs: path.resolve(cwd, f.path) };
  });
  for (const key of Object.keys(fileAnn)) {
    if (!titles.has(key)) usage(`annotations given for ${JSON.stringify(key)}, which is not a pushed file`, 'annotation keys must be a file title, $config or $manifest');
  }
  if (options.config === undefined && configAnn !== undefined) {
    usage('$config annotations need a config file', 'pass a config (e.g. /dev/null:<media type>) to annotate it');
  }
  const manifestAnnotations: Record<string, string> = { ...(options.annotations ?? {}) };
  for (const [k, v] of Object.entries(manifestExtra ?? {})) {
    if (k in manifestAnnotations && manifestAnnotations[k] !== v) usage(`manifest annotation ${JSON.stringify(k)} is given twice with different values`, 'set each annotation once');
    manifestAnnotations[k] = v;
  }

  const packed: PackedDirectory[] = [];
  /** Digests already uploaded (with their events) while hashing. */
  const uploaded = new Set<string>();
  try {
    // 1. hash/pack every input (bounded parallelism)
    const layerSources = await runAll(inputs, concurrency, options.signal, async (f, signal): Promise<BlobSource & { input: typeof f }> => {
      const st = await statOrFail(f.abs);
      const annotations: Record<string, string> = { ...(fileAnn[f.title] ?? {}), [Annotation.Title]: f.title };
      if (st.isDirectory()) {
        const p = await packDirectory(f.abs, { prefixName: f.title, signal, ...(options.mtime !== undefined ? { mtime: options.mtime } : {}) });
        packed.push(p);
        annotations[Annotation.ContentDigest] = p.uncompressedDigest;
        annotations[Annotation.ContentUnpack] = 'true';
        const descriptor: Descriptor = { mediaType: f.mediaType ?? MediaType.ImageLayerGzip, digest: p.digest, size: p.size, annotations };
        return { input: f, descriptor, open: () => openForUpload(p.path, p.size) };
      }
      if (!st.isFile()) notRegular(f.abs);
      const mediaType = f.mediaType ?? MediaType.DefaultLayer;
      if (st.size >= overlapThreshold && hasUnhashedPush(store)) {
        const descriptor = await pushWhileHashing(store, f.abs, st.size, (digest) => ({ mediaType, digest, size: st.size, annotations }), emit, signal);
        uploaded.add(descriptor.digest);
        return { input: f, descriptor, open: () => openForUpload(f.abs, st.size) };
      }
      const { digest, size } = await digestFile(f.abs, { signal });
      const descriptor: Descriptor = { mediaType, digest, size, annotations };
      return { input: f, descriptor, open: () => openForUpload(f.abs, st.size) };
    });

    let configSource: BlobSource | undefined;
    if (options.config !== undefined) {
      const abs = path.resolve(cwd, options.config.path);
      const isDevNull = abs === '/dev/null';
      const cst = isDevNull ? undefined : await statOrFail(abs);
      if (cst !== undefined && !cst.isFile()) notRegular(abs);
      const { digest, size } = cst === undefined ? { digest: digestOf(''), size: 0 } : await digestFile(abs, options.signal ? { signal: options.signal } : {});
      configSource = {
        descriptor: { mediaType: options.config.mediaType, digest, size, ...(configAnn !== undefined ? { annotations: configAnn } : {}) },
        open: () => (size === 0 ? new Uint8Array(0) : openForUpload(abs, size)),
      };
    }
    const built = buildManifest({
      layers: layerSources.map((l) => l.descriptor),
      ...(options.imageSpec !== undefined ? { imageSpec: options.imageSpec } : {}),
      ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
      ...(configSource !== undefined ? { config: configSource.descriptor } : {}),
      ...(options.subject !== undefined ? { subject: options.subject } : {}),
      annotations: manifestAnnotations,
      ...(options.created !== undefined ? { created: options.created } : {}),
    });
    const defaultConfig = built.defaultConfigBytes;
    const config: BlobSource = configSource ?? { descriptor: built.config, open: () => defaultConfig ?? Buffer.from('{}') };

    // 2. upload missing blobs (config + layers, deduplicated by digest; the empty layer too)
    const blobs = new Map<string, BlobSource>();
    blobs.set(config.descriptor.digest, { descriptor: built.config, open: config.open });
    built.manifest.layers.forEach((layer, i) => {
      if (blobs.has(layer.digest)) return;
      const src = layerSources[i];
      blobs.set(layer.digest, { descriptor: layer, open: src !== undefined ? src.open : () => Buffer.from('{}') });
    });
    const pending = [...blobs.values()].filter((b) => !uploaded.has(b.descriptor.digest));
    await runAll(pending, concurrency, options.signal, (b, signal) => pushOne(store, b, emit, signal));

    // 3. the manifest last, then tags
    const mdesc = built.descriptor;
    await pushOne(store, { descriptor: mdesc, open: () => built.bytes }, emit, options.signal);
    for (const tag of options.tags ?? []) {
      if (typeof store.tag !== 'function') usage('this target cannot be tagged', 'push to a target that supports tags, or omit tags');
      await store.tag(mdesc, tag, options.signal ? { signal: options.signal } : {});
    }
    return {
      descriptor: mdesc,
      manifest: built.manifest,
      manifestBytes: built.bytes,
      config: built.config,
      layers: layerSources.map((l, i) => ({ path: l.input.path, title: l.input.title, descriptor: built.manifest.layers[i] ?? l.descriptor })),
      blobs: [...blobs.values()].map((b) => b.descriptor),
    };
  } catch (err) {
    if (options.signal?.aborted && !(err instanceof OrasError)) throw new OrasError('ERR_ORAS_ABORTED', 'push aborted', { cause: err });
    throw err;
  } finally {
    await Promise.all(packed.map((p) => p.cleanup()));
  }
}

async function pushOne(store: Pusher & Exists, blob: BlobSource, emit: TransferListener, signal: AbortSignal | undefined): Promise<void> {
  const call = signal ? { signal } : {};
  const descriptor = blob.descriptor;
  if (await store.exists(descriptor, call)) {
    emit({ type: 'skip', descriptor, reason: 'exists' });
    return;
  }
  emit({ type: 'start', descriptor });
  try {
    await store.push(descriptor, blob.open(), { ...call, onProgress: (bytes) => emit({ type: 'progress', descriptor, bytes }) });
  } catch (error) {
    emit({ type: 'error', descriptor, error });
    throw error;
  }
  emit({ type: 'done', descriptor });
}

/**
 * Uploads a big file while it is hashed ({@link UnhashedPusher}); returns its descriptor
 * once pushed or found present. Events as {@link pushOne}: `skip` (exists) or `start`,
 * `progress`… (from the moment the digest is known), `done`; `error` once the digest is known.
 */
async function pushWhileHashing(store: UnhashedPusher, file: string, size: number, describe: (digest: string) => Descriptor, emit: TransferListener, signal: AbortSignal): Promise<Descriptor> {
  let descriptor: Descriptor | undefined;
  const digest = digestWhileUploading(file, signal).then(({ digest: d, size: hashed }) => {
    if (hashed !== size) {
      throw new OrasError('ERR_ORAS_DIGEST_MISMATCH', `${file} changed while it was being pushed: it is ${hashed} bytes now, ${size} before`, {
        hint: 'make sure nothing writes to the file during the push, then retry (nothing was committed)',
      });
    }
    descriptor = describe(d);
    return d;
  });
  let outcome: 'pushed' | 'exists';
  try {
    outcome = await store.pushUnhashed(() => openForUpload(file, size), size, digest, {
      signal,
      what: file,
      onStart: () => {
        if (descriptor) emit({ type: 'start', descriptor });
      },
      onProgress: (bytes) => {
        if (descriptor) emit({ type: 'progress', descriptor, bytes });
      },
    });
  } catch (error) {
    if (descriptor) emit({ type: 'error', descriptor, error });
    throw error;
  }
  if (!descriptor) throw new OrasError('ERR_ORAS_IO', `${file}: no digest after the upload`, { hint: 'this is a bug; please report it' });
  emit(outcome === 'exists' ? { type: 'skip', descriptor, reason: 'exists' } : { type: 'done', descriptor });
  return descriptor;
}
