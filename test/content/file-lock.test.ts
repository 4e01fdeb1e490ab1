import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, lockPathFor } from '../../src/content/file-lock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oras-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A pid that is certainly not alive: a child that already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('acquireLock', () => {
  it('writes pid/host/time, excludes a second holder, and releases', async () => {
    const target = join(dir, 'index.json');
    const release = await acquireLock(target);
    const info = JSON.parse(await readFile(lockPathFor(target), 'utf8')) as Record<string, unknown>;
    expect(info).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(typeof info.createdAt).toBe('string');
    const err = await acquireLock(target, { timeoutMs: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ORAS_LOCKED' });
    expect((err as { hint?: string }).hint).toContain(lockPathFor(target));
    await release();
    await release(); // idempotent
    expect(await readdir(dir)).toEqual([]);
    const again = await acquireLock(target, { timeoutMs: 0 });
    await again();
  });

  it('waiters get the lock in turn (mutual exclusion within a process)', async () => {
    const target = join(dir, 'x');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const release = await acquireLock(target, { maxPollMs: 5 });
        inside++;
        maxInside = Math.max(maxInside, inside);
        await new Promise((r) => setTimeout(r, 5));
        inside--;
        await release();
      }),
    );
    expect(maxInside).toBe(1);
  });

  it('breaks a lock left by a dead process on this host', async () => {
    const target = join(dir, 'x');
    await writeFile(lockPathFor(target), JSON.stringify({ pid: deadPid(), hostname: hostname(), createdAt: 'then', token: 'dead' }));
    const release = await acquireLock(target, { timeoutMs: 0 });
    const info = JSON.parse(await readFile(lockPathFor(target), 'utf8')) as { pid: number };
    expect(info.pid).toBe(process.pid);
    await release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps a live foreign-host lock until its heartbeat is older than staleMs', async () => {
    const target = join(dir, 'x');
    const lp = lockPathFor(target);
    await writeFile(lp, JSON.stringify({ pid: 1, hostname: 'elsewhere.invalid', createdAt: 'then', token: 'other' }));
    await expect(acquireLock(target, { timeoutMs: 0, staleMs: 3600_000 })).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKED' });
    const old = new Date(Date.now() - 7200_000);
    await utimes(lp, old, old);
    const release = await acquireLock(target, { timeoutMs: 0, staleMs: 3600_000 });
    await release();
  });

  it('never removes a lock it does not own on release', async () => {
    const target = join(dir, 'x');
    const release = await acquireLock(target);
    await writeFile(lockPathFor(target), JSON.stringify({ pid: process.pid, hostname: hostname(), createdAt: 'x', token: 'someone-else' }));
    await release();
    expect(await readdir(dir)).toEqual(['x.lock']);
  });

  it('stops waiting when aborted', async () => {
    const target = join(dir, 'x');
    const release = await acquireLock(target);
    const ac = new AbortController();
    const waiting = acquireLock(target, { signal: ac.signal, timeoutMs: 600_000 });
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_ORAS_ABORTED' });
    await release();
  });
});
