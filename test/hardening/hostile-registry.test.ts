/**
 * A hostile registry (test/harness/hostile-registry.ts) against the user-facing pull path:
 * `pullArtifact(new Repository(...))` over real HTTP. Every case asserts the typed error AND
 * that nothing was written: the output directory's parent holds nothing but the (empty)
 * output directory — no file, no partial, no temp file.
 *
 * Lower-level cases already covered elsewhere (see docs/SECURITY.md): blob verification and
 * Range resume against a fault server (test/registry/blob-faults.test.ts), manifest faults,
 * foreign Link / endless pagination, foreign upload Location
 * (test/registry/protocol-faults.test.ts), realm and redirect policy
 * (test/registry-http/auth-servers.test.ts, retry-redirect.test.ts).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pullArtifact } from '../../src/artifact/pull.js';
import { MemoryStore } from '../../src/content/memory.js';
import { extendedCopy } from '../../src/copy/extended-copy.js';
import { copy } from '../../src/copy/copy.js';
import { OciLayoutStore } from '../../src/content/oci-layout.js';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isOrasError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { encodeManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { Repository, type RepositoryOptions } from '../../src/registry/repository.js';
import {
  endless,
  startHostileRegistry,
  startRecordingServer,
  type HostileRegistry,
} from '../harness/hostile-registry.js';

let reg: HostileRegistry;
const clients: RegistryClient[] = [];
const dirs: string[] = [];

function repo(options: RepositoryOptions = {}, clientOptions: RegistryClientOptions = {}, registry = reg): Repository {
  const client = new RegistryClient({
    plainHttp: true,
    retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    ...clientOptions,
  });
  clients.push(client);
  return new Repository({ reference: { registry: registry.host, repository: 'hostile/app' }, client, ...options });
}

async function outDir(): Promise<{ parent: string; out: string }> {
  const parent = await mkdtemp(path.join(tmpdir(), 'oras-hostile-'));
  dirs.push(parent);
  return { parent, out: path.join(parent, 'out') };
}

/** Everything under `dir` (relative, sorted). */
async function everything(dir: string): Promise<string[]> {
  const all = await readdir(dir, { recursive: true });
  return all.map(String).sort();
}

/** Pulls `tag` and returns the error plus what ended up under the parent directory. */
async function attempt(tag: string, r: Repository = repo()): Promise<{ err: unknown; left: string[] }> {
  const { parent, out } = await outDir();
  const err = await pullArtifact(r, tag, out).then(
    () => undefined,
    (e: unknown) => e,
  );
  const left = await everything(parent);
  return { err, left };
}

function expectRefused(result: { err: unknown; left: string[] }, code: string): void {
  expect(isOrasError(result.err), String(result.err)).toBe(true);
  expect((result.err as { code: string }).code).toBe(code);
  // at most the empty output directory itself
  expect(result.left.filter((p) => p !== 'out')).toEqual([]);
}

beforeAll(async () => {
  reg = await startHostileRegistry();
});
afterEach(() => {
  reg.intercept = undefined;
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await reg?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('hostile blob bodies (pull writes nothing)', () => {
  it('one byte flipped in a blob → ERR_ORAS_DIGEST_MISMATCH', async () => {
    const data = Buffer.alloc(200_000, 7);
    const { manifest } = reg.addArtifact([{ data, title: 'model.bin' }], 'flipped');
    const bad = Buffer.from(data);
    bad[123_456] = (bad[123_456] ?? 0) ^ 0x01;
    reg.blobs.set(manifest.layers[0]!.digest, bad);
    expectRefused(await attempt('flipped'), 'ERR_ORAS_DIGEST_MISMATCH');
  });

  it('extra trailing bytes (Content-Length covering them) → ERR_ORAS_SIZE_MISMATCH before any byte is used', async () => {
    const data = Buffer.from('exactly these bytes');
    const { manifest } = reg.addArtifact([{ data, title: 'a.txt' }], 'trailing');
    reg.blobs.set(manifest.layers[0]!.digest, Buffer.concat([data, Buffer.from('#!/bin/sh evil')]));
    expectRefused(await attempt('trailing'), 'ERR_ORAS_SIZE_MISMATCH');
  });

  it('extra trailing bytes without Content-Length (chunked) → ERR_ORAS_SIZE_MISMATCH', async () => {
    const data = Buffer.from('exactly these bytes');
    const { manifest } = reg.addArtifact([{ data, title: 'a.txt' }], 'trailing-chunked');
    const digest = manifest.layers[0]!.digest;
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'blob' || route.reference !== digest) return false;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(data);
      res.end('trailing');
      return true;
    };
    expectRefused(await attempt('trailing-chunked'), 'ERR_ORAS_SIZE_MISMATCH');
  });

  it('Content-Length ≠ descriptor size → ERR_ORAS_SIZE_MISMATCH', async () => {
    const data = Buffer.from('0123456789');
    const { manifest } = reg.addArtifact([{ data, title: 'a.txt' }], 'short');
    reg.blobs.set(manifest.layers[0]!.digest, data.subarray(0, 5));
    expectRefused(await attempt('short'), 'ERR_ORAS_SIZE_MISMATCH');
  });

  it('Docker-Content-Digest contradicting the requested digest → ERR_ORAS_DIGEST_MISMATCH', async () => {
    const data = Buffer.from('payload');
    const { manifest } = reg.addArtifact([{ data, title: 'a.txt' }], 'dcd');
    const digest = manifest.layers[0]!.digest;
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'blob' || route.reference !== digest) return false;
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(data.length),
        'docker-content-digest': digestOf('something else'),
      });
      res.end(data);
      return true;
    };
    expectRefused(await attempt('dcd'), 'ERR_ORAS_DIGEST_MISMATCH');
  });

  it('an error body that never ends is read boundedly (64 KiB) and reported', async () => {
    const data = Buffer.from('payload');
    const { manifest } = reg.addArtifact([{ data, title: 'a.txt' }], 'endless-error');
    const digest = manifest.layers[0]!.digest;
    const counter = { sent: 0 };
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'blob' || route.reference !== digest) return false;
      res.writeHead(404, { 'content-type': 'application/json' });
      endless(res, counter, 64 * 1024 * 1024, 0x7b);
      return true;
    };
    const r = await attempt('endless-error');
    expectRefused(r, 'ERR_ORAS_NOT_FOUND');
    // the client hung up long before the server's 64 MiB bound
    expect(counter.sent).toBeLessThan(16 * 1024 * 1024);
  });
});

describe('copy (oras cp / backup) from a hostile registry into an OCI layout', () => {
  it('a flipped byte in one layer: nothing unverified lands in the layout and the root is not tagged', async () => {
    const good = Buffer.alloc(50_000, 1);
    const data = Buffer.alloc(80_000, 2);
    const { manifest } = reg.addArtifact(
      [
        { data: good, title: 'good.bin' },
        { data, title: 'bad.bin' },
      ],
      'copy-flip',
    );
    const bad = Buffer.from(data);
    bad[40_000] = (bad[40_000] ?? 0) ^ 0x80;
    reg.blobs.set(manifest.layers[1]!.digest, bad);
    const { parent } = await outDir();
    const layoutDir = path.join(parent, 'layout');
    const dst = await OciLayoutStore.open(layoutDir, { create: true });
    const err = await copy(repo(), 'copy-flip', dst, 'copy-flip').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    // every blob in the layout is verified; the bad one is absent; no tag was written
    const blobDir = path.join(layoutDir, 'blobs', 'sha256');
    const names = await readdir(blobDir).catch(() => [] as string[]);
    for (const n of names.filter((x) => /^[0-9a-f]{64}$/.test(x))) {
      expect(
        createHash('sha256')
          .update(await readFile(path.join(blobDir, n)))
          .digest('hex'),
      ).toBe(n);
    }
    expect(names).not.toContain(manifest.layers[1]!.digest.slice(7));
    const index = JSON.parse(await readFile(path.join(layoutDir, 'index.json'), 'utf8')) as { manifests: unknown[] };
    expect(index.manifests).toEqual([]);
  });
});

describe('hostile manifests', () => {
  it('manifest mediaType ≠ Content-Type → ERR_ORAS_MEDIA_TYPE_MISMATCH', async () => {
    const { bytes } = reg.addArtifact([{ data: Buffer.from('x'), title: 'x' }], 'ct-lie');
    reg.manifests.set('ct-lie', { bytes, mediaType: MediaType.ImageIndex });
    expectRefused(await attempt('ct-lie'), 'ERR_ORAS_MEDIA_TYPE_MISMATCH');
  });

  it('a manifest body that never ends (no Content-Length) is cut at 4 MiB → ERR_ORAS_MANIFEST_TOO_LARGE', async () => {
    const counter = { sent: 0 };
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'manifest' || route.reference !== 'huge') return false;
      res.writeHead(200, { 'content-type': MediaType.ImageManifest });
      if (_req.method === 'HEAD') {
        res.end();
        return true;
      }
      endless(res, counter, 64 * 1024 * 1024);
      return true;
    };
    const r = await attempt('huge');
    expectRefused(r, 'ERR_ORAS_MANIFEST_TOO_LARGE');
    expect(counter.sent).toBeLessThan(32 * 1024 * 1024);
  });

  it('maxManifestBytes lowers the cap (clear error naming the option); the default accepts the same manifest', async () => {
    const { bytes } = reg.addArtifact(
      Array.from({ length: 20 }, (_, i) => ({ data: Buffer.from(`f${i}`), title: `f${i}.txt` })),
      'big-ish',
    );
    expect(bytes.length).toBeGreaterThan(2048);
    const small = await attempt('big-ish', repo({ maxManifestBytes: 2048 }));
    expectRefused(small, 'ERR_ORAS_MANIFEST_TOO_LARGE');
    expect((small.err as { hint?: string }).hint).toMatch(/maxManifestBytes/);
    const ok = await attempt('big-ish');
    expect(ok.err).toBeUndefined();
  });

  const badDigests: [string, string][] = [
    ['path traversal', 'sha256:../../../../etc/passwd'],
    ['upper-case hex', `sha256:${'A'.repeat(64)}`],
    ['wrong length', `sha256:${'a'.repeat(63)}`],
    ['unknown algorithm', `md5:${'a'.repeat(32)}`],
  ];
  for (const [name, digest] of badDigests) {
    it(`a layer digest that is malformed (${name}) is refused before any URL or path is built from it`, async () => {
      const tag = `bad-digest-${name.replace(/\W+/g, '-')}`;
      reg.addArtifact([{ data: Buffer.from('x'), title: 'x.txt', descriptor: { digest } }], tag);
      const before = reg.requests.length;
      const r = await attempt(tag);
      expect(isOrasError(r.err), String(r.err)).toBe(true);
      expect(['ERR_ORAS_INVALID_DIGEST', 'ERR_ORAS_INVALID_MANIFEST']).toContain((r.err as { code: string }).code);
      expect(r.left.filter((p) => p !== 'out')).toEqual([]);
      const urls = reg.requests.slice(before).map((q) => q.url);
      expect(urls.filter((u) => u.includes('/blobs/'))).toEqual([]);
      expect(urls.some((u) => u.includes('..'))).toBe(false);
    });
  }

  it('a manifest whose config digest is malformed is refused (INVALID_DIGEST)', async () => {
    const layer = reg.addBlob(Buffer.from('x'), MediaType.ImageLayer, { 'org.opencontainers.image.title': 'x.txt' });
    const bytes = encodeManifest({
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: { mediaType: MediaType.Empty, digest: 'sha256:../x', size: 2 },
      layers: [layer],
    });
    reg.addManifest(bytes, MediaType.ImageManifest, 'bad-config');
    const r = await attempt('bad-config');
    expect(['ERR_ORAS_INVALID_DIGEST', 'ERR_ORAS_INVALID_MANIFEST']).toContain((r.err as { code?: string }).code);
    expect(r.left.filter((p) => p !== 'out')).toEqual([]);
  });
});

describe('credentials never leave the registry origin', () => {
  it('a blob redirect to another host that then challenges 401 gets no credential (and the canary never appears)', async () => {
    const canary = `CANARY-${Math.random().toString(36).slice(2)}-pw`;
    const authed = await startHostileRegistry({ basicAuth: { username: 'alice', password: canary } });
    const foreign = await startRecordingServer((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="foreign"' });
      res.end();
    });
    try {
      const { manifest } = authed.addArtifact([{ data: Buffer.from('secret payload'), title: 'a.txt' }], 'redir');
      const digest = manifest.layers[0]!.digest;
      authed.intercept = (_req, res, route) => {
        if (route.kind !== 'blob' || route.reference !== digest) return false;
        res.writeHead(307, { location: `${foreign.url}/storage/${digest}?X-Amz-Signature=abc` });
        res.end();
        return true;
      };
      const debug: string[] = [];
      const r = repo(
        {},
        { credentials: async () => ({ username: 'alice', password: canary }), onDebug: (l) => debug.push(l) },
        authed,
      );
      const { parent, out } = await outDir();
      const err = await pullArtifact(r, 'redir', out).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'ERR_ORAS_CROSS_ORIGIN' });
      expect((await everything(parent)).filter((p) => p !== 'out')).toEqual([]);
      // the registry did get credentials; the foreign host never did
      expect(authed.requests.some((q) => q.headers.authorization !== undefined)).toBe(true);
      expect(foreign.requests.length).toBeGreaterThan(0);
      for (const q of foreign.requests) {
        expect(q.headers.authorization).toBeUndefined();
        expect(JSON.stringify(q)).not.toContain(canary);
        expect(JSON.stringify(q)).not.toContain(Buffer.from(`alice:${canary}`).toString('base64'));
      }
      const texts = [String(err), JSON.stringify(err), (err as Error).stack ?? '', debug.join('\n')];
      for (const t of texts) {
        expect(t).not.toContain(canary);
        expect(t).not.toContain(Buffer.from(`alice:${canary}`).toString('base64'));
        expect(t).not.toContain('X-Amz-Signature=abc');
      }
    } finally {
      await authed.close();
      await foreign.close();
    }
  });
});

describe('hostile upload Locations', () => {
  const locations: [string, (foreignUrl: string) => string][] = [
    ['a link-local address (cloud metadata)', () => 'http://169.254.169.254/latest/meta-data/upload?x=1'],
    ['an IPv6 link-local address', () => 'http://[fe80::1]:8080/upload'],
    ['a file: URL', () => 'file:///etc/passwd'],
    ['a URL with embedded credentials', (u) => `${u.replace('http://', 'http://user:pw@')}/upload`],
  ];
  for (const [name, make] of locations) {
    it(`an upload Location on ${name} is refused (ERR_ORAS_INSECURE) and never contacted`, async () => {
      const foreign = await startRecordingServer();
      try {
        reg.intercept = (req, res, route) => {
          if (req.method !== 'POST' || !route.url.pathname.endsWith('/blobs/uploads/')) return false;
          req.resume();
          res.writeHead(202, { location: make(foreign.url), 'content-length': '0' });
          res.end();
          return true;
        };
        const bytes = Buffer.from('upload me');
        // a short connect timeout: if the defence ever regresses, the test fails fast
        const err = await repo({}, { timeouts: { connect: 200 } })
          .push({ mediaType: MediaType.ImageLayer, digest: digestOf(bytes), size: bytes.length }, bytes)
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(err).toMatchObject({ code: 'ERR_ORAS_INSECURE' });
        expect(foreign.requests).toEqual([]);
      } finally {
        await foreign.close();
      }
    });
  }
});

describe('a registry that echoes the credentials back', () => {
  async function echoed(status: number): Promise<{ err: unknown; canary: string }> {
    const canary = `CANARY-${Math.random().toString(36).slice(2)}-echo`;
    const b64 = Buffer.from(`alice:${canary}`).toString('base64');
    const authed = await startHostileRegistry({ basicAuth: { username: 'alice', password: canary } });
    try {
      authed.intercept = (req, res, route) => {
        if (route.kind !== 'manifest') return false;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            errors: [
              {
                code: 'MANIFEST_INVALID',
                message: `rejected Authorization: ${String(req.headers.authorization)}`,
                detail: { password: canary, header: b64 },
              },
            ],
          }),
        );
        return true;
      };
      const r = repo({}, { credentials: async () => ({ username: 'alice', password: canary }) }, authed);
      return {
        err: await r.fetchManifest('v1').then(
          () => undefined,
          (e: unknown) => e,
        ),
        canary,
      };
    } finally {
      await authed.close();
    }
  }

  // Was a defect (fixed in src/registry/http-errors.ts parseRegistryErrors + redact.ts
  // scrubServerText): the registry's error `message` and `detail` were copied verbatim into the
  // error message and registryErrors (printed by the CLI, e.g. --format json), so a registry
  // echoing the Authorization header made us print the credential into CI logs.
  it('an error body echoing the Authorization header does not put the secret into our error (message or JSON)', async () => {
    const { err, canary } = await echoed(400);
    expect(isOrasError(err), String(err)).toBe(true);
    const b64 = Buffer.from(`alice:${canary}`).toString('base64');
    for (const text of [String(err), JSON.stringify(err)]) {
      expect(text).not.toContain(canary);
      expect(text).not.toContain(b64);
    }
  });
});

describe('endless auth and listing endpoints', () => {
  it('a token endpoint whose body never ends → ERR_ORAS_BODY_TOO_LARGE at maxTokenBodyBytes', async () => {
    const counter = { sent: 0 };
    const token = await startRecordingServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      endless(res, counter, 256 * 1024 * 1024, 0x20);
    });
    const bearer = await startHostileRegistry();
    try {
      bearer.intercept = (req, res) => {
        if (req.headers.authorization !== undefined) return false;
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="${token.url}/token",service="hostile",scope="repository:hostile/app:pull"`,
        });
        res.end();
        return true;
      };
      bearer.addArtifact([{ data: Buffer.from('x'), title: 'x' }], 'v1');
      const r = repo(
        {},
        { credentials: async () => ({ username: 'u', password: 'p' }), maxTokenBodyBytes: 64 * 1024 },
        bearer,
      );
      const err = await r.resolve('v1').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'ERR_ORAS_BODY_TOO_LARGE' });
      expect((err as Error).message).toMatch(/more than 65536 bytes/);
      expect(counter.sent).toBeLessThan(32 * 1024 * 1024);
    } finally {
      await bearer.close();
      await token.close();
    }
  });

  async function stalledToken(): Promise<{ err: unknown; tokenRequests: number }> {
    const token = await startRecordingServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"tok'); // …and nothing more, ever
    });
    const bearer = await startHostileRegistry();
    try {
      bearer.intercept = (req, res) => {
        if (req.headers.authorization !== undefined) return false;
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${token.url}/token",service="hostile"` });
        res.end();
        return true;
      };
      bearer.addArtifact([{ data: Buffer.from('x'), title: 'x' }], 'v1');
      const r = repo({}, { timeouts: { idle: 200 } }, bearer);
      const err = await r.resolve('v1').then(
        () => undefined,
        (e: unknown) => e,
      );
      return { err, tokenRequests: token.requests.length };
    } finally {
      await bearer.close();
      await token.close();
    }
  }

  it('a token endpoint that stalls forever fails (idle timeout) with a bounded number of requests', async () => {
    const { err, tokenRequests } = await stalledToken();
    expect(isOrasError(err), String(err)).toBe(true);
    expect(tokenRequests).toBeLessThanOrEqual(3);
  });

  // Was a defect (fixed in src/registry/auth/token.ts readToken, which used readCapped and so
  // swallowed the body timeout): a stalled token body was reported as "returned a response that
  // is not JSON" (ERR_ORAS_HTTP) instead of ERR_ORAS_TIMEOUT.
  it('a token endpoint that stalls forever is reported as ERR_ORAS_TIMEOUT (not as "not JSON")', async () => {
    const { err } = await stalledToken();
    expect(err).toMatchObject({ code: 'ERR_ORAS_TIMEOUT' });
  });

  it('a tag-list page that never ends is cut at the 4 MiB page cap', async () => {
    const counter = { sent: 0 };
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'tags') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"name":"hostile/app","tags":["');
      endless(res, counter, 256 * 1024 * 1024, 0x61);
      return true;
    };
    const tags: string[] = [];
    const err = await (async () => {
      for await (const t of repo().tags()) tags.push(t);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_ORAS_BODY_TOO_LARGE' });
    expect((err as { hint?: string }).hint).toMatch(/maxPageBytes/);
    expect(tags).toEqual([]);
    expect(counter.sent).toBeLessThan(32 * 1024 * 1024);
  });

  it('maxPageBytes lowers (and raises) the page cap', async () => {
    const page = JSON.stringify({ name: 'hostile/app', tags: Array.from({ length: 500 }, (_, i) => `v${i}`) });
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'tags') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(page);
      return true;
    };
    const list = async (maxPageBytes: number): Promise<unknown> => {
      const out: string[] = [];
      try {
        for await (const t of repo({ maxPageBytes }).tags()) out.push(t);
      } catch (e) {
        return e;
      }
      return out;
    };
    expect(await list(1024)).toMatchObject({
      code: 'ERR_ORAS_BODY_TOO_LARGE',
      message: expect.stringMatching(/1024-byte limit/),
    });
    expect(await list(page.length)).toHaveLength(500);
  });

  it('referrers API pagination that never ends stops at maxTagPages with ERR_ORAS_TOO_MANY_PAGES', async () => {
    const { desc } = reg.addArtifact([{ data: Buffer.from('s'), title: 's' }], 'subject');
    let pages = 0;
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'referrers') return false;
      pages++;
      // "never" ends: a next link on every page (up to 50, so that a client without a page cap
      // finishes instead of hanging the test)
      res.writeHead(200, {
        'content-type': MediaType.ImageIndex,
        ...(pages < 50 ? { link: `</v2/hostile/app/referrers/${desc.digest}?page=${pages}>; rel="next"` } : {}),
      });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] }));
      return true;
    };
    const err = await repo({ maxTagPages: 7, referrersApi: 'always' })
      .referrers(desc)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toMatchObject({ code: 'ERR_ORAS_TOO_MANY_PAGES' });
    expect((err as { hint?: string }).hint).toMatch(/maxTagPages/);
    expect(pages).toBe(7);
  });

  it('extendedCopy terminates on a referrers graph with a cycle (A → B → A) served over HTTP', async () => {
    const a = reg.addArtifact([{ data: Buffer.from('a'), title: 'a' }], 'cycle-a');
    const cfg = reg.addBlob(Buffer.from('{}'), MediaType.Empty);
    const bBytes = encodeManifest({
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      artifactType: 'application/vnd.test.sig',
      config: cfg,
      layers: [cfg],
      subject: a.desc,
    });
    const b = reg.addManifest(bBytes, MediaType.ImageManifest);
    const listings = new Map<string, unknown[]>([
      [a.desc.digest, [{ ...b, artifactType: 'application/vnd.test.sig' }]],
      [b.digest, [{ ...a.desc, artifactType: 'application/vnd.test.hostile' }]], // the lie: A "refers to" B
    ]);
    let calls = 0;
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'referrers') return false;
      calls++;
      res.writeHead(200, { 'content-type': MediaType.ImageIndex });
      res.end(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ImageIndex,
          manifests: listings.get(route.reference ?? '') ?? [],
        }),
      );
      return true;
    };
    const dst = new MemoryStore();
    await extendedCopy(repo({ referrersApi: 'always' }), 'cycle-a', dst);
    expect(await dst.exists(a.desc)).toBe(true);
    expect(await dst.exists(b)).toBe(true);
    expect(calls).toBeLessThanOrEqual(4);
  });
});
