import { createRequire } from 'node:module';
import { resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import { lockedFiles } from './plan/actual.js';
import { parseCanonicalYaml } from './spec/canonical-yaml.js';
import { emit, type PlanCounts, type ProjectListener } from './events.js';
import { checkFastNoop } from './plan/fast-noop.js';
import type { LinkMode } from './apply/materialize.js';
import { withProjectLock } from './apply/project-lock.js';
import type { ResolveTarget } from './plan/resolve.js';
import type { RepublishedTag } from './plan/republished-check.js';
import { readState } from './apply/state.js';
import { lockFromDocument } from './spec/lock-format.js';
import { hasInProgress } from './apply/in-progress.js';
import { installSettings, withConfiguredTargets, type ConfigOptions } from './configured-targets.js';
import { LOCKFILE_VERSION, type Lockfile, type PlanAction } from './types.js';

/** Builds the source for a repository `registry/repo` (a Repository, or an OCI layout standing in for one). */
export type TargetFactory = (repository: string) => ResolveTarget | Promise<ResolveTarget>;

/**
 * Options for {@link install}. Without a `targetFactory`, the stores and the defaults of
 * `cacheDir`, `linkMode`, `cacheMaxSize`, `maxEntries`, `maxUncompressedBytes`, `maxArtifactBytes` and `concurrency`
 * come from the oras config (see {@link ConfigOptions}), as in `oras install`; options given here win.
 */
export interface InstallOptions extends ConfigOptions {
  projectDir: string;
  /** Fail (`ERR_ORAS_FROZEN_LOCKFILE`) instead of resolving when artifacts.yaml and artifacts.lock disagree; never write the lock. Default: `CI=true` in `env` (unless `false` is given). */
  frozenLockfile?: boolean;
  /** No network: everything must come from the lock and the cache (`ERR_ORAS_OFFLINE` otherwise). */
  offline?: boolean;
  /** Overwrite/remove user-modified and untracked files. */
  force?: boolean;
  /** Rehash every installed file instead of trusting stat records. */
  verify?: boolean;
  /** Compute the plan (and the new lock, in memory) but change nothing in the project. */
  dryRun?: boolean;
  /** Re-resolve these dependencies (or all) even when their spec is unchanged. */
  update?: string[] | true;
  /** Parallel file operations and resolutions (default 8). */
  concurrency?: number;
  /** Where dependencies are fetched from. Default: the stores the oras config maps (`ProjectTargets`: `ociLayout`, mirrors, then the registry). */
  targetFactory?: TargetFactory;
  /** Cache root, e.g. the config's `cache.dir`. Precedence ({@link defaultCacheDir}): `$ORAS_CACHE_DIR` in `env`, then this, then `$XDG_CACHE_HOME/oras-ts`, then `~/.cache/oras-ts`. */
  cacheDir?: string;
  /** Cache size budget in bytes (the config's `cache.maxSize`): after a successful install, least recently used content no registered project needs is pruned until the cache fits (skipped when the cache is busy). Default: none. */
  cacheMaxSize?: number;
  /** How files are placed (default `auto`: reflink, else copy). */
  linkMode?: LinkMode;
  /** Environment (for `CI`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for another process holding the project lock (default 10 min). */
  lockTimeoutMs?: number;
  /** Most tar entries a directory layer may unpack to (default 100,000; the config's `limits.maxEntries`). More → `ERR_ORAS_LIMIT_EXCEEDED`. */
  maxEntries?: number;
  /** Most uncompressed bytes a directory layer may unpack to (default 8 GiB; the config's `limits.maxUncompressedBytes`). More → `ERR_ORAS_LIMIT_EXCEEDED`. */
  maxUncompressedBytes?: number;
  /**
   * Largest declared size of a dependency to download (its layers, each and
   * together; default 64 GiB, the config's `limits.maxArtifactBytes`). More →
   * `ERR_ORAS_LIMIT_EXCEEDED`; downloads that do not fit the cache's free
   * space → `ERR_ORAS_NO_SPACE`; both before anything is fetched.
   */
  maxArtifactBytes?: number;
  signal?: AbortSignal;
  onEvent?: ProjectListener;
}

/** {@link InstallOptions} once the stores are settled (what the full install path receives). */
export type SettledInstallOptions = InstallOptions & { targetFactory: TargetFactory };

/** What {@link install} did (or would do, with `dryRun`). */
export interface InstallResult {
  counts: PlanCounts;
  /** True when artifacts.lock differs from before (written unless dry-run). */
  lockfileChanged: boolean;
  lockfile: Lockfile;
  /** Every action, keeps included, sorted by path. */
  actions: PlanAction[];
  dryRun: boolean;
  /**
   * True when the no-op fast path proved that nothing changed since the last
   * completed install (artifacts.yaml and artifacts.lock match the stamps in
   * `.oras/state.json`, every installed file matches its stat record): nothing
   * was parsed or validated. `lockfile` and `actions` are then computed on
   * first access (from the verified artifacts.lock bytes).
   */
  fastPath: boolean;
  /** Milliseconds spent per phase. */
  durations: { resolve: number; plan: number; fetch: number; reify: number; total: number };
  /**
   * Locked release tags that now name other content, found for entries this
   * install fetched from their registry (the lock kept the old digest; see
   * `plan/republished-check.ts`). Absent when none were found or checked.
   */
  republished?: RepublishedTag[];
}

/**
 * The environment that locates the user's state key (`XDG_STATE_HOME`,
 * `HOME`): `env` over `process.env`, so a partial `env` (e.g. only `CI`)
 * still finds the key of the user running the process.
 */
export function stateEnv(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  return env === undefined || env === process.env ? process.env : { ...process.env, ...env };
}

function isCi(env: NodeJS.ProcessEnv): boolean {
  const v = env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/**
 * Installs the project's dependencies (compute first, then apply):
 * lock the project → read `.oras/state.json` → **fast path**: when the last
 * completed install recorded artifacts.yaml/artifacts.lock stamps that still
 * match (stat and SHA-256; with `frozenLockfile` also their recorded
 * agreement) and every installed file still matches its stat record, return
 * a no-op result (`fastPath: true`) without parsing anything (not with
 * `verify` or `update`). Otherwise the full path (`install-full.ts`, loaded on
 * demand): load artifacts.yaml + artifacts.lock → frozen: compare and fail
 * with `ERR_ORAS_FROZEN_LOCKFILE` (readable diff) on any drift, else resolve
 * missing/unsatisfied/updated dependencies (no silent upgrades: a locked
 * resolution is kept while it satisfies the spec; a lock with git conflict
 * markers is merged by entry) and compute their files → observe the tree
 * (`loadActual`) → `diff` → (dry-run: return) → refuse conflicts
 * (`ERR_ORAS_USER_MODIFIED`) → make the needed blobs available in the shared
 * cache (`--offline`: `ERR_ORAS_OFFLINE` listing what is missing) → `reify` →
 * write the lock if it changed (a refused or failed run leaves it as it was)
 * → state written (with the input stamps when everything succeeded). A warm cache and an up-to-date lock need no
 * network at all.
 */
export async function install(options: InstallOptions): Promise<InstallResult> {
  const t0 = performance.now();
  if (options.targetFactory !== undefined) return installWith(options, options.targetFactory, t0);
  return withConfiguredTargets(options.projectDir, options, (config, targets) =>
    installWith({ ...installSettings(config), ...options }, targets.readFactory(), t0),
  );
}

/** {@link install} with its stores settled. */
async function installWith(options: InstallOptions, targetFactory: TargetFactory, t0: number): Promise<InstallResult> {
  const projectDir = resolvePath(options.projectDir);
  const env = options.env ?? process.env;
  const frozen = options.frozenLockfile ?? isCi(env);
  const onEvent = options.onEvent;
  const lockOpts = {
    ...(onEvent ? { onEvent } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.lockTimeoutMs !== undefined ? { timeoutMs: options.lockTimeoutMs } : {}),
  };
  return withProjectLock(projectDir, lockOpts, async () => {
    const state = await readState(projectDir, { env: stateEnv(options.env), ...(onEvent ? { onEvent } : {}) });
    // After an install that never finished syncing its writes, the fast path's stat check is not enough.
    if (options.verify !== true && options.update === undefined && !hasInProgress(projectDir)) {
      const fast = checkFastNoop(projectDir, state, { frozen });
      // A version 1 lock is rewritten as version 2 by the next non-frozen install (full path).
      if (fast !== undefined && !(frozen === false && fast.lockBytes !== undefined && isLockV1(fast.lockBytes))) {
        const counts: PlanCounts = { add: 0, change: 0, remove: 0, keep: fast.files, conflict: 0 };
        emit(onEvent, { type: 'plan', counts });
        return fastResult(counts, fast.lockBytes, options.dryRun === true, t0);
      }
    }
    const [{ installFull }, { withCacheSession }] = await Promise.all([
      import('./install-full.js'),
      import('./apply/cache/session.js'),
    ]);
    const full = { ...options, targetFactory };
    return withCacheSession(full, projectDir, (recordEarly) =>
      installFull(full, { t0, projectDir, frozen, state, recordEarly }),
    );
  });
}

/** True when lock text declares `lockfileVersion: 1` (a top-level key near the start; cheap, no parse). */
function isLockV1(bytes: Buffer): boolean {
  return /^lockfileVersion: 1$/m.test(bytes.subarray(0, 512).toString('utf8'));
}

/** The result of a fast-path no-op: `lockfile` and `actions` are parsed from the verified lock text on first access. */
function fastResult(counts: PlanCounts, lockBytes: Buffer | undefined, dryRun: boolean, t0: number): InstallResult {
  let lock: Lockfile | undefined;
  let actions: PlanAction[] | undefined;
  const lockfile = (): Lockfile => (lock ??= parseVerifiedLock(lockBytes?.toString('utf8')));
  const total = performance.now() - t0;
  return {
    counts,
    lockfileChanged: false,
    get lockfile(): Lockfile {
      return lockfile();
    },
    get actions(): PlanAction[] {
      if (actions === undefined) {
        const wanted = lockedFiles(lockfile());
        actions = [...wanted.keys()].sort().map((path) => {
          const { file, dependency } = wanted.get(path)!;
          return { kind: 'keep', path, file, dependency };
        });
      }
      return actions;
    },
    dryRun,
    fastPath: true,
    durations: { resolve: 0, plan: total, fetch: 0, reify: 0, total },
  };
}

/**
 * Parses lock text whose SHA-256 equals that of a lock a completed install
 * validated (so no validation is repeated): the same YAML options as the
 * validating parser (the canonical fast reader first). `yaml` is loaded only here.
 */
function parseVerifiedLock(text: string | undefined): Lockfile {
  if (text === undefined) return { lockfileVersion: LOCKFILE_VERSION, dependencies: {}, publish: {} };
  const fast = parseCanonicalYaml(text) as Record<string, unknown> | undefined;
  const doc =
    fast ??
    ((createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text, {
      uniqueKeys: true,
      strict: true,
      maxAliasCount: 100,
    }) as Record<string, unknown> | null);
  return lockFromDocument(doc ?? {});
}

/** `install` with `update` set (all dependencies by default): re-resolves tags and ranges. */
export function update(options: Omit<InstallOptions, 'update'> & { names?: string[] }): Promise<InstallResult> {
  const { names, ...rest } = options;
  return install({ ...rest, update: names !== undefined && names.length > 0 ? names : true });
}

/** `install` as a dry run: the plan, with nothing changed in the project. */
export function plan(options: Omit<InstallOptions, 'dryRun'>): Promise<InstallResult> {
  return install({ ...options, dryRun: true });
}
