import { mkdir, rm } from 'node:fs/promises';
import { afterEach } from 'vitest';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';

/** One crafted tar entry; `content` only for files. */
export interface CraftEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';
  content?: string;
  linkname?: string;
  mode?: number;
}

/** Builds a tar+gzip buffer from crafted (possibly malicious) entries. */
export async function craftTarGz(entries: CraftEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  })();
  for (const e of entries) {
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644),
      mtime: new Date(0),
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      if ((e.type ?? 'file') === 'file') pack.entry(header, e.content ?? '', (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** A readable over a buffer. */
export function bufferStream(buf: Buffer): Readable {
  return Readable.from([buf]);
}

/** A fresh temp dir for a test. */
export function tempDir(prefix = 'oras-art-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** Recursive listing (relative POSIX paths, sorted) of everything under `dir`. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const rec = async (d: string, rel: string): Promise<void> => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      out.push(r);
      if (ent.isDirectory()) await rec(path.join(d, ent.name), r);
    }
  };
  await rec(dir, '');
  return out.sort();
}

/**
 * Registers an `afterEach` that removes every directory handed out, and
 * returns the function that hands out a fresh temp directory.
 */
export function useTempDirs(): () => Promise<string> {
  const cleanups: string[] = [];
  afterEach(async () => {
    for (const d of cleanups.splice(0)) await rm(d, { recursive: true, force: true });
  });
  return async () => {
    const d = await tempDir();
    cleanups.push(d);
    return d;
  };
}

/** A layout for symlink-escape tests in a fresh temp dir: `root/real/` (inside) and `outside/` beside `root`. */
export async function escapeLayout(
  newDir: () => Promise<string>,
): Promise<{ base: string; root: string; outside: string }> {
  const base = await newDir();
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  await mkdir(path.join(root, 'real'), { recursive: true });
  await mkdir(outside);
  return { base, root, outside };
}
