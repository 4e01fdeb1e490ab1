/**
 * PieceWriter: a text written piece by piece through one reused buffer must land in the file exactly
 * as the joined text would, at the writer's own offsets, with every byte shown to the listener once.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PieceWriter } from '../../src/content/piece-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-piece-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `pieces` through a PieceWriter into a new file; returns the file's bytes and the listener's SHA-256. */
function write(name: string, pieces: string[], start = 0): { bytes: Buffer; sha: string } {
  const file = join(dir, name);
  const fd = openSync(file, 'w');
  const hash = createHash('sha256');
  try {
    if (start > 0) writeSync(fd, Buffer.alloc(start, 0x2e));
    const writer = new PieceWriter(fd, start, (b) => hash.update(b));
    for (const p of pieces) writer.push(p);
    writer.flush();
  } finally {
    closeSync(fd);
  }
  return { bytes: readFileSync(file), sha: hash.digest('hex') };
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('PieceWriter', () => {
  it('writes the joined text over many flushes, and the listener sees exactly those bytes', () => {
    const pieces = Array.from({ length: 20_000 }, (_, i) => `line ${i}: ${'é€𝄞'.repeat(i % 7)}\n`);
    const text = pieces.join('');
    const { bytes, sha: seen } = write('many', pieces);
    expect(bytes.toString('utf8')).toBe(text);
    expect(seen).toBe(sha(text));
  });

  it('encodes a piece too long for its buffer on its own', () => {
    const long = `${'€'.repeat(100_000)}|`;
    const { bytes, sha: seen } = write('long', ['a', long, 'b']);
    expect(bytes.toString('utf8')).toBe(`a${long}b`);
    expect(seen).toBe(sha(`a${long}b`));
  });

  it('writes from its start offset, leaving what lies before it', () => {
    const { bytes } = write('start', ['hello', ' world'], 7);
    expect(bytes.toString('latin1')).toBe('.......hello world');
  });

  it('restart cuts the file back to the start and writes the new text, with the new listener only', () => {
    const file = join(dir, 'restart');
    const fd = openSync(file, 'w');
    const second = createHash('sha256');
    let firstBytes = 0;
    try {
      writeSync(fd, Buffer.from('HEAD'));
      const writer = new PieceWriter(fd, 4, (b) => (firstBytes += b.length));
      for (let i = 0; i < 10_000; i++) writer.push(`discarded ${i}\n`); // flushed several times
      expect(firstBytes).toBeGreaterThan(64 * 1024);
      writer.restart((b) => second.update(b));
      writer.push('short');
      writer.flush();
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(file, 'utf8')).toBe('HEADshort');
    expect(second.digest('hex')).toBe(sha('short'));
  });
});
