/*
 * A layer listed by an install is placed from the record of that listing's scan, not read twice
 * (issue 14: cold installs of many small files). The replay must be the scan itself (same entries,
 * order, modes, bytes), used once, only after the whole scan passed, within its budget, and never
 * a way around the lock: a replayed file is placed only when the lock's digest is the one computed
 * from its bytes.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TarBody } from '../../src/artifact/tar-scan.js';
import { isOrasError } from '../../src/errors.js';
import { ProjectCache } from '../../src/project/apply/cache/project-cache.js';
import { HashedBody } from '../../src/project/apply/cache/scan-replay.js';
import { placeLayerFiles, type LayerSource } from '../../src/project/apply/layer-place.js';
import { newMaterializeContext } from '../../src/project/apply/materialize.js';
import type { PlanAction } from '../../src/project/types.js';
import { craftTarGz, type CraftEntry } from '../artifact/helpers.js';

type WriteAction = Extract<PlanAction, { kind: 'add' | 'change' }>;

let root: string;
let seq = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-scan-replay-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const LAYER_ENTRIES: CraftEntry[] = [
  { name: 'pkg', type: 'directory' },
  { name: 'pkg/a.txt', content: 'alpha\n' },
  { name: 'pkg/bin/run', content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  { name: 'pkg/deep/er/c.txt', content: 'c'.repeat(3000) },
  { name: 'pkg/link-to-a', type: 'symlink', linkname: 'a.txt' },
  { name: 'pkg/hard-a', type: 'link', linkname: 'pkg/a.txt' },
];

/** A fresh cache (own directory) holding the layer blob; `replayBytes` as given. */
async function cacheWith(tgz: Buffer, replayBytes?: number) {
  const dir = join(root, `cache-${++seq}`);
  const cache = await ProjectCache.open(dir, replayBytes !== undefined ? { replayBytes } : {});
  const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(tgz), size: tgz.length };
  await cache.add(desc, tgz);
  return { cache, desc, dir };
}

type Seen = { kind: string; rel: string; extra: unknown; hashed?: boolean };

async function bodyText(body: TarBody): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return Buffer.concat(parts).toString('utf8');
}

/** What a scan of the cached layer reports, entry by entry (file bodies read, HashedBody noted). */
async function scanOf(
  cache: ProjectCache,
  desc: { digest: string; size: number; mediaType: string },
  options: { stripPrefix?: string; expectedUncompressedDigest?: string; signal?: AbortSignal } = { stripPrefix: 'pkg' },
): Promise<Seen[]> {
  const seen: Seen[] = [];
  await cache.scanLayer(desc, options, {
    file: async (rel, mode, size, body) => {
      const hashed = body instanceof HashedBody;
      if (hashed) expect(body.digest).toBe(sha(body.bytes));
      seen.push({ kind: 'file', rel, extra: [mode, size, await bodyText(body)], hashed });
    },
    directory: (rel, mode) => void seen.push({ kind: 'directory', rel, extra: mode }),
    symlink: (rel, target) => void seen.push({ kind: 'symlink', rel, extra: target }),
    link: (rel, target, origin) => void seen.push({ kind: 'link', rel, extra: [target, origin] }),
  });
  return seen;
}

const strip = (s: Seen[]): Seen[] => s.map(({ hashed: _h, ...rest }) => rest);

describe('scan replay (a listed layer placed without reading it again)', () => {
  it('replays exactly what a scan of the blob reports, once; the next scan reads the blob', async () => {
    const tgz = await craftTarGz(LAYER_ENTRIES);
    const plain = await cacheWith(tgz);
    const expected = await scanOf(plain.cache, plain.desc);
    expect(expected.some((e) => e.hashed === true)).toBe(false);

    const rec = await cacheWith(tgz, 1024 * 1024);
    const listing = await rec.cache.listing(rec.desc, undefined, { stripPrefix: 'pkg' });
    expect(listing.files.map((f) => f.path)).toEqual(['a.txt', 'bin/run', 'deep/er/c.txt', 'hard-a']);
    const replayed = await scanOf(rec.cache, rec.desc);
    expect(strip(replayed)).toEqual(strip(expected));
    expect(replayed.filter((e) => e.kind === 'file').every((e) => e.hashed === true)).toBe(true);
    // Each replayed digest is the listing's.
    const again = await scanOf(rec.cache, rec.desc);
    expect(again.some((e) => e.hashed === true)).toBe(false);
    expect(strip(again)).toEqual(strip(expected));
  });

  it('records nothing without a budget, or for a layer over it; a different prefix or an unchecked uncompressed digest reads the blob', async () => {
    const tgz = await craftTarGz(LAYER_ENTRIES);
    const off = await cacheWith(tgz);
    await off.cache.listing(off.desc, undefined, { stripPrefix: 'pkg' });
    expect((await scanOf(off.cache, off.desc)).some((e) => e.hashed === true)).toBe(false);

    const small = await cacheWith(tgz, 2000); // the 3,000-byte file alone is over it
    await small.cache.listing(small.desc, undefined, { stripPrefix: 'pkg' });
    expect((await scanOf(small.cache, small.desc)).some((e) => e.hashed === true)).toBe(false);

    const other = await cacheWith(tgz, 1024 * 1024);
    await other.cache.listing(other.desc, undefined, { stripPrefix: 'pkg' });
    await expect(scanOf(other.cache, other.desc, { stripPrefix: 'other' })).rejects.toSatisfy((e: unknown) =>
      isOrasError(e, 'ERR_ORAS_PATH_TRAVERSAL'),
    );

    const wrong = await cacheWith(tgz, 1024 * 1024);
    await wrong.cache.listing(wrong.desc, undefined, { stripPrefix: 'pkg' });
    await expect(
      scanOf(wrong.cache, wrong.desc, { stripPrefix: 'pkg', expectedUncompressedDigest: sha('not the tar') }),
    ).rejects.toSatisfy((e: unknown) => isOrasError(e, 'ERR_ORAS_DIGEST_MISMATCH'));
  });

  it('keeps no record of a scan that failed (a corrupt cached blob), and an aborted replay stops', async () => {
    const tgz = await craftTarGz(LAYER_ENTRIES);
    const bad = await cacheWith(tgz, 1024 * 1024);
    const corrupt = Buffer.from(tgz);
    corrupt[corrupt.length - 5]! ^= 0xff; // the gzip trailer: every entry reads, the blob's digest does not match
    await writeFile(bad.cache.blobPath(bad.desc.digest), corrupt);
    await expect(bad.cache.listing(bad.desc, undefined, { stripPrefix: 'pkg' })).rejects.toSatisfy((e: unknown) =>
      isOrasError(e, 'ERR_ORAS_DIGEST_MISMATCH'),
    );
    // Removed as corrupt, and nothing replayed in its place.
    await expect(scanOf(bad.cache, bad.desc)).rejects.toSatisfy((e: unknown) => isOrasError(e, 'ERR_ORAS_NOT_FOUND'));

    const rec = await cacheWith(tgz, 1024 * 1024);
    await rec.cache.listing(rec.desc, undefined, { stripPrefix: 'pkg' });
    const ac = new AbortController();
    ac.abort();
    await expect(scanOf(rec.cache, rec.desc, { stripPrefix: 'pkg', signal: ac.signal })).rejects.toSatisfy(
      (e: unknown) => isOrasError(e, 'ERR_ORAS_ABORTED'),
    );
  });

  it('places a replayed layer only where the lock names the digest computed from the bytes', async () => {
    const tgz = await craftTarGz(LAYER_ENTRIES);
    const rec = await cacheWith(tgz, 1024 * 1024);
    const listing = await rec.cache.listing(rec.desc, undefined, { stripPrefix: 'pkg' });
    const writes: WriteAction[] = listing.files.map((f) => ({
      kind: 'add',
      path: `vendor/${f.path}`,
      dependency: 'd',
      file: {
        path: `vendor/${f.path}`,
        // A tampered lock: a.txt claims other bytes (of the same size) than the layer holds.
        digest: f.path === 'a.txt' ? sha('ALPHA\n') : f.digest,
        size: f.path === 'a.txt' ? 'ALPHA\n'.length : f.size,
        layer: rec.desc.digest,
        ...(f.mode !== undefined ? { mode: f.mode } : {}),
      },
    }));
    let replays = 0;
    const src: LayerSource = {
      key: 'l',
      root: 'vendor',
      scan: (visitor) =>
        rec.cache.scanLayer(
          rec.desc,
          { stripPrefix: 'pkg' },
          {
            ...visitor,
            file: (rel, mode, size, body) => {
              if (body instanceof HashedBody) replays += 1;
              return visitor.file?.(rel, mode, size, body);
            },
          },
        ),
    };
    const project = join(root, `project-${++seq}`);
    await mkdir(project);
    const placed: string[] = [];
    const failed = new Map<string, unknown>();
    await placeLayerFiles(project, src, writes, newMaterializeContext({ durable: false }), {
      placed: (a) => void placed.push(a.path),
      failed: (a, e) => void failed.set(a.path, e),
      layerFailed: (e) => void failed.set('(layer)', e),
    });
    expect(replays).toBeGreaterThan(0);
    expect([...failed.keys()]).toEqual(['vendor/a.txt']);
    expect(isOrasError(failed.get('vendor/a.txt'), 'ERR_ORAS_DIGEST_MISMATCH')).toBe(true);
    // hard-a (a hard link to a.txt, its own lock entry untouched) is placed from a second scan of the blob.
    expect(placed.sort()).toEqual(['vendor/bin/run', 'vendor/deep/er/c.txt', 'vendor/hard-a']);
    expect(await readFile(join(project, 'vendor', 'hard-a'), 'utf8')).toBe('alpha\n');
    expect(await readFile(join(project, 'vendor', 'deep', 'er', 'c.txt'), 'utf8')).toBe('c'.repeat(3000));
  });
});
