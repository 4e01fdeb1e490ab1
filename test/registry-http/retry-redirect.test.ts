/** RegistryClient retries, redirects and origin rules against test-owned servers. */
import { json as readJson, text } from 'node:stream/consumers';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { json, useTestServers } from './servers.js';

const { server, client } = useTestServers();

const get = (c: RegistryClient, url: string, extra: object = {}) =>
  c.request({ method: 'GET', url: new URL(url), scopes: [], ...extra });

describe('retries', () => {
  it('retries 429 honouring Retry-After (not the exponential backoff)', async () => {
    const s = await server((_q, res, _b, n) =>
      n === 1
        ? json(res, 429, { errors: [{ code: 'TOOMANYREQUESTS' }] }, { 'retry-after': '0' })
        : json(res, 200, { ok: true }),
    );
    const lines: string[] = [];
    // A huge base delay: if Retry-After were ignored the jittered wait would be up to 60 s.
    const c = client({ retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } }, lines);
    const res = await get(c, `${s.origin}/v2/`);
    expect(res.status).toBe(200);
    expect(await readJson(res.body)).toEqual({ ok: true });
    expect(s.seen).toHaveLength(2);
    expect(lines.some((l) => /after HTTP 429 in 0 ms/.test(l))).toBe(true);
  });

  it('caps Retry-After by maxDelayMs', async () => {
    const s = await server((_q, res, _b, n) =>
      n === 1 ? json(res, 503, {}, { 'retry-after': '3600' }) : json(res, 200, {}),
    );
    const lines: string[] = [];
    const res = await get(client({ retry: { maxDelayMs: 3 } }, lines), `${s.origin}/v2/`);
    expect(res.status).toBe(200);
    expect(lines.some((l) => /after HTTP 503 in 3 ms/.test(l))).toBe(true);
  });

  it('retries 503 then succeeds; PUT with a Buffer body is replayed', async () => {
    const s = await server((_q, res, _b, n) => (n === 1 ? json(res, 503, {}) : json(res, 201, {})));
    const res = await client().request({
      method: 'PUT',
      url: new URL(`${s.origin}/v2/a/manifests/x`),
      scopes: [],
      body: Buffer.from('payload'),
    });
    expect(res.status).toBe(201);
    expect(s.seen.map((r) => r.body)).toEqual(['payload', 'payload']);
  });

  it('retries a connection reset then succeeds', async () => {
    const s = await server((req, res, _b, n) => (n === 1 ? req.socket.destroy() : json(res, 200, { n })));
    const res = await get(client(), `${s.origin}/v2/`);
    expect(res.status).toBe(200);
    expect(s.seen).toHaveLength(2);
  });

  it('bounds the attempts and returns the last response', async () => {
    const s = await server((_q, res) => json(res, 503, { errors: [{ code: 'UNAVAILABLE' }] }));
    const res = await get(client({ retry: { maxAttempts: 3 } }), `${s.origin}/v2/`);
    expect(res.status).toBe(503);
    await text(res.body);
    expect(s.seen).toHaveLength(3);
  });

  it('bounds resets too and reports ERR_ORAS_NETWORK', async () => {
    const s = await server((req) => req.socket.destroy());
    await expect(get(client({ retry: { maxAttempts: 2 } }), `${s.origin}/v2/`)).rejects.toMatchObject({
      code: 'ERR_ORAS_NETWORK',
    });
    expect(s.seen).toHaveLength(2);
  });

  it('does not retry POST / PATCH by default, nor one-shot streams, nor retryable:false', async () => {
    const s = await server((_q, res) => json(res, 503, {}));
    const c = client();
    expect(
      (await c.request({ method: 'POST', url: new URL(`${s.origin}/v2/a/blobs/uploads/`), scopes: [] })).status,
    ).toBe(503);
    expect(
      (
        await c.request({
          method: 'PATCH',
          url: new URL(`${s.origin}/v2/a/blobs/uploads/1`),
          scopes: [],
          body: Buffer.from('x'),
        })
      ).status,
    ).toBe(503);
    expect(
      (
        await c.request({
          method: 'PUT',
          url: new URL(`${s.origin}/v2/a/blobs/uploads/1`),
          scopes: [],
          body: Readable.from([Buffer.from('x')]),
          contentLength: 1,
        })
      ).status,
    ).toBe(503);
    expect((await get(c, `${s.origin}/v2/a/tags/list`, { retryable: false })).status).toBe(503);
    // (the one-shot PUT is preceded by one GET /v2/ to learn the auth scheme without wasting the body)
    const real = () => s.seen.filter((r) => r.url !== '/v2/');
    expect(real()).toHaveLength(4);
    expect(s.seen).toHaveLength(5);
    // opting in works for a replayable body
    expect(
      (
        await c.request({
          method: 'POST',
          url: new URL(`${s.origin}/v2/a/blobs/uploads/`),
          scopes: [],
          body: () => Readable.from([Buffer.from('y')]),
          contentLength: 1,
          retryable: true,
        })
      ).status,
    ).toBe(503);
    expect(real()).toHaveLength(9);
  });

  it('honours an abort signal while waiting for headers', async () => {
    const s = await server(() => undefined); // never answers
    const ac = new AbortController();
    const p = get(client(), `${s.origin}/v2/`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ code: 'ERR_ORAS_ABORTED' });
  });

  it('maps an idle timeout to ERR_ORAS_TIMEOUT', async () => {
    const s = await server(() => undefined);
    await expect(
      get(client({ timeouts: { idle: 100 }, retry: { maxAttempts: 1 } }), `${s.origin}/v2/`),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_TIMEOUT' });
  });
});

describe('redirects and origins', () => {
  it('follows a cross-origin redirect without Authorization, cookies or custom headers', async () => {
    const cdn = await server((_q, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end('blob-bytes');
    });
    const reg = await server((req, res) => {
      if (req.headers.authorization === undefined) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' });
        res.end();
        return;
      }
      res.writeHead(307, { location: `${cdn.origin}/blobs/abc?X-Amz-Signature=sig-canary&X-Amz-Expires=60` });
      res.end();
    });
    const lines: string[] = [];
    const c = client(
      { credentials: async () => ({ username: 'u', password: 'pw-canary' }), headers: { 'X-Custom': 'custom-canary' } },
      lines,
    );
    const res = await c.request({
      method: 'GET',
      url: new URL(`${reg.origin}/v2/a/blobs/sha256:abc`),
      scopes: ['repository:a:pull'],
      headers: { accept: '*/*', Cookie: 'c=cookie-canary' },
    });
    expect(res.status).toBe(200);
    expect(await text(res.body)).toBe('blob-bytes');
    expect(res.url.origin).toBe(cdn.origin);
    expect(cdn.seen).toHaveLength(1);
    const h = cdn.seen[0]!.headers;
    expect(h.authorization).toBeUndefined();
    expect(h.cookie).toBeUndefined();
    expect(h['x-custom']).toBeUndefined();
    expect(h.accept).toBe('*/*');
    // the registry got credentials and the custom header, never the caller's cookie
    expect(reg.seen[1]!.headers.authorization).toMatch(/^Basic /);
    expect(reg.seen[1]!.headers['x-custom']).toBe('custom-canary');
    expect(reg.seen.every((r) => r.headers.cookie === undefined)).toBe(true);
    const log = lines.join('\n');
    expect(log).not.toContain('sig-canary');
    expect(log).not.toContain(Buffer.from('u:pw-canary').toString('base64'));
    expect(log).toContain('X-Amz-Signature=REDACTED');
  });

  it('never answers a 401 from another origin with credentials', async () => {
    const other = await server((_q, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="evil"' });
      res.end();
    });
    const reg = await server((req, res) => {
      if (req.headers.authorization === undefined) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' });
        res.end();
        return;
      }
      res.writeHead(302, { location: `${other.origin}/steal` });
      res.end();
    });
    const c = client({ credentials: async () => ({ username: 'u', password: 'pw-canary' }) });
    const err = await get(c, `${reg.origin}/v2/a/blobs/sha256:abc`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_CROSS_ORIGIN' });
    expect(other.seen).toHaveLength(1);
    expect(other.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('an allowForeignOrigin request gets no credentials or custom headers', async () => {
    const other = await server((_q, res) => json(res, 202, {}));
    const c = client({ credentials: async () => ({ username: 'u', password: 'p' }), headers: { 'x-custom': 'v' } });
    const res = await c.request({
      method: 'PUT',
      url: new URL(`${other.origin}/upload?state=1`),
      scopes: ['repository:a:push'],
      allowForeignOrigin: true,
      body: Buffer.from('z'),
    });
    expect(res.status).toBe(202);
    expect(other.seen[0]!.headers.authorization).toBeUndefined();
    expect(other.seen[0]!.headers['x-custom']).toBeUndefined();
  });

  it('bounds redirect loops and refuses https→http downgrades and link-local targets', async () => {
    const loop = await server((req, res) => {
      res.writeHead(302, { location: `/v2/loop?${(req.url ?? '').length}` });
      res.end();
    });
    await expect(get(client({ maxRedirects: 3 }), `${loop.origin}/v2/loop`)).rejects.toMatchObject({
      code: 'ERR_ORAS_HTTP',
      message: expect.stringMatching(/redirects/),
    });
    expect(loop.seen).toHaveLength(4);
    const ll = await server((_q, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    });
    await expect(get(client(), `${ll.origin}/v2/x`)).rejects.toMatchObject({ code: 'ERR_ORAS_INSECURE' });
  });

  it('does not follow redirects for PUT or when followRedirects is false', async () => {
    const s = await server((_q, res) => {
      res.writeHead(307, { location: '/elsewhere' });
      res.end();
    });
    const c = client();
    expect(
      (await c.request({ method: 'PUT', url: new URL(`${s.origin}/v2/a`), scopes: [], body: Buffer.from('x') })).status,
    ).toBe(307);
    expect((await get(c, `${s.origin}/v2/a`, { followRedirects: false })).status).toBe(307);
    expect(s.seen).toHaveLength(2);
  });

  it('baseUrl follows plainHttp (default: loopback only)', () => {
    const c = client();
    expect(c.baseUrl('localhost:5000').href).toBe('http://localhost:5000/');
    expect(c.baseUrl('127.0.0.1:5000').href).toBe('http://127.0.0.1:5000/');
    expect(c.baseUrl('[::1]:5000').href).toBe('http://[::1]:5000/');
    expect(c.baseUrl('ghcr.io').href).toBe('https://ghcr.io/');
    expect(client({ plainHttp: true }).baseUrl('r.example.com').protocol).toBe('http:');
    expect(client({ plainHttp: (r) => r === 'a.example.com' }).baseUrl('b.example.com').protocol).toBe('https:');
    expect(() => c.baseUrl('bad/host')).toThrow(expect.objectContaining({ code: 'ERR_ORAS_INVALID_REFERENCE' }));
  });
});
