import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { OrasError } from '../errors.js';
import { ioError, tempPathFor } from './fs-atomic.js';

/**
 * A cross-process exclusive lock, implemented with a lock file that appears
 * atomically WITH its content: the owner info is written and fsynced to a
 * temp file in the same directory, which is then hard-linked to the lock path
 * (`link` fails with `EEXIST` atomically, like `open(…, 'wx')`). So a process
 * killed at any point never leaves an empty lock file behind (at most a temp
 * file, which `removeTempFiles` cleans up). Where hard links are unsupported
 * the lock falls back to `open(…, 'wx')` + write.
 *
 * Locking `path` creates `<path>.lock` containing the owner's pid, hostname,
 * creation time and a random token. While held, the lock file's mtime is
 * refreshed every `staleMs / 3` (heartbeat). A waiter treats an existing lock
 * as stale and breaks it when:
 * - it was written on this host and its pid is not alive (`process.kill(pid, 0)`), or
 * - it is empty or unparsable and its mtime is older than {@link UNPARSABLE_LOCK_GRACE_MS}
 *   (a writer killed between create and write with the fallback, or a foreign file), or
 * - its mtime is older than `staleMs` (owner on another host).
 *
 * Breaking renames the stale file aside and re-checks its token, so two
 * waiters cannot both break the same lock and a fresh lock is put back if it
 * was taken by mistake. Release only removes the file when its token is ours.
 * Within one process the lock also excludes other callers (they wait too).
 */

/** Options for {@link acquireLock}. */
export interface LockOptions {
  /** Give up after this long with `ERR_ORAS_LOCKED` (default 30 s; 0 = try once). */
  timeoutMs?: number;
  /** A lock whose heartbeat is older than this is stale (default 60 s). */
  staleMs?: number;
  /** Aborts the wait with `ERR_ORAS_ABORTED`. */
  signal?: AbortSignal;
  /** Largest pause between attempts (default 250 ms; attempts start at 10 ms and back off). */
  maxPollMs?: number;
}

/** Releases a lock acquired with {@link acquireLock}. Idempotent; never throws. */
export type ReleaseLock = () => Promise<void>;

/** What a lock file contains. */
export interface LockInfo {
  pid: number;
  hostname: string;
  createdAt: string;
  token: string;
}

/** The lock file used for `path`. */
export function lockPathFor(path: string): string {
  return `${path}.lock`;
}

/**
 * How long an empty or unparsable lock file is respected before it is judged
 * stale (2 s): long enough for a live fallback writer to finish writing it.
 */
export const UNPARSABLE_LOCK_GRACE_MS = 2_000;

function parseInfo(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.hostname === 'string' && typeof v.token === 'string') {
      return { pid: v.pid, hostname: v.hostname, createdAt: String(v.createdAt ?? ''), token: v.token };
    }
  } catch {
    // fall through
  }
  return undefined;
}

function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(lockPath: string): Promise<{ info: LockInfo | undefined; mtimeMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    return { info: parseInfo(text), mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(err, 'reading lock', lockPath);
  }
}

function isStale(state: { info: LockInfo | undefined; mtimeMs: number }, staleMs: number): boolean {
  const { info } = state;
  if (info && info.hostname === hostname() && !pidAlive(info.pid)) return true;
  const age = Date.now() - state.mtimeMs;
  if (!info && age > Math.min(staleMs, UNPARSABLE_LOCK_GRACE_MS)) return true;
  return age > staleMs;
}

/** Moves a stale lock aside; puts it back if it turned out not to be the one we judged stale. */
async function breakLock(lockPath: string, judged: LockInfo | undefined): Promise<void> {
  const aside = `${lockPath}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw ioError(err, 'breaking stale lock', lockPath);
  }
  const moved = parseInfo(await readFile(aside, 'utf8').catch(() => ''));
  if (moved && moved.token !== judged?.token) {
    // Someone else broke the stale lock and took a fresh one in between: restore theirs.
    await link(aside, lockPath).catch(() => undefined);
  }
  await rm(aside, { force: true });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new OrasError('ERR_ORAS_ABORTED', 'waiting for a lock: aborted'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new OrasError('ERR_ORAS_ABORTED', 'waiting for a lock: aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Creates the lock file with its content already in place; false when it exists. */
async function tryCreate(lockPath: string, info: LockInfo): Promise<boolean> {
  const tmp = tempPathFor(lockPath);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      // No fsync: the lock only coordinates live processes. Other processes see the
      // content at once (page cache); after a crash or power loss an empty or stale
      // lock is judged by its pid/age and broken. An fsync here would put a disk flush
      // on every command for no safety gain (numbers in docs/BENCHMARKS.md).
      await fh.writeFile(JSON.stringify(info));
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, lockPath);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS')
        return tryCreateExclusive(lockPath, info);
      throw err;
    }
  } catch (err) {
    throw ioError(err, 'creating lock', lockPath);
  } finally {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** Fallback for file systems without hard links: `open(…, 'wx')` then write. */
async function tryCreateExclusive(lockPath: string, info: LockInfo): Promise<boolean> {
  let fh;
  try {
    fh = await open(lockPath, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(JSON.stringify(info)); // no fsync, as in tryCreate
  } finally {
    await fh.close();
  }
  return true;
}

/**
 * Acquires the exclusive lock for `path` (the file `<path>.lock`; its parent
 * directory must exist), waiting with bounded back-off polling. Resolves with
 * a release function. Rejects with `ERR_ORAS_LOCKED` (naming the owner's pid
 * and host) after `timeoutMs`, `ERR_ORAS_ABORTED` when `signal` aborts, or
 * `ERR_ORAS_IO`.
 */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<ReleaseLock> {
  const lockPath = lockPathFor(path);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const maxPoll = options.maxPollMs ?? 250;
  const info: LockInfo = {
    pid: process.pid,
    hostname: hostname(),
    createdAt: new Date().toISOString(),
    token: randomBytes(16).toString('hex'),
  };
  const deadline = Date.now() + timeoutMs;
  let pause = 10;
  let last: LockInfo | undefined;
  let quick = 0;
  // Bounded: immediate retries are capped, every other iteration sleeps, and the deadline ends the loop.
  for (;;) {
    if (options.signal?.aborted) throw new OrasError('ERR_ORAS_ABORTED', `waiting for the lock on ${path}: aborted`);
    if (await tryCreate(lockPath, info)) return startHeld(lockPath, info, staleMs);
    const state = await readLock(lockPath);
    if (state === undefined || isStale(state, staleMs)) {
      if (state !== undefined) await breakLock(lockPath, state.info);
      if (++quick <= 20) continue; // released or broken meanwhile: retry at once
    } else {
      last = state.info;
    }
    if (Date.now() >= deadline) {
      const owner = last ? `pid ${last.pid} on ${last.hostname} since ${last.createdAt}` : 'an unknown process';
      throw new OrasError('ERR_ORAS_LOCKED', `${path} is locked by ${owner}`, {
        hint: `wait for the other oras process to finish; if none is running, delete ${lockPath}`,
      });
    }
    const wait = Math.min(pause, Math.max(1, deadline - Date.now()));
    await sleep(Math.round(wait * (0.5 + Math.random() * 0.5)), options.signal);
    pause = Math.min(maxPoll, pause * 2);
  }
}

function startHeld(lockPath: string, info: LockInfo, staleMs: number): ReleaseLock {
  const every = Math.max(50, Math.floor(staleMs / 3));
  const timer = setInterval(() => {
    const now = new Date();
    utimes(lockPath, now, now).catch(() => undefined);
  }, every);
  timer.unref();
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    clearInterval(timer);
    const current = await readFile(lockPath, 'utf8').catch(() => '');
    if (parseInfo(current)?.token === info.token) await rm(lockPath, { force: true }).catch(() => undefined);
  };
}
