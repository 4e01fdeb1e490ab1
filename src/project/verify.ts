import { resolve as resolvePath } from 'node:path';
import { isOrasError } from '../errors.js';
import { lockedFiles, loadActual } from './plan/actual.js';
import { emit, type ProjectListener } from './events.js';
import { readLockfile } from './spec/lockfile.js';
import { loadManifest } from './spec/manifest.js';
import { compareManifestToLock, type SpecChange } from './plan/spec-diff.js';
import { emptyState, readState } from './apply/state.js';
import type { InstallState } from './types.js';

/** One way the project tree differs from the lock. */
export interface TreeDrift {
  path: string;
  /** The dependency that locks this path (absent for `extraneous`). */
  dependency?: string;
  /** The locked digest (absent for `extraneous`). */
  expected?: string;
  /**
   * - `missing`: locked, not on disk;
   * - `modified`: on disk with other content, and installed by us (or no state);
   * - `untracked`: on disk with other content, not installed by us;
   * - `not-a-file`: a directory, symlink or other non-regular file is there;
   * - `extraneous`: installed by us, no longer locked, still on disk.
   */
  actual: 'missing' | 'modified' | 'untracked' | 'not-a-file' | 'extraneous';
  /** Digest of what is on disk, when hashed. */
  actualDigest?: string;
}

/** A problem that prevented part of the check. */
export interface VerifyError {
  code: string;
  message: string;
}

/** The result of {@link verify}. `ok` iff there is no drift and no error. */
export interface VerifyReport {
  ok: boolean;
  /** artifacts.yaml vs artifacts.lock (see `compareManifestToLock`). */
  manifestDrift: SpecChange[];
  /** Lock vs files on disk, sorted by path. */
  treeDrift: TreeDrift[];
  errors: VerifyError[];
  /** Locked files checked. */
  checked: number;
}

/** Options for {@link verify}. */
export interface VerifyOptions {
  projectDir: string;
  /** Parallel hashes (default 8). */
  concurrency?: number;
  onEvent?: ProjectListener;
}

function toError(err: unknown): VerifyError {
  return { code: isOrasError(err) ? err.code : 'ERR_ORAS_IO', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Checks, without network and without changing anything, that artifacts.lock
 * agrees with artifacts.yaml and that every locked file on disk has its
 * locked digest (always rehashed by streaming, bounded parallelism; emits
 * `verify-file`). Files we installed that are no longer locked are reported
 * as `extraneous`. Never throws for drift or unreadable inputs: returns
 * structured data (exit codes are the CLI's business).
 */
export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const projectDir = resolvePath(options.projectDir);
  const report: VerifyReport = { ok: false, manifestDrift: [], treeDrift: [], errors: [], checked: 0 };
  let lock;
  try {
    lock = await readLockfile(projectDir);
  } catch (err) {
    report.errors.push(toError(err));
  }
  try {
    const { manifest } = await loadManifest(projectDir);
    if (lock !== undefined) report.manifestDrift = compareManifestToLock(manifest, lock).changes;
    else if (report.errors.length === 0) report.errors.push({ code: 'ERR_ORAS_LOCKFILE', message: `no artifacts.lock in ${projectDir}` });
  } catch (err) {
    report.errors.push(toError(err));
  }
  if (lock !== undefined) {
    let state: InstallState = emptyState();
    try {
      state = await readState(projectDir);
    } catch (err) {
      report.errors.push(toError(err));
    }
    try {
      const actual = await loadActual(projectDir, state, { ideal: lock, verify: true, concurrency: options.concurrency ?? 8 });
      const wanted = lockedFiles(lock);
      report.checked = wanted.size;
      for (const [path, e] of Object.entries(actual.files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const w = wanted.get(path);
        if (w === undefined) {
          if (e.installed !== undefined && e.status === 'file') report.treeDrift.push({ path, actual: 'extraneous', ...(e.digest !== undefined ? { actualDigest: e.digest } : {}) });
          continue;
        }
        const base = { path, dependency: w.dependency, expected: w.file.digest };
        let ok = false;
        if (e.status === 'absent') report.treeDrift.push({ ...base, actual: 'missing' });
        else if (e.status === 'other') report.treeDrift.push({ ...base, actual: 'not-a-file' });
        else if (e.digest === w.file.digest && e.size === w.file.size) ok = true;
        else {
          const ours = e.installed !== undefined || Object.keys(state.files).length === 0;
          report.treeDrift.push({ ...base, actual: ours ? 'modified' : 'untracked', ...(e.digest !== undefined ? { actualDigest: e.digest } : {}) });
        }
        emit(options.onEvent, { type: 'verify-file', path, ok });
      }
    } catch (err) {
      report.errors.push(toError(err));
    }
  }
  report.ok = report.errors.length === 0 && report.manifestDrift.length === 0 && report.treeDrift.length === 0;
  return report;
}
