import { execFile } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fsyncDir } from './fs-atomic.js';

/**
 * How {@link syncWritten} made a batch of writes durable:
 * - `syncfs`: one `syncfs(2)` per file system the files live on (Linux, via
 *   coreutils `sync -f DIR`; Node has no binding). One journal commit for the
 *   whole batch instead of one per file.
 * - `fsync`: every file, then every directory, `fsync`ed (bounded parallelism).
 * - `none`: nothing was written.
 */
export type SyncMethod = 'syncfs' | 'fsync' | 'none';

/** Options for {@link syncWritten}. */
export interface SyncWrittenOptions {
  /**
   * `auto` (default): `syncfs` where available, else `fsync`. The environment
   * variable `ORAS_SYNC=fsync` forces per-file fsync (for file systems where
   * syncing the whole file system is unwanted, e.g. a busy shared disk).
   */
  method?: 'auto' | 'fsync';
  /** Parallel fsyncs in `fsync` mode (default 16). */
  concurrency?: number;
  /** Checked between fsync batches; an abort rejects with the signal's reason (nothing is then known to be durable). */
  signal?: AbortSignal;
  /** Called once per file-system sync or file/directory fsync issued (diagnostics and tests). */
  onSync?: (kind: 'syncfs' | 'file' | 'dir', path: string) => void;
}

/** Absolute path of coreutils `sync` (never looked up in `$PATH`), or undefined. */
const SYNC_BIN: string | undefined =
  process.platform === 'linux' ? ['/usr/bin/sync', '/bin/sync'].find((p) => existsSync(p)) : undefined;

function runSyncFs(dir: string): Promise<boolean> {
  const bin = SYNC_BIN;
  if (bin === undefined) return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile(bin, ['-f', dir], { timeout: 0, windowsHide: true }, (err) => resolve(err === null));
  });
}

/** One representative directory per device (`st_dev`) among `dirs`. */
function devices(dirs: Iterable<string>): string[] {
  const byDev = new Map<number, string>();
  for (const d of dirs) {
    try {
      const st = lstatSync(d);
      if (st.isDirectory() && !byDev.has(st.dev)) byDev.set(st.dev, d);
    } catch {
      // Gone (e.g. emptied and removed): nothing of ours left in it to sync.
    }
  }
  return [...byDev.values()];
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Makes a batch of finished writes durable at once: the content of every file
 * in `files` and the entries (renames, creations) of every directory in
 * `dirs`. Replaces one `fsync` per file at write time: callers write (temp +
 * rename, no fsync), then call this once before recording the writes as done.
 *
 * Crash-safety contract: until this resolves, a power loss may leave any of
 * the files empty, partial or absent; a killed *process* cannot (the kernel
 * keeps every completed write). Callers therefore record durably, before
 * writing, that a batch is in progress, and re-verify its files when that
 * record is still there (see the project's `.oras/install-in-progress.json`
 * and the cache's listing-after-sync rule).
 *
 * `dirs` must hold the parent directory of every file in `files` (with
 * `syncfs`, one file system sync per distinct device among them covers all).
 * Files that vanished meanwhile are skipped. Returns the method used.
 */
export async function syncWritten(
  files: readonly string[],
  dirs: Iterable<string>,
  options: SyncWrittenOptions = {},
): Promise<SyncMethod> {
  const dirList = [...new Set(dirs)];
  if (files.length === 0 && dirList.length === 0) return 'none';
  options.signal?.throwIfAborted();
  const forced = options.method === 'fsync' || process.env.ORAS_SYNC === 'fsync';
  if (!forced && SYNC_BIN !== undefined) {
    const reps = devices(dirList);
    let ok = reps.length > 0;
    for (const d of reps) {
      options.onSync?.('syncfs', d);
      if (!(await runSyncFs(d))) {
        ok = false;
        break;
      }
    }
    if (ok) return 'syncfs';
  }
  const limit = Math.max(1, options.concurrency ?? 16);
  for (let i = 0; i < files.length; i += limit) {
    options.signal?.throwIfAborted();
    await Promise.all(
      files.slice(i, i + limit).map(async (f) => {
        options.onSync?.('file', f);
        try {
          await fsyncFile(f);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }),
    );
  }
  for (let i = 0; i < dirList.length; i += limit) {
    options.signal?.throwIfAborted();
    await Promise.all(
      dirList.slice(i, i + limit).map((d) => {
        options.onSync?.('dir', d);
        return fsyncDir(d);
      }),
    );
  }
  return 'fsync';
}
