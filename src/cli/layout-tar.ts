import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { streamToFileAtomic } from '../content/fs-atomic.js';
import { OrasError } from '../errors.js';

/**
 * Plain (uncompressed) tar archives of an OCI layout directory, for
 * `oras backup --output FILE.tar` and `oras restore --input FILE.tar`.
 * Only regular files and directories are archived or extracted. tar-stream is
 * loaded on first use (a backup to a directory never needs it).
 */

async function tarStream(): Promise<typeof import('tar-stream')> {
  return (await import('tar-stream')).default;
}

/** Most entries extracted from one archive. */
export const MAX_TAR_ENTRIES = 1_000_000;

async function* walk(
  root: string,
  dir: string,
  depth = 0,
): AsyncGenerator<{ path: string; rel: string; dir: boolean; size: number; mode: number }> {
  if (depth > 64) throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `directory nesting deeper than 64 under ${root}`);
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = join(dir, e.name);
    const rel = relative(root, path).split(sep).join('/');
    const st = await lstat(path);
    if (st.isDirectory()) {
      yield { path, rel, dir: true, size: 0, mode: 0o755 };
      yield* walk(root, path, depth + 1);
    } else if (st.isFile()) {
      yield { path, rel, dir: false, size: st.size, mode: 0o644 };
    }
  }
}

/** Writes a tar of `dir` (sorted, fixed mtime 0, regular files and directories only) to `outFile` atomically. */
export async function tarDirectory(dir: string, outFile: string): Promise<void> {
  const pack = (await tarStream()).pack();
  const feed = (async () => {
    try {
      for await (const e of walk(dir, dir)) {
        if (e.dir) {
          pack.entry({ name: `${e.rel}/`, type: 'directory', mode: e.mode, mtime: new Date(0) });
          continue;
        }
        const entry = pack.entry({ name: e.rel, type: 'file', size: e.size, mode: e.mode, mtime: new Date(0) });
        await pipeline(createReadStream(e.path), entry);
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  await Promise.all([streamToFileAtomic(outFile, pack as unknown as Readable), feed]);
}

function safeEntryPath(root: string, name: string): string {
  const clean = posix.normalize(name.replace(/\\/g, '/')).replace(/\/+$/, '');
  if (
    clean === '' ||
    clean === '.' ||
    clean.startsWith('/') ||
    clean === '..' ||
    clean.startsWith('../') ||
    clean.includes('\0') ||
    /^[A-Za-z]:/.test(clean)
  ) {
    throw new OrasError(
      'ERR_ORAS_PATH_TRAVERSAL',
      `archive entry ${JSON.stringify(name.slice(0, 200))} points outside the extraction directory`,
      {
        hint: 'the archive is not an oras backup; refusing to extract it',
      },
    );
  }
  const abs = resolve(root, ...clean.split('/'));
  if (abs !== root && !abs.startsWith(root + sep))
    throw new OrasError(
      'ERR_ORAS_PATH_TRAVERSAL',
      `archive entry ${JSON.stringify(name.slice(0, 200))} escapes the extraction directory`,
    );
  return abs;
}

/** Extracts a plain tar into `dir` (created), refusing links, devices and escaping paths. */
export async function untarToDirectory(tarFile: string, dir: string): Promise<void> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const extract = (await tarStream()).extract();
  let count = 0;
  const done = new Promise<void>((resolvePromise, reject) => {
    extract.on('entry', (header, stream, next) => {
      const fail = (err: unknown): void => {
        stream.resume();
        extract.destroy(err as Error);
      };
      try {
        if (++count > MAX_TAR_ENTRIES)
          throw new OrasError('ERR_ORAS_LIMIT_EXCEEDED', `archive has more than ${MAX_TAR_ENTRIES} entries`);
        const target = safeEntryPath(root, header.name);
        if (header.type === 'directory') {
          mkdir(target, { recursive: true }).then(() => {
            stream.resume();
            stream.on('end', next);
          }, fail);
          return;
        }
        if (header.type !== 'file' && header.type !== 'contiguous-file') {
          throw new OrasError(
            'ERR_ORAS_UNSUPPORTED',
            `archive entry ${JSON.stringify(header.name.slice(0, 200))} is a ${header.type ?? 'special file'}; only files and directories are restored`,
          );
        }
        mkdir(dirname(target), { recursive: true })
          .then(() => pipeline(stream, createWriteStream(target, { mode: 0o644 })))
          .then(() => next(), fail);
      } catch (err) {
        fail(err);
      }
    });
    extract.on('finish', () => resolvePromise());
    extract.on('error', reject);
  });
  await Promise.all([pipeline(createReadStream(tarFile), extract), done]);
}
