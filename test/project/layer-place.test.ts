/*
 * Placing the files of a directory layer straight from its blob (issue 14: each byte written once,
 * into the project). One scan serves every write of the layer, however many; every file is verified
 * against the lock before its rename; hard links, tampered entries and missing entries.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanTar } from '../../src/artifact/tar-scan.js';
import { isOrasError } from '../../src/errors.js';
import { placeLayerFiles, type LayerSource } from '../../src/project/apply/layer-place.js';
import { stagePathFor } from '../../src/project/apply/layer-stage.js';
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
  stageRel?: string,
): Promise<{ placed: Map<string, MaterializeResult>; failed: Map<string, unknown>; layer: unknown[]; dirs: string[] }> {
  const placed = new Map<string, MaterializeResult>();
  const failed = new Map<string, unknown>();
  const layer: unknown[] = [];
  const dirs: string[] = [];
  await mkdir(dir, { recursive: true });
  const report = {
    placed: (a: WriteAction, r: MaterializeResult) => placed.set(a.path, r),
    failed: (a: WriteAction, e: unknown) => failed.set(a.path, e),
    layerFailed: (e: unknown) => layer.push(e),
    dirChanged: (d: string) => dirs.push(d),
  };
  await placeLayerFiles(dir, src, writes, newMaterializeContext({ durable: false }), report, stageRel);
  return { placed, failed, layer, dirs };
}

/** `src` with `before(n)` run before its n-th file entry (n from 1) is handed to the placer. */
function hooked(src: LayerSource, before: (n: number) => Promise<void>): LayerSource {
  let n = 0;
  return {
    ...src,
    scan: (visitor) =>
      src.scan({
        ...visitor,
        file: async (...args) => {
          n += 1;
          await before(n);
          await visitor.file?.(...args);
        },
      }),
  };
}

/** Names under `dir` (recursively) that are temp names (files or staging directories). */
async function tempsUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.name.includes('.oras-tmp-')) out.push(e.name);
  return out;
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

describe('placeLayerFiles into a new root (staged)', () => {
  const entries = (n: number): Entry[] => [
    { name: 'data', type: 'directory' },
    ...Array.from({ length: n }, (_, i) => ({ name: `data/d${i % 3}/f${i}.txt`, body: `staged ${i}\n` })),
  ];
  const writes = (n: number): WriteAction[] =>
    Array.from({ length: n }, (_, i) => write(`deps/vendor/d${i % 3}/f${i}.txt`, `staged ${i}\n`));

  it('fills a staging directory next to the root and renames it once: the root appears whole', async () => {
    const dir = join(root, 'staged');
    const seen: string[][] = [];
    const src = hooked(source(await tarOf(entries(12)), 'deps/vendor'), async (n) => {
      if (n > 1) seen.push(await readdir(join(dir, 'deps')));
    });
    const r = await place(dir, src, writes(12), stagePathFor(dir, 'deps/vendor'));
    expect([...r.failed.values()].map(String)).toEqual([]);
    // While the layer was being placed, only the staging directory existed (no partial root).
    expect(seen).toHaveLength(11);
    for (const names of seen) expect(names).toEqual([expect.stringMatching(/^\.vendor\.oras-tmp-[0-9a-f]{12}/)]);
    expect(await readdir(join(dir, 'deps'))).toEqual(['vendor']);
    expect(await tempsUnder(dir)).toEqual([]);
    expect(r.dirs).toEqual([join(dir, 'deps')]);
    expect(r.placed.size).toBe(12);
    for (const [path, res] of r.placed) {
      const st = await lstat(join(dir, ...path.split('/')));
      expect(res.ino).toBe(st.ino);
      expect(res.mtimeMs).toBe(st.mtimeMs);
    }
    expect(await readFile(join(dir, 'deps', 'vendor', 'd2', 'f5.txt'), 'utf8')).toBe('staged 5\n');
  });

  it('an existing root is placed file by file, and what is already in it stays', async () => {
    const dir = join(root, 'staged-existing');
    await mkdir(join(dir, 'deps', 'vendor'), { recursive: true });
    await writeFile(join(dir, 'deps', 'vendor', 'mine.txt'), 'mine\n');
    const src = hooked(source(await tarOf(entries(4)), 'deps/vendor'), async (n) => {
      if (n === 3) expect(await readFile(join(dir, 'deps', 'vendor', 'd0', 'f0.txt'), 'utf8')).toBe('staged 0\n');
    });
    const r = await place(dir, src, writes(4), stagePathFor(dir, 'deps/vendor'));
    expect([...r.failed.values()].map(String)).toEqual([]);
    expect(r.placed.size).toBe(4);
    expect(r.dirs).toEqual([]);
    expect(await readFile(join(dir, 'deps', 'vendor', 'mine.txt'), 'utf8')).toBe('mine\n');
    expect(await tempsUnder(dir)).toEqual([]);
  });

  it('a staging directory swapped for a symlink while filling is refused: nothing is written through the link', async () => {
    const dir = join(root, 'staged-swap');
    const outside = join(root, 'staged-swap-outside');
    await mkdir(outside, { recursive: true });
    const stage = stagePathFor(dir, 'deps/vendor');
    const src = hooked(source(await tarOf(entries(6)), 'deps/vendor'), async (n) => {
      if (n !== 3) return;
      await rename(join(dir, ...stage.split('/')), join(root, 'staged-swap-moved'));
      await symlink(outside, join(dir, ...stage.split('/')));
    });
    const r = await place(dir, src, writes(6), stage);
    expect(r.placed.size).toBe(0);
    expect(r.failed.size).toBe(6);
    expect([...r.failed.values()].every((e) => codeOf(e) === 'ERR_ORAS_PATH_TRAVERSAL')).toBe(true);
    expect(await readdir(outside)).toEqual([]);
    expect(await readdir(join(dir, 'deps'))).toEqual([]);
  });

  it.runIf(process.platform === 'linux')(
    'creates follow the staging directory, not its name: moved mid-fill, the rest lands in it (never at the old name), then it is refused and emptied',
    async () => {
      const dir = join(root, 'staged-moved');
      const moved = join(root, 'staged-moved-away');
      const stage = stagePathFor(dir, 'deps/vendor');
      const stageAbs = join(dir, ...stage.split('/'));
      const fdsBefore = (await readdir('/proc/self/fd')).length;
      const txt = async (d: string): Promise<string[]> =>
        (await readdir(d, { recursive: true })).filter((p) => p.endsWith('.txt')).sort();
      let seen: { moved: string[]; atName: string[] } | undefined;
      const src = hooked(source(await tarOf(entries(6)), 'deps/vendor'), async (n) => {
        if (n === 3) {
          // Someone renames the stage away and puts a directory of their own at its name.
          await rename(stageAbs, moved);
          await mkdir(stageAbs);
        }
        if (n === 6) seen = { moved: await txt(moved), atName: await txt(stageAbs) };
      });
      const r = await place(dir, src, writes(6), stage);
      // Files 3-5 were created after the move, through the stage's descriptor: in the moved directory
      // (by name they would have been refused one by one, or gone to the directory at the name).
      expect(seen).toEqual({ moved: ['d0/f0.txt', 'd0/f3.txt', 'd1/f1.txt', 'd1/f4.txt', 'd2/f2.txt'], atName: [] });
      expect(r.placed.size).toBe(0);
      expect(r.failed.size).toBe(6);
      expect([...r.failed.values()].every((e) => codeOf(e) === 'ERR_ORAS_PATH_TRAVERSAL')).toBe(true);
      // Refused: no root; the temp name cleared; what this run wrote into the moved directory removed; no descriptor left open.
      expect(await readdir(join(dir, 'deps'))).toEqual([]);
      expect(await readdir(moved)).toEqual([]);
      expect((await readdir('/proc/self/fd')).length).toBe(fdsBefore);
    },
  );

  it('a root created meanwhile by something else: the stage is removed and its writes fail', async () => {
    const dir = join(root, 'staged-raced');
    const src = hooked(source(await tarOf(entries(4)), 'deps/vendor'), async (n) => {
      if (n === 4) await writeFile(join(dir, 'deps', 'vendor'), 'someone else\n');
    });
    const r = await place(dir, src, writes(4), stagePathFor(dir, 'deps/vendor'));
    expect(r.placed.size).toBe(0);
    expect([...r.failed.values()].map(codeOf)).toEqual(['ERR_ORAS_IO', 'ERR_ORAS_IO', 'ERR_ORAS_IO', 'ERR_ORAS_IO']);
    expect(await readFile(join(dir, 'deps', 'vendor'), 'utf8')).toBe('someone else\n');
    expect(await tempsUnder(dir)).toEqual([]);
  });

  it('tampered entries fail alone and the rest lands; with nothing verified, no root is created', async () => {
    const dir = join(root, 'staged-tampered');
    const ws = writes(5);
    ws[1] = write(ws[1]!.path, 'expected\n');
    const r = await place(dir, source(await tarOf(entries(5)), 'deps/vendor'), ws, stagePathFor(dir, 'deps/vendor'));
    expect([...r.failed.keys()]).toEqual([ws[1]!.path]);
    expect(codeOf(r.failed.get(ws[1]!.path))).toMatch(/^ERR_ORAS_(DIGEST|SIZE)_MISMATCH$/);
    expect(r.placed.size).toBe(4);
    expect(await tempsUnder(dir)).toEqual([]);

    const none = join(root, 'staged-none');
    const bad = writes(3).map((w) => write(w.path, 'other\n'));
    const r2 = await place(
      none,
      source(await tarOf(entries(3)), 'deps/vendor'),
      bad,
      stagePathFor(none, 'deps/vendor'),
    );
    expect(r2.failed.size).toBe(3);
    expect(await readdir(join(none, 'deps'))).toEqual([]);
  });
});
