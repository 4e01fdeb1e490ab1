/**
 * Network faults between the client and a REAL registry (a private docker-registry 2.8.2),
 * injected by the test-owned fault proxy (test/harness/fault-proxy.ts). Assertions about
 * client behaviour (Range resumes, retries, waits) are made from the proxy's request log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { MediaType } from '../../src/oci/media-types.js';
import { uniqueRepo } from '../harness/context.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../harness/registry.js';
import { blob, collect, descOf, pushImage } from '../registry/helpers.js';

let reg: RunningRegistry;
let proxy: FaultProxy;
const clients: RegistryClient[] = [];

function client(options: RegistryClientOptions = {}): RegistryClient {
  const c = new RegistryClient({
    plainHttp: true,
    retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
  clients.push(c);
  return c;
}

function repoVia(
  c: RegistryClient,
  prefix: string,
  options: { chunkSize?: number; maxDownloadAttempts?: number } = {},
): Repository {
  return new Repository({
    reference: { registry: proxy.host, repository: uniqueRepo(`hardening/${prefix}`) },
    client: c,
    ...options,
  });
}

beforeAll(async () => {
  reg = await startRegistry({ mode: 'plain' });
  proxy = await startFaultProxy(reg.url);
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await proxy?.close();
  await reg?.stop();
});

/** Pushes `bytes` (without faults) and returns the repository and descriptor. */
async function seeded(
  prefix: string,
  size: number,
  c = client(),
): Promise<{ repo: Repository; bytes: Buffer; desc: ReturnType<typeof descOf> }> {
  const repo = repoVia(c, prefix);
  const bytes = blob(size);
  const desc = descOf(bytes);
  await repo.push(desc, bytes);
  return { repo, bytes, desc };
}

function blobGets(digest: string): ReturnType<FaultProxy['matching']> {
  return proxy.matching('GET', new RegExp(`/blobs/${digest}$`));
}

describe('blob download under connection faults (real registry behind the fault proxy)', () => {
  it('a connection reset mid-blob resumes with Range and yields identical bytes', async () => {
    const { repo, bytes, desc } = await seeded('reset', 3 * 1024 * 1024);
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${desc.digest}$`),
      fault: { kind: 'reset-after', bytes: 1024 * 1024 },
    });
    const got = await collect(await repo.fetch(desc));
    expect(got.equals(bytes)).toBe(true);
    const gets = blobGets(desc.digest);
    expect(gets.map((g) => g.fault)).toEqual(['reset-after', undefined]);
    expect(gets[0]?.headers['range']).toBeUndefined();
    const m = /^bytes=(\d+)-$/.exec(String(gets[1]?.headers['range']));
    expect(m, 'the second request must be a Range resume').not.toBeNull();
    const from = Number(m?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(1024 * 1024);
    expect(gets[1]?.status).toBe(206);
  });

  it('a resume answered with 200 (Range ignored) skips the already-received prefix', async () => {
    const { repo, bytes, desc } = await seeded('range-200', 2 * 1024 * 1024);
    const path = new RegExp(`/blobs/${desc.digest}$`);
    proxy.addFault({ method: 'GET', path, fault: { kind: 'reset-after', bytes: 700_000 } });
    proxy.addFault({ method: 'GET', path, header: { name: 'range', value: true }, fault: { kind: 'ignore-range' } });
    const got = await collect(await repo.fetch(desc));
    expect(got.equals(bytes)).toBe(true);
    const gets = blobGets(desc.digest);
    expect(gets).toHaveLength(2);
    expect(gets[1]?.headers['range']).toMatch(/^bytes=\d+-$/);
    expect(gets[1]?.fault).toBe('ignore-range');
    expect(gets[1]?.status).toBe(200);
  });

  it('a body truncated under a correct Content-Length (clean close) resumes', async () => {
    const { repo, bytes, desc } = await seeded('truncate', 1024 * 1024);
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${desc.digest}$`),
      fault: { kind: 'truncate', bytes: 300_000 },
    });
    const got = await collect(await repo.fetch(desc));
    expect(got.equals(bytes)).toBe(true);
    expect(blobGets(desc.digest).map((g) => g.fault)).toEqual(['truncate', undefined]);
  });

  it('a body that stalls past the idle timeout is abandoned and resumed', async () => {
    const { repo: seededRepo, bytes, desc } = await seeded('stall', 1024 * 1024);
    // only the download uses the short idle timeout (the push above must not be at its mercy)
    const repo = new Repository({
      reference: { registry: proxy.host, repository: seededRepo.repository },
      client: client({ timeouts: { idle: 300 } }),
    });
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${desc.digest}$`),
      fault: { kind: 'stall-after', bytes: 200_000, stallMs: 30_000 },
    });
    const got = await collect(await repo.fetch(desc));
    expect(got.equals(bytes)).toBe(true);
    const gets = blobGets(desc.digest);
    expect(gets.map((g) => g.fault)).toEqual(['stall-after', undefined]);
    expect(gets[1]?.headers['range']).toMatch(/^bytes=\d+-$/);
  });

  it('resets on every attempt give up after maxDownloadAttempts with ERR_ORAS_NETWORK', async () => {
    const repo = repoVia(client(), 'reset-always', { maxDownloadAttempts: 3 });
    const bytes = blob(512 * 1024);
    const desc = descOf(bytes);
    await repo.push(desc, bytes);
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${desc.digest}$`),
      times: 10,
      fault: { kind: 'reset-after', bytes: 10_000 },
    });
    const err = await collect(await repo.fetch(desc)).then(
      () => undefined,
      (e: unknown) => e,
    );
    proxy.clearFaults();
    expect(isOrasError(err, 'ERR_ORAS_NETWORK'), String(err)).toBe(true);
    // bounded: exactly 3 requests for this blob from this repository
    expect(proxy.matching('GET', new RegExp(`${repo.repository}/blobs/${desc.digest}$`))).toHaveLength(3);
  });
});

describe('transient statuses (real registry behind the fault proxy)', () => {
  it('503 twice then success: retried, exactly 3 requests', async () => {
    const c = client();
    const repo = repoVia(c, 'r503');
    const { desc } = await pushImage(repo);
    const path = new RegExp(`${repo.repository}/manifests/${desc.digest}$`);
    proxy.addFault({
      method: 'GET',
      path,
      times: 2,
      fault: { kind: 'status', status: 503, body: '{"errors":[{"code":"UNAVAILABLE"}]}' },
    });
    const got = await repo.fetchManifest(desc.digest);
    expect(got.descriptor.digest).toBe(desc.digest);
    expect(proxy.matching('GET', path).map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('429 with Retry-After: 1 makes the client wait at least one second (measured at the proxy)', async () => {
    // The backoff alone would wait ≤ 20 ms: only honouring Retry-After explains a ≥ 1 s gap.
    const c = client({ retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 5_000 } });
    const repo = repoVia(c, 'r429');
    const { desc } = await pushImage(repo);
    const path = new RegExp(`${repo.repository}/manifests/${desc.digest}$`);
    proxy.addFault({
      method: 'GET',
      path,
      fault: {
        kind: 'status',
        status: 429,
        headers: { 'retry-after': '1' },
        body: '{"errors":[{"code":"TOOMANYREQUESTS"}]}',
      },
    });
    await repo.fetchManifest(desc.digest);
    const seen = proxy.matching('GET', path);
    expect(seen.map((r) => r.status)).toEqual([429, 200]);
    // timer granularity: Node may fire a timer up to 1 ms early
    expect((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(999);
  });

  it('a reset while waiting for a manifest is retried (GET is idempotent)', async () => {
    const c = client();
    const repo = repoVia(c, 'reset-manifest');
    const { desc } = await pushImage(repo);
    const path = new RegExp(`${repo.repository}/manifests/${desc.digest}$`);
    proxy.addFault({ method: 'GET', path, fault: { kind: 'reset' } });
    expect((await repo.fetchManifest(desc.digest)).descriptor.digest).toBe(desc.digest);
    expect(proxy.matching('GET', path)).toHaveLength(2);
  });
});

describe('chunked upload faults: PATCH is not idempotent, so the client reads the upload status', () => {
  const CHUNK = 256 * 1024;

  async function chunkedPush(
    prefix: string,
    fault: Parameters<FaultProxy['addFault']>[0]['fault'],
    times = 1,
  ): Promise<{ repo: Repository; bytes: Buffer; desc: ReturnType<typeof descOf>; err: unknown }> {
    const c = client();
    const repo = repoVia(c, prefix, { chunkSize: CHUNK });
    const bytes = blob(4 * CHUNK + 1000);
    const desc = descOf(bytes);
    proxy.addFault({
      method: 'PATCH',
      path: new RegExp(`/v2/${repo.repository}/blobs/uploads/`),
      skip: 1,
      times,
      fault,
    });
    const err = await repo.push(desc, bytes).then(
      () => undefined,
      (e: unknown) => e,
    );
    proxy.clearFaults();
    return { repo, bytes, desc, err };
  }

  function uploadRequests(repo: Repository): ReturnType<FaultProxy['matching']> {
    return proxy.requests.filter((r) => r.url.startsWith(`/v2/${repo.repository}/blobs/uploads/`));
  }

  it('500 on the 2nd PATCH (chunk NOT applied): recovers from the upload status; blob intact', async () => {
    const { repo, bytes, desc, err } = await chunkedPush('patch500', {
      kind: 'status',
      status: 500,
      body: '{"errors":[{"code":"UNKNOWN"}]}',
    });
    expect(err).toBeUndefined();
    const seq = uploadRequests(repo).map((r) => `${r.method} ${r.status ?? '-'}`);
    expect(seq.slice(0, 5)).toEqual(['POST 202', 'PATCH 202', 'PATCH 500', 'GET 204', 'PATCH 202']);
    expect((await collect(await repo.fetch(desc))).equals(bytes)).toBe(true);
  });

  it('500 on the 2nd PATCH after the registry applied it: never re-sends the chunk; fails cleanly when the session is lost', async () => {
    // distribution encodes the offset in the Location's _state: once a PATCH was applied but its
    // answer lost, the old Location is stale (BLOB_UPLOAD_INVALID). Re-sending the chunk blindly
    // would corrupt the upload, so the client fails cleanly, cancels, and a retry succeeds.
    const { repo, bytes, desc, err } = await chunkedPush('patch500-applied', {
      kind: 'status-after-forward',
      status: 500,
      body: '{"errors":[{"code":"UNKNOWN"}]}',
    });
    const reqs = uploadRequests(repo);
    const patches = reqs.filter((r) => r.method === 'PATCH').map((r) => r.headers['content-range']);
    expect(new Set(patches).size).toBe(patches.length);
    expect(err).toMatchObject({ code: 'ERR_ORAS_HTTP', status: 500 });
    expect((err as Error).message).toMatch(/interrupted/);
    expect(reqs.filter((r) => r.method === 'DELETE')).toHaveLength(1);
    expect(await repo.exists(desc)).toBe(false);
    await repo.push(desc, bytes);
    expect((await collect(await repo.fetch(desc))).equals(bytes)).toBe(true);
  });

  it('a connection reset on a PATCH is recovered the same way', async () => {
    const { repo, bytes, desc, err } = await chunkedPush('patch-reset', { kind: 'reset' });
    expect(err).toBeUndefined();
    expect((await collect(await repo.fetch(desc))).equals(bytes)).toBe(true);
  });

  it('500 on every PATCH: fails cleanly and boundedly, cancels the session, commits nothing', async () => {
    const { repo, bytes, desc, err } = await chunkedPush(
      'patch500-always',
      { kind: 'status', status: 500, body: '{"errors":[{"code":"UNKNOWN"}]}' },
      100,
    );
    expect(isOrasError(err), String(err)).toBe(true);
    expect((err as { status?: number }).status).toBe(500);
    const reqs = uploadRequests(repo);
    expect(reqs.filter((r) => r.method === 'PATCH').length).toBeLessThanOrEqual(1 + 1 + 3); // first chunk + attempt + 3 recoveries
    expect(reqs.at(-1)?.method).toBe('DELETE');
    expect(await repo.exists(desc)).toBe(false);
    // and a clean retry succeeds
    await repo.push(desc, bytes);
    expect((await collect(await repo.fetch(desc))).equals(bytes)).toBe(true);
  });
});

describe('monolithic upload faults', () => {
  it('a 500 on the streamed PUT fails cleanly (one-shot body is not replayed) and nothing is committed', async () => {
    const c = client();
    const repo = repoVia(c, 'put500');
    const bytes = blob(300_000);
    const desc = descOf(bytes, MediaType.ImageLayer);
    proxy.addFault({
      method: 'PUT',
      path: new RegExp(`/v2/${repo.repository}/blobs/uploads/`),
      fault: { kind: 'status', status: 500, body: '{"errors":[{"code":"UNKNOWN"}]}' },
    });
    const { Readable } = await import('node:stream');
    const err = await repo.push(desc, Readable.from([bytes])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOrasError(err), String(err)).toBe(true);
    expect(await repo.exists(desc)).toBe(false);
    await repo.push(desc, bytes);
    expect((await collect(await repo.fetch(desc))).equals(bytes)).toBe(true);
  });
});

describe('monolithic upload: replayable bodies', () => {
  it('a reset on the PUT of a Buffer body is retried (PUT is idempotent, the body replayable)', async () => {
    const c = client();
    const repo = repoVia(c, 'put-reset');
    const bytes = blob(200_000);
    const desc = descOf(bytes);
    proxy.addFault({
      method: 'PUT',
      path: new RegExp(`/v2/${repo.repository}/blobs/uploads/`),
      fault: { kind: 'reset' },
    });
    await repo.push(desc, bytes);
    expect(
      proxy.requests.filter((r) => r.method === 'PUT' && r.url.startsWith(`/v2/${repo.repository}/blobs/uploads/`)),
    ).toHaveLength(2);
    expect((await collect(await repo.fetch(desc))).equals(bytes)).toBe(true);
  });

  it('a 500 after the registry committed the PUT: the push still succeeds (the blob exists with its digest)', async () => {
    const c = client();
    const repo = repoVia(c, 'put-500-committed');
    const bytes = blob(200_000);
    const desc = descOf(bytes);
    proxy.addFault({
      method: 'PUT',
      path: new RegExp(`/v2/${repo.repository}/blobs/uploads/`),
      fault: { kind: 'status-after-forward', status: 500, body: '{"errors":[{"code":"UNKNOWN"}]}' },
    });
    const err = await repo.push(desc, bytes).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeUndefined();
    expect((await collect(await repo.fetch(desc))).equals(bytes)).toBe(true);
  });
});
