import { performance } from 'node:perf_hooks';
import { posix } from 'node:path';
import { OrasError } from '../errors.js';
import { mapBounded } from '../artifact/map-bounded.js';
import type { Descriptor } from '../oci/descriptor.js';
import { loadActual } from './plan/actual.js';
import { ProjectCache } from './apply/cache/project-cache.js';
import type { BlobNeed } from './apply/cache/cache-options.js';
import { defaultCacheDir } from './spec/config.js';
import { layerRoot, loadPlanPull, Sources } from './plan/locked-files.js';
import { settleDeferredLock } from './plan/deferred-files.js';
import { bindingError, lockBindingProblems } from './spec/lock-binding.js';
import { countPlan, diff } from './plan/diff.js';
import { emit, type PlanCounts } from './events.js';
import { stateEnv, type InstallResult, type SettledInstallOptions } from './install.js';
import { serializeLockfile, writeLockfileStamped } from './spec/lockfile.js';
import { loadManifest } from './spec/manifest.js';
import { readInProgress, withoutTornWrites } from './apply/in-progress.js';
import { assertNoConflicts, reify, type AfterSync } from './apply/reify.js';
import { dependencyRoots } from './apply/state-roots.js';
import type { LayerSource } from './apply/layer-place.js';
import { Prefills } from './apply/prefill.js';
import { checkRepublished, type RepublishedTag } from './plan/republished-check.js';
import { assertDownloadBudget, type PlannedDownload } from './plan/download-budget.js';
import { compareManifestToLock, formatSpecChanges } from './plan/spec-diff.js';
import {
  LOCKFILE_VERSION,
  type FileStamp,
  type InstallInputs,
  type InstallState,
  type LockedDependency,
  type LockedFile,
  type Lockfile,
  type Plan,
  type PlanAction,
  type ProjectManifest,
} from './types.js';
import {
  bindEntries,
  bindOptions,
  checkOverlaps,
  computeLock,
  manifestBindingError,
  readOldLock,
  withoutEntries,
} from './plan/lock-compute.js';

/**
 * The full install path (resolution, planning, fetching, reify), loaded by
 * `install.ts` only when the no-op fast path does not apply: it pulls in
 * the rest on demand: `artifact/pull.js` (with tar-stream) and picomatch
 * only to compute files of newly resolved dependencies or to place unpacked
 * layers, yaml only for non-canonical files and writing the lock, ajv only
 * without the precompiled validators, semver only for ranges. A warm install
 * from a lock of plain layers loads none of them.
 */

/** What {@link install} already established before handing over to {@link installFull}. */
export interface FullRun {
  /** `performance.now()` at the start of the install. */
  t0: number;
  /** Absolute project directory. */
  projectDir: string;
  /** Effective `--frozen-lockfile`. */
  frozen: boolean;
  /** The state read under the project lock. */
  state: InstallState;
  /** The cache session's early records (see `withCacheSession`), started while the writes are synced. */
  recordEarly?: (deps: LockedDependency[], lockHash?: string) => void;
}

/**
 * The full install (compute first, then apply), run by `install` under the
 * project lock when the no-op fast path does not apply: load artifacts.yaml +
 * artifacts.lock → frozen: compare and fail with `ERR_ORAS_FROZEN_LOCKFILE` (readable diff) on any drift,
 * else resolve missing/unsatisfied/updated dependencies (no silent upgrades,
 * see `plan/locked-resolution.ts`; a lock with git conflict markers is merged
 * by entry first) and compute their files → the new lock stays in memory →
 * observe the tree (`loadActual`) → `diff` → (dry-run: return) → refuse
 * conflicts (`ERR_ORAS_USER_MODIFIED`) → make the needed blobs available in
 * the shared cache (`--offline`: `ERR_ORAS_OFFLINE` listing what is missing) →
 * `reify` → write the lock if it changed → state written (with the input
 * stamps when everything succeeded). A refused or failed run leaves
 * artifacts.lock as it was. A warm cache and an up-to-date lock need no
 * network at all.
 */
export async function installFull(options: SettledInstallOptions, run: FullRun): Promise<InstallResult> {
  // A dry run writes nothing, so it prefills nothing either (see apply/prefill.ts).
  const prefills = options.dryRun === true ? undefined : Prefills.open(run.projectDir);
  try {
    return await installWith(options, run, prefills);
  } finally {
    await prefills?.dispose();
  }
}

async function installWith(
  options: SettledInstallOptions,
  run: FullRun,
  prefills: Prefills | undefined,
): Promise<InstallResult> {
  const locked = await lockStep(options, run, prefills);
  prefills?.seal();
  const t1 = performance.now();
  const planned = await planStep(options, run, locked.lock);
  const t2 = performance.now();
  const { lock, lockfileChanged } = locked;
  const result = (fetch: number, reified: number, republished: RepublishedTag[]): InstallResult => ({
    counts: planned.counts,
    ...(republished.length > 0 ? { republished } : {}),
    lockfileChanged,
    lockfile: lock,
    actions: planned.plan.actions,
    dryRun: options.dryRun === true,
    fastPath: false,
    durations: { resolve: t1 - run.t0, plan: t2 - t1, fetch, reify: reified, total: performance.now() - run.t0 },
  });
  if (options.dryRun === true) return result(0, 0, []);
  assertNoConflicts(planned.plan);
  const fetched = await fetchStep(options, locked, planned.plan);
  const t3 = performance.now();
  await applyStep(options, run, locked, planned, { roots: fetched.roots, prefills });
  return result(t3 - t2, performance.now() - t3, fetched.republished);
}

/** What {@link lockStep} settled: the inputs, the shared cache, and the lock the tree will follow. */
interface LockedRun {
  manifest: ProjectManifest;
  manifestStamp: FileStamp & { name: string };
  /** artifacts.lock as found (see `readOldLock`). */
  old: { lock: Lockfile | undefined; stamp: FileStamp | null; merged: boolean };
  /** The new lock (in memory until the tree follows it). */
  lock: Lockfile;
  lockfileChanged: boolean;
  cache: ProjectCache;
  sources: Sources;
}

/**
 * How many bytes of the layers whose listings an install derives it keeps in memory for their
 * placement (64 MiB): a layer of small files is then read once, not twice (see scan-replay.ts).
 * Larger layers, and the rest once this is spent, are read again from the cached blob.
 */
const SCAN_REPLAY_BYTES = 64 * 1024 * 1024;

/** Step 1: load artifacts.yaml and artifacts.lock, open the cache, and compute the new lock (frozen: check it). */
async function lockStep(
  options: SettledInstallOptions,
  run: FullRun,
  prefills: Prefills | undefined,
): Promise<LockedRun> {
  const onEvent = options.onEvent;
  const { manifest, stamp: manifestStamp } = await loadManifest(run.projectDir);
  const found = await readOldLock(run.projectDir, run.frozen, onEvent);
  const cache = await ProjectCache.open(defaultCacheDir(options.env ?? process.env, options.cacheDir), {
    ...(onEvent ? { onEvent } : {}),
    replayBytes: SCAN_REPLAY_BYTES,
    ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
    ...(options.maxUncompressedBytes !== undefined ? { maxUncompressedBytes: options.maxUncompressedBytes } : {}),
    ...(options.maxArtifactBytes !== undefined ? { maxArtifactBytes: options.maxArtifactBytes } : {}),
  });
  const sources = new Sources(options.targetFactory, cache, options.offline === true);
  cache.setPrefiller(prefills); // the listings derived from here on (this object's) prefill
  const { deferred, ...read } = found;
  const old =
    deferred === undefined
      ? read
      : {
          ...read,
          lock: await settleDeferredLock(deferred, sources, cache, {
            concurrency: options.concurrency ?? 8,
            ...(options.signal ? { signal: options.signal } : {}),
          }),
        };
  const lock = run.frozen
    ? await frozenLock(manifest, old.lock, sources, cache, options)
    : await freshLock(manifest, old.lock, sources, cache, options);
  cache.setPrefiller(undefined);
  checkOverlaps(lock);
  const lockfileChanged = old.merged || lockDiffers(old.lock, lock);
  return { manifest, manifestStamp, old, lock, lockfileChanged, cache, sources };
}

/**
 * `--frozen-lockfile`: the lock as found, which must match artifacts.yaml (`ERR_ORAS_FROZEN_LOCKFILE`
 * with a readable diff), name only what artifacts.yaml names and list only what its locked manifests
 * produce (`ERR_ORAS_LOCK_MISMATCH`).
 */
async function frozenLock(
  manifest: ProjectManifest,
  oldLock: Lockfile | undefined,
  sources: Sources,
  cache: ProjectCache,
  options: SettledInstallOptions,
): Promise<Lockfile> {
  const { changes } = compareManifestToLock(manifest, oldLock, { sections: ['dependencies'] });
  if (changes.length > 0 || (oldLock === undefined && Object.keys(manifest.dependencies).length > 0)) {
    throw new OrasError(
      'ERR_ORAS_FROZEN_LOCKFILE',
      `artifacts.lock is out of date with artifacts.yaml:\n${formatSpecChanges(changes) || '(no artifacts.lock)'}`,
      {
        hint: 'run `oras install` without --frozen-lockfile (and without CI=true) to update artifacts.lock, and commit it',
        details: {
          changes: changes.map((c) => ({ ...c })),
          ...(oldLock === undefined ? { lockfile: 'missing' } : {}),
        },
      },
    );
  }
  const lock = oldLock ?? { lockfileVersion: LOCKFILE_VERSION, dependencies: {}, publish: {} };
  // The lock names only what artifacts.yaml names, and lists only what its manifests produce.
  const problems = await lockBindingProblems(manifest, lock);
  if (problems.length > 0) throw bindingError(problems);
  const bound = await bindEntries(lock.dependencies, sources, cache, bindOptions(options));
  if (bound.problems.length > 0) throw manifestBindingError(bound.problems);
  return lock;
}

/** Not frozen: entries naming another repository, tag or digest than artifacts.yaml are re-resolved (with an event), then {@link computeLock}. */
async function freshLock(
  manifest: ProjectManifest,
  oldLock: Lockfile | undefined,
  sources: Sources,
  cache: ProjectCache,
  options: SettledInstallOptions,
): Promise<Lockfile> {
  const rejected = oldLock === undefined ? [] : await lockBindingProblems(manifest, oldLock);
  for (const p of rejected)
    emit(options.onEvent, {
      type: 'lock-entry-rejected',
      dependency: p.dependency,
      reason: `artifacts.yaml requires ${p.field} ${p.expected}, artifacts.lock has ${p.found}`,
      action: 're-resolve',
    });
  const kept = withoutEntries(
    oldLock,
    rejected.map((p) => p.dependency),
  );
  return computeLock(manifest, kept, options, sources, cache);
}

/**
 * True when `lock` differs from the lock as found. Entries kept by resolution are the old lock's own
 * objects: when every entry is, nothing changed and the (costly, for 10,000 files) serialization of
 * both locks is skipped.
 */
function lockDiffers(oldLock: Lockfile | undefined, lock: Lockfile): boolean {
  if (oldLock === undefined) return Object.keys(lock.dependencies).length > 0 || Object.keys(lock.publish).length > 0;
  const sameEntries = <T>(a: Record<string, T>, b: Record<string, T>): boolean => {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
  };
  if (
    lock === oldLock ||
    (sameEntries(lock.dependencies, oldLock.dependencies) && sameEntries(lock.publish, oldLock.publish))
  )
    return false;
  return serializeLockfile(oldLock) !== serializeLockfile(lock);
}

/** What {@link planStep} observed and decided. */
interface PlannedRun {
  actual: Awaited<ReturnType<typeof loadActual>>;
  plan: Plan;
  counts: PlanCounts;
}

/**
 * Step 2: observe the tree and diff it against the new lock. An earlier install that left its
 * in-progress marker (killed or power loss before its writes were synced): rehash every file, and
 * rewrite what that run tore instead of calling it a user edit.
 */
async function planStep(options: SettledInstallOptions, run: FullRun, lock: Lockfile): Promise<PlannedRun> {
  const onEvent = options.onEvent;
  const interrupted = await readInProgress(run.projectDir);
  const observed = await loadActual(run.projectDir, run.state, {
    ideal: lock,
    ...(options.verify === true || interrupted !== undefined ? { verify: true } : {}),
    ...(onEvent ? { onEvent } : {}),
  });
  const actual = interrupted === undefined ? observed : withoutTornWrites(observed, interrupted, lock);
  const plan: Plan = diff(lock, actual, { force: options.force === true });
  const counts = countPlan(plan);
  emit(onEvent, { type: 'plan', counts });
  return { actual, plan, counts };
}

/** Where an unpacked directory layer's files come from: its root in the project, the layer, its source. */
interface LayerRoot {
  root: string;
  layer: Descriptor;
  title: string;
}

/**
 * Step 3: make the content of every write available in the shared cache (plain blobs by digest and
 * size; unpacked layers with their listing), after the size limit and free-space checks for
 * everything this install downloads; then the advisory republished-tag check. Returns the layer
 * roots by layer digest.
 */
async function fetchStep(
  options: SettledInstallOptions,
  locked: LockedRun,
  plan: Plan,
): Promise<{ roots: Map<string, LayerRoot>; republished: RepublishedTag[] }> {
  const { lock, cache, sources } = locked;
  const offline = options.offline === true;
  const writes = plan.actions.filter(
    (a): a is Extract<PlanAction, { kind: 'add' | 'change' }> => a.kind === 'add' || a.kind === 'change',
  );
  const downloads: PlannedDownload[] = []; // what the fetch phase will request, for the size rules
  const needs = await plainBlobNeeds(writes, locked, downloads);
  const roots = await unpackedLayerRoots(writes, locked, offline, { downloads, needs });
  await assertDownloadBudget(lock.dependencies, downloads, cache.root, cache.maxArtifactBytes);
  await cache.ensureBlobs(needs, {
    offline,
    concurrency: Math.max(1, Math.min(options.concurrency ?? 8, 8)),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  // Entries fetched from their registry in this run: did a locked release tag move? (advisory, kept)
  const republished = await checkRepublished(lock.dependencies, sources, {
    concurrency: options.concurrency ?? 8,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  return { roots, republished };
}

type WriteAction = Extract<PlanAction, { kind: 'add' | 'change' }>;

/** The plain (not unpacked) blobs the writes need that the cache lacks; each is also recorded in `downloads`. */
async function plainBlobNeeds(
  writes: WriteAction[],
  { lock, cache, sources }: LockedRun,
  downloads: PlannedDownload[],
): Promise<BlobNeed[]> {
  const plainWrites = writes.filter((a) => a.file.layer === a.file.digest);
  // Which plain blobs are cached: stat them concurrently (bounded), keeping the plan's order.
  const cached = await mapBounded(plainWrites, 32, (a) => cache.has({ digest: a.file.digest, size: a.file.size }));
  const needs: BlobNeed[] = [];
  for (const [i, a] of plainWrites.entries()) {
    if (cached[i] === true) continue;
    const desc: Descriptor = { mediaType: 'application/octet-stream', digest: a.file.digest, size: a.file.size };
    needs.push({
      desc,
      source: await sources.forDependency(lock.dependencies[a.dependency]!),
      label: `${a.dependency} ${a.path}`,
    });
    downloads.push({ dependency: a.dependency, desc });
  }
  return needs;
}

/**
 * The root of every directory layer the writes need (from the verified manifest); a layer blob the
 * cache lacks is added to `needs` (and, unless offline, to `downloads`).
 */
async function unpackedLayerRoots(
  writes: WriteAction[],
  { lock, cache, sources }: LockedRun,
  offline: boolean,
  { downloads, needs }: { downloads: PlannedDownload[]; needs: BlobNeed[] },
): Promise<Map<string, LayerRoot>> {
  const unpackedLayers = new Map<string, string>(); // layer digest → dependency name
  for (const a of writes)
    if (a.file.layer !== a.file.digest && !unpackedLayers.has(a.file.layer))
      unpackedLayers.set(a.file.layer, a.dependency);
  const planPull = await loadPlanPull();
  // Several layers at a time (each asks the cache whether its blob is there); recorded in order.
  const found = await mapBounded([...unpackedLayers], 8, async ([layerDigest, depName]) => {
    const dep = lock.dependencies[depName]!;
    const m = await sources.manifest(dep);
    const depPath = posix.normalize(dep.specifier.path).replace(/\/+$/, '');
    const l =
      planPull(m, { outDir: '/' }).layers.find((x) => x.layer.digest === layerDigest) ??
      planPull(m, { outDir: '/', includeUntitled: true }).layers.find((x) => x.layer.digest === layerDigest);
    if (l === undefined)
      throw new OrasError('ERR_ORAS_LOCKFILE', `layer ${layerDigest} of ${depName} is not in manifest ${dep.digest}`, {
        hint: 'the lockfile was edited; run `oras update ' + depName + '`',
      });
    // Directory layers are placed straight from their blobs: the blob is what must be cached.
    const need = (await cache.store.exists(l.layer))
      ? undefined
      : { desc: l.layer, source: await sources.forDependency(dep), label: `${depName} ${l.title}` };
    return { layerDigest, depName, l, need, root: layerRoot(depPath, l.relativePath) };
  });
  const roots = new Map<string, LayerRoot>();
  for (const { layerDigest, depName, l, need, root } of found) {
    if (need !== undefined) {
      needs.push(need);
      if (!offline) downloads.push({ dependency: depName, desc: l.layer });
    }
    roots.set(layerDigest, { root, layer: l.layer, title: l.title });
  }
  return roots;
}

/**
 * Step 4: reify the tree; with a changed lock (not frozen) reify then writes artifacts.lock (through
 * `inputsAfter`) and the state once, with the input stamps. Order: the tree first (synced), then
 * artifacts.lock, then the state. A refused or failed reify leaves artifacts.lock as it was (the
 * state records what landed); a crash between the steps leaves the in-progress marker and an older
 * state, so the rerun takes the full path, rehashes and converges (it resolves the same lock again:
 * nothing moves without `update`).
 */
async function applyStep(
  options: SettledInstallOptions,
  run: FullRun,
  locked: LockedRun,
  planned: PlannedRun,
  { roots, prefills }: { roots: Map<string, LayerRoot>; prefills: Prefills | undefined },
): Promise<void> {
  const { projectDir, frozen } = run;
  const { manifest, manifestStamp, old, lock, cache } = locked;
  const onEvent = options.onEvent;
  const writeLock = locked.lockfileChanged && !frozen && options.dryRun !== true;
  const deps = Object.values(lock.dependencies);
  // Recorded with the state only if everything succeeds: enables the next run's fast path.
  const agree = (stamp: FileStamp | null): boolean =>
    frozen ||
    (compareManifestToLock(manifest, lock, { sections: ['dependencies'] }).changes.length === 0 &&
      !(stamp === null && Object.keys(manifest.dependencies).length > 0));
  await reify({
    projectDir,
    plan: planned.plan,
    actual: planned.actual,
    state: run.state,
    sourceFor: fileSource(cache),
    layerFor: layerSource(cache, roots, prefills, options.signal),
    // With a new lock: artifacts.lock is written once the tree follows it, then the state with its stamp.
    ...(writeLock
      ? {
          inputsAfter: lockAfterSync(projectDir, lock, onEvent, (stamp) => {
            // The lock about to land is known: the cache's records need not wait for it either.
            run.recordEarly?.(deps, stamp.sha256);
            return { manifest: manifestStamp, lock: stamp, agree: agree(stamp) };
          }),
        }
      : { inputs: { manifest: manifestStamp, lock: old.stamp, agree: agree(old.stamp) } }),
    roots: dependencyRoots(lock),
    // The lock on disk stays as it is (its hash is recorded): the cache's records need not wait.
    // (A dry run returns before this step.)
    ...(run.recordEarly !== undefined && !writeLock
      ? { whileSyncing: () => run.recordEarly?.(deps, old.stamp?.sha256) }
      : {}),
    env: stateEnv(options.env),
    concurrency: options.concurrency ?? 8,
    ...(options.linkMode !== undefined ? { linkMode: options.linkMode } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(onEvent ? { onEvent } : {}),
  });
}

/**
 * Reify's `inputsAfter` for a new lock: artifacts.lock's temp is filled and fsynced while the tree
 * is synced, and renamed once `synced` resolved (`lockfile-written` then). The inputs resolve with
 * the lock's stamp as soon as the temp is complete (a rename keeps it), so reify fills the state's
 * temp meanwhile too; the state lands after the lock.
 */
function lockAfterSync(
  projectDir: string,
  lock: Lockfile,
  onEvent: SettledInstallOptions['onEvent'],
  inputsFor: (stamp: FileStamp) => InstallInputs,
): (synced: () => Promise<void>) => AfterSync {
  return (synced) => {
    let stamped: (stamp: FileStamp) => void = () => undefined;
    const stamp = new Promise<FileStamp>((resolve) => (stamped = resolve));
    const landed = writeLockfileStamped(projectDir, lock, {
      beforeRename: (s) => {
        stamped(s);
        return synced();
      },
    }).then((written) => emit(onEvent, { type: 'lockfile-written', path: written.path }));
    // The stamp comes before the rename; a write that fails before it rejects the inputs too.
    const inputs = Promise.race([stamp, landed.then(() => stamp)]).then(inputsFor);
    return { inputs, landed };
  };
}

/** Where reify reads a file of a plain (single-file) layer from: the cached blob. */
function fileSource(cache: ProjectCache): (file: LockedFile) => Promise<string> {
  return (file) => Promise.resolve(cache.blobPath(file.digest));
}

/** Where reify extracts a file of a directory layer from: one scan of the layer's cached blob per layer. */
function layerSource(
  cache: ProjectCache,
  roots: Map<string, LayerRoot>,
  prefills: Prefills | undefined,
  signal: AbortSignal | undefined,
): (file: LockedFile) => LayerSource | undefined {
  const made = new Map<string, LayerSource>(); // one per layer, not one per file
  return (file) => {
    if (file.layer === file.digest) return undefined;
    const known = made.get(file.layer);
    if (known !== undefined) return known;
    const r = roots.get(file.layer);
    if (r === undefined)
      throw new OrasError('ERR_ORAS_LOCKFILE', `${file.path} names layer ${file.layer}, which its artifact lacks`, {
        hint: 'the lockfile was edited; run `oras update`',
      });
    const source: LayerSource = {
      key: `${r.layer.digest} ${r.root}`,
      root: r.root,
      scan: (visitor) => cache.scanLayer(r.layer, { stripPrefix: r.title, ...(signal ? { signal } : {}) }, visitor),
      ...(prefills !== undefined
        ? { adopt: (actions) => prefills.adopt(r.layer.digest, r.title, r.root, actions) }
        : {}),
    };
    made.set(file.layer, source);
    return source;
  };
}
