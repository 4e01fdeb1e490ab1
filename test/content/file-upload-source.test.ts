/**
 * FileUploadSource: the same bytes as the file, read as a stream or pulled into two reused buffers;
 * the descriptor closed however reading ends; and, through undici to a server that reads slowly
 * (so the socket keeps pushing back), the pulled chunks arrive intact although their memory is
 * read into again two chunks later.
 */
import { createHash, randomBytes } from 'node:crypto';
import { fstatSync, openSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileUploadSource, canPullChunks } from '../../src/content/file-upload-source.js';

let dir: string;
let file: string;
let data: Buffer;
const CHUNK = 1024 * 1024;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-upload-src-'));
  file = join(dir, 'big.bin');
  data = randomBytes(12 * CHUNK + 12_345);
  writeFileSync(file, data);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const isClosed = (fd: number): boolean => {
  try {
    fstatSync(fd);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EBADF';
  }
};

describe('FileUploadSource', () => {
  it('pulled: the file in order, through two buffers, the descriptor closed at the end', async () => {
    const fd = openSync(file, 'r');
    const src = new FileUploadSource(fd, CHUNK);
    expect(canPullChunks(src)).toBe(true);
    const copies: Buffer[] = [];
    const memory = new Set<ArrayBufferLike>();
    for await (const chunk of src.pullChunks()) {
      memory.add(chunk.buffer);
      copies.push(Buffer.from(chunk)); // a consumer done with the chunk before asking for the next
    }
    expect(Buffer.concat(copies).equals(data)).toBe(true);
    expect(memory.size).toBe(2);
    expect(isClosed(fd)).toBe(true);
  });

  it('streamed: the file in order, and only one way of reading per source', async () => {
    const fd = openSync(file, 'r');
    const src = new FileUploadSource(fd, CHUNK);
    const parts: Buffer[] = [];
    for await (const chunk of src) parts.push(chunk as Buffer);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(isClosed(fd)).toBe(true);
    expect(canPullChunks(src)).toBe(false);
    await expect(src.pullChunks().next()).rejects.toThrow(/nothing has read yet/);
  });

  it('destroyed while pulled: the iteration stops and the descriptor is closed once its read settled', async () => {
    const fd = openSync(file, 'r');
    const src = new FileUploadSource(fd, CHUNK);
    const it = src.pullChunks();
    expect((await it.next()).done).toBe(false);
    const pending = it.next(); // a read in flight
    src.destroy();
    const settled = await pending.then(
      (r) => r,
      (err: unknown) => err,
    );
    // The read that was in flight may still deliver its chunk; the next step stops either way.
    if (!(settled instanceof Error)) await expect(it.next()).rejects.toThrow(/closed/);
    expect(isClosed(fd)).toBe(true);
  });

  it('through undici to a server that reads slowly: every byte arrives as it is in the file', async () => {
    let received: Promise<{ sha: string; bytes: number }> | undefined;
    const server: Server = createServer((req, res) => {
      received = new Promise((resolve) => {
        const h = createHash('sha256');
        let bytes = 0;
        let n = 0;
        req.on('data', (c: Buffer) => {
          h.update(c);
          bytes += c.length;
          // Pause now and then so the client's socket fills and undici waits for `drain`.
          if (++n % 4 === 0) {
            req.pause();
            setTimeout(() => req.resume(), 2);
          }
        });
        req.on('end', () => {
          resolve({ sha: h.digest('hex'), bytes });
          res.end('ok');
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const agent = new Agent();
    try {
      const { port } = server.address() as AddressInfo;
      const src = new FileUploadSource(openSync(file, 'r'), CHUNK);
      const res = await request(`http://127.0.0.1:${port}/upload`, {
        method: 'PUT',
        headers: { 'content-length': String(data.length) },
        body: src.pullChunks() as unknown as Buffer, // undici takes async iterables (its request typings omit them)
        dispatcher: agent,
      });
      expect(await res.body.text()).toBe('ok');
      expect(await received).toEqual({ sha: createHash('sha256').update(data).digest('hex'), bytes: data.length });
    } finally {
      await agent.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
