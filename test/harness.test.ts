/**
 * Smoke tests of the registry harness: each mode answers as configured, the token server's
 * policy is enforced by the real registry, skopeo can push to the plain registry, and private
 * instances start and stop cleanly.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, test } from 'vitest';
import { agentFor, basicAuthHeader, registries, uniqueRepo, userOf } from './harness/context.js';
import { startRegistry } from './harness/registry.js';
import { dockerRef, skopeo, skopeoDestFlags, skopeoImageFlags } from './harness/skopeo.js';
import type { RegistryInfo, TestUser, TokenServerStats } from './harness/types.js';

const OCTET = 'application/octet-stream';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Token from the GET realm endpoint (Basic auth when `user` is given). */
async function getToken(
  info: RegistryInfo,
  scopes: string[],
  user?: TestUser,
): Promise<{ status: number; token?: string; body: Record<string, unknown> }> {
  const u = new URL(info.tokenRealm!);
  u.searchParams.set('service', info.tokenService!);
  for (const s of scopes) u.searchParams.append('scope', s);
  const res = await request(u, { headers: user ? { authorization: basicAuthHeader(user) } : {} });
  const body = (await res.body.json()) as Record<string, unknown>;
  return { status: res.statusCode, body, ...(typeof body.token === 'string' ? { token: body.token } : {}) };
}

function claimsOf(token: string): {
  access: { type: string; name: string; actions: string[] }[];
  aud: string;
  sub: string;
} {
  const part = token.split('.')[1]!;
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as ReturnType<typeof claimsOf>;
}

/**
 * Uploads a blob: POST with `?digest=` and the body (monolithic); if the registry answers 202
 * instead of 201 (distribution 2.8.2 ignores a POST body), finishes with PUT to the Location.
 */
async function uploadBlob(
  info: RegistryInfo,
  repo: string,
  data: Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; phase: 'post' | 'put' }> {
  const digest = sha256(data);
  const post = await request(`${info.url}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, {
    method: 'POST',
    body: data,
    headers: { ...headers, 'content-type': OCTET, 'content-length': String(data.length) },
  });
  await post.body.dump();
  if (post.statusCode !== 202) return { status: post.statusCode, phase: 'post' };
  const loc = new URL(String(post.headers.location), info.url);
  loc.searchParams.set('digest', digest);
  const put = await request(loc, {
    method: 'PUT',
    body: data,
    headers: { ...headers, 'content-type': OCTET, 'content-length': String(data.length) },
  });
  await put.body.dump();
  return { status: put.statusCode, phase: 'put' };
}

async function tokenStats(info: RegistryInfo): Promise<TokenServerStats> {
  const res = await request(info.tokenStatsUrl!);
  return (await res.body.json()) as TokenServerStats;
}

describe('harness registries', () => {
  test('provides all four modes with distinct 127.0.0.1 ports', () => {
    const r = registries();
    const hosts = [r.plain, r.basic, r.tls, r.token].map((i) => i.host);
    expect(new Set(hosts).size).toBe(4);
    for (const h of hosts) expect(h).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(r.plain.url).toBe(`http://${r.plain.host}`);
    expect(r.tls.url).toBe(`https://${r.tls.host}`);
    expect(r.plain.users).toEqual([]);
    expect(r.tls.users).toEqual([]);
  });

  test('plain: GET /v2/ is 200 without auth', async () => {
    const res = await request(`${registries().plain.url}/v2/`);
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  test('tls: GET /v2/ is 200 with the test CA, and fails TLS verification without it', async () => {
    const info = registries().tls;
    expect(info.caFile && existsSync(info.caFile)).toBeTruthy();
    expect(readFileSync(join(info.certDir!, 'ca.crt'), 'utf8')).toBe(readFileSync(info.caFile!, 'utf8'));
    const agent = agentFor(info);
    const plainAgent = new Agent();
    try {
      const res = await request(`${info.url}/v2/`, { dispatcher: agent });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      await expect(request(`${info.url}/v2/`, { dispatcher: plainAgent })).rejects.toThrow();
    } finally {
      await agent.close();
      await plainAgent.close();
    }
  });

  test('basic: 401 + Basic challenge without credentials, 200 with, 401 with a wrong password', async () => {
    const info = registries().basic;
    const alice = userOf(info, 'push');
    const anon = await request(`${info.url}/v2/`);
    await anon.body.dump();
    expect(anon.statusCode).toBe(401);
    expect(anon.headers['www-authenticate']).toBe('Basic realm="oras-ts-test"');
    const ok = await request(`${info.url}/v2/`, { headers: { authorization: basicAuthHeader(alice) } });
    await ok.body.dump();
    expect(ok.statusCode).toBe(200);
    const bad = await request(`${info.url}/v2/`, {
      headers: { authorization: basicAuthHeader({ ...alice, password: 'wrong' }) },
    });
    await bad.body.dump();
    expect(bad.statusCode).toBe(401);
  });

  test('basic: alice can upload a blob', async () => {
    const info = registries().basic;
    const repo = uniqueRepo('harness/basic');
    const data = Buffer.from('hello basic');
    const r = await uploadBlob(info, repo, data, { authorization: basicAuthHeader(userOf(info)) });
    expect(r.status).toBe(201);
  });
});

describe('harness token mode', () => {
  test('GET /v2/ is 401 with a Bearer challenge naming realm and service', async () => {
    const info = registries().token;
    const res = await request(`${info.url}/v2/`);
    await res.body.dump();
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${info.tokenRealm}",service="${info.tokenService}"`);
  });

  test('alice gets push access and can upload a blob; the registry then serves it', async () => {
    const info = registries().token;
    const repo = uniqueRepo('harness/token-alice');
    const scope = `repository:${repo}:pull,push`;
    const t = await getToken(info, [scope], userOf(info, 'push'));
    expect(t.status).toBe(200);
    expect(t.body.access_token).toBe(t.token);
    expect(t.body.expires_in).toBe(300);
    expect(typeof t.body.issued_at).toBe('string');
    expect(claimsOf(t.token!).access).toEqual([{ type: 'repository', name: repo, actions: ['pull', 'push'] }]);
    expect(claimsOf(t.token!).aud).toBe(info.tokenService);

    const data = Buffer.from(`blob for ${repo}`);
    const auth = { authorization: `Bearer ${t.token}` };
    const up = await uploadBlob(info, repo, data, auth);
    expect(up.status).toBe(201);
    // distribution 2.8.2 ignores a POST body: it answers 202 and the upload ends with PUT.
    expect(up.phase).toBe('put');
    const head = await request(`${info.url}/v2/${repo}/blobs/${sha256(data)}`, { method: 'HEAD', headers: auth });
    await head.body.dump();
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(data.length));
  });

  test('bob asking for push gets only pull, and his push is denied by the registry', async () => {
    const info = registries().token;
    const repo = uniqueRepo('harness/token-bob');
    const t = await getToken(info, [`repository:${repo}:pull,push`], userOf(info, 'pull'));
    expect(t.status).toBe(200);
    expect(claimsOf(t.token!).access).toEqual([{ type: 'repository', name: repo, actions: ['pull'] }]);
    const up = await uploadBlob(info, repo, Buffer.from('bob was here'), { authorization: `Bearer ${t.token}` });
    expect(up.phase).toBe('post');
    expect([401, 403]).toContain(up.status);
  });

  test('anonymous gets a token with no access; a wrong password is 401', async () => {
    const info = registries().token;
    const repo = uniqueRepo('harness/token-anon');
    const anon = await getToken(info, [`repository:${repo}:pull`]);
    expect(anon.status).toBe(200);
    expect(claimsOf(anon.token!).access).toEqual([]);
    const bad = await getToken(info, [`repository:${repo}:pull`], { ...userOf(info), password: 'wrong' });
    expect(bad.status).toBe(401);
    expect(bad.token).toBeUndefined();
  });

  test('catalog works for alice (registry:catalog:*), is denied for bob', async () => {
    const info = registries().token;
    const repo = uniqueRepo('harness/token-catalog');
    const push = await getToken(info, [`repository:${repo}:pull,push`], userOf(info, 'push'));
    expect((await uploadBlob(info, repo, Buffer.from('c'), { authorization: `Bearer ${push.token}` })).status).toBe(
      201,
    );
    // A repository appears in the catalog once it has a manifest (blob links alone don't count).
    const config = Buffer.from('{}');
    expect((await uploadBlob(info, repo, config, { authorization: `Bearer ${push.token}` })).status).toBe(201);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: OCTET, digest: sha256('c'), size: 1 }],
    });
    const put = await request(`${info.url}/v2/${repo}/manifests/v1`, {
      method: 'PUT',
      body: manifest,
      headers: { authorization: `Bearer ${push.token}`, 'content-type': OCI_MANIFEST },
    });
    await put.body.dump();
    expect(put.statusCode).toBe(201);

    const cat = await getToken(info, ['registry:catalog:*'], userOf(info, 'push'));
    // distribution caps n at 1000 (400 above); `last` skips other files' repositories.
    const res = await request(`${info.url}/v2/_catalog?n=1000&last=harness/token-catalog`, {
      headers: { authorization: `Bearer ${cat.token}` },
    });
    const body = (await res.body.json()) as { repositories: string[] };
    expect(res.statusCode).toBe(200);
    expect(body.repositories).toContain(repo);

    const bobCat = await getToken(info, ['registry:catalog:*'], userOf(info, 'pull'));
    expect(claimsOf(bobCat.token!).access).toEqual([]);
    const denied = await request(`${info.url}/v2/_catalog`, { headers: { authorization: `Bearer ${bobCat.token}` } });
    await denied.body.dump();
    expect(denied.statusCode).toBe(401);
  });

  test('POST password grant with access_type=offline returns a refresh token that refreshes once', async () => {
    const info = registries().token;
    const alice = userOf(info);
    const repo = uniqueRepo('harness/token-oauth');
    const scope = `repository:${repo}:pull,push`;
    const post = async (form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await request(info.tokenRealm!, {
        method: 'POST',
        body: new URLSearchParams(form).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    };
    const first = await post({
      grant_type: 'password',
      username: alice.username,
      password: alice.password,
      service: info.tokenService!,
      scope,
      client_id: 'oras-ts-test',
      access_type: 'offline',
    });
    expect(first.status).toBe(200);
    expect(typeof first.body.refresh_token).toBe('string');
    const refreshed = await post({
      grant_type: 'refresh_token',
      refresh_token: String(first.body.refresh_token),
      service: info.tokenService!,
      scope,
      client_id: 'oras-ts-test',
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).toBe(first.body.refresh_token);
    expect(claimsOf(String(refreshed.body.access_token)).access).toEqual([
      { type: 'repository', name: repo, actions: ['pull', 'push'] },
    ]);
    const badRefresh = await post({
      grant_type: 'refresh_token',
      refresh_token: 'nope',
      service: info.tokenService!,
      scope,
    });
    expect(badRefresh.status).toBe(401);
    const badPassword = await post({
      grant_type: 'password',
      username: alice.username,
      password: 'wrong',
      service: info.tokenService!,
      scope,
    });
    expect(badPassword.status).toBe(401);

    // The stats log (shared by concurrent test files) filtered to this test's unique scope.
    const mine = (await tokenStats(info)).log.filter((r) => r.scopes.includes(scope));
    expect(mine.map((r) => `${r.kind}:${r.status}`)).toEqual([
      'password:200',
      'refresh_token:200',
      'refresh_token:401',
      'password:401',
    ]);
  });
});

describe('harness private instances and skopeo', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup) await c();
  });

  /** A tiny OCI layout (one uncompressed layer, `{}` config) tagged `v1`, made by hand once. */
  let layout: Promise<{ dir: string; manifestDigest: string; layerDigest: string }> | undefined;
  const makeLayout = (): Promise<{ dir: string; manifestDigest: string; layerDigest: string }> =>
    (layout ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'oras-ts-oci-'));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      const blobs = join(dir, 'blobs', 'sha256');
      await mkdir(blobs, { recursive: true });
      const put = async (data: Buffer | string): Promise<{ digest: string; size: number }> => {
        const d = sha256(data);
        await writeFile(join(blobs, d.slice(7)), data);
        return { digest: d, size: Buffer.byteLength(data) };
      };
      const layer = await put('hello from skopeo\n');
      const config = await put('{}');
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      });
      const m = await put(manifest);
      await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      await writeFile(
        join(dir, 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: OCI_MANIFEST, ...m, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
        }),
      );
      return { dir, manifestDigest: m.digest, layerDigest: layer.digest };
    })());

  test('skopeo copies a hand-made OCI layout to the plain registry', async () => {
    const info = registries().plain;
    const { dir, manifestDigest, layerDigest } = await makeLayout();
    const repo = uniqueRepo('harness/skopeo');
    // --preserve-digests: fail rather than let skopeo gzip the uncompressed layer.
    await skopeo(
      ['copy', '--preserve-digests', ...skopeoDestFlags(info), `oci:${dir}:v1`, dockerRef(info, repo, 'v1')],
      { timeoutMs: 60_000 },
    );
    const res = await request(`${info.url}/v2/${repo}/manifests/v1`, { headers: { accept: OCI_MANIFEST } });
    const text = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(sha256(text)).toBe(manifestDigest);
    const blob = await request(`${info.url}/v2/${repo}/blobs/${layerDigest}`);
    expect(await blob.body.text()).toBe('hello from skopeo\n');
  });

  test.each(['basic', 'tls', 'token'] as const)(
    'skopeo flags work for the %s registry (copy + inspect)',
    async (mode) => {
      const info = registries()[mode];
      const { dir, manifestDigest } = await makeLayout();
      const repo = uniqueRepo(`harness/skopeo-${mode}`);
      await skopeo([
        'copy',
        '--preserve-digests',
        ...skopeoDestFlags(info),
        `oci:${dir}:v1`,
        dockerRef(info, repo, 'v1'),
      ]);
      const raw = await skopeo(['inspect', '--raw', ...skopeoImageFlags(info), dockerRef(info, repo, 'v1')]);
      expect(sha256(raw)).toBe(manifestDigest);
      if (mode === 'token') {
        // bob (pull only) can read but not push.
        const bob = userOf(info, 'pull');
        expect(
          sha256(
            await skopeo(['inspect', '--raw', ...skopeoImageFlags(info, bob), dockerRef(info, repo, manifestDigest)]),
          ),
        ).toBe(manifestDigest);
        await expect(
          skopeo([
            'copy',
            '--preserve-digests',
            ...skopeoDestFlags(info, bob),
            `oci:${dir}:v1`,
            dockerRef(info, uniqueRepo('harness/skopeo-bob'), 'v1'),
          ]),
        ).rejects.toThrow(/denied|unauthorized|authentication required/i);
      }
    },
  );

  test('startRegistry runs a private instance that stop() kills and cleans up', async () => {
    const r = await startRegistry({ mode: 'plain' });
    cleanup.push(() => r.stop());
    const res = await request(`${r.url}/v2/`);
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(existsSync(r.dir)).toBe(true);
    await r.stop();
    expect(existsSync(r.dir)).toBe(false);
    expect(() => process.kill(r.pid, 0)).toThrow();
    await expect(request(`${r.url}/v2/`)).rejects.toThrow();
  });

  test('startRegistry failing to come up rejects with the log and leaves nothing behind', async () => {
    const base = await mkdtemp(join(tmpdir(), 'oras-ts-fail-'));
    cleanup.push(() => rm(base, { recursive: true, force: true }));
    await expect(startRegistry({ mode: 'plain', baseDir: base, startupPolls: 0 })).rejects.toThrow(
      /did not come up.*Log:/s,
    );
    expect(readdirSync(base)).toEqual([]);
  });

  test('private token registry: tokens with exp far in the past are rejected by the registry', async () => {
    const r = await startRegistry({ mode: 'token', tokenExpSkewSec: -600 });
    cleanup.push(() => r.stop());
    const repo = uniqueRepo('harness/expired');
    const t = await getToken(r, [`repository:${repo}:pull`], userOf(r));
    expect(t.status).toBe(200);
    const res = await request(`${r.url}/v2/${repo}/tags/list`, { headers: { authorization: `Bearer ${t.token}` } });
    await res.body.dump();
    expect(res.statusCode).toBe(401);
    expect(r.tokenServer!.stats().get).toBe(1);
  });
});
