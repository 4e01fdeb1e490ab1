import { resolve as resolvePath } from 'node:path';
import { isOrasError } from '../errors.js';
import { lockedFiles, loadActual } from './plan/actual.js';
import { emit, type ProjectListener } from './events.js';
import { readLockfile } from './spec/lockfile.js';
import { loadManifest } from './spec/manifest.js';
import { compareManifestToLock, type SpecChange } from './plan/spec-diff.js';
import { emptyState, readState } from './apply/state.js';
import type { InstallState, Lockfile, ProjectManifest } from './types.js';
import { OrasError } from '../errors.js';
import { ProjectCache } from './apply/cache/project-cache.js';
import { defaultCacheDir } from './spec/config.js';
import { bindToManifest, Sources } from './plan/locked-files.js';
import { formatBindingProblems, lockBindingProblems } from './spec/lock-binding.js';
import type { TargetFactory } from './install.js';
import { withConfiguredTargets, type ConfigOptions } from './configured-targets.js';
import type { ResolveTarget } from './plan/resolve.js';

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

/** One lock entry that is not bound to artifacts.yaml or to its locked manifest. */
export interface LockMismatch {
  dependency: string;
  /** What is wrong, naming the expected and the found value. */
  message: string;
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
  /**
   * Lock entries that name another repository/tag/digest than artifacts.yaml,
   * or files their locked manifest does not produce (sorted by dependency).
   */
  lockMismatch: LockMismatch[];
  /** Lock vs files on disk, sorted by path. */
  treeDrift: TreeDrift[];
  errors: VerifyError[];
  /** Locked files checked. */
  checked: number;
}

/**
 * Options for {@link verify}. With a `config` (and no `targetFactory`) the stores and the
 * defaults of `cacheDir` and `concurrency` come from that oras config (see {@link ConfigOptions}),
 * as in `oras verify`; with neither, verify works from the cache only.
 */
export interface VerifyOptions extends ConfigOptions {
  projectDir: string;
  /**
   * Where locked manifests (and directory layers whose listing the cache
   * lacks) are fetched from when the cache does not hold them. Without it,
   * verify works from the cache only and reports what it could not check.
   */
  targetFactory?: TargetFactory;
  /** Cache root (see `defaultCacheDir`; `$ORAS_CACHE_DIR` in `env` wins). */
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Parallel hashes (default 8). */
  concurrency?: number;
  onEvent?: ProjectListener;
}

function toError(err: unknown): VerifyError {
  return {
    code: isOrasError(err) ? err.code : 'ERR_ORAS_IO',
    message: err instanceof Error ? err.message : String(err),
  };
}

/**
 * Checks, without changing anything in the project, that artifacts.lock
 * agrees with artifacts.yaml (specs, and each entry names the repository,
 * tag or digest its spec names), that each entry lists exactly the files its
 * locked manifest produces (manifests and layer listings from the cache,
 * digest-verified; fetched through `targetFactory` only when the cache lacks
 * them), and that every locked file on disk has its
 * locked digest (always rehashed by streaming, bounded parallelism; emits
 * `verify-file`). Files we installed that are no longer locked are reported
 * as `extraneous`. Never throws for drift or unreadable inputs: returns
 * structured data (exit codes are the CLI's business).
 */
export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  if (options.targetFactory !== undefined || (options.config === undefined && options.registryAccess === undefined))
    return verifyWith(options);
  return withConfiguredTargets(options.projectDir, options, (config, targets) =>
    verifyWith({
      cacheDir: config.cache.dir,
      concurrency: config.concurrency,
      ...options,
      targetFactory: targets.readFactory(),
    }),
  );
}

/** {@link verify} with its stores settled (or none). */
async function verifyWith(options: VerifyOptions): Promise<VerifyReport> {
  const projectDir = resolvePath(options.projectDir);
  const report: VerifyReport = {
    ok: false,
    manifestDrift: [],
    lockMismatch: [],
    treeDrift: [],
    errors: [],
    checked: 0,
  };
  let lock;
  try {
    lock = await readLockfile(projectDir);
  } catch (err) {
    report.errors.push(toError(err));
  }
  try {
    const { manifest } = await loadManifest(projectDir);
    if (lock !== undefined) {
      report.manifestDrift = compareManifestToLock(manifest, lock).changes;
      report.lockMismatch = await lockMismatches(manifest, lock, options, report.errors);
    } else if (report.errors.length === 0)
      report.errors.push({ code: 'ERR_ORAS_LOCKFILE', message: `no artifacts.lock in ${projectDir}` });
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
      const actual = await loadActual(projectDir, state, {
        ideal: lock,
        verify: true,
        concurrency: options.concurrency ?? 8,
      });
      const wanted = lockedFiles(lock);
      report.checked = wanted.size;
      for (const [path, e] of Object.entries(actual.files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const w = wanted.get(path);
        if (w === undefined) {
          if (e.installed !== undefined && e.status === 'file')
            report.treeDrift.push({
              path,
              actual: 'extraneous',
              ...(e.digest !== undefined ? { actualDigest: e.digest } : {}),
            });
          continue;
        }
        const base = { path, dependency: w.dependency, expected: w.file.digest };
        let ok = false;
        if (e.status === 'absent') report.treeDrift.push({ ...base, actual: 'missing' });
        else if (e.status === 'other') report.treeDrift.push({ ...base, actual: 'not-a-file' });
        else if (e.digest === w.file.digest && e.size === w.file.size) ok = true;
        else {
          const ours = e.installed !== undefined || Object.keys(state.files).length === 0;
          report.treeDrift.push({
            ...base,
            actual: ours ? 'modified' : 'untracked',
            ...(e.digest !== undefined ? { actualDigest: e.digest } : {}),
          });
        }
        emit(options.onEvent, { type: 'verify-file', path, ok });
      }
    } catch (err) {
      report.errors.push(toError(err));
    }
  }
  report.ok =
    report.errors.length === 0 &&
    report.manifestDrift.length === 0 &&
    report.lockMismatch.length === 0 &&
    report.treeDrift.length === 0;
  return report;
}

/** A repository verify may not contact (no `targetFactory`): every use fails with `ERR_ORAS_OFFLINE`. */
function unreachable(repository: string): ResolveTarget {
  const fail = (): Promise<never> =>
    Promise.reject(
      new OrasError(
        'ERR_ORAS_OFFLINE',
        `${repository}: needed content is not in the cache, and verify was given no registry access`,
        {
          hint: 'run `oras install` (it caches the manifests), then verify again',
        },
      ),
    );
  return {
    resolve: fail,
    fetch: fail,
    exists: fail,
    tags: () => ({ [Symbol.asyncIterator]: () => ({ next: fail }) }),
  } as unknown as ResolveTarget;
}

/**
 * The lock entries not bound to artifacts.yaml (`lock-binding.ts`, pure) or
 * to their locked manifests (`bindToManifest`: manifests and listings from the
 * cache, verified, else fetched through `targetFactory`). A manifest that
 * can be neither read nor fetched is an error of the check, not a mismatch.
 */
async function lockMismatches(
  manifest: ProjectManifest,
  lock: Lockfile,
  options: VerifyOptions,
  errors: VerifyError[],
): Promise<LockMismatch[]> {
  const out: LockMismatch[] = [];
  const problems = await lockBindingProblems(manifest, lock);
  for (const p of problems) out.push({ dependency: p.dependency, message: formatBindingProblems([p]) });
  const rejected = new Set(problems.map((p) => p.dependency));
  const env = options.env ?? process.env;
  const cache = await ProjectCache.open(defaultCacheDir(env, options.cacheDir));
  const factory: TargetFactory = options.targetFactory ?? unreachable;
  const sources = new Sources(factory, cache, false);
  for (const name of Object.keys(lock.dependencies).sort()) {
    if (rejected.has(name) || manifest.dependencies[name] === undefined) continue;
    try {
      const { problem } = await bindToManifest(name, lock.dependencies[name]!, sources, cache, { offline: false });
      if (problem !== undefined) out.push({ dependency: name, message: `dependencies.${name}: ${problem}` });
    } catch (err) {
      errors.push(toError(err));
    }
  }
  return out;
}
