import { readFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { acquireLock } from '../../../content/file-lock.js';
import { writeFileAtomic } from '../../../content/fs-atomic.js';

/**
 * The registry of projects that use a cache: `<cache>/projects.json`, so
 * `oras cache prune` knows whose locks to keep. Every install (and `oras
 * fetch`) registers its project directory with the SHA-256 of the
 * `artifacts.lock` it installed. Protection is decided from each project's
 * *current* `artifacts.lock` at prune time: a project directory that is gone,
 * or whose lock no longer references a blob, stops protecting it.
 *
 * The file is replaced atomically (temp + fsync + rename) under its own lock
 * (`projects.json.lock`, held for milliseconds), so concurrent installs of
 * different projects never lose a registration.
 */

/** One registered project. */
export interface RegisteredProject {
  /** SHA-256 (hex) of the artifacts.lock last installed/fetched there. */
  lockSha256: string | null;
  /** ISO time of the last install/fetch that registered it. */
  lastUsed: string;
}

/** The content of `projects.json`. */
export interface ProjectRegistry {
  version: 1;
  /** Absolute project directory → registration. */
  projects: Record<string, RegisteredProject>;
}

const FILE = 'projects.json';

function registryPath(root: string): string {
  return join(root, FILE);
}

/** Reads the registry (an empty one when missing or unreadable: it is a cache, never the source of truth). */
export async function readProjectRegistry(root: string): Promise<ProjectRegistry> {
  try {
    const doc = JSON.parse(await readFile(registryPath(root), 'utf8')) as Partial<ProjectRegistry>;
    if (
      doc.version === 1 &&
      typeof doc.projects === 'object' &&
      doc.projects !== null &&
      !Array.isArray(doc.projects)
    ) {
      const projects: Record<string, RegisteredProject> = {};
      for (const [dir, p] of Object.entries(doc.projects)) {
        if (typeof p !== 'object' || p === null || typeof (p as RegisteredProject).lastUsed !== 'string') continue;
        const sha = (p as RegisteredProject).lockSha256;
        projects[dir] = {
          lockSha256: typeof sha === 'string' ? sha : null,
          lastUsed: (p as RegisteredProject).lastUsed,
        };
      }
      return { version: 1, projects };
    }
  } catch {
    // missing or corrupt: start over (projects re-register on their next install)
  }
  return { version: 1, projects: {} };
}

/**
 * Read-modify-write of the registry under its lock; `mutate` returns false
 * when nothing changed (then nothing is written).
 */
export async function updateProjectRegistry(
  root: string,
  mutate: (reg: ProjectRegistry) => boolean,
  options: { signal?: AbortSignal } = {},
): Promise<ProjectRegistry> {
  const release = await acquireLock(registryPath(root), {
    timeoutMs: 60_000,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    const reg = await readProjectRegistry(root);
    if (mutate(reg)) await writeFileAtomic(registryPath(root), `${JSON.stringify(reg, null, 1)}\n`);
    return reg;
  } finally {
    await release();
  }
}

/** Last-use times are refreshed at most this often (1 hour): a repeated install writes nothing. */
export const LAST_USE_RESOLUTION_MS = 3_600_000;

function upToDate(p: RegisteredProject | undefined, lockSha256: string | null, now: Date): boolean {
  return (
    p !== undefined && p.lockSha256 === lockSha256 && now.getTime() - Date.parse(p.lastUsed) < LAST_USE_RESOLUTION_MS
  );
}

/**
 * Records that `projectDir` installed (or fetched) the lock with SHA-256
 * `lockSha256` now. Nothing is locked or written when the registration is
 * already current (same lock, last use within {@link LAST_USE_RESOLUTION_MS}).
 * Returns true when the registration was written.
 */
export async function registerProject(
  root: string,
  projectDir: string,
  lockSha256: string | null,
  now: Date = new Date(),
): Promise<boolean> {
  const dir = resolvePath(projectDir);
  if (upToDate((await readProjectRegistry(root)).projects[dir], lockSha256, now)) return false;
  let written = false;
  await updateProjectRegistry(root, (reg) => {
    if (upToDate(reg.projects[dir], lockSha256, now)) return false;
    reg.projects[dir] = { lockSha256, lastUsed: now.toISOString() };
    return (written = true);
  });
  return written;
}

/** Removes projects from the registry (e.g. directories that no longer exist). */
export async function forgetProjects(root: string, dirs: string[]): Promise<void> {
  if (dirs.length === 0) return;
  await updateProjectRegistry(root, (reg) => {
    let changed = false;
    for (const d of dirs) {
      if (reg.projects[d] !== undefined) {
        delete reg.projects[d];
        changed = true;
      }
    }
    return changed;
  });
}
