/**
 * Test helpers: build small OCI graphs (blobs, image manifests, indexes, referrers) in any store.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { Storage } from '../../src/content/store.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../../src/oci/descriptor.js';
import { digestOf, VerifyingStream, type Digest } from '../../src/oci/digest.js';
import { encodeManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';

/** A descriptor for bytes. */
export function descOf(
  data: Uint8Array | string,
  mediaType: string = MediaType.ImageLayer,
  extra: Partial<Descriptor> = {},
): Descriptor {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  return { mediaType, digest: digestOf(buf), size: buf.byteLength, ...extra };
}

/** Pushes bytes and returns their descriptor. */
export async function pushBlob(
  store: Storage,
  data: Uint8Array | string,
  mediaType: string = MediaType.ImageLayer,
  extra: Partial<Descriptor> = {},
): Promise<{ desc: Descriptor; bytes: Buffer }> {
  const bytes = Buffer.from(typeof data === 'string' ? Buffer.from(data) : data);
  const desc = descOf(bytes, mediaType, extra);
  await store.push(desc, bytes);
  return { desc, bytes };
}

/** An image built by {@link pushImage}. */
export interface BuiltImage {
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  configBytes: Buffer;
  layers: { desc: Descriptor; bytes: Buffer }[];
}

/** Pushes config + layers + an image manifest (not tagged). Layers default to 2 random blobs. */
export async function pushImage(
  store: Storage,
  opts: {
    layers?: (Buffer | string)[];
    subject?: Descriptor;
    artifactType?: string;
    annotations?: Record<string, string>;
    config?: string;
  } = {},
): Promise<BuiltImage> {
  const configBytes = Buffer.from(
    opts.config ??
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
        n: randomBytes(4).toString('hex'),
      }),
  );
  const config = (await pushBlob(store, configBytes, MediaType.ImageConfig)).desc;
  const layers: { desc: Descriptor; bytes: Buffer }[] = [];
  for (const l of opts.layers ?? [randomBytes(3000), randomBytes(70_000)])
    layers.push(await pushBlob(store, l, MediaType.ImageLayer));
  const doc: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config,
    layers: layers.map((l) => l.desc),
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const manifestBytes = encodeManifest(doc);
  const manifest = descOf(manifestBytes, MediaType.ImageManifest);
  await store.push(manifest, manifestBytes);
  return { manifest, manifestBytes, config, configBytes, layers };
}

/** Pushes an index over `manifests`. */
export async function pushIndex(
  store: Storage,
  manifests: Descriptor[],
  extra: Partial<ImageIndex> = {},
): Promise<{ desc: Descriptor; bytes: Buffer }> {
  const doc: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests, ...extra };
  const bytes = encodeManifest(doc);
  const desc = descOf(bytes, MediaType.ImageIndex);
  await store.push(desc, bytes);
  return { desc, bytes };
}

/** Pushes an ORAS-style artifact manifest (empty config) referring to `subject`. */
export async function pushReferrer(
  store: Storage,
  subject: Descriptor,
  artifactType: string,
  payload = randomBytes(100),
): Promise<BuiltImage> {
  const emptyBytes = Buffer.from('{}');
  const empty = descOf(emptyBytes, MediaType.Empty);
  await store.push(empty, emptyBytes);
  const layer = await pushBlob(store, payload, 'application/octet-stream');
  const doc: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType,
    config: empty,
    layers: [layer.desc],
    subject,
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
  };
  const manifestBytes = encodeManifest(doc);
  const manifest = descOf(manifestBytes, MediaType.ImageManifest);
  await store.push(manifest, manifestBytes);
  return { manifest, manifestBytes, config: empty, configBytes: emptyBytes, layers: [layer] };
}

/** Reads a stream fully. */
export async function streamBytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** Collects an async iterable. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * Compiles `src/<entry>` (and what it imports) with tsc into `outDir` as ESM,
 * so plain `node` child processes can run the real module (`outDir/<entry .js>`).
 */
export async function compileForChild(entry: string, outDir: string): Promise<void> {
  const root = resolve(import.meta.dirname, '../..');
  await promisify(execFile)(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '--outDir',
      outDir,
      '--rootDir',
      join(root, 'src'),
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'ES2023',
      '--skipLibCheck',
      '--types',
      'node',
      '--strict',
      join(root, 'src', entry),
    ],
    { cwd: root, timeout: 120_000 },
  );
  await writeFile(join(outDir, 'package.json'), '{"type":"module"}');
}

/** A readable delivering `data` in `size`-byte chunks. */
export function chunks(data: Buffer, size = 1000): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

/**
 * A {@link ChunkSource} fake that keeps the contract the way the registry's own reader does: one
 * reused buffer, refilled for every chunk, verified then handed to the sink synchronously; `pumpTo`
 * resolves only after the size and digest matched. `pumped` tells whether it was used that way.
 */
export class ReusingSource extends VerifyingStream {
  canPump = true;
  pumped = false;
  constructor(
    private readonly parts: Buffer[],
    expected: { digest: Digest; size: number },
  ) {
    super(expected);
  }
  async pumpTo(sink: (chunk: Buffer) => void): Promise<void> {
    this.canPump = false;
    this.pumped = true;
    const shared = Buffer.alloc(Math.max(...this.parts.map((b) => b.length)));
    for (const part of this.parts) {
      await new Promise((r) => setImmediate(r));
      if (this.destroyed) throw new Error('destroyed');
      part.copy(shared);
      const view = shared.subarray(0, part.length);
      this.verifyChunk(view);
      sink(view);
      shared.fill(0xee); // a consumer that kept the view would now hold garbage
    }
    this.verifyEnd();
  }
}
