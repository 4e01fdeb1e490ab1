/**
 * RegistryClient against the harness' real docker-registry 2.8.2 instances
 * (plain, basic, tls, token).
 */
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import type { Credential } from '../../src/registry/credentials/types.js';
import type { RegistryRequest } from '../../src/registry/transport.js';
import { registries, uniqueRepo, userOf } from '../harness/context.js';
import type { RegistryInfo, TokenServerStats } from '../harness/types.js';

const clients: RegistryClient[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

function client(
  info: RegistryInfo,
  cred?: Credential,
  extra: RegistryClientOptions = {},
  lines?: string[],
): RegistryClient {
  const c = new RegistryClient({
    ...(info.caFile !== undefined ? { caFile: info.caFile } : {}),
    ...(cred !== undefined ? { credentials: async (reg: string) => (reg === info.host ? cred : undefined) } : {}),
    ...(lines !== undefined ? { onDebug: (l: string) => lines.push(l) } : {}),
    ...extra,
  });
  clients.push(c);
  return c;
}

async function send(
  c: RegistryClient,
  info: RegistryInfo,
  path: string,
  scopes: string[] = [],
  extra: Partial<RegistryRequest> = {},
) {
  const res = await c.request({ method: 'GET', url: new URL(path, c.baseUrl(info.host)), scopes, ...extra });
  const bodyText = await text(res.body);
  return { ...res, text: bodyText };
}

async function tokenStats(info: RegistryInfo): Promise<TokenServerStats> {
  const r = await fetch(info.tokenStatsUrl as string);
  return (await r.json()) as TokenServerStats;
}

describe('RegistryClient against real registries', () => {
  it('plain: GET /v2/ anonymously over loopback plain HTTP by default', async () => {
    const { plain } = registries();
    const c = client(plain);
    expect(c.baseUrl(plain.host).protocol).toBe('http:');
    const r = await send(c, plain, '/v2/');
    expect(r.status).toBe(200);
  });

  it('tls: GET /v2/ with the test CA; fails without it', async () => {
    const { tls } = registries();
    const c = client(tls, undefined, { plainHttp: false });
    expect(c.baseUrl(tls.host).href).toBe(`${tls.url}/`);
    expect((await send(c, tls, '/v2/')).status).toBe(200);
    const noCa = new RegistryClient({ plainHttp: false, retry: { maxAttempts: 1 } });
    clients.push(noCa);
    await expect(send(noCa, tls, '/v2/')).rejects.toMatchObject({ code: 'ERR_ORAS_NETWORK' });
  });

  it('basic: anonymous gets ERR_ORAS_UNAUTHORIZED, alice gets 200, a wrong password fails fast', async () => {
    const { basic } = registries();
    const alice = userOf(basic, 'push');
    await expect(send(client(basic), basic, '/v2/')).rejects.toMatchObject({
      code: 'ERR_ORAS_UNAUTHORIZED',
      status: 401,
    });
    const lines: string[] = [];
    const c = client(basic, { username: alice.username, password: alice.password }, {}, lines);
    expect((await send(c, basic, '/v2/')).status).toBe(200);
    // the second request sends Basic up front (no 401 round trip)
    const before = lines.filter((l) => l.startsWith('< 401')).length;
    expect((await send(c, basic, '/v2/')).status).toBe(200);
    expect(lines.filter((l) => l.startsWith('< 401')).length).toBe(before);
    expect(lines.join('\n')).not.toContain(alice.password);
    expect(lines.join('\n')).not.toContain(Buffer.from(`${alice.username}:${alice.password}`).toString('base64'));

    const wrong: string[] = [];
    const bad = client(basic, { username: alice.username, password: 'wrong-password-canary' }, {}, wrong);
    const err = await send(bad, basic, '/v2/').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_UNAUTHORIZED' });
    expect(String((err as Error).message)).not.toContain('wrong-password-canary');
    // one anonymous attempt + one authenticated attempt: no retry storm
    expect(wrong.filter((l) => l.startsWith('>')).length).toBe(2);
  });

  it('token: alice gets /v2/ and a repository scope; tokens are cached', async () => {
    const { token } = registries();
    const alice = userOf(token, 'push');
    const repo = uniqueRepo('rh/token');
    const lines: string[] = [];
    const c = client(token, { username: alice.username, password: alice.password }, {}, lines);
    expect((await send(c, token, '/v2/')).status).toBe(200);
    const r = await send(c, token, `/v2/${repo}/tags/list`, [`repository:${repo}:pull`]);
    expect(r.status).toBe(404); // NAME_UNKNOWN, but authorized
    const r2 = await send(c, token, `/v2/${repo}/tags/list`, [`repository:${repo}:pull`]);
    expect(r2.status).toBe(404);
    const stats = await tokenStats(token);
    const mine = stats.log.filter((e) => e.scopes.some((s) => s.includes(repo)));
    expect(mine.length).toBe(1);
    expect(mine[0]).toMatchObject({ kind: 'get', user: alice.username, status: 200 });
    expect(lines.join('\n')).not.toContain(alice.password);
  });

  it('token: insufficient_scope upgrades the token (pull → pull,push) once', async () => {
    const { token } = registries();
    const alice = userOf(token, 'push');
    const repo = uniqueRepo('rh/scope');
    const c = client(token, { username: alice.username, password: alice.password });
    expect((await send(c, token, `/v2/${repo}/tags/list`, [`repository:${repo}:pull`])).status).toBe(404);
    // Push needs pull,push; the request claims only pull so the registry's challenge must upgrade it.
    const res = await c.request({
      method: 'POST',
      url: new URL(`/v2/${repo}/blobs/uploads/`, c.baseUrl(token.host)),
      scopes: [`repository:${repo}:pull`],
      body: Buffer.alloc(0),
    });
    await text(res.body);
    expect(res.status).toBe(202);
    const stats = await tokenStats(token);
    const mine = stats.log.filter((e) => e.scopes.some((s) => s.includes(repo)));
    expect(mine.map((e) => e.scopes.join(' '))).toEqual([`repository:${repo}:pull`, `repository:${repo}:pull,push`]);
  });

  it('token: a wrong password fails fast with ERR_ORAS_UNAUTHORIZED', async () => {
    const { token } = registries();
    const alice = userOf(token, 'push');
    const repo = uniqueRepo('rh/wrong');
    const c = client(token, { username: alice.username, password: 'not-the-password-canary' });
    const err = await send(c, token, `/v2/${repo}/tags/list`, [`repository:${repo}:pull`]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_UNAUTHORIZED' });
    expect(JSON.stringify(err)).not.toContain('not-the-password-canary');
    const stats = await tokenStats(token);
    expect(stats.log.filter((e) => e.scopes.some((s) => s.includes(repo))).length).toBe(1);
  });

  it('token: bob (pull-only) is denied a push (POST blobs/uploads)', async () => {
    const { token } = registries();
    const bob = userOf(token, 'pull');
    const repo = uniqueRepo('rh/bob');
    const c = client(token, { username: bob.username, password: bob.password });
    const err = await c
      .request({
        method: 'POST',
        url: new URL(`/v2/${repo}/blobs/uploads/`, c.baseUrl(token.host)),
        scopes: [`repository:${repo}:pull,push`],
        body: Buffer.alloc(0),
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_DENIED' });
    expect((err as { hint: string }).hint).toMatch(/push/);
    const stats = await tokenStats(token);
    expect(stats.log.filter((e) => e.scopes.some((s) => s.includes(repo))).length).toBeLessThanOrEqual(2);
  });

  it('token: anonymous is unauthorized (token with no access)', async () => {
    const { token } = registries();
    const repo = uniqueRepo('rh/anon');
    const c = client(token);
    await expect(send(c, token, `/v2/${repo}/tags/list`, [`repository:${repo}:pull`])).rejects.toMatchObject({
      code: 'ERR_ORAS_UNAUTHORIZED',
    });
  });

  it('token: identityToken uses the OAuth2 refresh_token POST flow', async () => {
    const { token } = registries();
    const alice = userOf(token, 'push');
    // get a refresh token from the test token server
    const form = new URLSearchParams({
      grant_type: 'password',
      username: alice.username,
      password: alice.password,
      access_type: 'offline',
      service: token.tokenService ?? '',
      client_id: 't',
    });
    const r = await fetch(token.tokenRealm as string, { method: 'POST', body: form });
    const { refresh_token: refresh } = (await r.json()) as { refresh_token: string };
    expect(typeof refresh).toBe('string');
    const repo = uniqueRepo('rh/refresh');
    const c = client(token, { identityToken: refresh });
    expect((await send(c, token, `/v2/${repo}/tags/list`, [`repository:${repo}:pull`])).status).toBe(404);
    const stats = await tokenStats(token);
    expect(stats.log.filter((e) => e.scopes.some((s) => s.includes(repo))).map((e) => e.kind)).toEqual([
      'refresh_token',
    ]);
  });

  it('token: oauth2Password uses the password grant', async () => {
    const { token } = registries();
    const alice = userOf(token, 'push');
    const repo = uniqueRepo('rh/pwgrant');
    const c = client(token, { username: alice.username, password: alice.password }, { oauth2Password: true });
    expect((await send(c, token, `/v2/${repo}/tags/list`, [`repository:${repo}:pull`])).status).toBe(404);
    const stats = await tokenStats(token);
    expect(stats.log.filter((e) => e.scopes.some((s) => s.includes(repo))).map((e) => e.kind)).toEqual(['password']);
  });
});
