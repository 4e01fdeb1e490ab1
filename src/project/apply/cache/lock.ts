import { mkdir, readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { acquireLock, lockPathFor, type ReleaseLock } from '../../../content/file-lock.js';
import { isOrasError, OrasError } from '../../../errors.js';

/**
 * Readers/writer coordination of the shared cache, built from the exclusive
 * file locks of `content/file-lock.ts` (pid + heartbeat + stale detection):
 *
 * - `<cache>/gc.lock` is the **cache lock**. A writer (`cache prune`,
 *   `verify`, `clean`) holds it for its whole run.
 * - Each running install/fetch holds a **pin**: its own lock file
 *   `<cache>/pins/<pid>-<hex>.lock`, created while briefly holding the cache
 *   lock (so no pin appears while a writer works) and held until the install
 *   ends. A pin whose owner died (same host, pid gone) or stopped its heartbeat
 *   is stale and is broken by the next writer.
 * - A writer takes the cache lock first (new installs now wait for it), then
 *   waits until no live pin is left: it never removes anything a running
 *   install may read, and waiting installs cannot starve it.
 *
 * The no-op fast path of `install` reads nothing from the cache and takes no pin.
 */

const GC = 'gc';
const PINS = 'pins';

/** Options for {@link pinCache} and {@link lockCacheExclusive}. */
export interface CacheLockOptions {
  /** How long to wait (default 10 minutes; 0 = do not wait: `ERR_ORAS_LOCKED` at once). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called once when the call has to wait (another writer, or running installs). */
  onWait?: (what: 'writer' | 'installs', path: string) => void;
}

/** The path of the cache lock file of `root` (for messages). */
export function cacheLockPath(root: string): string {
  return lockPathFor(join(root, GC));
}

async function takeGc(root: string, options: CacheLockOptions): Promise<ReleaseLock> {
  const target = join(root, GC);
  const signal = options.signal !== undefined ? { signal: options.signal } : {};
  try {
    return await acquireLock(target, { ...signal, timeoutMs: 0 });
  } catch (err) {
    if (!isOrasError(err, 'ERR_ORAS_LOCKED') || options.timeoutMs === 0) throw err;
    options.onWait?.('writer', lockPathFor(target));
    return acquireLock(target, { ...signal, timeoutMs: options.timeoutMs ?? 600_000 });
  }
}

/**
 * Pins the cache for a running install: resolves once a pin is held (waiting,
 * bounded, while a writer holds the cache lock). The returned function
 * releases the pin; it is idempotent and never throws.
 */
export async function pinCache(root: string, options: CacheLockOptions = {}): Promise<ReleaseLock> {
  await mkdir(join(root, PINS), { recursive: true });
  const releaseGc = await takeGc(root, options);
  try {
    return await acquireLock(join(root, PINS, `${process.pid}-${randomBytes(6).toString('hex')}`), { timeoutMs: 0 });
  } finally {
    await releaseGc();
  }
}

/** The pins of live installs (stale pins are broken and removed on the way). */
export async function livePins(root: string): Promise<string[]> {
  const dir = join(root, PINS);
  const names = await readdir(dir).catch(() => [] as string[]);
  const live: string[] = [];
  for (const name of names) {
    if (name.startsWith('.') || !name.endsWith('.lock')) continue;
    const target = join(dir, name.slice(0, -'.lock'.length));
    try {
      // Succeeds only when the pin is stale (its owner is gone): the lock breaks it, we drop ours.
      const release = await acquireLock(target, { timeoutMs: 0 });
      await release();
    } catch (err) {
      if (!isOrasError(err, 'ERR_ORAS_LOCKED')) throw err;
      live.push(join(dir, name));
    }
  }
  return live;
}

/**
 * Takes the cache lock exclusively for a writer: the cache lock, then waits
 * (polling every 100–500 ms, bounded by `timeoutMs`) until no install holds a
 * pin. Fails with `ERR_ORAS_LOCKED` (naming what holds the cache) on timeout,
 * at once with `timeoutMs: 0`.
 */
export async function lockCacheExclusive(root: string, options: CacheLockOptions = {}): Promise<ReleaseLock> {
  await mkdir(root, { recursive: true });
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  const release = await takeGc(root, options);
  try {
    let waited = false;
    let pause = 100;
    for (;;) {
      const pins = await livePins(root);
      if (pins.length === 0) return release;
      if (options.signal?.aborted) throw new OrasError('ERR_ORAS_ABORTED', 'waiting for running installs: aborted');
      if (Date.now() >= deadline) {
        throw new OrasError('ERR_ORAS_LOCKED', `the cache ${root} is in use by ${pins.length} running install(s)`, {
          hint: 'wait for the running installs (or `oras fetch`) to finish and try again',
        });
      }
      if (!waited) options.onWait?.('installs', pins[0] as string);
      waited = true;
      await new Promise((r) => setTimeout(r, Math.min(pause, Math.max(1, deadline - Date.now()))));
      pause = Math.min(500, pause * 2);
    }
  } catch (err) {
    await release();
    throw err;
  }
}
