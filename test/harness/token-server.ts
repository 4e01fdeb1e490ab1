/**
 * A small Docker-registry token server (docker "token" auth spec) for tests: issues RS256 JWTs
 * with an `x5c` header that distribution 2.8.2 verifies against its `rootcertbundle`.
 *
 * Endpoints (all on 127.0.0.1):
 * - `GET /token?service=…&scope=…&account=…[&offline_token=true]` with Basic auth or anonymous.
 * - `POST /token` (form): `grant_type=password` (username, password) or
 *   `grant_type=refresh_token` (refresh_token); `access_type=offline` also returns a refresh token.
 * - `GET /stats`: {@link TokenServerStats} as JSON.
 *
 * Policy: a `push` user gets pull/push/delete/`*` on every repository and `registry:catalog:*`;
 * a `pull` user gets only `pull`; anonymous gets no access (but still a token). Wrong
 * credentials → 401.
 */
import { randomBytes, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestUser, TokenRequestRecord, TokenServerStats } from './types.js';

/** Options of {@link startTokenServer}. */
export interface TokenServerOptions {
  /** Audience the registry expects (`auth.token.service`). */
  service: string;
  /** Issuer the registry expects (`auth.token.issuer`). */
  issuer: string;
  users: TestUser[];
  /** RSA private key (PEM) used to sign tokens. */
  keyPem: string;
  /** Base64 DER of the signing certificate (the registry's rootcertbundle). */
  certDerBase64: string;
  /** Token lifetime in seconds (`expires_in` and `exp - iat`). Default 300. */
  tokenLifetimeSec?: number;
  /** Seconds added to `exp` only (negative → already-expired tokens). Default 0. */
  expSkewSec?: number;
}

/** A running token server. */
export interface RunningTokenServer {
  /** `http://127.0.0.1:PORT/token`. */
  realm: string;
  /** `http://127.0.0.1:PORT/stats`. */
  statsUrl: string;
  /** Snapshot of the counters (same as the stats endpoint). */
  stats(): TokenServerStats;
  /** Closes the server and its connections. Idempotent. */
  stop(): Promise<void>;
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

const LOG_LIMIT = 1000;
const MAX_BODY = 64 * 1024;
const PUSH_ACTIONS = new Set(['pull', 'push', 'delete', '*']);

/** Starts a token server on a free 127.0.0.1 port. */
export async function startTokenServer(opts: TokenServerOptions): Promise<RunningTokenServer> {
  const lifetime = opts.tokenLifetimeSec ?? 300;
  const skew = opts.expSkewSec ?? 0;
  const stats: TokenServerStats = {
    total: 0,
    get: 0,
    password: 0,
    refreshToken: 0,
    unauthorized: 0,
    badRequest: 0,
    log: [],
  };
  const refreshTokens = new Map<string, string>(); // refresh token → username
  let seq = 0;

  const findUser = (username: string, password: string): TestUser | undefined =>
    opts.users.find((u) => u.username === username && u.password === password);

  const grant = (user: TestUser | undefined, scopes: string[]): Access[] => {
    const out: Access[] = [];
    if (!user) return out;
    for (const s of scopes) {
      const parsed = parseScope(s);
      if (!parsed) continue;
      let allowed: string[] = [];
      if (parsed.type === 'repository') {
        allowed = parsed.actions.filter((a) => (user.access === 'push' ? PUSH_ACTIONS.has(a) : a === 'pull'));
      } else if (parsed.type === 'registry' && parsed.name === 'catalog' && user.access === 'push') {
        allowed = parsed.actions.filter((a) => a === '*');
      }
      if (allowed.length > 0) out.push({ type: parsed.type, name: parsed.name, actions: [...new Set(allowed)] });
    }
    return out;
  };

  const issue = (subject: string, access: Access[]): { token: string; issuedAt: string } => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [opts.certDerBase64] };
    const claims = {
      iss: opts.issuer,
      sub: subject,
      aud: opts.service,
      exp: now + lifetime + skew,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('RSA-SHA256', Buffer.from(input), opts.keyPem).toString('base64url');
    return { token: `${input}.${sig}`, issuedAt: new Date(now * 1000).toISOString() };
  };

  const record = (r: Omit<TokenRequestRecord, 'seq'>): void => {
    stats.total++;
    if (r.kind === 'get') stats.get++;
    if (r.kind === 'password') stats.password++;
    if (r.kind === 'refresh_token') stats.refreshToken++;
    if (r.status === 401) stats.unauthorized++;
    if (r.status === 400) stats.badRequest++;
    stats.log.push({ seq: ++seq, ...r });
    if (stats.log.length > LOG_LIMIT) stats.log.splice(0, stats.log.length - LOG_LIMIT);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/stats' && req.method === 'GET') {
      return json(res, 200, stats);
    }
    if (url.pathname !== '/token') return json(res, 404, { errors: [{ code: 'NOT_FOUND' }] });

    if (req.method === 'GET') {
      const scopes = splitScopes(url.searchParams.getAll('scope'));
      const auth = req.headers.authorization;
      let user: TestUser | undefined;
      if (auth) {
        const creds = parseBasic(auth);
        user = creds ? findUser(creds.username, creds.password) : undefined;
        if (!user) {
          record({ kind: 'get', user: null, status: 401, scopes, granted: [] });
          res.setHeader('WWW-Authenticate', 'Basic realm="oras-ts-test-token"');
          return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid credentials' }] });
        }
      }
      const access = grant(user, scopes);
      const { token, issuedAt } = issue(user?.username ?? '', access);
      const body: Record<string, unknown> = { token, access_token: token, expires_in: lifetime, issued_at: issuedAt };
      if (user && url.searchParams.get('offline_token') === 'true') body.refresh_token = newRefresh(user.username);
      record({ kind: 'get', user: user?.username ?? null, status: 200, scopes, granted: fmt(access) });
      return json(res, 200, body);
    }

    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const grantType = form.get('grant_type') ?? '';
      const scopes = splitScopes(form.getAll('scope'));
      let user: TestUser | undefined;
      let kind: TokenRequestRecord['kind'] = 'other';
      if (grantType === 'password') {
        kind = 'password';
        user = findUser(form.get('username') ?? '', form.get('password') ?? '');
      } else if (grantType === 'refresh_token') {
        kind = 'refresh_token';
        const name = refreshTokens.get(form.get('refresh_token') ?? '');
        user = name !== undefined ? opts.users.find((u) => u.username === name) : undefined;
      } else {
        record({ kind, user: null, status: 400, scopes, granted: [] });
        return json(res, 400, { error: 'unsupported_grant_type' });
      }
      if (!user) {
        record({ kind, user: null, status: 401, scopes, granted: [] });
        return json(res, 401, { error: 'invalid_grant' });
      }
      const access = grant(user, scopes);
      const { token, issuedAt } = issue(user.username, access);
      const body: Record<string, unknown> = {
        token,
        access_token: token,
        expires_in: lifetime,
        issued_at: issuedAt,
        scope: scopes.join(' '),
      };
      if (kind === 'refresh_token') body.refresh_token = form.get('refresh_token');
      else if (form.get('access_type') === 'offline') body.refresh_token = newRefresh(user.username);
      record({ kind, user: user.username, status: 200, scopes, granted: fmt(access) });
      return json(res, 200, body);
    }
    res.setHeader('Allow', 'GET, POST');
    return json(res, 405, { errors: [{ code: 'UNSUPPORTED' }] });
  };

  const newRefresh = (username: string): string => {
    const t = randomBytes(24).toString('base64url');
    refreshTokens.set(t, username);
    if (refreshTokens.size > 10_000) {
      const first = refreshTokens.keys().next().value;
      if (first !== undefined) refreshTokens.delete(first);
    }
    return t;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let stopped = false;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    statsUrl: `http://127.0.0.1:${port}/stats`,
    stats: () => structuredClone(stats),
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Parses `type:name:actions` (name may itself contain `:`, e.g. a host:port prefix). */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

function splitScopes(values: string[]): string[] {
  return values.flatMap((v) => v.split(' ')).filter(Boolean);
}

function fmt(access: Access[]): string[] {
  return access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`);
}

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

function parseBasic(header: string): { username: string; password: string } | undefined {
  const m = /^Basic\s+(.+)$/i.exec(header.trim());
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
