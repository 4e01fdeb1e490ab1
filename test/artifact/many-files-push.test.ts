/**
 * Regression: `oras push` of hundreds of small files failed intermittently with
 * "Premature close" (the registry answers a PUT before the file stream has
 * signalled EOF; see test/registry/early-response.test.ts for the deterministic
 * case), and sent a `GET /v2/` auth probe before every upload. Here a
 * test-owned proxy in front of the real registry answers every HEAD 404 (and
 * every 7th other response) with `Connection: close`, as distribution does for
 * HEAD 404s; a push of 200 small files via packArtifact must succeed, pull back
 * intact, and probe `/v2/` at most once per concurrent upload slot.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packArtifact } from '../../src/artifact/pack.js';
import { pullArtifact } from '../../src/artifact/pull.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { registry, uniqueRepo } from '../harness/context.js';
import { tempDir } from './helpers.js';

const info = registry('plain');
const upstream = new URL(info.url);
let proxy: Server;
let proxyHost = '';
let responses = 0;
let closedByProxy = 0;

beforeAll(async () => {
  proxy = createServer((req, res) => {
    const up = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, // Host stays the proxy's, so upload Locations point here
      (upRes) => {
        const n = ++responses;
        const headers = { ...upRes.headers };
        const close = (req.method === 'HEAD' && upRes.statusCode === 404) || n % 7 === 0;
        if (close) {
          headers['connection'] = 'close';
          closedByProxy++;
        }
        res.writeHead(upRes.statusCode ?? 502, headers);
        upRes.pipe(res);
        if (close) res.on('finish', () => req.socket.end());
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  proxy.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyHost = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  proxy.closeAllConnections();
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
});
const cleanups: string[] = [];
afterEach(async () => {
  for (const d of cleanups.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('push of many small files through a connection-closing proxy', () => {
  it('pushes 200 files of 4 KiB, pulls them back intact, and probes /v2/ at most `concurrency` times', async () => {
    const src = await tempDir();
    const out = await tempDir();
    cleanups.push(src, out);
    const names: string[] = [];
    for (let i = 0; i < 200; i++) {
      const name = `f${String(i).padStart(4, '0')}`;
      await writeFile(path.join(src, name), randomBytes(4096));
      names.push(name);
    }
    const lines: string[] = [];
    const client = new RegistryClient({ plainHttp: true, onDebug: (l) => lines.push(l) });
    try {
      const repo = new Repository({
        reference: { registry: proxyHost, repository: uniqueRepo('artifact/many-files') },
        client,
      });
      const result = await packArtifact(repo, {
        files: names.map((p) => ({ path: p })),
        cwd: src,
        tags: ['v1'],
        concurrency: 3,
      });
      expect(result.layers).toHaveLength(200);
      const probes = lines.filter(
        (l) => l.startsWith('> GET ') && new URL(l.split(' ')[2] ?? 'http://x/').pathname === '/v2/',
      );
      // Each upload's POST, answered without credentials, makes its PUT's probe unnecessary:
      // never one probe per file.
      expect(probes.length).toBeLessThanOrEqual(3);
      expect(closedByProxy).toBeGreaterThan(200); // every HEAD 404 closed its connection

      await pullArtifact(repo, 'v1', out);
      for (const name of names) {
        expect((await readFile(path.join(out, name))).equals(await readFile(path.join(src, name)))).toBe(true);
      }
    } finally {
      await client.close();
    }
  }, 120_000);
});
