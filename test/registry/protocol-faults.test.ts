/**
 * Manifest, pagination and upload faults from test-owned servers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { MediaType } from '../../src/oci/media-types.js';
import { digestOf } from '../../src/oci/digest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { parseNextLink } from '../../src/registry/pagination.js';
import { Registry } from '../../src/registry/registry.js';
import { Repository } from '../../src/registry/repository.js';
import { blob, descOf, faultServer, type FaultServer } from './helpers.js';

const client = new RegistryClient({ retry: { maxAttempts: 1 } });
const servers: FaultServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  await client.close();
});

type Handler = (req: IncomingMessage, res: ServerResponse, n: number, self: FaultServer) => void;
async function serve(
  handler: Handler,
): Promise<{ server: FaultServer; requests: { method: string; url: string; headers: IncomingMessage['headers'] }[] }> {
  const requests: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
  // Assigned once the server exists; its handler reads it later.
  // eslint-disable-next-line prefer-const
  let self: FaultServer | undefined;
  const s = await faultServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res, requests.length, self as FaultServer);
  });
  self = s;
  servers.push(s);
  return { server: s, requests };
}

async function drain(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const manifestDoc = {
  schemaVersion: 2,
  mediaType: MediaType.ImageManifest,
  config: { mediaType: MediaType.Empty, digest: `sha256:${'4'.repeat(64)}`, size: 2 },
  layers: [],
};
const manifestBytes = Buffer.from(JSON.stringify(manifestDoc));
const manifestDesc = descOf(manifestBytes, MediaType.ImageManifest);

describe('manifest fetch faults', () => {
  it('refuses a manifest over 4 MiB: early on Content-Length, and while reading without one', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 10, 0x20);
    for (const withLength of [true, false]) {
      const { server } = await serve((_req, res) => {
        res.writeHead(200, {
          'Content-Type': MediaType.ImageManifest,
          ...(withLength ? { 'Content-Length': big.length } : {}),
        });
        res.end(big);
      });
      const repo = new Repository({ reference: `${server.host}/big/manifest`, client });
      await expect(repo.fetchManifest('v1')).rejects.toMatchObject({ code: 'ERR_ORAS_MANIFEST_TOO_LARGE' });
    }
  });

  it('refuses a manifest whose mediaType differs from the Content-Type', async () => {
    const { server } = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': MediaType.ImageIndex });
      res.end(manifestBytes);
    });
    const repo = new Repository({ reference: `${server.host}/mt/x`, client });
    await expect(repo.fetchManifest('v1')).rejects.toMatchObject({ code: 'ERR_ORAS_MEDIA_TYPE_MISMATCH' });
  });

  it('refuses a contradicting Docker-Content-Digest and bytes not matching the requested digest', async () => {
    const { server } = await serve((req, res) => {
      res.writeHead(200, {
        'Content-Type': MediaType.ImageManifest,
        ...(req.url?.includes('/manifests/v1') ? { 'Docker-Content-Digest': `sha256:${'1'.repeat(64)}` } : {}),
      });
      res.end(manifestBytes);
    });
    const repo = new Repository({ reference: `${server.host}/dcd/x`, client });
    await expect(repo.fetchManifest('v1')).rejects.toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    await expect(repo.fetchManifest(`sha256:${'2'.repeat(64)}`)).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    await expect(repo.fetch({ ...manifestDesc, digest: `sha256:${'2'.repeat(64)}` })).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
  });

  it('resolves with GET when HEAD lacks Docker-Content-Digest, and sends the OCI Accept list', async () => {
    const { server, requests } = await serve((req, res) => {
      res.writeHead(200, { 'Content-Type': MediaType.ImageManifest, 'Content-Length': manifestBytes.length });
      res.end(req.method === 'HEAD' ? undefined : manifestBytes);
    });
    const repo = new Repository({ reference: `${server.host}/head/x`, client });
    expect(await repo.resolve('v1')).toEqual(manifestDesc);
    expect(requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
    expect(requests[0]?.headers.accept).toContain(MediaType.ImageManifest);
    expect(requests[0]?.headers.accept).toContain(MediaType.ImageIndex);
  });

  it('maps a 405 on DELETE to UNSUPPORTED with a storage.delete hint', async () => {
    const { server } = await serve((_req, res) => {
      res.writeHead(405, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message: 'The operation is unsupported.' }] }));
    });
    const repo = new Repository({ reference: `${server.host}/del/x`, client });
    const err = await repo.delete(descOf(Buffer.from('x'))).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_UNSUPPORTED' });
    expect((err as { hint: string }).hint).toContain('storage.delete.enabled');
  });
});

describe('pagination', () => {
  it('parses Link headers', () => {
    expect(parseNextLink('</v2/x/tags/list?n=2&last=b>; rel="next"')).toBe('/v2/x/tags/list?n=2&last=b');
    expect(parseNextLink('<a>; rel="prev", <b,c>; rel=next')).toBe('b,c');
    expect(parseNextLink('<a>; rel="prev"')).toBeUndefined();
    expect(parseNextLink(undefined)).toBeUndefined();
  });

  it('follows relative and absolute same-origin Links across pages', async () => {
    const { server, requests } = await serve((req, res, n, self) => {
      const link =
        n === 1
          ? '</v2/p/x/tags/list?last=b>; rel="next"'
          : n === 2
            ? `<${self.url}/v2/p/x/tags/list?last=d>; rel="next"`
            : undefined;
      res.writeHead(200, { 'Content-Type': 'application/json', ...(link ? { Link: link } : {}) });
      res.end(JSON.stringify({ name: 'p/x', tags: n === 1 ? ['a', 'b'] : n === 2 ? ['c', 'd'] : ['e'] }));
    });
    const repo = new Repository({ reference: `${server.host}/p/x`, client });
    expect(await drain(repo.tags())).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(requests.map((r) => r.url)).toEqual([
      '/v2/p/x/tags/list',
      '/v2/p/x/tags/list?last=b',
      '/v2/p/x/tags/list?last=d',
    ]);
  });

  it('refuses a Link to another origin', async () => {
    const { server, requests } = await serve((_req, res) => {
      res.writeHead(200, {
        'Content-Type': 'application/json',
        Link: '<http://127.0.0.2:1/v2/p/x/tags/list?last=b>; rel="next"',
      });
      res.end(JSON.stringify({ tags: ['a'] }));
    });
    const repo = new Repository({ reference: `${server.host}/p/x`, client });
    await expect(drain(repo.tags())).rejects.toMatchObject({ code: 'ERR_ORAS_CROSS_ORIGIN' });
    expect(requests).toHaveLength(1);
  });

  it('bounds never-ending pagination (tags and catalog)', async () => {
    const { server, requests } = await serve((req, res, n) => {
      const path = req.url?.split('?')[0] ?? '';
      res.writeHead(200, { 'Content-Type': 'application/json', Link: `<${path}?last=t${n}>; rel="next"` });
      res.end(JSON.stringify({ tags: [`t${n}`], repositories: [`r${n}`] }));
    });
    const repo = new Repository({ reference: `${server.host}/p/x`, client, maxTagPages: 7 });
    await expect(drain(repo.tags())).rejects.toMatchObject({ code: 'ERR_ORAS_TOO_MANY_PAGES' });
    expect(requests).toHaveLength(7);
    const reg = new Registry({ registry: server.host, client, maxPages: 3 });
    await expect(drain(reg.repositories())).rejects.toMatchObject({ code: 'ERR_ORAS_TOO_MANY_PAGES' });
    expect(requests).toHaveLength(10);
  });

  it('detects a next link that repeats an earlier page', async () => {
    const { server, requests } = await serve((_req, res, n) => {
      res.writeHead(200, {
        'Content-Type': 'application/json',
        Link: n === 1 ? '</v2/p/x/tags/list?last=a>; rel="next"' : '</v2/p/x/tags/list>; rel="next"',
      });
      res.end(JSON.stringify({ tags: [`t${n}`] }));
    });
    const repo = new Repository({ reference: `${server.host}/p/x`, client });
    await expect(drain(repo.tags())).rejects.toMatchObject({ code: 'ERR_ORAS_CYCLE' });
    expect(requests).toHaveLength(2);
  });
});

describe('upload protocol', () => {
  it('recovers from a 416 on PATCH by reading the upload status and resuming from the registry offset', async () => {
    const data = blob(30_000);
    const desc = descOf(data);
    let stored = Buffer.alloc(0);
    let failedOnce = false;
    const { server, requests } = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const range = (): string => `0-${stored.length - 1}`;
        if (req.method === 'POST') {
          res.writeHead(202, { Location: '/v2/up/x/blobs/uploads/abc?_state=1' });
          res.end();
        } else if (req.method === 'PATCH') {
          const start = Number(/^([0-9]+)-/.exec(req.headers['content-range'] ?? '')?.[1]);
          // On the second chunk, accept half of it, then claim 416.
          if (start === 10_000 && !failedOnce) {
            failedOnce = true;
            stored = Buffer.concat([stored, body.subarray(0, 4000)]);
            res.writeHead(416, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID' }] }));
            return;
          }
          if (start !== stored.length) {
            res.writeHead(416);
            res.end();
            return;
          }
          stored = Buffer.concat([stored, body]);
          res.writeHead(202, { Location: '/v2/up/x/blobs/uploads/abc?_state=2', Range: range() });
          res.end();
        } else if (req.method === 'GET') {
          res.writeHead(204, { Location: '/v2/up/x/blobs/uploads/abc?_state=3', Range: range() });
          res.end();
        } else if (req.method === 'PUT') {
          const ok = digestOf(stored) === new URL(req.url ?? '', 'http://x').searchParams.get('digest');
          res.writeHead(ok ? 201 : 400, ok ? { 'Docker-Content-Digest': digestOf(stored) } : {});
          res.end(ok ? undefined : JSON.stringify({ errors: [{ code: 'DIGEST_INVALID' }] }));
        } else {
          res.writeHead(405);
          res.end();
        }
      });
    });
    const repo = new Repository({ reference: `${server.host}/up/x`, client, chunkSize: 10_000 });
    await repo.push(desc, Readable.from([data]));
    expect(stored.equals(data)).toBe(true);
    expect(requests.map((r) => r.method)).toEqual(['POST', 'PATCH', 'PATCH', 'GET', 'PATCH', 'PATCH', 'PUT']);
    expect(requests[4]?.headers['content-range']).toBe('14000-19999');
    expect(requests[6]?.url).toContain('_state=2');
  });

  it('honours OCI-Chunk-Min-Length', async () => {
    const data = blob(5000);
    const { server, requests } = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST')
          res.writeHead(202, { Location: '/v2/up/x/blobs/uploads/u', 'OCI-Chunk-Min-Length': '4000' });
        else if (req.method === 'PATCH') res.writeHead(202, { Location: '/v2/up/x/blobs/uploads/u' });
        else res.writeHead(201, {});
        res.end();
      });
    });
    const repo = new Repository({ reference: `${server.host}/up/x`, client, chunkSize: 1000 });
    await repo.push(descOf(data), data);
    expect(requests.filter((r) => r.method === 'PATCH').map((r) => r.headers['content-range'])).toEqual([
      '0-3999',
      '4000-4999',
    ]);
  });

  it('maps a registry DIGEST_INVALID to DIGEST_MISMATCH and cancels the session', async () => {
    const { server, requests } = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST') {
          res.writeHead(202, { Location: '/v2/up/x/blobs/uploads/u' });
          res.end();
        } else if (req.method === 'PUT') {
          res.writeHead(400, { 'Content-Type': 'application/json' });
          res.end(
            JSON.stringify({
              errors: [{ code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' }],
            }),
          );
        } else {
          res.writeHead(204);
          res.end();
        }
      });
    });
    const repo = new Repository({ reference: `${server.host}/up/x`, client });
    const data = blob(100);
    await expect(repo.push(descOf(data), Readable.from([data]))).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    const relevant = requests.filter((r) => r.url !== '/v2/'); // the client may prime auth with GET /v2/
    expect(relevant.map((r) => r.method)).toEqual(['POST', 'PUT', 'DELETE']);
    expect(relevant[1]?.headers['content-type']).toBe('application/octet-stream');
    expect(relevant[1]?.headers['content-length']).toBe('100');
  });

  it('follows an upload Location on another origin without sending credentials there', async () => {
    const data = blob(1000);
    const storage = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { 'Docker-Content-Digest': descOf(data).digest });
        res.end();
      });
    });
    const { server, requests } = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.headers.authorization !== 'Basic ' + Buffer.from('u:p').toString('base64')) {
          res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' });
          res.end();
          return;
        }
        res.writeHead(202, { Location: `${storage.server.url}/upload/here?_state=z` });
        res.end();
      });
    });
    const authed = new RegistryClient({
      retry: { maxAttempts: 1 },
      credentials: async () => ({ username: 'u', password: 'p' }),
    });
    try {
      const repo = new Repository({ reference: `${server.host}/up/x`, client: authed });
      await repo.push(descOf(data), Readable.from([data]));
      expect(requests.some((r) => r.headers.authorization !== undefined)).toBe(true);
      expect(storage.requests).toHaveLength(1);
      expect(storage.requests[0]?.url).toBe(`/upload/here?_state=z&digest=${encodeURIComponent(descOf(data).digest)}`);
      expect(storage.requests[0]?.headers.authorization).toBeUndefined();
    } finally {
      await authed.close();
    }
  });
});
