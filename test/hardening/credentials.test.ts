/**
 * Credentials under attack and failure: no retry storms on bad credentials (counted at the
 * server side — the fault proxy and the token server's stats), bounded token refresh,
 * credential helpers that are missing / hang / print garbage, and a CANARY secret that must
 * never show up in errors, debug output, CLI stdout/stderr (`-d`), the lockfile or state.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { install } from '../../src/project/install.js';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { createCredentialProvider } from '../../src/registry/credentials/provider.js';
import { Repository } from '../../src/registry/repository.js';
import { MediaType } from '../../src/oci/media-types.js';
import { registry, uniqueRepo, userOf } from '../harness/context.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../harness/registry.js';
import type { TokenServerStats } from '../harness/types.js';
import { descOf, pushImage } from '../registry/helpers.js';
import { privateBuild, removePrivateBuild } from './private-build.js';

const CANARY = `canary-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}-S3CR3T`;
const WRONG_CANARY = `wrong-${CANARY}`;
const b64 = (s: string): string => Buffer.from(s).toString('base64');
/** Every encoding of a secret that must never be printed. */
function forms(user: string, secret: string): string[] {
  return [secret, b64(`${user}:${secret}`), encodeURIComponent(secret)];
}
function expectClean(text: string, user: string, ...secrets: string[]): void {
  for (const s of secrets)
    for (const f of forms(user, s))
      expect(text.includes(f), `secret form ${JSON.stringify(f.slice(0, 12))}… leaked`).toBe(false);
}

const clients: RegistryClient[] = [];
const proxies: FaultProxy[] = [];
const privateRegs: RunningRegistry[] = [];
let tmp: string;

function client(options: RegistryClientOptions): RegistryClient {
  const c = new RegistryClient({ plainHttp: true, ...options });
  clients.push(c);
  return c;
}
async function proxyTo(url: string): Promise<FaultProxy> {
  const p = await startFaultProxy(url);
  proxies.push(p);
  return p;
}
async function stats(url: string): Promise<TokenServerStats> {
  const res = await fetch(url);
  return (await res.json()) as TokenServerStats;
}
function errOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'oras-hardening-cred-'));
});
afterAll(async () => {
  for (const c of clients) await c.close();
  for (const p of proxies) await p.close();
  for (const r of privateRegs) await r.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('bad credentials fail fast, counted at the server', () => {
  it('basic: a wrong password (default retry policy) costs at most 2 registry requests', async () => {
    const info = registry('basic');
    const proxy = await proxyTo(info.url);
    const c = client({ credentials: async () => ({ username: userOf(info).username, password: WRONG_CANARY }) });
    const repo = new Repository({
      reference: { registry: proxy.host, repository: uniqueRepo('hardening/wrong-basic') },
      client: c,
    });
    const err = await errOf(repo.resolve('latest'));
    expect(err).toMatchObject({ code: 'ERR_ORAS_UNAUTHORIZED' });
    expect(proxy.requests.length).toBeLessThanOrEqual(2);
    expectClean(`${String(err)} ${JSON.stringify(err)} ${(err as Error).stack}`, userOf(info).username, WRONG_CANARY);
  });

  it('token: a wrong password costs at most 2 registry requests and 1 token request', async () => {
    const info = registry('token');
    const proxy = await proxyTo(info.url);
    const name = uniqueRepo('hardening/wrong-token');
    const c = client({ credentials: async () => ({ username: userOf(info).username, password: WRONG_CANARY }) });
    const repo = new Repository({ reference: { registry: proxy.host, repository: name }, client: c });
    const err = await errOf(repo.resolve('latest'));
    expect(err).toMatchObject({ code: 'ERR_ORAS_UNAUTHORIZED' });
    expect(proxy.requests.length).toBeLessThanOrEqual(2);
    const mine = (await stats(info.tokenStatsUrl!)).log.filter((r) => r.scopes.some((s) => s.includes(name)));
    expect(mine.length).toBeLessThanOrEqual(1);
    expectClean(`${String(err)} ${JSON.stringify(err)}`, userOf(info).username, WRONG_CANARY);
  });
});

describe('token expiry', () => {
  it('a token the registry reports as invalid_token (expired) is refreshed exactly once, then the request succeeds', async () => {
    const info = registry('token');
    const name = uniqueRepo('hardening/expired');
    const user = userOf(info);
    const direct = new Repository({
      reference: { registry: info.host, repository: name },
      client: client({ credentials: async () => user }),
    });
    const { desc } = await pushImage(direct);
    const proxy = await proxyTo(info.url);
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/v2/${name}/manifests/`),
      header: { name: 'authorization', value: /^Bearer / },
      fault: {
        kind: 'status',
        status: 401,
        headers: {
          'www-authenticate': `Bearer realm="${info.tokenRealm}",service="${info.tokenService}",scope="repository:${name}:pull",error="invalid_token"`,
        },
        body: '{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}',
      },
    });
    const before = (await stats(info.tokenStatsUrl!)).log.filter((r) => r.scopes.some((s) => s.includes(name))).length;
    const repo = new Repository({
      reference: { registry: proxy.host, repository: name },
      client: client({ credentials: async () => user }),
    });
    const got = await repo.fetchManifest(desc.digest);
    expect(got.descriptor.digest).toBe(desc.digest);
    const after = (await stats(info.tokenStatsUrl!)).log.filter((r) => r.scopes.some((s) => s.includes(name)));
    expect(after.length - before).toBe(2); // the first token, and one refresh
    const gets = proxy.matching('GET', new RegExp(`/v2/${name}/manifests/`)).map((r) => r.status);
    expect(gets).toEqual([401, 401, 200]); // anonymous → challenge; expired token → refresh; success
  });

  it('a registry that rejects every token (exp in the past) fails without a storm: ≤ 2 token and ≤ 3 registry requests', async () => {
    const reg = await startRegistry({ mode: 'token', tokenLifetimeSec: 1, tokenExpSkewSec: -120 });
    privateRegs.push(reg);
    const proxy = await proxyTo(reg.url);
    const user = reg.users.find((u) => u.access === 'push')!;
    const repo = new Repository({
      reference: { registry: proxy.host, repository: uniqueRepo('hardening/exp') },
      client: client({ credentials: async () => user }),
    });
    const before = reg.tokenServer!.stats().total;
    const err = await errOf(repo.resolve('latest'));
    expect(isOrasError(err), String(err)).toBe(true);
    expect(['ERR_ORAS_UNAUTHORIZED', 'ERR_ORAS_DENIED']).toContain((err as { code: string }).code);
    expect(reg.tokenServer!.stats().total - before).toBeLessThanOrEqual(2);
    expect(proxy.requests.length).toBeLessThanOrEqual(3);
  });
});

describe('credential helpers that misbehave give a clear error within a timeout', () => {
  let binDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    binDir = join(tmp, 'bin');
    await mkdir(binDir, { recursive: true });
    const helpers: Record<string, string> = {
      hang: '#!/bin/sh\nexec sleep 30\n',
      garbage: `#!/bin/sh\ncat >/dev/null\necho '{"Username":"alice","Secret":"${CANARY}'\n`,
      leaky: `#!/bin/sh\ncat >/dev/null\necho '{"ServerURL":"x","Username":"alice","Secret":"${CANARY}"}'\nexit 1\n`,
    };
    for (const [n, text] of Object.entries(helpers)) {
      const p = join(binDir, `docker-credential-${n}`);
      await writeFile(p, text);
      await chmod(p, 0o755);
    }
    env = { ...process.env, PATH: `${binDir}${delimiter}${process.env['PATH'] ?? ''}` };
  });

  async function withHelper(helper: string): Promise<unknown> {
    const info = registry('basic');
    const cfgDir = join(tmp, `cfg-${helper}`);
    await mkdir(cfgDir, { recursive: true });
    await writeFile(join(cfgDir, 'config.json'), JSON.stringify({ credsStore: helper }));
    const c = client({
      credentials: createCredentialProvider({ configPath: join(cfgDir, 'config.json'), env, timeoutMs: 500 }),
    });
    const repo = new Repository({
      reference: { registry: info.host, repository: uniqueRepo('hardening/helper') },
      client: c,
    });
    return await errOf(repo.resolve('latest'));
  }

  it('missing helper → ERR_ORAS_CREDENTIAL_HELPER naming it', async () => {
    const err = await withHelper('does-not-exist-xyz');
    expect(err).toMatchObject({ code: 'ERR_ORAS_CREDENTIAL_HELPER' });
    expect((err as Error).message).toMatch(/docker-credential-does-not-exist-xyz.*not found/);
  });

  it('hanging helper → killed after the timeout, ERR_ORAS_CREDENTIAL_HELPER "timed out"', async () => {
    const err = await withHelper('hang');
    expect(err).toMatchObject({ code: 'ERR_ORAS_CREDENTIAL_HELPER' });
    expect((err as Error).message).toMatch(/timed out after 500 ms/);
  });

  it('garbage output (truncated JSON holding the secret) → clear error that does not quote the secret', async () => {
    const err = await withHelper('garbage');
    expect(err).toMatchObject({ code: 'ERR_ORAS_CREDENTIAL_HELPER' });
    expect((err as Error).message).toMatch(/not JSON/);
    expectClean(`${String(err)} ${JSON.stringify(err)}`, 'alice', CANARY);
  });

  // Was a defect (fixed in src/registry/credentials/helper.ts firstLine): a non-zero exit quoted
  // the first line of stdout, which may be the credential JSON itself.
  it('a helper that prints the credential and exits non-zero: the error does not quote the secret', async () => {
    const err = await withHelper('leaky');
    expect(err).toMatchObject({ code: 'ERR_ORAS_CREDENTIAL_HELPER' });
    expectClean(`${String(err)} ${JSON.stringify(err)}`, 'alice', CANARY);
  });
});

describe('the canary secret never leaks', () => {
  let reg: RunningRegistry;
  let name: string;
  let pkg: string;

  beforeAll(async () => {
    reg = await startRegistry({ mode: 'basic', users: [{ username: 'alice', password: CANARY, access: 'push' }] });
    privateRegs.push(reg);
    name = uniqueRepo('hardening/canary');
    const repo = new Repository({
      reference: { registry: reg.host, repository: name },
      client: client({ credentials: async () => ({ username: 'alice', password: CANARY }) }),
    });
    const data = Buffer.from('canary test payload\n');
    const layer = descOf(data);
    await repo.push({ ...layer }, data);
    const cfg = Buffer.from('{}');
    await repo.push(descOf(cfg, MediaType.Empty), cfg);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ImageManifest,
        artifactType: 'application/vnd.test',
        config: descOf(cfg, MediaType.Empty),
        layers: [{ ...layer, annotations: { 'org.opencontainers.image.title': 'payload.txt' } }],
      }),
    );
    await repo.pushReference(descOf(manifest, MediaType.ImageManifest), manifest, 'v1');
    pkg = await privateBuild('credentials');
  }, 300_000);
  afterAll(async () => {
    await removePrivateBuild(pkg);
  });

  async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
    const cfgDir = join(tmp, 'docker-cli');
    await mkdir(cfgDir, { recursive: true });
    const child = spawn(process.execPath, [join(pkg, 'dist', 'cli', 'main.js'), ...args], {
      cwd: tmp,
      env: { PATH: process.env['PATH'] ?? '', HOME: tmp, DOCKER_CONFIG: cfgDir, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, out };
  }

  it('library: debug lines and results of a successful authenticated pull contain no secret', async () => {
    const lines: string[] = [];
    const repo = new Repository({
      reference: { registry: reg.host, repository: name },
      client: client({
        credentials: async () => ({ username: 'alice', password: CANARY }),
        onDebug: (l) => lines.push(l),
      }),
    });
    const m = await repo.fetchManifest('v1');
    expect(m.parsed.kind).toBe('manifest');
    expect(lines.some((l) => /authorization/i.test(l))).toBe(true); // the header was sent (and redacted)
    expectClean(lines.join('\n'), 'alice', CANARY);
  });

  it('CLI -d: a successful pull prints no secret on stdout or stderr', async () => {
    const out = join(tmp, 'cli-out');
    const r = await cli([
      'pull',
      `${reg.host}/${name}:v1`,
      '-o',
      out,
      '--plain-http',
      '-u',
      'alice',
      '-p',
      CANARY,
      '-d',
    ]);
    expect(r.code, r.out).toBe(0);
    expect(await readFile(join(out, 'payload.txt'), 'utf8')).toBe('canary test payload\n');
    expect(r.out).toMatch(/authorization/i); // debug output really was produced
    expectClean(r.out, 'alice', CANARY);
  });

  it('CLI -d: a failed pull (wrong password) prints no secret, in text and in JSON', async () => {
    const text = await cli([
      'pull',
      `${reg.host}/${name}:v1`,
      '-o',
      join(tmp, 'cli-out2'),
      '--plain-http',
      '-u',
      'alice',
      '-p',
      WRONG_CANARY,
      '-d',
    ]);
    expect(text.code).not.toBe(0);
    expect(text.out).toMatch(/ERR_ORAS_UNAUTHORIZED|unauthorized|credentials/i);
    expectClean(text.out, 'alice', WRONG_CANARY, CANARY);
    const json = await cli([
      'pull',
      `${reg.host}/${name}:v1`,
      '-o',
      join(tmp, 'cli-out3'),
      '--plain-http',
      '-u',
      'alice',
      '-p',
      WRONG_CANARY,
      '-d',
      '--format',
      'json',
    ]);
    expect(json.code).not.toBe(0);
    expectClean(json.out, 'alice', WRONG_CANARY, CANARY);
  });

  it('CLI -d against a token registry: no bearer token (JWT) and no password in the output', async () => {
    const info = registry('token');
    const user = userOf(info);
    const tokName = uniqueRepo('hardening/canary-token');
    const direct = new Repository({
      reference: { registry: info.host, repository: tokName },
      client: client({ credentials: async () => user }),
    });
    const { desc } = await pushImage(direct);
    const r = await cli([
      'manifest',
      'fetch',
      `${info.host}/${tokName}@${desc.digest}`,
      '--plain-http',
      '-u',
      user.username,
      '-p',
      user.password,
      '-d',
    ]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/authorization/i);
    expect(r.out).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/); // a JWT (header+payload base64url)
    expectClean(r.out, user.username, user.password);
  });

  it('install: neither the lockfile, the state nor the cache holds the secret', async () => {
    const project = join(tmp, 'project');
    const cache = join(tmp, 'cache');
    await mkdir(project, { recursive: true });
    await writeFile(
      join(project, 'artifacts.yaml'),
      `dependencies:\n  app:\n    ref: "${reg.host}/${name}:v1"\n    path: vendor/app\n`,
    );
    const c = client({ credentials: async () => ({ username: 'alice', password: CANARY }) });
    await install({
      projectDir: project,
      cacheDir: cache,
      env: { CI: 'false' },
      targetFactory: (repository) => new Repository({ reference: repository, client: c }),
    });
    expect(await readFile(join(project, 'vendor', 'app', 'payload.txt'), 'utf8')).toBe('canary test payload\n');
    let scanned = 0;
    for (const dir of [project, cache]) {
      for (const rel of (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile())) {
        const text = await readFile(join(rel.parentPath, rel.name), 'latin1');
        expectClean(text, 'alice', CANARY);
        scanned++;
      }
    }
    expect(scanned).toBeGreaterThanOrEqual(4); // artifacts.yaml, artifacts.lock, state.json, payload, cache blobs…
  });
});
