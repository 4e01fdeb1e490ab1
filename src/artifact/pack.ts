import { statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { digestFile } from '../oci/hash-file.js';
import { fileSwappedError, isSameFile, type FileIdentity } from '../oci/file-identity.js';
import { OrasError } from '../errors.js';
import type { TransferListener } from '../events.js';
import {
  hasPushReference,
  hasUnhashedPush,
  type CallOptions,
  type Exists,
  type Pusher,
  type Tagger,
} from '../content/store.js';
import type { Descriptor, ImageManifest } from '../oci/descriptor.js';
import { digestOf } from '../oci/digest.js';
import { Annotation, MediaType } from '../oci/media-types.js';
import { buildManifest, type BuildManifestInput, type BuiltManifest, type ImageSpecVersion } from './build-manifest.js';
import { planPackInputs, type PackInputs, type TitledInput } from './pack-inputs.js';
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

async function statOrFail(file: string): Promise<Stats> {
  try {
    return await stat(file);
  } catch (cause) {
    throw statError(file, cause);
  }
}

/**
 * The input's stat, checked before anything is uploaded: it exists, is still the file the caller
 * checked (`identity`), and is a regular file or a directory. Synchronous: one `stat` each is
 * cheaper on the calling thread than a thread-pool round trip.
 */
function statInput(f: TitledInput): Stats {
  let st: Stats;
  try {
    st = statSync(f.abs);
  } catch (cause) {
    throw statError(f.abs, cause);
  }
  if (f.identity !== undefined && !isSameFile(st, f.identity)) throw fileSwappedError(f.abs);
  if (!st.isDirectory() && !st.isFile()) notRegular(f.abs);
  return st;
}

function statError(file: string, cause: unknown): OrasError {
  return new OrasError(
    'ERR_ORAS_IO',
    `cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`,
    { cause, hint: 'check that the file exists and is readable' },
  );
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
  /** Digests already uploaded (with their events): the config, and big files pushed while hashed. */
  uploaded: Set<string>;
}

type LayerSource = BlobSource & { input: TitledInput };

/**
 * Builds an artifact from files and directories and pushes it, like
 * `oras push`: blobs are hashed by streaming (memory flat; directories are
 * packed reproducibly to a temp file), uploaded only when `store.exists` says
 * they are missing (`skip` events otherwise) with `concurrency` in parallel,
 * the config alongside the layers, then the manifest last: straight under each of
 * `tags` (one PUT per tag) on a store that can (`pushReference`, e.g. a remote
 * repository), otherwise pushed, then tagged (needs a Tagger).
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
    // 1. the config (it does not depend on the layers: its upload runs alongside them), and
    //    hash/pack every input (bounded parallelism; big files upload while they are hashed)
    const configSource =
      options.config === undefined
        ? undefined
        : await hashConfig(options.config, cwd, plan.configAnnotations, options.signal);
    const config = configBlobOf(buildManifest(manifestInput(options, plan, configSource, [])), configSource);
    ctx.uploaded.add(config.descriptor.digest);
    const layerSources = await pushConfigAndLayers(ctx, plan, config, concurrency);
    const built = buildManifest(
      manifestInput(
        options,
        plan,
        configSource,
        layerSources.map((l) => l.descriptor),
      ),
    );

    // 2. upload the missing layers (deduplicated by digest; the empty layer too)
    const blobs = blobsOf(built, config, layerSources);
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
 * Every input checked ({@link statInput}) before anything is uploaded, then the config's upload
 * alongside the layers' hashing and packing (`concurrency` at a time); the first failure stops both.
 */
async function pushConfigAndLayers(
  ctx: LayerContext,
  plan: PackInputs,
  config: BlobSource,
  concurrency: number,
): Promise<LayerSource[]> {
  const inputs = plan.inputs.map((f) => ({ f, st: statInput(f) }));
  let layers: LayerSource[] = [];
  const steps = [
    (signal: AbortSignal) => pushOne(ctx.store, config, ctx.emit, signal),
    async (signal: AbortSignal) => {
      layers = await runAll(inputs, concurrency, signal, (i, s) => hashLayer(i.f, i.st, ctx, s));
    },
  ];
  await runAll(steps, steps.length, ctx.options.signal, (step, signal) => step(signal));
  return layers;
}

/**
 * Hashes one input into a layer: a directory is packed (tar+gzip) to a temp
 * file; a big file is uploaded while it is hashed when the store can; any
 * other regular file is hashed by streaming.
 */
async function hashLayer(f: TitledInput, st: Stats, ctx: LayerContext, signal: AbortSignal): Promise<LayerSource> {
  const { options, store } = ctx;
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

/** The manifest's input: everything but the layers comes from the options. */
function manifestInput(
  options: PackArtifactOptions,
  plan: PackInputs,
  configSource: BlobSource | undefined,
  layers: Descriptor[],
): BuildManifestInput {
  return {
    layers,
    ...(options.imageSpec !== undefined ? { imageSpec: options.imageSpec } : {}),
    ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
    ...(configSource !== undefined ? { config: configSource.descriptor } : {}),
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    annotations: plan.manifestAnnotations,
    ...(options.created !== undefined ? { created: options.created } : {}),
  };
}

/** The config blob of `built`: the given config, or the built default (`{}`). */
function configBlobOf(built: BuiltManifest, configSource: BlobSource | undefined): BlobSource {
  const defaultConfig = built.defaultConfigBytes;
  return { descriptor: built.config, open: configSource?.open ?? (() => defaultConfig ?? Buffer.from('{}')) };
}

/** Every blob of `built` by digest, config first, then layers (the empty layer as `{}`). */
function blobsOf(built: BuiltManifest, config: BlobSource, layerSources: LayerSource[]): Map<string, BlobSource> {
  const blobs = new Map<string, BlobSource>();
  blobs.set(config.descriptor.digest, config);
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
  const tags = options.tags ?? [];
  const call = options.signal ? { signal: options.signal } : {};
  if (tags.length > 0 && hasPushReference(store)) {
    // Like oras-go's copy to a ReferencePusher: HEAD, then the manifest straight under each tag (one
    // PUT each; pushing by tag stores it by digest too) instead of PUT by digest + GET and PUT per tag.
    const exists = await store.exists(mdesc, call);
    emit(exists ? { type: 'skip', descriptor: mdesc, reason: 'exists' } : { type: 'start', descriptor: mdesc });
    try {
      for (const tag of tags) await store.pushReference(mdesc, built.bytes, tag, call);
    } catch (error) {
      if (!exists) emit({ type: 'error', descriptor: mdesc, error });
      throw error;
    }
    if (exists) return;
    emit({ type: 'progress', descriptor: mdesc, bytes: built.bytes.length });
    emit({ type: 'done', descriptor: mdesc });
    return;
  }
  await pushOne(store, { descriptor: mdesc, open: () => built.bytes }, emit, options.signal);
  for (const tag of tags) {
    if (typeof store.tag !== 'function')
      usage('this target cannot be tagged', 'push to a target that supports tags, or omit tags');
    await store.tag(mdesc, tag, call);
  }
}

function usage(message: string, hint: string): never {
  throw new OrasError('ERR_ORAS_USAGE', message, { hint });
}
