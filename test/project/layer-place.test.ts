/*
 * Placing the files of a directory layer straight from its blob (issue 14: each byte written once,
 * into the project). One scan serves every write of the layer, however many; every file is verified
 * against the lock before its rename; hard links, tampered entries and missing entries.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanTar } from '../../src/artifact/tar-scan.js';
import { isOrasError } from '../../src/errors.js';
import { placeLayerFiles, type LayerSource } from '../../src/project/apply/layer-place.js';
import { newMaterializeContext, type MaterializeResult } from '../../src/project/apply/materialize.js';
import type { LockedFile, PlanAction } from '../../src/project/types.js';

type Entry = { name: string; body?: Buffer | string; type?: 'file' | 'directory' | 'link'; linkname?: string };
type WriteAction = Extract<PlanAction, { kind: 'add' | 'change' }>;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-layer-place-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file') pack.entry({ name: e.name, mode: 0o644 }, e.body ?? '');
    else pack.entry({ name: e.name, type, mode: 0o755, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A layer source over an in-memory tar that counts its scans. */
function source(tar: Buffer, rootDir = 'vendor'): LayerSource & { scans: number } {
  const s = {
    key: 'layer',
    root: rootDir,
    scans: 0,
    scan: async (visitor: Parameters<LayerSource['scan']>[0]) => {
      s.scans += 1;
      await scanTar(Readable.from([tar]), { compression: 'none', stripPrefix: 'data' }, visitor);
    },
  };
  return s;
}

function write(path: string, body: Buffer | string, over: Partial<LockedFile> = {}): WriteAction {
  const b = Buffer.from(body);
  return {
    kind: 'add',
    path,
    dependency: 'd',
    file: { path, digest: sha(b), size: b.length, layer: 'sha256:' + '0'.repeat(64), ...over },
  };
}

async function place(
  dir: string,
  src: LayerSource,
  writes: WriteAction[],
): Promise<{ placed: Map<string, MaterializeResult>; failed: Map<string, unknown>; layer: unknown[] }> {
  const placed = new Map<string, MaterializeResult>();
  const failed = new Map<string, unknown>();
  const layer: unknown[] = [];
  await mkdir(dir, { recursive: true });
  await placeLayerFiles(dir, src, writes, newMaterializeContext({ durable: false }), {
    placed: (a, r) => placed.set(a.path, r),
    failed: (a, e) => failed.set(a.path, e),
    layerFailed: (e) => layer.push(e),
  });
  return { placed, failed, layer };
}

const codeOf = (e: unknown): string | undefined => (isOrasError(e) ? e.code : undefined);

describe('placeLayerFiles', () => {
  it('places N and 4N files of one layer with one scan each', async () => {
    for (const n of [50, 200]) {
      const entries: Entry[] = [{ name: 'data', type: 'directory' }];
      const writes: WriteAction[] = [];
      for (let i = 0; i < n; i++) {
        const body = `file ${i} of ${n}\n`;
        entries.push({ name: `data/d${i % 7}/f${i}.txt`, body });
        writes.push(write(`vendor/d${i % 7}/f${i}.txt`, body));
      }
      const src = source(await tarOf(entries));
      const dir = join(root, `scale-${n}`);
      const r = await place(dir, src, writes);
      expect([...r.failed.values()].slice(0, 1).map(String)).toEqual([]);
      expect(r.placed.size).toBe(n);
      expect(src.scans).toBe(1);
      expect(await readFile(join(dir, 'vendor', 'd3', 'f3.txt'), 'utf8')).toBe(`file 3 of ${n}\n`);
    }
  });

  it('places only the wanted files, with the locked mode; a large entry streams, verified', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    const src = source(
      await tarOf([
        { name: 'data/a.txt', body: 'a\n' },
        { name: 'data/skip.txt', body: 'not wanted\n' },
        { name: 'data/big.bin', body: big },
      ]),
    );
    const dir = join(root, 'wanted');
    const r = await place(dir, src, [write('vendor/a.txt', 'a\n', { mode: 0o755 }), write('vendor/big.bin', big)]);
    expect([...r.failed.keys()]).toEqual([]);
    expect((await readdir(join(dir, 'vendor'))).sort()).toEqual(['a.txt', 'big.bin']);
    expect((await lstat(join(dir, 'vendor', 'a.txt'))).mode & 0o111).not.toBe(0);
    expect((await readFile(join(dir, 'vendor', 'big.bin'))).equals(big)).toBe(true);
  });

  it('a hard link whose target is not wanted is placed by a second scan', async () => {
    const src = source(
      await tarOf([
        { name: 'data/orig.txt', body: 'shared\n' },
        { name: 'data/link.txt', type: 'link', linkname: 'data/orig.txt' },
        { name: 'data/link2.txt', type: 'link', linkname: 'data/link.txt' },
      ]),
    );
    const dir = join(root, 'links');
    const r = await place(dir, src, [write('vendor/link.txt', 'shared\n'), write('vendor/link2.txt', 'shared\n')]);
    expect([...r.failed.keys()]).toEqual([]);
    expect(src.scans).toBe(2);
    expect(await readFile(join(dir, 'vendor', 'link.txt'), 'utf8')).toBe('shared\n');
    expect(await readFile(join(dir, 'vendor', 'link2.txt'), 'utf8')).toBe('shared\n');
    expect((await readdir(join(dir, 'vendor'))).sort()).toEqual(['link.txt', 'link2.txt']);
  });

  it('two wanted hard links to a large file: the second is copied from the first, verified', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024 + 3, 5);
    const src = source(
      await tarOf([
        { name: 'data/orig.bin', body: big },
        { name: 'data/l1.bin', type: 'link', linkname: 'data/orig.bin' },
        { name: 'data/l2.bin', type: 'link', linkname: 'data/orig.bin' },
      ]),
    );
    const dir = join(root, 'big-links');
    const r = await place(dir, src, [write('vendor/l1.bin', big), write('vendor/l2.bin', big)]);
    expect([...r.failed.keys()]).toEqual([]);
    expect(src.scans).toBe(2);
    for (const f of ['l1.bin', 'l2.bin']) expect((await readFile(join(dir, 'vendor', f))).equals(big)).toBe(true);
    expect((await readdir(join(dir, 'vendor'))).sort()).toEqual(['l1.bin', 'l2.bin']);
  });

  it('an entry that does not match the lock is refused (no file, no temp); the others land', async () => {
    const src = source(
      await tarOf([
        { name: 'data/good.txt', body: 'good\n' },
        { name: 'data/bad.txt', body: 'tampered\n' },
        { name: 'data/big.bin', body: Buffer.alloc(2 * 1024 * 1024, 1) },
      ]),
    );
    const dir = join(root, 'tampered');
    const r = await place(dir, src, [
      write('vendor/good.txt', 'good\n'),
      write('vendor/bad.txt', 'expected\n'),
      write('vendor/big.bin', Buffer.alloc(2 * 1024 * 1024, 2)),
      write('vendor/missing.txt', 'x\n'),
    ]);
    expect([...r.placed.keys()]).toEqual(['vendor/good.txt']);
    expect(codeOf(r.failed.get('vendor/bad.txt'))).toMatch(/^ERR_ORAS_(DIGEST|SIZE)_MISMATCH$/);
    expect(codeOf(r.failed.get('vendor/big.bin'))).toBe('ERR_ORAS_DIGEST_MISMATCH');
    expect(codeOf(r.failed.get('vendor/missing.txt'))).toBe('ERR_ORAS_LOCKFILE');
    expect(await readdir(join(dir, 'vendor'))).toEqual(['good.txt']);
  });

  it('a malformed archive fails every write it did not settle', async () => {
    const tar = await tarOf([
      { name: 'data/a.txt', body: 'a\n' },
      { name: 'data/../../escape.txt', body: 'x' },
    ]);
    const src = source(tar);
    const dir = join(root, 'malformed');
    const r = await place(dir, src, [write('vendor/a.txt', 'a\n'), write('vendor/z.txt', 'z\n')]);
    expect(r.placed.has('vendor/a.txt')).toBe(true);
    expect(codeOf(r.failed.get('vendor/z.txt'))).toBe('ERR_ORAS_PATH_TRAVERSAL');
  });

  it('a write outside the layer root is refused without a scan', async () => {
    const src = source(await tarOf([{ name: 'data/a.txt', body: 'a\n' }]));
    const r = await place(join(root, 'outside'), src, [write('elsewhere/a.txt', 'a\n')]);
    expect(codeOf(r.failed.get('elsewhere/a.txt'))).toBe('ERR_ORAS_LOCKFILE');
  });
});
