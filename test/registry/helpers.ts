/** Shared helpers of the Repository / Registry tests. */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { Repository, type RepositoryOptions } from '../../src/registry/repository.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { digestOf } from '../../src/oci/digest.js';
import { encodeManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { ImageManifest } from '../../src/oci/descriptor.js';
import { uniqueRepo, type RegistryInfo } from '../harness/context.js';

/** A RegistryClient for a harness registry (push user's credentials, test CA). Fast retries. */
export function clientFor(
  info: RegistryInfo,
  onDebug?: (line: string) => void,
  extra: Pick<RegistryClientOptions, 'directDownloadBytes'> = {},
): RegistryClient {
  const user = info.users.find((u) => u.access === 'push');
  return new RegistryClient({
    ...extra,
    plainHttp: info.mode !== 'tls',
    ...(info.caFile !== undefined ? { caFile: info.caFile } : {}),
    ...(user !== undefined ? { credentials: async () => ({ username: user.username, password: user.password }) } : {}),
    retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
    ...(onDebug !== undefined ? { onDebug } : {}),
  });
}

/** A Repository with a unique name on a harness registry. */
export function repoOn(
  info: RegistryInfo,
  client: RegistryClient,
  prefix: string,
  options: RepositoryOptions = {},
): Repository {
  return new Repository({
    reference: { registry: info.host, repository: uniqueRepo(`registry-test/${prefix}`) },
    client,
    ...options,
  });
}

/** A descriptor for bytes. */
export function descOf(bytes: Uint8Array, mediaType: string = MediaType.ImageLayer): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
}

/** Random bytes. */
export function blob(size: number): Buffer {
  return randomBytes(size);
}

/** Reads a stream fully. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** A streaming Readable of `size` pseudo-random bytes generated in 64 KiB pieces (never held whole). */
export function generated(size: number, seed = 1): { stream: () => Readable; digest: string } {
  const piece = (i: number): Buffer => {
    const b = Buffer.alloc(64 * 1024);
    let x = (seed * 2654435761 + i * 40503) >>> 0;
    for (let j = 0; j < b.length; j += 4) {
      x = (x ^ (x << 13)) >>> 0;
      x = (x ^ (x >>> 17)) >>> 0;
      x = (x ^ (x << 5)) >>> 0;
      b.writeUInt32LE(x, j);
    }
    return b;
  };
  const gen = function* (): Generator<Buffer> {
    let left = size;
    for (let i = 0; left > 0; i++) {
      const b = piece(i);
      const part = left >= b.length ? b : b.subarray(0, left);
      left -= part.length;
      yield part;
    }
  };
  const h = createHash('sha256');
  for (const p of gen()) h.update(p);
  return { stream: () => Readable.from(gen(), { objectMode: false }), digest: `sha256:${h.digest('hex')}` };
}

/** Pushes config + one layer + manifest; returns the manifest descriptor and bytes. */
export async function pushImage(
  repo: Repository,
  opts: {
    layer?: Buffer;
    configType?: string;
    artifactType?: string;
    subject?: Descriptor;
    annotations?: Record<string, string>;
  } = {},
): Promise<{ desc: Descriptor; bytes: Buffer; layer: Descriptor; config: Descriptor }> {
  const configBytes = Buffer.from(JSON.stringify({ created: 'x', n: Math.random() }));
  const config = descOf(configBytes, opts.configType ?? MediaType.ImageConfig);
  const layerBytes = opts.layer ?? blob(1024);
  const layer = descOf(layerBytes);
  await repo.push(config, configBytes);
  await repo.push(layer, layerBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    ...(opts.artifactType !== undefined ? { artifactType: opts.artifactType } : {}),
    config,
    layers: [layer],
    ...(opts.subject !== undefined ? { subject: opts.subject } : {}),
    ...(opts.annotations !== undefined ? { annotations: opts.annotations } : {}),
  };
  const bytes = encodeManifest(manifest);
  const desc = descOf(bytes, MediaType.ImageManifest);
  await repo.push(desc, bytes);
  return { desc, bytes, layer, config };
}

/** A test-owned HTTP server on 127.0.0.1 for fault injection. */
export interface FaultServer {
  host: string;
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts a test-owned HTTP server with `handler`. */
export async function faultServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<FaultServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
