/**
 * Issue 12 item 3: a registry that trickles one byte at a time never trips the idle timeout.
 * Metadata requests (manifests, tag lists, error bodies) have a total deadline; blob
 * downloads a minimum throughput. Limits are configured small so the test is quick; no
 * assertion is on wall-clock time (the servers trickle for far longer than the test timeout,
 * so without the defence the tests time out).
 */
import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { startHostileRegistry, type HostileRegistry } from '../harness/hostile-registry.js';

let reg: HostileRegistry;
const clients: RegistryClient[] = [];
const timers = new Set<NodeJS.Timeout>();

function repo(timeouts: NonNullable<RegistryClientOptions['timeouts']>, maxDownloadAttempts = 2): Repository {
  const client = new RegistryClient({ plainHttp: true, retry: { maxAttempts: 1 }, timeouts });
  clients.push(client);
  return new Repository({ reference: { registry: reg.host, repository: 'slow/app' }, client, maxDownloadAttempts });
}

/** Sends `body` `step` bytes every `everyMs` (bounded by the body), until the client goes away. */
function trickle(res: ServerResponse, body: Buffer, everyMs: number, step = 1): void {
  let at = 0;
  res.on('error', () => undefined);
  const t = setInterval(() => {
    if (res.destroyed || at >= body.length) {
      clearInterval(t);
      timers.delete(t);
      if (!res.destroyed) res.end();
      return;
    }
    res.write(body.subarray(at, at + step));
    at += step;
  }, everyMs);
  timers.add(t);
}

beforeAll(async () => {
  reg = await startHostileRegistry();
});
afterEach(() => {
  reg.intercept = undefined;
});
afterAll(async () => {
  for (const t of timers) clearInterval(t);
  for (const c of clients) await c.close();
  await reg?.close();
});

async function failure(p: Promise<unknown>): Promise<unknown> {
  return await p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('metadata requests have a total deadline (timeouts.request)', () => {
  it('a manifest trickled one byte every 200 ms fails with ERR_ORAS_TIMEOUT (idle timeout never trips)', async () => {
    const { desc, bytes } = reg.addArtifact([{ data: Buffer.from('a'), title: 'a.txt' }], 'trickle-manifest');
    reg.intercept = (req, res, route) => {
      if (route.kind !== 'manifest' || req.method !== 'GET') return false;
      res.writeHead(200, {
        'content-type': desc.mediaType,
        'content-length': String(bytes.length),
        'docker-content-digest': desc.digest,
      });
      trickle(res, bytes, 200);
      return true;
    };
    const err = await failure(
      repo({ request: 1000, idle: 30_000 })
        .fetch(desc)
        .then(async (s) => {
          for await (const _ of s) {
            /* drain */
          }
        }),
    );
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_TIMEOUT');
    expect((err as Error).message).toMatch(/did not complete within 1 s/);
  }, 20_000);

  it('a tag list trickled one byte every 200 ms fails with ERR_ORAS_TIMEOUT', async () => {
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'tags') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      trickle(res, Buffer.from(`{"name":"slow/app","tags":[${'"t",'.repeat(500)}"z"]}`), 200, 1);
      return true;
    };
    const r = repo({ request: 1000, idle: 30_000 });
    const err = await failure(
      (async () => {
        for await (const _ of r.tags()) {
          /* drain */
        }
      })(),
    );
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_TIMEOUT');
  }, 20_000);

  it('an error body trickled byte by byte fails with ERR_ORAS_TIMEOUT', async () => {
    reg.intercept = (req, res, route) => {
      if (route.kind !== 'manifest') return false;
      res.writeHead(404, { 'content-type': 'application/json' });
      trickle(res, Buffer.from(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"${'x'.repeat(2000)}"}]}`), 200);
      return true;
    };
    const err = await failure(repo({ request: 1000, idle: 30_000 }).resolve('missing'));
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_TIMEOUT');
  }, 20_000);
});

describe('blob downloads have a minimum throughput (timeouts.speedLimit / speedTime)', () => {
  it('a blob trickled one byte every 100 ms fails with ERR_ORAS_TIMEOUT after bounded resumes', async () => {
    const data = Buffer.alloc(50_000, 3);
    const { manifest } = reg.addArtifact([{ data, title: 'big.bin' }], 'trickle-blob');
    const layer = manifest.layers[0]!;
    let requests = 0;
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'blob' || route.reference !== layer.digest) return false;
      requests++;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
      trickle(res, data, 100);
      return true;
    };
    const err = await failure(
      repo({ speedLimit: 1000, speedTime: 500, idle: 30_000 }, 2)
        .fetch(layer)
        .then(async (s) => {
          for await (const _ of s) {
            /* drain */
          }
        }),
    );
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_TIMEOUT');
    expect((err as Error).message).toMatch(/minimum 1000 bytes\/s/);
    expect(requests).toBeLessThanOrEqual(2);
  }, 20_000);

  it('a slow but steady blob (above the minimum) completes and verifies', async () => {
    const data = Buffer.alloc(24_000, 5);
    const { manifest } = reg.addArtifact([{ data, title: 'steady.bin' }], 'steady-blob');
    const layer = manifest.layers[0]!;
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'blob' || route.reference !== layer.digest) return false;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
      trickle(res, data, 20, 1000); // ~50 kB/s, 10× the minimum below
      return true;
    };
    const stream = await repo({ speedLimit: 5000, speedTime: 300, request: 200 }).fetch(layer);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  }, 20_000);
});
