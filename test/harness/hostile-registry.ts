/**
 * A test-owned FAKE registry (node:http on 127.0.0.1) for attacks a real registry cannot
 * produce: corrupted or oversized bodies, lying headers, malicious manifests and archives,
 * redirects to foreign hosts, endless bodies. It serves an in-memory content store with the
 * distribution API's read side (`/v2/`, manifests, blobs, tags) and lets each test take over
 * any request with `intercept`. Every request is recorded (method, url, headers).
 *
 * Also: {@link startRecordingServer}, a "foreign" server that records every request it gets
 * (to prove credentials never reach it), and {@link endless}, an endless body writer.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { digestOf } from '../../src/oci/digest.js';
import type { Descriptor, ImageManifest } from '../../src/oci/descriptor.js';
import { encodeManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { closeTracked, listenTracked } from './tracked-server.js';

/** One request seen by a test server. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** What a request addresses in the distribution API. */
export interface Route {
  /** `ping` (`/v2/`), `manifest`, `blob`, `tags`, `referrers`, or `other`. */
  kind: 'ping' | 'manifest' | 'blob' | 'tags' | 'referrers' | 'other';
  repository?: string;
  /** Tag or digest (manifests, blobs, referrers). */
  reference?: string;
  url: URL;
}

/** Returns true when it answered the request itself. */
export type Interceptor = (req: IncomingMessage, res: ServerResponse, route: Route) => boolean | Promise<boolean>;

/** Options of {@link startHostileRegistry}. */
export interface HostileRegistryOptions {
  /** Require this Basic credential on every `/v2/` request (401 + `WWW-Authenticate: Basic` otherwise). */
  basicAuth?: { username: string; password: string };
}

/** A running fake registry. */
export interface HostileRegistry {
  host: string;
  url: string;
  requests: SeenRequest[];
  /** Blobs by digest (served as stored: put corrupted bytes here to serve them). */
  blobs: Map<string, Buffer>;
  /** Manifests by digest and by tag. */
  manifests: Map<string, { bytes: Buffer; mediaType: string }>;
  /** Per-test takeover; reset to undefined between tests. */
  intercept: Interceptor | undefined;
  /** Stores a blob and returns its descriptor. */
  addBlob(bytes: Buffer, mediaType?: string, annotations?: Record<string, string>): Descriptor;
  /** Stores manifest bytes under their digest (and `tag`); returns the descriptor. */
  addManifest(bytes: Buffer, mediaType?: string, tag?: string): Descriptor;
  /**
   * Stores an artifact: one layer per entry (its bytes as the blob, the descriptor fields as
   * given — so a test may lie in `digest`/`size`/`annotations`), an empty config, and the
   * manifest under `tag`. Returns the manifest descriptor and document.
   */
  addArtifact(layers: ArtifactLayer[], tag: string): { desc: Descriptor; manifest: ImageManifest; bytes: Buffer };
  close(): Promise<void>;
}

/** One layer of {@link HostileRegistry.addArtifact}. */
export interface ArtifactLayer {
  data: Buffer;
  title?: string;
  mediaType?: string;
  annotations?: Record<string, string>;
  /** Overrides the descriptor (e.g. a malformed digest); the blob is stored under the real digest. */
  descriptor?: Partial<Descriptor>;
}

function route(req: IncomingMessage): Route {
  const url = new URL(req.url ?? '/', 'http://x');
  const p = url.pathname;
  if (p === '/v2/' || p === '/v2') return { kind: 'ping', url };
  let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(p);
  if (m) return { kind: 'manifest', repository: m[1] as string, reference: decodeURIComponent(m[2] as string), url };
  m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(p);
  if (m) return { kind: 'blob', repository: m[1] as string, reference: decodeURIComponent(m[2] as string), url };
  m = /^\/v2\/(.+)\/tags\/list$/.exec(p);
  if (m) return { kind: 'tags', repository: m[1] as string, url };
  m = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(p);
  if (m) return { kind: 'referrers', repository: m[1] as string, reference: decodeURIComponent(m[2] as string), url };
  return { kind: 'other', url };
}

function notFound(res: ServerResponse, code: string): void {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ code, message: 'not found' }] }));
}

/** Starts a fake registry. */
export async function startHostileRegistry(options: HostileRegistryOptions = {}): Promise<HostileRegistry> {
  const requests: SeenRequest[] = [];
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  const sockets = new Set<Socket>();
  const expectedAuth = options.basicAuth
    ? `Basic ${Buffer.from(`${options.basicAuth.username}:${options.basicAuth.password}`).toString('base64')}`
    : undefined;

  const reg: HostileRegistry = {
    host: '',
    url: '',
    requests,
    blobs,
    manifests,
    intercept: undefined,
    addBlob(bytes, mediaType = MediaType.ImageLayer, annotations) {
      const digest = digestOf(bytes);
      blobs.set(digest, bytes);
      return { mediaType, digest, size: bytes.length, ...(annotations !== undefined ? { annotations } : {}) };
    },
    addManifest(bytes, mediaType = MediaType.ImageManifest, tag) {
      const digest = digestOf(bytes);
      manifests.set(digest, { bytes, mediaType });
      if (tag !== undefined) manifests.set(tag, { bytes, mediaType });
      return { mediaType, digest, size: bytes.length };
    },
    addArtifact(layers, tag) {
      const config = reg.addBlob(Buffer.from('{}'), MediaType.Empty);
      const descs = layers.map((l) => {
        const annotations = {
          ...(l.title !== undefined ? { 'org.opencontainers.image.title': l.title } : {}),
          ...(l.annotations ?? {}),
        };
        const d = reg.addBlob(
          l.data,
          l.mediaType ?? MediaType.ImageLayer,
          Object.keys(annotations).length > 0 ? annotations : undefined,
        );
        return { ...d, ...(l.descriptor ?? {}) };
      });
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.ImageManifest,
        artifactType: 'application/vnd.test.hostile',
        config,
        layers: descs,
      };
      const bytes = encodeManifest(manifest);
      return { desc: reg.addManifest(bytes, MediaType.ImageManifest, tag), manifest, bytes };
    },
    close: async () => closeTracked(server, sockets),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers } });
    const r = route(req);
    if (expectedAuth !== undefined && req.headers.authorization !== expectedAuth) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (reg.intercept !== undefined && (await reg.intercept(req, res, r))) return;
    req.resume();
    const head = req.method === 'HEAD';
    switch (r.kind) {
      case 'ping':
        res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
        res.end('{}');
        return;
      case 'manifest': {
        const m = manifests.get(r.reference ?? '');
        if (m === undefined) return notFound(res, 'MANIFEST_UNKNOWN');
        res.writeHead(200, {
          'content-type': m.mediaType,
          'content-length': String(m.bytes.length),
          'docker-content-digest': digestOf(m.bytes),
        });
        res.end(head ? undefined : m.bytes);
        return;
      }
      case 'blob': {
        const b = blobs.get(r.reference ?? '');
        if (b === undefined) return notFound(res, 'BLOB_UNKNOWN');
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(b.length) });
        res.end(head ? undefined : b);
        return;
      }
      case 'tags':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ name: r.repository, tags: [...manifests.keys()].filter((k) => !k.includes(':')) }));
        return;
      default:
        return notFound(res, 'NAME_UNKNOWN');
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  const addr = await listenTracked(server, sockets);
  reg.host = addr.host;
  reg.url = addr.url;
  return reg;
}

/** A "foreign" server that records every request and answers with `respond` (default: 200 empty). */
export interface RecordingServer {
  host: string;
  url: string;
  requests: SeenRequest[];
  respond: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
}

/** Starts a {@link RecordingServer}. */
export async function startRecordingServer(
  respond?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<RecordingServer> {
  const sockets = new Set<Socket>();
  const rec: RecordingServer = {
    host: '',
    url: '',
    requests: [],
    respond: respond ?? ((_req, res) => res.end()),
    close: async () => closeTracked(server, sockets),
  };
  const server = createServer((req, res) => {
    rec.requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers } });
    req.resume();
    rec.respond(req, res);
  });
  const addr = await listenTracked(server, sockets);
  rec.host = addr.host;
  rec.url = addr.url;
  return rec;
}

/**
 * Writes an endless body (after `writeHead`) in 64 KiB pieces until the client goes away,
 * counting the bytes it managed to send into `counter.sent`. Bounded by `maxBytes`
 * (default 256 MiB) so a broken client cannot make the test run forever.
 */
export function endless(
  res: ServerResponse,
  counter: { sent: number } = { sent: 0 },
  maxBytes = 256 * 1024 * 1024,
  fill = 0x20,
): void {
  const piece = Buffer.alloc(64 * 1024, fill);
  const pump = (): void => {
    while (!res.destroyed && counter.sent < maxBytes) {
      counter.sent += piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  res.on('error', () => undefined);
  pump();
}
