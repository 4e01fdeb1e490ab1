import { join } from 'node:path';
import { acquireLock, lockPathFor, type ReleaseLock } from '../../content/file-lock.js';
import { emit, type ProjectListener } from '../events.js';
import { ensureStateDir } from './state.js';

/** Options for {@link lockProject}. */
export interface ProjectLockOptions {
  /** Give up with `ERR_ORAS_LOCKED` after this long (default 10 minutes: installs may be long). */
  timeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: ProjectListener;
}

/** The path passed to `acquireLock` for a project: its lock file is `.oras/project.lock`. */
export function projectLockTarget(projectDir: string): string {
  return join(projectDir, '.oras', 'project');
}

/**
 * Takes the project's exclusive lock (`.oras/project.lock`, see
 * `acquireLock`: O_EXCL create, heartbeat, stale-owner detection). Held across
 * install/update/publish so two runs on the same project serialize: the second
 * waits (emitting `lock-wait` when it has to) and then sees the first one's
 * result. Resolves with the release function.
 */
export async function lockProject(projectDir: string, options: ProjectLockOptions = {}): Promise<ReleaseLock> {
  await ensureStateDir(projectDir);
  const target = projectLockTarget(projectDir);
  const lockOpts = { ...(options.signal !== undefined ? { signal: options.signal } : {}) };
  let release: ReleaseLock;
  try {
    release = await acquireLock(target, { ...lockOpts, timeoutMs: 0 });
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_ORAS_LOCKED') throw err;
    emit(options.onEvent, { type: 'lock-wait', path: lockPathFor(target) });
    release = await acquireLock(target, { ...lockOpts, timeoutMs: options.timeoutMs ?? 600_000 });
  }
  emit(options.onEvent, { type: 'lock-acquired', path: lockPathFor(target) });
  return release;
}

/** Runs `fn` while holding the project lock; always releases. */
export async function withProjectLock<T>(
  projectDir: string,
  options: ProjectLockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const release = await lockProject(projectDir, options);
  try {
    return await fn();
  } finally {
    await release();
  }
}
