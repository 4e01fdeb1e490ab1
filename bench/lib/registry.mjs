// Starts a private, plain-HTTP Debian `docker-registry` (distribution 2.8.2) for the benchmark.
// Port of the few lines of test/harness/registry.ts the bench needs (plain mode only).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

/** A free TCP port on 127.0.0.1 (may race; startRegistry retries). */
export function freePort() {
  return new Promise((resolve, reject) => {
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

/**
 * Starts the registry with storage under `dir/storage`. Returns { host, url, pid, storageDir,
 * logFile, child, stop() }. `onChild` lets the caller track the child for emergency kills.
 */
export async function startRegistry(dir, { onChild } = {}) {
  const storageDir = join(dir, 'storage');
  await mkdir(storageDir, { recursive: true });
  const logFile = join(dir, 'registry.log');
  const configFile = join(dir, 'config.yml');
  const config = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: storageDir },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: '', secret: randomBytes(16).toString('hex') },
  };
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    config.http.addr = host;
    await writeFile(configFile, stringify(config));
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_') && v !== undefined) env[k] = v;
    const fd = openSync(logFile, 'a');
    const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    onChild?.(child);
    const url = `http://${host}`;
    const up = await waitUp(url, child);
    if (up === 'up') {
      return {
        host,
        url,
        pid: child.pid,
        storageDir,
        logFile,
        child,
        async stop() {
          await killChild(child);
        },
      };
    }
    await killChild(child);
    const log = readLog(logFile);
    if (up === 'exited' && /address already in use/i.test(log) && attempt < 3) continue;
    throw new Error(`docker-registry did not come up on ${url} (${up}). Log:\n${log}`);
  }
  throw new Error('docker-registry: no free port');
}

function readLog(f) {
  try {
    const t = readFileSync(f, 'utf8');
    return t.length > 4000 ? t.slice(-4000) : t;
  } catch {
    return '(no log)';
  }
}

async function waitUp(url, child) {
  let exited = child.exitCode !== null;
  child.once('exit', () => {
    exited = true;
  });
  for (let i = 0; i < 100; i++) {
    if (exited) return 'exited';
    try {
      const res = await request(`${url}/v2/`, { headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode === 200) return 'up';
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return exited ? 'exited' : 'timeout';
}

export async function killChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => {
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
}
