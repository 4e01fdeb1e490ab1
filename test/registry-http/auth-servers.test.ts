/** Auth flows of RegistryClient against test-owned registry and token servers. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { makeTlsMaterial, type TlsMaterial } from '../harness/certs.js';
import { json, useTestServers, type Handler, type TestServer } from './servers.js';

const PASSWORD = 'pw-CANARY-5f3a';
const TOKEN_PREFIX = 'tok-CANARY-';
let tlsDir: string;
let tls: TlsMaterial;

beforeAll(async () => {
  tlsDir = await mkdtemp(join(tmpdir(), 'oras-rh-tls-'));
  tls = await makeTlsMaterial(tlsDir);
});
afterAll(async () => {
  await rm(tlsDir, { recursive: true, force: true });
});

const servers = useTestServers();
const client = servers.client;
function server(handler: Handler, withTls = false): Promise<TestServer> {
  return servers.server(handler, withTls ? tls : undefined);
}

const creds = async () => ({ username: 'alice', password: PASSWORD });

/** A token server issuing `tok-CANARY-<n>` and remembering the scopes asked for. */
async function tokenServer(opts: { expiresIn?: number; respond?: Handler } = {}) {
  const issued = new Map<string, string[]>();
  const s = await server((req, res, body, n) => {
    if (opts.respond) return opts.respond(req, res, body, n);
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    if (auth !== undefined && auth !== `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`)
      return json(res, 401, { error: 'bad creds' });
    const token = `${TOKEN_PREFIX}${n}`;
    issued.set(token, url.searchParams.getAll('scope'));
    json(res, 200, { token, ...(opts.expiresIn !== undefined ? { expires_in: opts.expiresIn } : {}) });
  });
  return { ...s, issued };
}

/** A registry requiring a bearer token whose scopes include `need` (per request path). */
async function bearerRegistry(
  realm: string,
  decide: (token: string | undefined, path: string, n: number) => { ok: true } | { error?: string; scope: string },
  withTls = false,
) {
  return server((req, res, _b, n) => {
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const d = decide(token, req.url ?? '', n);
    if ('ok' in d) return json(res, 200, {});
    res.writeHead(401, {
      'www-authenticate': `Bearer realm="${realm}",service="test-svc",scope="${d.scope}"${d.error ? `,error="${d.error}"` : ''}`,
    });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
  }, withTls);
}

describe('bearer flow', () => {
  it('gets a token for merged scopes, caches it, and sends it up front next time', async () => {
    const ts = await tokenServer({ expiresIn: 300 });
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) =>
      t !== undefined && t.startsWith(TOKEN_PREFIX) ? { ok: true } : { scope: 'repository:a:pull' },
    );
    const lines: string[] = [];
    const c = client({ credentials: creds }, lines);
    const url = new URL(`${reg.origin}/v2/a/tags/list`);
    expect((await c.request({ method: 'GET', url, scopes: ['repository:a:pull', 'repository:a:push'] })).status).toBe(
      200,
    );
    expect((await c.request({ method: 'GET', url, scopes: ['repository:a:push', 'repository:a:pull'] })).status).toBe(
      200,
    );
    expect(ts.seen).toHaveLength(1);
    expect(ts.issued.get(`${TOKEN_PREFIX}1`)).toEqual(['repository:a:pull,push']);
    expect(new URL(ts.seen[0]!.url, 'http://x').searchParams.get('service')).toBe('test-svc');
    expect(reg.seen).toHaveLength(3); // 401, 200, 200 (no second challenge)
    const log = lines.join('\n');
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain(TOKEN_PREFIX);
    expect(log).not.toContain(Buffer.from(`alice:${PASSWORD}`).toString('base64'));
  });

  it('does not cache a token past expires_in', async () => {
    const ts = await tokenServer({ expiresIn: 1 }); // 1 s lifetime minus skew → not reusable
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) => (t ? { ok: true } : { scope: 'repository:a:pull' }));
    const c = client({ credentials: creds });
    const url = new URL(`${reg.origin}/v2/a/tags/list`);
    for (let i = 0; i < 3; i++)
      expect((await c.request({ method: 'GET', url, scopes: ['repository:a:pull'] })).status).toBe(200);
    expect(ts.seen).toHaveLength(3);
  });

  it('concurrent requests share one token fetch', async () => {
    const ts = await tokenServer({ expiresIn: 300 });
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) => (t ? { ok: true } : { scope: 'repository:a:pull' }));
    const c = client({ credentials: creds });
    const url = new URL(`${reg.origin}/v2/a/tags/list`);
    await c.request({ method: 'GET', url, scopes: ['repository:a:pull'] });
    const url2 = new URL(`${reg.origin}/v2/b/tags/list`);
    const all = await Promise.all(
      Array.from({ length: 8 }, () => c.request({ method: 'GET', url: url2, scopes: ['repository:b:pull'] })),
    );
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(ts.seen).toHaveLength(2);
  });

  it('upgrades on insufficient_scope once, then fails ERR_ORAS_DENIED without looping', async () => {
    const ts = await tokenServer({ expiresIn: 300 });
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) =>
      t === undefined
        ? { scope: 'repository:a:pull' }
        : { error: 'insufficient_scope', scope: 'repository:a:pull,push' },
    );
    const c = client({ credentials: creds });
    const err = await c
      .request({ method: 'GET', url: new URL(`${reg.origin}/v2/a/tags/list`), scopes: ['repository:a:pull'] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_DENIED' });
    expect([...ts.issued.values()]).toEqual([['repository:a:pull'], ['repository:a:pull,push']]);
    expect(reg.seen.length).toBe(3);
    expect(JSON.stringify(err)).not.toContain('CANARY');
  });

  it('refreshes once on invalid_token', async () => {
    const ts = await tokenServer({ expiresIn: 300 });
    let rejected = 0;
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) => {
      if (t === undefined) return { scope: 'repository:a:pull' };
      if (t === `${TOKEN_PREFIX}1`) {
        rejected++;
        return { error: 'invalid_token', scope: 'repository:a:pull' };
      }
      return { ok: true };
    });
    const c = client({ credentials: creds });
    expect(
      (await c.request({ method: 'GET', url: new URL(`${reg.origin}/v2/a/tags/list`), scopes: ['repository:a:pull'] }))
        .status,
    ).toBe(200);
    expect(rejected).toBe(1);
    expect(ts.seen).toHaveLength(2);
  });

  it('a token endpoint rejecting the password fails fast with ERR_ORAS_UNAUTHORIZED', async () => {
    const ts = await tokenServer();
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) => (t ? { ok: true } : { scope: 'repository:a:pull' }));
    const c = client({ credentials: async () => ({ username: 'alice', password: 'wrong-CANARY' }) });
    const err = await c
      .request({ method: 'GET', url: new URL(`${reg.origin}/v2/a/tags/list`), scopes: ['repository:a:pull'] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_UNAUTHORIZED' });
    expect(ts.seen).toHaveLength(1);
    expect(reg.seen).toHaveLength(1);
    expect(JSON.stringify(err) + String((err as Error).message)).not.toContain('CANARY');
  });

  it('rejects oversized and malformed token responses', async () => {
    const big = await tokenServer({ respond: (_q, res) => json(res, 200, { token: 'x'.repeat(5000) }) });
    const reg = await bearerRegistry(`${big.origin}/token`, (t) => (t ? { ok: true } : { scope: 'repository:a:pull' }));
    await expect(
      client({ maxTokenBodyBytes: 1024 }).request({ method: 'GET', url: new URL(`${reg.origin}/v2/`), scopes: [] }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_BODY_TOO_LARGE' });
    const bad = await tokenServer({
      respond: (_q, res) => {
        res.writeHead(200);
        res.end('<html>CANARY</html>');
      },
    });
    const reg2 = await bearerRegistry(`${bad.origin}/token`, (t) =>
      t ? { ok: true } : { scope: 'repository:a:pull' },
    );
    const err = await client()
      .request({ method: 'GET', url: new URL(`${reg2.origin}/v2/`), scopes: [] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_HTTP' });
    expect((err as Error).message).not.toContain('CANARY');
  });

  it('refuses an http realm for an https registry, and never contacts it', async () => {
    const ts = await tokenServer();
    const reg = await bearerRegistry(`${ts.origin}/token`, () => ({ scope: 'repository:a:pull' }), true);
    const c = client({ caFile: tls.caFile, credentials: creds });
    const err = await c
      .request({ method: 'GET', url: new URL(`https://${reg.host}/v2/`), scopes: [] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_INSECURE' });
    expect(ts.seen).toHaveLength(0);
    // but an https realm works for the https registry
    const tsTls = await server((_q, res) => json(res, 200, { access_token: 'tls-token' }), true);
    const reg2 = await bearerRegistry(
      `${tsTls.origin}/token`,
      (t) => (t === 'tls-token' ? { ok: true } : { scope: 'repository:a:pull' }),
      true,
    );
    expect((await c.request({ method: 'GET', url: new URL(`https://${reg2.host}/v2/`), scopes: [] })).status).toBe(200);
    expect(tsTls.seen[0]!.headers.authorization).toMatch(/^Basic /);
  });

  it('retries a token endpoint answering 503, but not one answering 401', async () => {
    const ts = await tokenServer({
      respond: (_q, res, _b, n) => (n === 1 ? json(res, 503, {}) : json(res, 200, { token: 'after-503' })),
    });
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) =>
      t === 'after-503' ? { ok: true } : { scope: 'repository:a:pull' },
    );
    expect(
      (await client({ credentials: creds }).request({ method: 'GET', url: new URL(`${reg.origin}/v2/`), scopes: [] }))
        .status,
    ).toBe(200);
    expect(ts.seen).toHaveLength(2);
  });

  it('insecure skips TLS verification', async () => {
    const reg = await server((_q, res) => json(res, 200, {}), true);
    expect(
      (await client({ insecure: true }).request({ method: 'GET', url: new URL(`https://${reg.host}/v2/`), scopes: [] }))
        .status,
    ).toBe(200);
    await expect(
      client({ retry: { maxAttempts: 1 } }).request({
        method: 'GET',
        url: new URL(`https://${reg.host}/v2/`),
        scopes: [],
      }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_NETWORK', hint: expect.stringMatching(/--ca-file/) });
  });

  it('refuses a link-local realm', async () => {
    const reg = await bearerRegistry('http://169.254.169.254/latest/meta-data', () => ({ scope: 'repository:a:pull' }));
    await expect(
      client({ credentials: creds }).request({ method: 'GET', url: new URL(`${reg.origin}/v2/`), scopes: [] }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_INSECURE' });
    const reg6 = await bearerRegistry('http://[fe80::1]/token', () => ({ scope: 'repository:a:pull' }));
    await expect(
      client().request({ method: 'GET', url: new URL(`${reg6.origin}/v2/`), scopes: [] }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_INSECURE' });
  });

  it('uses the OAuth2 refresh_token POST for identity tokens', async () => {
    const ts = await tokenServer({ respond: (_q, res) => json(res, 200, { access_token: 'from-refresh' }) });
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) =>
      t === 'from-refresh' ? { ok: true } : { scope: 'repository:a:pull' },
    );
    const c = client({ credentials: async () => ({ identityToken: 'refresh-CANARY' }) });
    expect(
      (await c.request({ method: 'GET', url: new URL(`${reg.origin}/v2/a/tags/list`), scopes: ['repository:a:pull'] }))
        .status,
    ).toBe(200);
    expect(ts.seen[0]!.method).toBe('POST');
    expect(Object.fromEntries(new URLSearchParams(ts.seen[0]!.body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'refresh-CANARY',
      service: 'test-svc',
      scope: 'repository:a:pull',
      client_id: 'oras-ts',
    });
  });

  it('oauth2Password falls back to GET when POST gives 405', async () => {
    const ts = await tokenServer({
      respond: (req, res) => (req.method === 'POST' ? json(res, 405, {}) : json(res, 200, { token: 'via-get' })),
    });
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) =>
      t === 'via-get' ? { ok: true } : { scope: 'repository:a:pull' },
    );
    const c = client({ credentials: creds, oauth2Password: true });
    expect((await c.request({ method: 'GET', url: new URL(`${reg.origin}/v2/`), scopes: [] })).status).toBe(200);
    expect(ts.seen.map((r) => r.method)).toEqual(['POST', 'GET']);
    expect(ts.seen[1]!.headers.authorization).toMatch(/^Basic /);
  });

  it('learns the auth scheme before sending a one-shot stream body', async () => {
    const ts = await tokenServer({ expiresIn: 300 });
    const reg = await bearerRegistry(`${ts.origin}/token`, (t) =>
      t ? { ok: true } : { scope: 'repository:a:pull,push' },
    );
    const c = client({ credentials: creds });
    const res = await c.request({
      method: 'PUT',
      url: new URL(`${reg.origin}/v2/a/blobs/uploads/x?digest=sha256:0`),
      scopes: ['repository:a:pull,push'],
      body: Readable.from([Buffer.from('stream-body')]),
      contentLength: 11,
    });
    expect(res.status).toBe(200);
    const puts = reg.seen.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(1);
    expect(puts[0]!.body).toBe('stream-body');
  });
});

describe('the /v2/ probe before a one-shot body', () => {
  it('is skipped once the same scopes were answered without credentials (the POST answers for its PATCH)', async () => {
    const reg = await server((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/v2/a/blobs/uploads/x' });
        res.end();
        return;
      }
      json(res, req.method === 'PUT' ? 201 : 200, {});
    });
    const c = client();
    const put = (repo: string) =>
      c.request({
        method: 'PUT',
        url: new URL(`${reg.origin}/v2/${repo}/blobs/uploads/x?digest=sha256:0`),
        scopes: [`repository:${repo}:pull,push`],
        body: Readable.from([Buffer.from('stream-body')]),
        contentLength: 11,
      });
    const post = await c.request({
      method: 'POST',
      url: new URL(`${reg.origin}/v2/a/blobs/uploads/`),
      scopes: ['repository:a:pull,push'],
    });
    expect(post.status).toBe(202);
    expect((await put('a')).status).toBe(201);
    expect(reg.seen.map((r) => r.method)).toEqual(['POST', 'PUT']);
    // Other scopes have not been answered: the probe comes first.
    expect((await put('b')).status).toBe(201);
    expect(reg.seen.map((r) => `${r.method} ${r.url.split('?')[0]}`).slice(2)).toEqual([
      'GET /v2/',
      'PUT /v2/b/blobs/uploads/x',
    ]);
  });
});

describe('basic and misc', () => {
  it('basic: wrong credentials fail fast; anonymous gets a login hint; no challenge → unauthorized', async () => {
    const reg = await server((req, res) => {
      if (req.headers.authorization === `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`)
        return json(res, 200, {});
      res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' });
      res.end();
    });
    const lines: string[] = [];
    const err = await client({ credentials: async () => ({ username: 'alice', password: 'nope-CANARY' }) }, lines)
      .request({ method: 'GET', url: new URL(`${reg.origin}/v2/`), scopes: [] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_UNAUTHORIZED' });
    expect(reg.seen).toHaveLength(2);
    expect(lines.join('\n') + JSON.stringify(err)).not.toContain('CANARY');
    expect(lines.join('\n')).not.toContain(Buffer.from('alice:nope-CANARY').toString('base64'));
    const anon = await client()
      .request({ method: 'GET', url: new URL(`${reg.origin}/v2/`), scopes: [] })
      .catch((e: unknown) => e);
    expect(anon).toMatchObject({
      code: 'ERR_ORAS_UNAUTHORIZED',
      hint: expect.stringContaining(`oras login ${reg.host}`),
    });
    const noCh = await server((_q, res) => json(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] }));
    await expect(
      client({ credentials: creds }).request({ method: 'GET', url: new URL(`${noCh.origin}/v2/`), scopes: [] }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_UNAUTHORIZED', registryErrors: [{ code: 'UNAUTHORIZED' }] });
  });

  it('a network error message never leaks a secret from the URL', async () => {
    const c = client({ retry: { maxAttempts: 1 } });
    const err = await c
      .request({ method: 'GET', url: new URL('http://127.0.0.1:1/v2/x?token=CANARY-q'), scopes: [] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_NETWORK' });
    expect((err as Error).message).not.toContain('CANARY');
  });

  it('rejects credentials in the URL and forbidden custom headers', async () => {
    await expect(
      client().request({ method: 'GET', url: new URL('http://u:CANARY@127.0.0.1:1/v2/'), scopes: [] }),
    ).rejects.toMatchObject({ code: 'ERR_ORAS_USAGE', message: expect.not.stringContaining('CANARY') });
    expect(() => new RegistryClient({ headers: { Authorization: 'x' } })).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_USAGE' }),
    );
  });
});
