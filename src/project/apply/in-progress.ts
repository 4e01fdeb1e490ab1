import { existsSync } from 'node:fs';
import { lstat, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../content/fs-atomic.js';
import type { ActualTree } from '../plan/actual.js';
import type { Lockfile } from '../types.js';
import { ensureStateDir, STATE_DIR } from './state.js';

/** The in-progress marker's file name inside `.oras/`. */
export const IN_PROGRESS_FILE = 'install-in-progress.json';

/**
 * What an install that had not finished making its writes durable was
 * writing. Present on disk from before the first project write until the
 * writes were synced and the state recorded.
 */
export interface InProgressMarker {
  /** Project paths the run was going to write (adds and changes). */
  paths: string[];
  /**
   * Staging directories (project-relative, temp-named) the run may have
   * created for layers placed into new roots (see layer-stage.ts); the next
   * install removes those left behind.
   */
  stages: string[];
}

function markerPath(projectDir: string): string {
  return join(projectDir, STATE_DIR, IN_PROGRESS_FILE);
}

/**
 * Durably records (temp + fsync + rename + directory fsync) that an install is
 * about to write `paths` without per-file fsync. Must complete before the
 * first write; {@link clearInProgress} removes it once the writes were synced.
 */
export async function markInProgress(
  projectDir: string,
  paths: readonly string[],
  stages: readonly string[] = [],
): Promise<void> {
  await ensureStateDir(projectDir);
  await writeFileAtomic(
    markerPath(projectDir),
    `${JSON.stringify({ pid: process.pid, started: new Date().toISOString(), paths, stages })}\n`,
  );
}

/** True when a marker is present (cheap: one `stat`; for the no-op fast path). */
export function hasInProgress(projectDir: string): boolean {
  return existsSync(markerPath(projectDir));
}

/**
 * The marker left by an install that did not finish syncing (killed, power
 * loss), or undefined. An unreadable or malformed marker still counts: its
 * paths are then unknown (`[]`) but the next install rehashes every file.
 */
export async function readInProgress(projectDir: string): Promise<InProgressMarker | undefined> {
  let text: string;
  try {
    text = await readFile(markerPath(projectDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { paths: [], stages: [] };
  }
  try {
    const doc = JSON.parse(text) as { paths?: unknown; stages?: unknown };
    return { paths: strings(doc.paths), stages: strings(doc.stages) };
  } catch {
    return { paths: [], stages: [] };
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string') : [];
}

/**
 * Removes the marker (after the run's writes were synced and its state
 * written). Not fsynced: if the removal itself is lost, the next install only
 * rehashes once more.
 */
export async function clearInProgress(projectDir: string): Promise<void> {
  // Never through a symlinked .oras (that would unlink outside the project).
  const dir = await lstat(join(projectDir, STATE_DIR)).catch(() => undefined);
  if (dir === undefined || !dir.isDirectory()) return;
  await unlink(markerPath(projectDir)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/**
 * Pure: the actual tree as the plan should see it after an interrupted run.
 * A file the marker says was being written, whose (rehashed) content matches
 * neither our record nor the lock, is a write torn by a power loss, not a
 * user edit: it is treated as absent, so the plan rewrites it (or removes it)
 * instead of reporting a conflict. Every other entry is unchanged.
 */
export function withoutTornWrites(actual: ActualTree, marker: InProgressMarker, lock: Lockfile): ActualTree {
  if (marker.paths.length === 0) return actual;
  const wanted = new Map<string, string>();
  for (const dep of Object.values(lock.dependencies)) for (const f of dep.files) wanted.set(f.path, f.digest);
  const files = { ...actual.files };
  for (const path of marker.paths) {
    const e = files[path];
    if (e === undefined || e.status !== 'file') continue;
    if (e.digest !== undefined && (e.digest === e.installed?.digest || e.digest === wanted.get(path))) continue;
    files[path] = {
      path,
      ...(e.installed !== undefined ? { installed: e.installed } : {}),
      status: 'absent',
      rehashed: e.rehashed,
    };
  }
  return { files };
}
