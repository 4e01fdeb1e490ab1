/*
 * TarReader decodes what tar-stream 3 decodes: the archives here are made by GNU tar in its
 * formats (gnu: long names as 'L'/'K' entries; posix: pax headers; ustar: the prefix field) and by
 * tar-stream, and both readers must report the same entries (name, type, size, mode, linkname,
 * body digest) and fail on the same broken archives.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TarReader } from '../../src/artifact/tar-reader.js';

let root: string;
let src: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-tar-reader-'));
  src = join(root, 'src');
  const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(90)}.txt`;
  await mkdir(join(src, 'data', 'sub', 'empty'), { recursive: true });
  await mkdir(join(src, 'data', long.split('/').slice(0, 2).join('/')), { recursive: true });
  await writeFile(join(src, 'data', 'a.txt'), 'a\n');
  await writeFile(join(src, 'data', 'zero'), '');
  await writeFile(join(src, 'data', 'block'), Buffer.alloc(512, 3));
  await writeFile(join(src, 'data', 'sub', 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 7, 9));
  await writeFile(join(src, 'data', long), 'long name\n');
  await writeFile(join(src, 'data', 'x.sh'), '#!/bin/sh\n', { mode: 0o755 });
  await link(join(src, 'data', 'a.txt'), join(src, 'data', 'hard.txt'));
  await symlink(`sub/${'l'.repeat(120)}`, join(src, 'data', 'longlink'));
  await symlink('a.txt', join(src, 'data', 'sym'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

type Seen = { name: string; type: string; size: number; mode: number; linkname: string | null; sha: string };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Feeds `bytes` in chunks of `chunk` bytes (to cross header and body boundaries). */
function chunked(bytes: Buffer, chunk: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts);
}

async function ours(bytes: Buffer, chunk = 7919): Promise<Seen[]> {
  const r = new TarReader(chunked(bytes, chunk));
  const out: Seen[] = [];
  for (let h = await r.next(); h !== undefined; h = await r.next()) {
    let body: Buffer;
    if (h.size % 2 === 0) body = await r.readBody();
    else {
      const parts: Buffer[] = [];
      for await (const c of r.body()) parts.push(Buffer.from(c));
      body = Buffer.concat(parts);
    }
    out.push({ name: h.name, type: h.type, size: h.size, mode: h.mode, linkname: h.linkname, sha: sha(body) });
  }
  return out;
}

async function theirs(bytes: Buffer): Promise<Seen[]> {
  const ex = tarStream.extract();
  Readable.from([bytes]).pipe(ex);
  const out: Seen[] = [];
  for await (const e of ex) {
    const parts: Buffer[] = [];
    for await (const c of e) parts.push(Buffer.from(c as Uint8Array));
    const h = e.header;
    out.push({
      name: h.name,
      type: h.type ?? 'file',
      size: h.size,
      mode: h.mode,
      linkname: h.linkname,
      sha: sha(Buffer.concat(parts)),
    });
  }
  return out;
}

function gnuTar(format: string): Buffer {
  const file = join(root, `${format}.tar`);
  execFileSync('tar', ['cf', file, `--format=${format}`, '-C', src, 'data']);
  return execFileSync('cat', [file], { maxBuffer: 64 * 1024 * 1024 });
}

describe('TarReader', () => {
  for (const format of ['gnu', 'posix', 'oldgnu']) {
    it(`reads a GNU tar --format=${format} archive as tar-stream does (long names, links, empty and large files)`, async () => {
      const bytes = gnuTar(format);
      const want = await theirs(bytes);
      expect(want.some((e) => e.name.length > 200)).toBe(true);
      expect(want.some((e) => e.type === 'link')).toBe(true);
      for (const chunk of [1, 511, 512, 7919, 1 << 20]) expect(await ours(bytes, chunk)).toEqual(want);
    });
  }

  it('reads a ustar archive (names split into prefix and name) as tar-stream does', async () => {
    const pack = tarStream.pack();
    const name = `${'p'.repeat(90)}/${'q'.repeat(90)}/file.txt`;
    pack.entry({ name, mode: 0o600 }, 'split name\n');
    pack.entry({ name: 'dir/', type: 'directory', mode: 0o755 });
    pack.entry({ name: 'dir/s', type: 'symlink', linkname: '../x' });
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const c of pack) parts.push(Buffer.from(c as Uint8Array));
    const bytes = Buffer.concat(parts);
    const got = await ours(bytes, 100);
    expect(got).toEqual(await theirs(bytes));
    expect(got[0]!.name).toBe(name);
  });

  it('fails like tar-stream on a bad checksum, a truncated body, a partial block and an unknown format', async () => {
    const good = gnuTar('gnu');
    const badSum = Buffer.from(good);
    badSum[0] = badSum[0]! ^ 1;
    const truncated = good.subarray(0, 3 * 512 + 100);
    const partial = Buffer.concat([good, Buffer.alloc(100, 0)]);
    const v7 = Buffer.from(good);
    v7.fill(0, 257, 265); // no magic
    for (const bytes of [badSum, truncated, partial, v7]) {
      const a = await ours(bytes).then(
        () => 'ok',
        (e: Error) => e.message,
      );
      const b = await theirs(bytes).then(
        () => 'ok',
        (e: Error) => e.message,
      );
      expect(a).not.toBe('ok');
      expect(b).not.toBe('ok');
      expect(a).toMatch(/tar|header|end of data|invalid/i);
    }
  });

  it('skips bodies that are not read', async () => {
    const bytes = gnuTar('posix');
    const r = new TarReader(chunked(bytes, 4096));
    const names: string[] = [];
    for (let h = await r.next(); h !== undefined; h = await r.next()) names.push(h.name);
    expect(names).toEqual((await theirs(bytes)).map((e) => e.name));
    expect(await readFile(join(src, 'data', 'a.txt'), 'utf8')).toBe('a\n');
  });
});
