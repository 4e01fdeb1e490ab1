/**
 * The client's own HTTP/1.1 reader (`direct-get.ts`) against raw TCP servers
 * that write whatever bytes a test wants: interim responses, odd chunking,
 * malformed or oversized heads, stalls, and an abort while writing a file.
 * Every server and wait is bounded; all on 127.0.0.1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamToFileAtomic } from '../../src/content/fs-atomic.js';
import { RegistryClient } from '../../src/registry/client.js';
import { requestHead } from '../../src/registry/direct-get.js';
import { Repository } from '../../src/registry/repository.js';
import { blob, collect, descOf } from './helpers.js';

const client = new RegistryClient({
  retry: { maxAttempts: 1 },
  directDownloadBytes: 0,
  timeouts: { idle: 300 },
});
const servers: Server[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await client.close();
  for (const s of servers) await new Promise((r) => s.close(r));
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A TCP server on 127.0.0.1 that calls `onRequest` once per request head read; resolves a repository on it. */
async function rawServer(onRequest: (socket: Socket, head: string, n: number) => void): Promise<Repository> {
  let n = 0;
  const server = createServer((socket) => {
    let buf = '';
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      n++;
      if (head.startsWith('GET /v2/ ')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      else onRequest(socket, head, n);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return new Repository({ reference: `127.0.0.1:${port}/direct/blob`, client });
}

const data = blob(1536 * 1024 + 3);
const desc = descOf(data);

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'oras-direct-get-'));
  dirs.push(d);
  return d;
}

describe('direct-get: framing', () => {
  it('skips interim 1xx responses and reads the final one', async () => {
    const repo = await rawServer((s) => {
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n');
      s.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`), data]));
    });
    expect((await collect(await repo.fetch(desc))).equals(data)).toBe(true);
  });

  it('decodes a chunked body cut into odd pieces, into a file and as a stream', async () => {
    const repo = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      let off = 0;
      let size = 1;
      const wire: Buffer[] = [];
      while (off < data.length) {
        const piece = data.subarray(off, off + size);
        wire.push(Buffer.from(`${piece.length.toString(16)};x=y\r\n`), piece, Buffer.from('\r\n'));
        off += piece.length;
        size = (size * 7 + 13) % 300_000;
      }
      wire.push(Buffer.from('0\r\nX-T: 1\r\n\r\n'));
      const all = Buffer.concat(wire);
      // Written in uneven slices, so chunk lines and data straddle reads.
      for (let i = 0; i < all.length; i += 65_521) s.write(all.subarray(i, i + 65_521));
      s.end();
    });
    const dir = await tempDir();
    await streamToFileAtomic(join(dir, 'f'), await repo.fetch(desc), { expected: desc });
    expect((await readFile(join(dir, 'f'))).equals(data)).toBe(true);
    expect((await collect(await repo.fetch(desc))).equals(data)).toBe(true);
  });

  it.each([
    ['a head over 64 KiB', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`],
    [
      'Transfer-Encoding next to Content-Length',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n',
    ],
    ['a folded header line', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n  folded\r\n\r\n'],
    ['101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'],
  ])('refuses %s with a network error, never a body', async (_what, head) => {
    const repo = await rawServer((s) => s.end(head));
    await expect(repo.fetch(desc)).rejects.toMatchObject({ code: 'ERR_ORAS_NETWORK' });
  });

  it('refuses request header names or values that would split the request', () => {
    const url = new URL('http://127.0.0.1:1/v2/x/blobs/y');
    expect(() => requestHead(url, { 'X-A': 'b\r\nInjected: 1' })).toThrow();
    expect(() => requestHead(url, { 'X A': 'b' })).toThrow();
    expect(requestHead(url, { Range: 'bytes=5-' })).toBe(
      'GET /v2/x/blobs/y HTTP/1.1\r\nhost: 127.0.0.1:1\r\nRange: bytes=5-\r\nconnection: close\r\n\r\n',
    );
  });
});

describe('direct-get: failures while writing a file', () => {
  it('a body that stalls past the idle timeout is resumed with Range, and the file is exact', async () => {
    const ranges: number[] = [];
    const repo = await rawServer((s, head) => {
      const m = /\r\nRange: bytes=([0-9]+)-/i.exec(head);
      const start = m ? Number(m[1]) : 0;
      const rest = data.subarray(start);
      const status = m ? '206 Partial Content' : '200 OK';
      const range = m ? `Content-Range: bytes ${start}-${data.length - 1}/${data.length}\r\n` : '';
      s.write(`HTTP/1.1 ${status}\r\nContent-Length: ${rest.length}\r\n${range}\r\n`);
      ranges.push(m ? start : -1);
      if (ranges.length === 1)
        s.write(rest.subarray(0, 600_000)); // the first blob request: then silence
      else s.end(rest);
    });
    const dir = await tempDir();
    await streamToFileAtomic(join(dir, 'f'), await repo.fetch(desc), { expected: desc });
    expect((await readFile(join(dir, 'f'))).equals(data)).toBe(true);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBe(-1);
    expect(ranges[1]).toBe(600_000); // resumed exactly where the bytes stopped
  });

  it('an abort mid-body rejects with ERR_ORAS_ABORTED, keeps the old file and leaves no temp file', async () => {
    const repo = await rawServer((s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
      s.write(data.subarray(0, 700_000)); // then nothing: the abort comes first
    });
    const dir = await tempDir();
    await writeFile(join(dir, 'f'), 'old');
    const ac = new AbortController();
    let progressed = 0;
    const fetched = await repo.fetch(desc, { signal: ac.signal });
    const writing = streamToFileAtomic(join(dir, 'f'), fetched, {
      expected: desc,
      signal: ac.signal,
      onProgress: (bytes) => {
        progressed = bytes;
        if (bytes >= 500_000) ac.abort();
      },
    });
    await expect(writing).rejects.toMatchObject({ code: 'ERR_ORAS_ABORTED' });
    expect(progressed).toBeGreaterThanOrEqual(500_000);
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['f']);
  });

  it('a corrupt byte fails the write with DIGEST_MISMATCH, keeps the old file and leaves no temp file', async () => {
    const bad = Buffer.from(data);
    bad[data.length - 10] = (bad[data.length - 10] ?? 0) ^ 1;
    const repo = await rawServer((s) => {
      s.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${bad.length}\r\n\r\n`), bad]));
    });
    const dir = await tempDir();
    await writeFile(join(dir, 'f'), 'old');
    await expect(streamToFileAtomic(join(dir, 'f'), await repo.fetch(desc), { expected: desc })).rejects.toMatchObject({
      code: 'ERR_ORAS_DIGEST_MISMATCH',
    });
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['f']);
  });
});
