/**
 * Blob download faults from test-owned servers: corruption, truncation,
 * trailing bytes, wrong lengths, contradicting digests, and Range resume after
 * a connection reset (206 and 200 replies). Every case runs four ways: through
 * undici or the client's own HTTP/1.1 reader (`direct-get.ts`), read as a
 * stream or pumped into a synchronous sink (`BlobStream.pumpTo`, what a file
 * write uses).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryClient } from '../../src/registry/client.js';
import { Repository } from '../../src/registry/repository.js';
import { blob, collect, descOf, faultServer, type FaultServer } from './helpers.js';

const clients = {
  undici: new RegistryClient({ retry: { maxAttempts: 1 }, directDownloadBytes: Infinity }),
  own: new RegistryClient({ retry: { maxAttempts: 1 }, directDownloadBytes: 0 }),
};
const servers: FaultServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  await clients.undici.close();
  await clients.own.close();
});

/** Consumes a fetched blob through its synchronous-sink capability, copying each chunk (the view is only valid during the call). */
async function pumped(stream: Readable): Promise<Buffer> {
  const source = stream as Readable & { canPump: boolean; pumpTo(sink: (c: Buffer) => void): Promise<void> };
  expect(source.canPump).toBe(true);
  const chunks: Buffer[] = [];
  await source.pumpTo((c) => chunks.push(Buffer.from(c)));
  expect(source.canPump).toBe(false);
  return Buffer.concat(chunks);
}

const MODES = [
  { name: 'undici, read as a stream', client: clients.undici, consume: collect },
  { name: 'own reader, read as a stream', client: clients.own, consume: collect },
  { name: 'undici, pumped into a sink', client: clients.undici, consume: pumped },
  { name: 'own reader, pumped into a sink', client: clients.own, consume: pumped },
];
let client: RegistryClient = clients.undici;
let consume: (stream: Readable) => Promise<Buffer> = collect;

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;
async function serve(handler: Handler): Promise<{ repo: Repository; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const s = await faultServer((req, res) => {
    requests.push(req);
    handler(req, res, requests.length);
  });
  servers.push(s);
  return { repo: new Repository({ reference: `${s.host}/faults/blob`, client }), requests };
}

const data = blob(256 * 1024);
const desc = descOf(data);

/** Writes `body` then kills the connection (Content-Length promised more). */
function cut(res: ServerResponse, status: number, headers: Record<string, string | number>, body: Buffer): void {
  res.writeHead(status, headers);
  res.write(body, () => res.socket?.destroy());
}

describe.each(MODES)('$name', (mode) => {
  beforeAll(() => {
    client = mode.client;
    consume = mode.consume;
  });

  describe('blob fetch verification', () => {
    it('fails with DIGEST_MISMATCH on a corrupted byte (stream errors, never ends normally)', async () => {
      const bad = Buffer.from(data);
      bad[1000] = (bad[1000] ?? 0) ^ 0xff;
      const { repo } = await serve((_req, res) => {
        res.writeHead(200, { 'Content-Length': bad.length });
        res.end(bad);
      });
      const stream = await repo.fetch(desc);
      await expect(consume(stream)).rejects.toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    });

    it('fails with SIZE_MISMATCH when the body ends early without a Content-Length', async () => {
      const { repo } = await serve((_req, res) => {
        res.writeHead(200, {});
        res.end(data.subarray(0, 1000));
      });
      await expect(consume(await repo.fetch(desc))).rejects.toMatchObject({ code: 'ERR_ORAS_SIZE_MISMATCH' });
    });

    it('fails with SIZE_MISMATCH on trailing bytes (no Content-Length)', async () => {
      const { repo } = await serve((_req, res) => {
        res.writeHead(200, {});
        res.end(Buffer.concat([data, Buffer.from('extra')]));
      });
      await expect(consume(await repo.fetch(desc))).rejects.toMatchObject({ code: 'ERR_ORAS_SIZE_MISMATCH' });
    });

    it('rejects before streaming when Content-Length differs from the descriptor size', async () => {
      for (const delta of [-1, 1]) {
        const { repo } = await serve((_req, res) => {
          res.writeHead(200, { 'Content-Length': data.length + delta });
          res.end(data.subarray(0, data.length + delta));
        });
        await expect(repo.fetch(desc)).rejects.toMatchObject({ code: 'ERR_ORAS_SIZE_MISMATCH' });
      }
    });

    it('rejects a contradicting Docker-Content-Digest header', async () => {
      const { repo } = await serve((_req, res) => {
        res.writeHead(200, { 'Content-Length': data.length, 'Docker-Content-Digest': `sha256:${'0'.repeat(64)}` });
        res.end(data);
      });
      await expect(repo.fetch(desc)).rejects.toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    });

    it('accepts a matching Docker-Content-Digest header', async () => {
      const { repo } = await serve((_req, res) => {
        res.writeHead(200, { 'Content-Length': data.length, 'Docker-Content-Digest': desc.digest });
        res.end(data);
      });
      expect((await consume(await repo.fetch(desc))).equals(data)).toBe(true);
    });

    it('maps 404 to NOT_FOUND', async () => {
      const { repo } = await serve((_req, res) => {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] }));
      });
      await expect(repo.fetch(desc)).rejects.toMatchObject({ code: 'ERR_ORAS_NOT_FOUND' });
      expect(await repo.exists(desc)).toBe(false);
    });
  });

  describe('blob fetch Range resume after a connection reset', () => {
    it('resumes with Range and a 206 reply, twice, producing identical bytes', async () => {
      const { repo, requests } = await serve((req, res, n) => {
        const m = /^bytes=([0-9]+)-$/.exec(req.headers.range ?? '');
        const start = m ? Number(m[1]) : 0;
        const rest = data.subarray(start);
        const status = m ? 206 : 200;
        const headers: Record<string, string | number> = {
          'Content-Length': rest.length,
          'Docker-Content-Digest': desc.digest,
        };
        if (m) headers['Content-Range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
        if (n <= 2) cut(res, status, headers, rest.subarray(0, 50_000));
        else {
          res.writeHead(status, headers);
          res.end(rest);
        }
      });
      const got = await consume(await repo.fetch(desc));
      expect(got.equals(data)).toBe(true);
      expect(requests).toHaveLength(3);
      expect(requests[0]?.headers.range).toBeUndefined();
      expect(requests[1]?.headers.range).toMatch(/^bytes=[0-9]+-$/);
      expect(requests[2]?.headers.range).toMatch(/^bytes=[0-9]+-$/);
    });

    it('resumes when the server ignores Range and replies 200 (skips the received prefix)', async () => {
      const { repo, requests } = await serve((_req, res, n) => {
        if (n === 1) cut(res, 200, { 'Content-Length': data.length }, data.subarray(0, 100_000));
        else {
          res.writeHead(200, { 'Content-Length': data.length });
          res.end(data);
        }
      });
      const got = await consume(await repo.fetch(desc));
      expect(got.equals(data)).toBe(true);
      expect(requests).toHaveLength(2);
      expect(requests[1]?.headers.range).toMatch(/^bytes=[0-9]+-$/);
    });

    it('gives up with ERR_ORAS_NETWORK after bounded attempts when every response is truncated', async () => {
      const { repo, requests } = await serve((req, res) => {
        const m = /^bytes=([0-9]+)-$/.exec(req.headers.range ?? '');
        const start = m ? Number(m[1]) : 0;
        cut(
          res,
          m ? 206 : 200,
          {
            'Content-Length': data.length - start,
            ...(m ? { 'Content-Range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
          },
          Buffer.alloc(0),
        );
      });
      await expect(consume(await repo.fetch(desc))).rejects.toMatchObject({ code: 'ERR_ORAS_NETWORK' });
      expect(requests).toHaveLength(5);
    });

    it('refuses a 206 whose Content-Range does not start at the resume offset', async () => {
      const { repo } = await serve((req, res, n) => {
        if (n === 1) cut(res, 200, { 'Content-Length': data.length }, data.subarray(0, 10_000));
        else {
          res.writeHead(206, {
            'Content-Length': data.length,
            'Content-Range': `bytes 0-${data.length - 1}/${data.length}`,
          });
          res.end(data);
        }
      });
      await expect(consume(await repo.fetch(desc))).rejects.toMatchObject({ code: 'ERR_ORAS_HTTP' });
    });

    it('detects corruption in a resumed part', async () => {
      const bad = Buffer.from(data);
      bad[data.length - 1] = (bad[data.length - 1] ?? 0) ^ 1;
      const { repo } = await serve((req, res, n) => {
        if (n === 1) cut(res, 200, { 'Content-Length': data.length }, data.subarray(0, 30_000));
        else {
          res.writeHead(200, { 'Content-Length': bad.length });
          res.end(bad);
        }
      });
      await expect(consume(await repo.fetch(desc))).rejects.toMatchObject({ code: 'ERR_ORAS_DIGEST_MISMATCH' });
    });
    it('follows a redirect to another origin (storage) and resumes through it', async () => {
      const storage = await serve((req, res, n) => {
        const m = /^bytes=([0-9]+)-$/.exec(req.headers.range ?? '');
        const start = m ? Number(m[1]) : 0;
        const rest = data.subarray(start);
        const headers: Record<string, string | number> = {
          'Content-Length': rest.length,
          ...(m ? { 'Content-Range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
        };
        if (n === 1) cut(res, 200, headers, rest.subarray(0, 70_000));
        else {
          res.writeHead(m ? 206 : 200, headers);
          res.end(rest);
        }
      });
      const storageHost = storage.repo.registry;
      const { repo, requests } = await serve((req, res) => {
        res.writeHead(307, { Location: `http://${storageHost}/bucket/object?sig=abc` });
        res.end();
      });
      expect((await consume(await repo.fetch(desc))).equals(data)).toBe(true);
      expect(requests).toHaveLength(2);
      expect(storage.requests).toHaveLength(2);
      expect(storage.requests[1]?.headers.range).toMatch(/^bytes=[0-9]+-$/);
      expect(storage.requests[1]?.url).toBe('/bucket/object?sig=abc');
    });
  });
});
