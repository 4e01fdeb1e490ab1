/*
 * teeTo: one stream read by two consumers (a download written to the cache while its layer is
 * scanned). Both must see every byte at the pace of the slower, the main one must survive a
 * branch that gives up, and a branch must never see the end of a stream that failed.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { teeTo } from '../../src/content/tee-stream.js';
import { isOrasError } from '../../src/errors.js';

const CHUNK = 64 * 1024;

function chunksOf(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; at += CHUNK) out.push(buf.subarray(at, at + CHUNK));
  return out;
}

/** A sink that keeps what it gets, taking `delayMs` per chunk; reports the most it ever held unread. */
function slowSink(delayMs: number): { sink: Writable; got: Buffer[]; maxBuffered: () => number } {
  const got: Buffer[] = [];
  let max = 0;
  const sink = new Writable({
    highWaterMark: CHUNK,
    write(chunk: Buffer, _enc, cb) {
      max = Math.max(max, sink.writableLength);
      got.push(chunk);
      setTimeout(cb, delayMs);
    },
  });
  return { sink, got, maxBuffered: () => max };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('teeTo', () => {
  it('hands every byte to both consumers, at the pace of the slower branch, holding at most its buffer and a chunk', async () => {
    const data = randomBytes(40 * CHUNK + 123);
    const branch = slowSink(1);
    const out = teeTo(Readable.from(chunksOf(data)), branch.sink);
    const main = await readAll(out);
    await finished(branch.sink); // rejects on a premature close: the branch must see the end
    expect(main.equals(data)).toBe(true);
    expect(Buffer.concat(branch.got).equals(data)).toBe(true);
    expect(branch.maxBuffered()).toBeLessThanOrEqual(2 * CHUNK);
  });

  it('goes on alone when the branch fails early: the main consumer still gets every byte', async () => {
    const data = randomBytes(20 * CHUNK);
    const branch = new PassThrough({ highWaterMark: CHUNK });
    let seen = 0;
    branch.on('data', (c: Buffer) => {
      seen += c.length;
      if (seen >= 3 * CHUNK) branch.destroy(new Error('scan refused the archive'));
    });
    const branchError = new Promise<Error>((resolve) => branch.on('error', resolve));
    const main = await readAll(teeTo(Readable.from(chunksOf(data)), branch));
    expect(main.equals(data)).toBe(true);
    expect((await branchError).message).toBe('scan refused the archive');
  });

  it('a failing source fails the main stream and destroys the branch with the same error, never ending it', async () => {
    const failure = new Error('connection reset');
    const source = new Readable({ read() {} });
    const branch = new PassThrough();
    let ended = false;
    branch.on('end', () => (ended = true));
    branch.resume();
    const branchError = new Promise<Error>((resolve) => branch.on('error', resolve));
    const out = teeTo(source, branch);
    source.push(randomBytes(CHUNK));
    setImmediate(() => source.destroy(failure));
    await expect(readAll(out)).rejects.toBe(failure);
    expect(await branchError).toBe(failure);
    expect(ended).toBe(false);
  });

  it('a consumer that gives up releases the source and aborts the branch', async () => {
    const source = new Readable({ read() {} });
    source.push(randomBytes(CHUNK));
    const branch = new PassThrough();
    branch.resume();
    const branchError = new Promise<unknown>((resolve) => branch.on('error', resolve));
    const out = teeTo(source, branch);
    const sink = new Writable({
      write(_c, _e, cb) {
        cb(new Error('digest mismatch'));
      },
    });
    await expect(pipeline(out, sink)).rejects.toThrow('digest mismatch');
    expect(source.destroyed).toBe(true);
    const err = await branchError;
    expect(err instanceof Error && (err.message === 'digest mismatch' || isOrasError(err, 'ERR_ORAS_ABORTED'))).toBe(
      true,
    );
  });
});
