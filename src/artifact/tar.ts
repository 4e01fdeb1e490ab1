import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, open, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createGzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { streamToFileAtomic } from '../content/fs-atomic.js';
import { OrasError } from '../errors.js';
import { HashingStream } from './hashing-stream.js';
import { normalizeRelativePath } from './safe-path.js';
import { settleAll } from '../content/settle-all.js';

export {
  extractTarGz,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_UNCOMPRESSED_BYTES,
  type ExtractOptions,
  type ExtractResult,
} from './tar-extract.js';

/** Options for {@link packDirectory}. */
export interface PackDirectoryOptions {
  /**
   * Root name of every entry in the archive (POSIX relative path; an absolute
   * one is kept as is). Default:
   * the directory's base name. oras-go uses the layer title here, and pulls
   * strip it again, so pass the title.
   */
  prefixName?: string;
  /** Modification time stamped on every entry, in seconds since the epoch (e.g. `SOURCE_DATE_EPOCH`). Default `0`. */
  mtime?: number;
  /** Directory for the temporary archive. Default: `os.tmpdir()`. */
  tmpDir?: string;
  /** Aborts packing; the temporary file is removed. */
  signal?: AbortSignal;
}

/** A packed directory in a temporary file; call {@link PackedDirectory.cleanup} when done. */
export interface PackedDirectory {
  /** Absolute path of the `.tar.gz` file. */
  path: string;
  /** `sha256:` digest of the gzip file (the layer digest). */
  digest: string;
  /** Size of the gzip file in bytes (the layer size). */
  size: number;
  /** `sha256:` digest of the uncompressed tar (the `io.deis.oras.content.digest` annotation). */
  uncompressedDigest: string;
  /** Number of tar entries written (including the root directory). */
  entries: number;
  /** Opens a fresh read stream over the archive (a stream factory: call it once per upload attempt). */
  open(): Readable;
  /** Removes the temporary file and its directory. Idempotent. */
  cleanup(): Promise<void>;
}

/** Fixed gzip parameters: the output only depends on the input bytes and the zlib build. */
const GZIP_OPTIONS = { level: 6, memLevel: 8, windowBits: 15, strategy: zc.Z_DEFAULT_STRATEGY } as const;

interface WalkItem {
  abs: string;
  name: string;
}

/**
 * Depth-first walk with each directory's children sorted by byte order of their names (parents
 * before children); entry names are `<name>/<child>`, or relative to the root when `name` is ''.
 */
async function* walk(dir: string, name: string): AsyncGenerator<WalkItem> {
  const children = (await readdir(dir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const child of children) {
    const abs = path.join(dir, child);
    const childName = name === '' ? child : `${name}/${child}`;
    yield { abs, name: childName };
    const st = await lstat(abs);
    if (st.isDirectory()) yield* walk(abs, childName);
  }
}

/**
 * Writes the entries of the tree under `root` into `pack` by the reproducibility rules of
 * {@link packDirectory} (root entry `<prefix>/` first; with `prefix` '' no root entry and names
 * relative to `root`), then finalizes it. Returns the number of entries.
 */
async function packTree(
  pack: tarStream.Pack,
  root: string,
  prefix: string,
  mtime: Date,
  signal: AbortSignal | undefined,
): Promise<number> {
  let entries = 0;
  const base = { mtime, uid: 0, gid: 0, uname: '', gname: '' };
  const addEntry = (header: Partial<tarStream.Header> & { name: string }, content?: string): Promise<void> =>
    new Promise((resolve, reject) => {
      entries += 1;
      if (content === undefined) {
        pack.entry(header, (err) => (err ? reject(err) : resolve()));
        return;
      }
      const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
      pipeline(createReadStream(content), sink).catch(reject);
    });
  if (prefix !== '') await addEntry({ ...base, name: `${prefix}/`, type: 'directory', mode: 0o755 });
  for await (const item of walk(root, prefix)) {
    signal?.throwIfAborted();
    const st = await lstat(item.abs);
    if (st.isDirectory()) {
      await addEntry({ ...base, name: `${item.name}/`, type: 'directory', mode: 0o755 });
    } else if (st.isSymbolicLink()) {
      await addEntry({ ...base, name: item.name, type: 'symlink', mode: 0o777, linkname: await readlink(item.abs) });
    } else if (st.isFile()) {
      const mode = (st.mode & 0o111) !== 0 ? 0o755 : 0o644;
      await addEntry({ ...base, name: item.name, type: 'file', mode, size: st.size }, item.abs);
    } else {
      throw new OrasError(
        'ERR_ORAS_UNSUPPORTED',
        `cannot pack ${item.abs}: sockets, FIFOs and device files are not supported`,
        {
          hint: 'remove special files from the directory before pushing it',
        },
      );
    }
  }
  pack.finalize();
  return entries;
}

/**
 * Writes a plain (uncompressed) tar of the tree under `dir` to `outFile`, atomically (a reader
 * never sees a partial file), by the same reproducibility rules as {@link packDirectory} but
 * without a root entry: names are relative to `dir` (what `oras backup --output FILE.tar` writes:
 * the OCI layout's `oci-layout`, `index.json`, `blobs/…`). Read it back with {@link extractTarGz}
 * and `compression: 'none'`. Returns the number of entries.
 */
export async function writeDirectoryTar(
  dir: string,
  outFile: string,
  options: { mtime?: number; signal?: AbortSignal } = {},
): Promise<number> {
  const pack = tarStream.pack();
  const producing = packTree(pack, path.resolve(dir), '', new Date((options.mtime ?? 0) * 1000), options.signal).catch(
    (err: unknown) => {
      pack.destroy(err as Error);
      throw err;
    },
  );
  // Both settle before an error is reported: the writer has removed its temp file by then.
  const [entries] = await settleAll([producing, streamToFileAtomic(outFile, pack as unknown as Readable)]);
  return entries;
}

/**
 * Packs a directory into a **reproducible** tar+gzip in a temporary file,
 * streaming (memory stays flat whatever the size), and returns its digests.
 *
 * Reproducibility contract: entries in depth-first order with each
 * directory's children sorted by byte order (parents always precede their
 * children), the root entry is `<prefixName>/`, every mtime is `mtime`
 * (default 0), uid/gid 0, empty uname/gname, modes normalized (directories and
 * files with any execute bit 0755, other files 0644, symlinks 0777), symlinks
 * stored as symlinks with their target unchanged, hard links stored as
 * separate regular files. Gzip uses fixed parameters and node's zlib header
 * (no file name, mtime 0). Sockets, FIFOs and device files are refused with
 * `ERR_ORAS_UNSUPPORTED`. Files of 8 GiB and more use the base-256 size field (GNU
 * extension, read by GNU tar, Go and tar-stream).
 */
export async function packDirectory(dir: string, options: PackDirectoryOptions = {}): Promise<PackedDirectory> {
  const root = path.resolve(dir);
  const rootStat = await lstat(root).catch((cause: unknown) => {
    throw new OrasError('ERR_ORAS_IO', `cannot read directory ${root}: ${(cause as Error).message}`, {
      cause,
      hint: 'check that the path exists and is readable',
    });
  });
  if (!rootStat.isDirectory())
    throw new OrasError('ERR_ORAS_USAGE', `${root} is not a directory`, {
      hint: 'packDirectory takes a directory; push regular files directly',
    });
  const rawPrefix = (options.prefixName ?? path.basename(root)).replace(/^(?:\.\/+)+/, '').replace(/\/+$/, '');
  // Relative prefixes are normalized; an absolute one (a title pushed with path validation disabled) is kept as given, like oras-go.
  const prefix = rawPrefix.startsWith('/') && !rawPrefix.includes('\0') ? rawPrefix : normalizeRelativePath(rawPrefix);
  const mtime = new Date((options.mtime ?? 0) * 1000);
  const tmp = await mkdtemp(path.join(options.tmpDir ?? tmpdir(), 'oras-pack-'));
  const outPath = path.join(tmp, 'layer.tar.gz');
  const cleanup = async (): Promise<void> => {
    await rm(tmp, { recursive: true, force: true });
  };
  const pack = tarStream.pack();
  const tarHash = new HashingStream();
  const gzHash = new HashingStream();
  let entries = 0;

  const produce = async (): Promise<void> => {
    entries = await packTree(pack, root, prefix, mtime, options.signal);
  };

  try {
    const producing = produce().catch((err: unknown) => {
      pack.destroy(err as Error);
      throw err;
    });
    const out = createWriteStream(outPath, { mode: 0o600 });
    const writing = pipeline(
      pack,
      tarHash,
      createGzip(GZIP_OPTIONS),
      gzHash,
      out,
      options.signal ? { signal: options.signal } : {},
    );
    const [p, w] = await Promise.allSettled([producing, writing]);
    if (p.status === 'rejected') throw p.reason;
    if (w.status === 'rejected') throw w.reason;
    const fh = await open(outPath, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return {
      path: outPath,
      open: () => createReadStream(outPath),
      digest: gzHash.digest,
      size: gzHash.bytes,
      uncompressedDigest: tarHash.digest,
      entries,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    if (err instanceof OrasError) throw err;
    if (options.signal?.aborted) throw new OrasError('ERR_ORAS_ABORTED', `packing ${root} was aborted`, { cause: err });
    throw new OrasError('ERR_ORAS_IO', `cannot pack directory ${root}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check that the directory is readable and not modified while packing',
    });
  }
}

/**
 * Parses a `SOURCE_DATE_EPOCH` value (decimal seconds) for {@link PackDirectoryOptions.mtime}
 * and returns it with the matching RFC 3339 `created` timestamp. `undefined`/empty →
 * `undefined`; anything else that is not a non-negative integer → `ERR_ORAS_USAGE`.
 */
export function parseSourceDateEpoch(value: string | undefined): { mtime: number; created: string } | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (!/^[0-9]{1,12}$/.test(v)) {
    throw new OrasError(
      'ERR_ORAS_USAGE',
      `SOURCE_DATE_EPOCH ${JSON.stringify(v.slice(0, 40))} is not a number of seconds`,
      { hint: 'set SOURCE_DATE_EPOCH to a Unix timestamp, e.g. $(git log -1 --format=%ct)' },
    );
  }
  const mtime = Number(v);
  return { mtime, created: new Date(mtime * 1000).toISOString().replace(/\.000Z$/, 'Z') };
}
