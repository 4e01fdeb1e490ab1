/**
 * Starts a real Debian `docker-registry` (distribution 2.8.2) on a free 127.0.0.1 port, in one of
 * four modes (plain HTTP, htpasswd basic auth, HTTPS with a test CA, bearer tokens from a
 * test-owned token server). Used by the vitest global setup and by tests that need a private
 * registry instance.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { makeSigningMaterial, makeTlsMaterial } from './certs.js';
import { startTokenServer, type RunningTokenServer } from './token-server.js';
import type { RegistryInfo, RegistryMode, TestUser } from './types.js';

/** Path of the registry binary (Debian package `docker-registry`). */
export const REGISTRY_BIN = '/usr/bin/docker-registry';

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  mode: RegistryMode;
  /** Parent directory for the instance's temp dir. Default: `os.tmpdir()`. */
  baseDir?: string;
  /**
   * Users for basic/token modes. Default: basic → `alice` (push, random password);
   * token → `alice` (push) and `bob` (pull), random passwords. Ignored for plain/tls.
   */
  users?: TestUser[];
  /** token mode: lifetime of issued tokens in seconds (`expires_in` and `exp`). Default 300. */
  tokenLifetimeSec?: number;
  /**
   * token mode: seconds added to the JWT `exp` claim only (not to `expires_in`). Distribution
   * accepts tokens up to 60 s past `exp`, so e.g. `-120` makes every token rejected at once.
   * Default 0.
   */
  tokenExpSkewSec?: number;
  /** Polls of `GET /v2/` (100 ms apart) before giving up. Default 100. */
  startupPolls?: number;
}

/** A running registry: its {@link RegistryInfo} plus process handles. */
export interface RunningRegistry extends RegistryInfo {
  logFile: string;
  /** Temp dir of this instance (storage, config, certs, log); removed by `stop()`. */
  dir: string;
  pid: number;
  /** token mode: the in-process token server (stats, counters). */
  tokenServer?: RunningTokenServer;
  /** Kills the registry (and its token server) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Live registry children of this process, killed synchronously on process exit. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/** Returns a currently free TCP port on 127.0.0.1 (may race; callers retry). */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function randomPassword(): string {
  return randomBytes(12).toString('base64url');
}

function defaultUsers(mode: RegistryMode): TestUser[] {
  if (mode === 'basic') return [{ username: 'alice', password: randomPassword(), access: 'push' }];
  if (mode === 'token') {
    return [
      { username: 'alice', password: randomPassword(), access: 'push' },
      { username: 'bob', password: randomPassword(), access: 'pull' },
    ];
  }
  return [];
}

/**
 * Starts one registry. Resolves once `GET /v2/` answers (200, or 401 for auth modes).
 * On failure everything started is torn down and the error carries the registry log.
 */
export async function startRegistry(opts: StartRegistryOptions): Promise<RunningRegistry> {
  installExitHook();
  const dir = await mkdtemp(join(opts.baseDir ?? tmpdir(), `oras-ts-reg-${opts.mode}-`));
  let tokenServer: RunningTokenServer | undefined;
  try {
    const storageDir = join(dir, 'storage');
    await mkdir(storageDir, { recursive: true });
    const users = opts.mode === 'basic' || opts.mode === 'token' ? (opts.users ?? defaultUsers(opts.mode)) : [];
    const scheme = opts.mode === 'tls' ? 'https' : 'http';
    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: storageDir },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr: '', secret: randomBytes(16).toString('hex'), headers: { 'X-Content-Type-Options': ['nosniff'] } },
    };
    const info: Partial<RegistryInfo> = { mode: opts.mode, users, storageDir };
    let ca: string | undefined;

    if (opts.mode === 'basic') {
      const htpasswd = join(dir, 'htpasswd');
      // Cost 4 (bcrypt minimum): the registry runs bcrypt on every request.
      const lines = users.map((u) => `${u.username}:${bcrypt.hashSync(u.password, 4)}`);
      await writeFile(htpasswd, lines.join('\n') + '\n', { mode: 0o600 });
      config.auth = { htpasswd: { realm: 'oras-ts-test', path: htpasswd } };
    } else if (opts.mode === 'tls') {
      const tls = await makeTlsMaterial(join(dir, 'tls'));
      (config.http as Record<string, unknown>).tls = { certificate: tls.certFile, key: tls.keyFile };
      info.caFile = tls.caFile;
      info.certDir = tls.certDir;
      ca = await readFile(tls.caFile, 'utf8');
    } else if (opts.mode === 'token') {
      const signing = await makeSigningMaterial(join(dir, 'token'));
      const service = 'oras-ts-test-registry';
      const issuer = 'oras-ts-test-token-issuer';
      tokenServer = await startTokenServer({
        service,
        issuer,
        users,
        keyPem: signing.keyPem,
        certDerBase64: signing.certDerBase64,
        ...(opts.tokenLifetimeSec !== undefined ? { tokenLifetimeSec: opts.tokenLifetimeSec } : {}),
        ...(opts.tokenExpSkewSec !== undefined ? { expSkewSec: opts.tokenExpSkewSec } : {}),
      });
      config.auth = { token: { realm: tokenServer.realm, service, issuer, rootcertbundle: signing.certFile } };
      info.tokenRealm = tokenServer.realm;
      info.tokenService = service;
      info.tokenStatsUrl = tokenServer.statsUrl;
    }

    const logFile = join(dir, 'registry.log');
    const configFile = join(dir, 'config.yml');
    const maxAttempts = 3;
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const host = `127.0.0.1:${port}`;
      (config.http as Record<string, unknown>).addr = host;
      await writeFile(configFile, stringify(config));
      const child = spawnRegistry(configFile, logFile);
      const url = `${scheme}://${host}`;
      const up = await waitUp(url, child, ca, opts.startupPolls ?? 100);
      if (up === 'up') {
        const ts = tokenServer;
        let stopped = false;
        const running: RunningRegistry = {
          ...(info as RegistryInfo),
          host,
          url,
          logFile,
          dir,
          pid: child.pid ?? -1,
          ...(ts ? { tokenServer: ts } : {}),
          async stop() {
            if (stopped) return;
            stopped = true;
            await killChild(child);
            if (ts) await ts.stop();
            await rm(dir, { recursive: true, force: true });
          },
        };
        return running;
      }
      await killChild(child);
      const log = readLog(logFile);
      if (up === 'exited' && /address already in use/i.test(log) && attempt < maxAttempts) continue;
      throw new Error(`docker-registry (${opts.mode}) did not come up on ${url} (${up}). Log:\n${log}`);
    }
  } catch (err) {
    if (tokenServer) await tokenServer.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

function spawnRegistry(configFile: string, logFile: string): ChildProcess {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('REGISTRY_') && v !== undefined) env[k] = v;
  }
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', fd, fd], env });
    liveChildren.add(child);
    child.on('exit', () => liveChildren.delete(child));
    child.on('error', () => liveChildren.delete(child));
    return child;
  } finally {
    closeSync(fd);
  }
}

function readLog(logFile: string): string {
  try {
    const text = readFileSync(logFile, 'utf8');
    return text.length > 8000 ? text.slice(-8000) : text;
  } catch {
    return '(no log)';
  }
}

async function waitUp(
  url: string,
  child: ChildProcess,
  ca: string | undefined,
  polls: number,
): Promise<'up' | 'exited' | 'timeout'> {
  let exited = child.exitCode !== null || child.signalCode !== null;
  const onExit = (): void => {
    exited = true;
  };
  child.once('exit', onExit);
  child.once('error', onExit);
  const dispatcher = new Agent(ca ? { connect: { ca } } : {});
  try {
    for (let i = 0; i < polls; i++) {
      if (exited) return 'exited';
      try {
        const res = await request(`${url}/v2/`, { dispatcher, headersTimeout: 2000, bodyTimeout: 2000 });
        await res.body.dump();
        if (res.statusCode === 200 || res.statusCode === 401) return 'up';
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return exited ? 'exited' : 'timeout';
  } finally {
    child.off('exit', onExit);
    child.off('error', onExit);
    await dispatcher.close();
  }
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    liveChildren.delete(child);
    return;
  }
  await new Promise<void>((resolve) => {
    // SIGTERM, then SIGKILL after 3 s, then give up waiting after 5 s in total.
    const t = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }, 3000);
    const giveUp = setTimeout(resolve, 5000);
    child.once('exit', () => {
      clearTimeout(t);
      clearTimeout(giveUp);
      resolve();
    });
    try {
      child.kill('SIGTERM');
    } catch {
      clearTimeout(t);
      clearTimeout(giveUp);
      resolve();
    }
  });
  liveChildren.delete(child);
}
