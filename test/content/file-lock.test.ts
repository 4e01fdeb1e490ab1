import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, lockPathFor, UNPARSABLE_LOCK_GRACE_MS } from '../../src/content/file-lock.js';
import { compileForChild } from './fixtures.js';

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
    await writeFile(
      lockPathFor(target),
      JSON.stringify({ pid: deadPid(), hostname: hostname(), createdAt: 'then', token: 'dead' }),
    );
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
    await expect(acquireLock(target, { timeoutMs: 0, staleMs: 3600_000 })).rejects.toMatchObject({
      code: 'ERR_ORAS_LOCKED',
    });
    const old = new Date(Date.now() - 7200_000);
    await utimes(lp, old, old);
    const release = await acquireLock(target, { timeoutMs: 0, staleMs: 3600_000 });
    await release();
  });

  it('never removes a lock it does not own on release', async () => {
    const target = join(dir, 'x');
    const release = await acquireLock(target);
    await writeFile(
      lockPathFor(target),
      JSON.stringify({ pid: process.pid, hostname: hostname(), createdAt: 'x', token: 'someone-else' }),
    );
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

  it('treats an empty lock file older than the grace period as stale (writer killed before writing)', async () => {
    const target = join(dir, 'x');
    const lp = lockPathFor(target);
    await writeFile(lp, '');
    // fresh (mtime pinned ahead, so no timing dependence): respected, a live writer may be about to fill it in
    const ahead = new Date(Date.now() + 60_000);
    await utimes(lp, ahead, ahead);
    await expect(acquireLock(target, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKED' });
    const old = new Date(Date.now() - UNPARSABLE_LOCK_GRACE_MS - 5_000);
    await utimes(lp, old, old);
    // default staleMs (60 s) and no waiting: the empty file alone must not block us
    const release = await acquireLock(target, { timeoutMs: 0 });
    expect(JSON.parse(await readFile(lp, 'utf8'))).toMatchObject({ pid: process.pid });
    await release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('treats an unparsable lock file older than the grace period as stale', async () => {
    const target = join(dir, 'x');
    const lp = lockPathFor(target);
    await writeFile(lp, '{"pid": 12');
    const old = new Date(Date.now() - UNPARSABLE_LOCK_GRACE_MS - 5_000);
    await utimes(lp, old, old);
    const release = await acquireLock(target, { timeoutMs: 0 });
    await release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('leaves no temp files behind when the lock is busy', async () => {
    const target = join(dir, 'x');
    const release = await acquireLock(target);
    for (let i = 0; i < 3; i++)
      await expect(acquireLock(target, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKED' });
    expect(await readdir(dir)).toEqual(['x.lock']);
    await release();
  });

  it('a lock held by a SIGKILLed process is taken over at once', { timeout: 180_000 }, async () => {
    // Compile the real lock module for a plain node child.
    const out = join(dir, 'dist');
    await compileForChild('content/file-lock.ts', out);
    await writeFile(
      join(out, 'holder.mjs'),
      `import { acquireLock } from './content/file-lock.js';
await acquireLock(process.argv[2], { timeoutMs: 0 });
process.stdout.write('held\\n');
setInterval(() => {}, 1000);
`,
    );
    const target = join(dir, 'x');
    const child = spawn(process.execPath, [join(out, 'holder.mjs'), target], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
      killSignal: 'SIGKILL',
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
    await new Promise<void>((res, rej) => {
      let outText = '';
      child.stdout.on('data', (d: Buffer) => {
        outText += d.toString();
        if (outText.includes('held')) res();
      });
      child.on('exit', (code) => rej(new Error(`holder exited ${code}: ${stderr}`)));
    });
    const held = JSON.parse(await readFile(lockPathFor(target), 'utf8')) as { pid: number };
    expect(held.pid).toBe(child.pid);
    // While the child lives, the lock is respected.
    await expect(acquireLock(target, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_ORAS_LOCKED' });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL'); // reaped: its pid is no longer alive
    // No waiting (timeoutMs 0), default staleMs: the dead pid alone makes the lock stale.
    const release = await acquireLock(target, { timeoutMs: 0 });
    expect(JSON.parse(await readFile(lockPathFor(target), 'utf8'))).toMatchObject({ pid: process.pid });
    await release();
    expect((await readdir(dir)).filter((n) => n !== 'dist')).toEqual([]);
  });
});
