import { stat } from 'node:fs/promises';
import path from 'node:path';
import { digestFile } from '../oci/hash-file.js';
import { fileSwappedError, isSameFile, type FileIdentity } from '../oci/file-identity.js';
import { OrasError } from '../errors.js';
import type { TransferListener } from '../events.js';
import { hasUnhashedPush, type CallOptions, type Exists, type Pusher, type Tagger } from '../content/store.js';
import type { Descriptor, ImageManifest } from '../oci/descriptor.js';
import { digestOf } from '../oci/digest.js';
import { Annotation, MediaType } from '../oci/media-types.js';
import { buildManifest, type BuiltManifest, type ImageSpecVersion } from './build-manifest.js';
import { planPackInputs, type TitledInput } from './pack-inputs.js';
import { openForUpload, pushOne, pushWhileHashing, type BlobSource } from './push-blob.js';
import { runAll } from './run-all.js';
import { packDirectory, type PackedDirectory } from './tar.js';

export {
  buildManifest,
  canonicalDescriptor,
  sortedRecord,
  type BuildManifestInput,
  type BuiltManifest,
  type ImageSpecVersion,
} from './build-manifest.js';
export { titleForPath } from './pack-inputs.js';
export { UPLOAD_CHUNK_BYTES } from './push-blob.js';

/** A file or directory to push as one layer. */
export interface PackFileInput {
  /** File-system path (relative to `cwd` or absolute). A directory becomes a tar+gzip layer. */
  path: string;
  /** Layer media type; default `application/vnd.oci.image.layer.v1.tar` (files) / `...tar+gzip` (directories). */
  mediaType?: string;
  /** `org.opencontainers.image.title`; default: `path` normalized to POSIX without `./`. */
  title?: string;
  /**
   * The file `path` must still be (device + inode, from the caller's check,
   * e.g. `publish`'s no-symlink check): every open of a regular file is made
   * without following a final symlink and compared; another file →
   * `ERR_ORAS_PATH_TRAVERSAL` before a byte of it is read. For a directory
   * only the directory itself is compared.
   */
  identity?: FileIdentity;
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
   * supports it (`UnhashedPusher`, e.g. a remote Repository); smaller files, directories
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

/**
 * Files of at least this many bytes (64 MiB) are uploaded while they are hashed
 * (when the store supports `UnhashedPusher`); smaller ones are hashed first.
 */
export const OVERLAP_THRESHOLD = 64 * 1024 * 1024;

function notRegular(file: string): never {
  throw new OrasError('ERR_ORAS_UNSUPPORTED', `${file} is not a regular file or directory`, {
    hint: 'only regular files and directories can be pushed (and /dev/null as an empty config)',
  });
}

async function statOrFail(file: string): Promise<import('node:fs').Stats> {
  try {
    return await stat(file);
  } catch (cause) {
    throw new OrasError(
      'ERR_ORAS_IO',
      `cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`,
      { cause, hint: 'check that the file exists and is readable' },
    );
  }
}

/** What hashing a layer needs beside the input itself. */
interface LayerContext {
  store: Pusher & Exists;
  options: PackArtifactOptions;
  fileAnnotations: Record<string, Record<string, string>>;
  overlapThreshold: number;
  emit: TransferListener;
  /** Directories packed to temp files (cleaned up by the caller). */
  packed: PackedDirectory[];
  /** Digests already uploaded (with their events) while hashing. */
  uploaded: Set<string>;
}

type LayerSource = BlobSource & { input: TitledInput };

/**
 * Builds an artifact from files and directories and pushes it, like
 * `oras push`: blobs are hashed by streaming (memory flat; directories are
 * packed reproducibly to a temp file), uploaded only when `store.exists` says
 * they are missing (`skip` events otherwise) with `concurrency` in parallel,
 * then the manifest is pushed last and tagged with `tags` (needs a Tagger).
 * Pushing the same inputs twice yields the same manifest digest. Titles must
 * be unique (`ERR_ORAS_USAGE`). See {@link buildManifest} for the manifest rules.
 */
export async function packArtifact(
  store: Pusher & Exists & Partial<Tagger>,
  options: PackArtifactOptions,
): Promise<PackArtifactResult> {
  const cwd = options.cwd ?? process.cwd();
  const concurrency = options.concurrency ?? 3;
  const emit: TransferListener = (e) => options.onEvent?.(e);
  const plan = planPackInputs(options, cwd);
  const ctx: LayerContext = {
    store,
    options,
    fileAnnotations: plan.fileAnnotations,
    overlapThreshold: options.overlapThreshold ?? OVERLAP_THRESHOLD,
    emit,
    packed: [],
    uploaded: new Set<string>(),
  };
  try {
    // 1. hash/pack every input (bounded parallelism)
    const layerSources = await runAll(plan.inputs, concurrency, options.signal, (f, signal) =>
      hashLayer(f, ctx, signal),
    );
    const configSource =
      options.config === undefined
        ? undefined
        : await hashConfig(options.config, cwd, plan.configAnnotations, options.signal);
    const built = buildManifest({
      layers: layerSources.map((l) => l.descriptor),
      ...(options.imageSpec !== undefined ? { imageSpec: options.imageSpec } : {}),
      ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
      ...(configSource !== undefined ? { config: configSource.descriptor } : {}),
      ...(options.subject !== undefined ? { subject: options.subject } : {}),
      annotations: plan.manifestAnnotations,
      ...(options.created !== undefined ? { created: options.created } : {}),
    });

    // 2. upload missing blobs (config + layers, deduplicated by digest; the empty layer too)
    const blobs = blobsOf(built, configSource, layerSources);
    const pending = [...blobs.values()].filter((b) => !ctx.uploaded.has(b.descriptor.digest));
    await runAll(pending, concurrency, options.signal, (b, signal) => pushOne(store, b, emit, signal));

    // 3. the manifest last, then tags
    await pushManifestAndTags(store, built, options, emit);
    return {
      descriptor: built.descriptor,
      manifest: built.manifest,
      manifestBytes: built.bytes,
      config: built.config,
      layers: layerSources.map((l, i) => ({
        path: l.input.path,
        title: l.input.title,
        descriptor: built.manifest.layers[i] ?? l.descriptor,
      })),
      blobs: [...blobs.values()].map((b) => b.descriptor),
    };
  } catch (err) {
    if (options.signal?.aborted && !(err instanceof OrasError))
      throw new OrasError('ERR_ORAS_ABORTED', 'push aborted', { cause: err });
    throw err;
  } finally {
    await Promise.all(ctx.packed.map((p) => p.cleanup()));
  }
}

/**
 * Hashes one input into a layer: a directory is packed (tar+gzip) to a temp
 * file; a big file is uploaded while it is hashed when the store can; any
 * other regular file is hashed by streaming.
 */
async function hashLayer(f: TitledInput, ctx: LayerContext, signal: AbortSignal): Promise<LayerSource> {
  const { options, store } = ctx;
  const st = await statOrFail(f.abs);
  if (f.identity !== undefined && !isSameFile(st, f.identity)) throw fileSwappedError(f.abs);
  const expect = f.identity;
  const annotations: Record<string, string> = { ...(ctx.fileAnnotations[f.title] ?? {}), [Annotation.Title]: f.title };
  if (st.isDirectory()) {
    const p = await packDirectory(f.abs, {
      prefixName: f.title,
      signal,
      ...(options.mtime !== undefined ? { mtime: options.mtime } : {}),
    });
    ctx.packed.push(p);
    annotations[Annotation.ContentDigest] = p.uncompressedDigest;
    annotations[Annotation.ContentUnpack] = 'true';
    const descriptor: Descriptor = {
      mediaType: f.mediaType ?? MediaType.ImageLayerGzip,
      digest: p.digest,
      size: p.size,
      annotations,
    };
    return { input: f, descriptor, open: () => openForUpload(p.path, p.size) };
  }
  if (!st.isFile()) notRegular(f.abs);
  const mediaType = f.mediaType ?? MediaType.DefaultLayer;
  if (st.size >= ctx.overlapThreshold && hasUnhashedPush(store)) {
    const descriptor = await pushWhileHashing(
      store,
      f.abs,
      st.size,
      (digest) => ({ mediaType, digest, size: st.size, annotations }),
      ctx.emit,
      signal,
      expect,
    );
    ctx.uploaded.add(descriptor.digest);
    return { input: f, descriptor, open: () => openForUpload(f.abs, st.size, expect) };
  }
  const { digest, size } = await digestFile(f.abs, { signal, ...(expect ? { expect } : {}) });
  const descriptor: Descriptor = { mediaType, digest, size, annotations };
  return { input: f, descriptor, open: () => openForUpload(f.abs, st.size, expect) };
}

/** Hashes the config file (`/dev/null` is the empty config). */
async function hashConfig(
  config: { path: string; mediaType: string },
  cwd: string,
  annotations: Record<string, string> | undefined,
  signal: AbortSignal | undefined,
): Promise<BlobSource> {
  const abs = path.resolve(cwd, config.path);
  const isDevNull = abs === '/dev/null';
  const cst = isDevNull ? undefined : await statOrFail(abs);
  if (cst !== undefined && !cst.isFile()) notRegular(abs);
  const { digest, size } =
    cst === undefined ? { digest: digestOf(''), size: 0 } : await digestFile(abs, signal ? { signal } : {});
  return {
    descriptor: { mediaType: config.mediaType, digest, size, ...(annotations !== undefined ? { annotations } : {}) },
    open: () => (size === 0 ? new Uint8Array(0) : openForUpload(abs, size)),
  };
}

/** Every blob of `built` by digest, config first: the given config or the built default, then layers (the empty layer as `{}`). */
function blobsOf(
  built: BuiltManifest,
  configSource: BlobSource | undefined,
  layerSources: LayerSource[],
): Map<string, BlobSource> {
  const defaultConfig = built.defaultConfigBytes;
  const config: BlobSource = configSource ?? {
    descriptor: built.config,
    open: () => defaultConfig ?? Buffer.from('{}'),
  };
  const blobs = new Map<string, BlobSource>();
  blobs.set(config.descriptor.digest, { descriptor: built.config, open: config.open });
  built.manifest.layers.forEach((layer, i) => {
    if (blobs.has(layer.digest)) return;
    const src = layerSources[i];
    blobs.set(layer.digest, { descriptor: layer, open: src !== undefined ? src.open : () => Buffer.from('{}') });
  });
  return blobs;
}

/** Pushes the manifest (after every blob), then points each of `options.tags` at it. */
async function pushManifestAndTags(
  store: Pusher & Exists & Partial<Tagger>,
  built: BuiltManifest,
  options: PackArtifactOptions,
  emit: TransferListener,
): Promise<void> {
  const mdesc = built.descriptor;
  await pushOne(store, { descriptor: mdesc, open: () => built.bytes }, emit, options.signal);
  for (const tag of options.tags ?? []) {
    if (typeof store.tag !== 'function')
      usage('this target cannot be tagged', 'push to a target that supports tags, or omit tags');
    await store.tag(mdesc, tag, options.signal ? { signal: options.signal } : {});
  }
}

function usage(message: string, hint: string): never {
  throw new OrasError('ERR_ORAS_USAGE', message, { hint });
}
