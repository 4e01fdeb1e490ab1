import { performance } from 'node:perf_hooks';
import { join, posix } from 'node:path';
import pLimit from 'p-limit';
import { createRequire } from 'node:module';
import type picomatchType from 'picomatch';
import { readFile } from 'node:fs/promises';
import { isOrasError, OrasError } from '../errors.js';
import type { Descriptor, ImageManifest } from '../oci/descriptor.js';
import { Annotation } from '../oci/media-types.js';
import { parseManifest } from '../oci/manifest.js';
import { parseReference, type Reference } from '../oci/reference.js';
import { loadActual } from './plan/actual.js';
import { defaultCacheDir, ProjectCache, type BlobNeed, type UnpackedFile } from './apply/cache.js';
import { keepConfig } from './apply/cache-index.js';
import { repositoryOf } from './spec/dependency-ref.js';
import { countPlan, diff } from './plan/diff.js';
import { emit, type ProjectListener } from './events.js';
import type { InstallOptions, InstallResult, TargetFactory } from './install.js';
import { LOCKFILE_NAME, serializeLockfile, readLockfileStamped, writeLockfileStamped } from './spec/lockfile.js';
import { writeState } from './apply/state.js';
import { loadManifest } from './spec/manifest.js';
import { assertProjectRelativePath } from './apply/materialize.js';
import { readInProgress, withoutTornWrites } from './apply/in-progress.js';
import { assertNoConflicts, reify } from './apply/reify.js';
import { resolveAll, type ResolvedDependency, type ResolveTarget } from './plan/resolve.js';
import { compareManifestToLock, formatSpecChanges } from './plan/spec-diff.js';
import { LOCKFILE_VERSION, type DependencySpec, type FileStamp, type InstallState, type LockedDependency, type LockedFile, type Lockfile, type Plan, type PlanAction, type ProjectManifest } from './types.js';

/**
 * The full install path (resolution, planning, fetching, reify), loaded by
 * `install.ts` only when the no-op fast path does not apply: it pulls in
 * the rest on demand: `artifact/pull.js` (with tar-stream) and picomatch
 * only to compute files of newly resolved dependencies or to place unpacked
 * layers, yaml only for non-canonical files and writing the lock, ajv only
 * without the precompiled validators, semver only for ranges. A warm install
 * from a lock of plain layers loads none of them.
 */

/** `planPull`, loaded on first use (it pulls in tar-stream). */
async function loadPlanPull(): Promise<typeof import('../artifact/pull.js').planPull> {
  return (await import('../artifact/pull.js')).planPull;
}

let picomatchModule: typeof picomatchType | undefined;
function picomatchLib(): typeof picomatchType {
  return (picomatchModule ??= createRequire(import.meta.url)('picomatch') as typeof picomatchType);
}

/** Per-run access to dependency sources and manifests (lazy: no network unless needed). */
class Sources {
  private readonly targets = new Map<string, Promise<ResolveTarget>>();
  private readonly manifests = new Map<string, Promise<ImageManifest>>();
  constructor(private readonly factory: TargetFactory, private readonly cache: ProjectCache, private readonly offline: boolean) {}

  target(repository: string): Promise<ResolveTarget> {
    let t = this.targets.get(repository);
    if (t === undefined) {
      if (this.offline) {
        return Promise.reject(new OrasError('ERR_ORAS_OFFLINE', `offline: ${repository} is not reachable`, { hint: 'run without --offline to fetch what is missing' }));
      }
      t = Promise.resolve(this.factory(repository));
      this.targets.set(repository, t);
    }
    return t;
  }

  forDependency(dep: LockedDependency): Promise<ResolveTarget> {
    return this.target(repositoryOf(parseReference(dep.resolved)));
  }

  /** The image manifest of a locked dependency: from the cache by digest, else fetched (and cached). */
  manifest(dep: LockedDependency): Promise<ImageManifest> {
    let m = this.manifests.get(dep.digest);
    if (m === undefined) {
      m = (async () => {
        let desc: Descriptor | undefined;
        const cachedSize = await this.cache.store.resolve(dep.digest).then((d) => d.size, () => undefined);
        if (cachedSize !== undefined) desc = { mediaType: dep.mediaType, digest: dep.digest, size: cachedSize };
        let source: ResolveTarget | undefined;
        if (desc === undefined) {
          if (this.offline) throw new OrasError('ERR_ORAS_OFFLINE', `offline: manifest ${dep.digest} (${dep.resolved}) is not in the cache`, { hint: 'run without --offline to fetch it' });
          source = await this.forDependency(dep);
          desc = await source.resolve(dep.digest);
        }
        const bytes = await this.cache.manifest(desc, source, { offline: this.offline });
        const parsed = parseManifest(bytes, desc.mediaType);
        if (parsed.kind !== 'manifest') throw new OrasError('ERR_ORAS_LOCKFILE', `locked digest ${dep.digest} of ${dep.resolved} is an index, not a manifest`, { hint: 'delete the entry from artifacts.lock and install again' });
        return parsed.manifest;
      })();
      this.manifests.set(dep.digest, m);
    }
    return m;
  }
}

/** The project-relative root of a layer (`<dep.path>/<title>`), POSIX. */
function layerRoot(depPath: string, relativePath: string): string {
  return posix.normalize(posix.join(depPath, relativePath));
}

/** `rel` and its parent directories, nearest first (`a/b/c` → `a/b/c`, `a/b`, `a`). */
function selfAndAncestors(rel: string): string[] {
  const out = [rel];
  for (let d = posix.dirname(rel); d !== '.' && d !== '/' && d !== ''; d = posix.dirname(d)) out.push(d);
  return out;
}

/** True when `a` is `b` or below it (POSIX relative paths). */
function within(a: string, b: string): boolean {
  return b === '' || a === b || a.startsWith(`${b}/`);
}

/**
 * The `include`/`exclude` selection of a dependency over installed paths
 * relative to its `path` (see {@link DependencySpec.include}): a path is
 * dropped when an exclude glob matches it or one of its parent directories;
 * with include globs it is kept only when one matches it or one of its parent
 * directories. `mayContain(dir)` is false only when no file below `dir` can
 * be selected (so a directory layer need not be fetched at all).
 */
function pathSelection(spec: DependencySpec): { selects: (rel: string) => boolean; mayContain: (dir: string) => boolean } {
  const inc = spec.include !== undefined && spec.include.length > 0 ? spec.include : undefined;
  const exc = spec.exclude !== undefined && spec.exclude.length > 0 ? spec.exclude : undefined;
  const picomatch = inc !== undefined || exc !== undefined ? picomatchLib() : undefined;
  const include = inc && picomatch ? picomatch(inc, { dot: true }) : undefined;
  const exclude = exc && picomatch ? picomatch(exc, { dot: true }) : undefined;
  // Static bases of the include globs ('' = could match anywhere), for the cheap "can anything below dir match" test.
  const bases = (inc ?? []).map((g) => {
    const scan = picomatchLib().scan(g);
    return scan.negated ? '' : posix.normalize(scan.base || '.').replace(/^\.$/, '').replace(/\/+$/, '');
  });
  const selects = (rel: string): boolean => {
    const chain = selfAndAncestors(rel);
    if (exclude && chain.some((p) => exclude(p))) return false;
    return include === undefined || chain.some((p) => include(p));
  };
  const mayContain = (dir: string): boolean => {
    const chain = selfAndAncestors(dir);
    if (exclude && chain.some((p) => exclude(p))) return false;
    if (include === undefined || chain.some((p) => include(p))) return true;
    return bases.some((b) => within(dir, b) || within(b, dir));
  };
  return { selects, mayContain };
}

/**
 * Computes the locked files of a dependency from its manifest: `planPull`
 * selection (media types; include/exclude over the installed paths relative
 * to `spec.path`, see {@link pathSelection}); plain layers are one file at
 * `<path>/<title>`; directory layers (`io.deis.oras.content.unpack`, unless
 * `unpack: false`) are unpacked into the cache once — unless no file below
 * their title can be selected — and every selected regular file becomes a
 * LockedFile whose `layer` is the tarball digest.
 */
async function filesFor(name: string, spec: DependencySpec, manifest: ImageManifest, cache: ProjectCache, source: ResolveTarget | undefined, offline: boolean, signal?: AbortSignal): Promise<LockedFile[]> {
  const depPath = posix.normalize(spec.path).replace(/\/+$/, '');
  const selection = pathSelection(spec);
  const unpacks = (l: { unpack: boolean }): boolean => l.unpack && spec.unpack !== false;
  const planPull = await loadPlanPull();
  const seen: string[] = []; // every candidate path, for the include check
  const plan = planPull(manifest, {
    outDir: '/',
    ...(spec.mediaTypes !== undefined ? { allowedMediaTypes: spec.mediaTypes } : {}),
    filter: (c) => {
      seen.push(c.relativePath);
      return unpacks(c) ? selection.mayContain(c.relativePath) : selection.selects(c.relativePath);
    },
  });
  const files: LockedFile[] = [];
  for (const l of plan.layers) {
    const root = layerRoot(depPath, l.relativePath);
    if (unpacks(l)) {
      const listing: UnpackedFile[] = await cache.unpack(l.layer, source, {
        offline,
        stripPrefix: l.title,
        ...(l.layer.annotations?.[Annotation.ContentDigest] !== undefined ? { expectedUncompressedDigest: l.layer.annotations[Annotation.ContentDigest] } : {}),
        ...(signal ? { signal } : {}),
      });
      for (const f of listing) {
        seen.push(posix.join(l.relativePath, f.path));
        if (!selection.selects(posix.join(l.relativePath, f.path))) continue;
        files.push({ path: posix.join(root, f.path), digest: f.digest, size: f.size, layer: l.layer.digest, ...(f.mode !== undefined ? { mode: f.mode } : {}) });
      }
    } else {
      files.push({ path: root, digest: l.layer.digest, size: l.layer.size, layer: l.layer.digest });
    }
  }
  for (const f of files) assertProjectRelativePath(f.path);
  assertIncludesMatch(name, spec, seen);
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Every `include` glob must select something: a typo (`schemas/**\/*.jsn`)
 * would otherwise install nothing without a word. Decision: an ERROR
 * (`ERR_ORAS_USAGE`, naming the dependency, the glob and some available
 * paths), not a warning — like a `files:` glob of a publishable that matches
 * nothing. Checked when files are computed (new resolution or edited spec),
 * never for an unchanged lock entry. A glob counts as matching when it
 * matches a candidate path or one of its parent directories (before
 * `exclude`: excluding everything an include selected is deliberate).
 */
function assertIncludesMatch(name: string, spec: DependencySpec, seen: readonly string[]): void {
  if (spec.include === undefined || spec.include.length === 0) return;
  const chains = seen.map(selfAndAncestors);
  for (const glob of spec.include) {
    const match = picomatchLib()(glob, { dot: true });
    if (chains.some((chain) => chain.some((p) => match(p)))) continue;
    const sample = [...new Set(seen)].sort().slice(0, 8);
    throw new OrasError('ERR_ORAS_USAGE', `dependency '${name}': include glob ${JSON.stringify(glob)} matches no file of ${spec.ref} (it has: ${sample.join(', ') || 'no files'}${seen.length > sample.length ? ', …' : ''})`, {
      hint: `fix or remove the glob in artifacts.yaml (dependencies.${name}.include); paths are relative to the dependency's \`path\`, e.g. "${sample[0]?.split('/')[0] ?? 'dir'}/**"`,
    });
  }
}

/** Refuses two dependencies writing the same path, or a file where another needs a directory. */
function checkOverlaps(lock: Lockfile): void {
  const owner = new Map<string, string>();
  for (const [name, dep] of Object.entries(lock.dependencies)) {
    for (const f of dep.files) {
      const other = owner.get(f.path);
      if (other !== undefined && other !== name) {
        throw new OrasError('ERR_ORAS_USAGE', `dependencies '${other}' and '${name}' both install ${f.path}`, { hint: 'give them different `path`s, or narrow them with include/exclude' });
      }
      owner.set(f.path, name);
    }
  }
  for (const path of owner.keys()) {
    for (let d = posix.dirname(path); d !== '.'; d = posix.dirname(d)) {
      if (owner.has(d)) throw new OrasError('ERR_ORAS_USAGE', `${d} is installed as a file by '${owner.get(d)}' but is a directory for ${path} ('${owner.get(path)}')`, { hint: 'give the dependencies different `path`s' });
    }
  }
}


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
export async function installFull(options: InstallOptions, run: FullRun): Promise<InstallResult> {
  const { t0, projectDir, frozen, state } = run;
  const env = options.env ?? process.env;
  const offline = options.offline === true;
  const dryRun = options.dryRun === true;
  const onEvent = options.onEvent;
  const { manifest, stamp: manifestStamp } = await loadManifest(projectDir);
  const old = await readOldLock(projectDir, frozen, onEvent);
  const oldLock = old.lock;
  const cache = await ProjectCache.open(defaultCacheDir(env, options.cacheDir), {
    ...(onEvent ? { onEvent } : {}),
    ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
    ...(options.maxUncompressedBytes !== undefined ? { maxUncompressedBytes: options.maxUncompressedBytes } : {}),
  });
  const sources = new Sources(options.targetFactory, cache, offline);

  let lock: Lockfile;
  if (frozen) {
    const { changes } = compareManifestToLock(manifest, oldLock, { sections: ['dependencies'] });
    if (changes.length > 0 || (oldLock === undefined && Object.keys(manifest.dependencies).length > 0)) {
      throw new OrasError('ERR_ORAS_FROZEN_LOCKFILE', `artifacts.lock is out of date with artifacts.yaml:\n${formatSpecChanges(changes) || '(no artifacts.lock)'}`, {
        hint: 'run `oras install` without --frozen-lockfile (and without CI=true) to update artifacts.lock, and commit it',
        details: { changes: changes.map((c) => ({ ...c })), ...(oldLock === undefined ? { lockfile: 'missing' } : {}) },
      });
    }
    lock = oldLock ?? { lockfileVersion: LOCKFILE_VERSION, dependencies: {}, publish: {} };
  } else {
    lock = await computeLock(manifest, oldLock, options, sources, cache);
  }
  checkOverlaps(lock);
  // Entries kept by resolution are the old lock's own objects: when every entry is, nothing changed
  // and the (costly, for 10,000 files) serialization of both locks is skipped.
  const sameEntries = <T>(a: Record<string, T>, b: Record<string, T>): boolean => {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
  };
  const lockfileChanged = old.merged || (oldLock === undefined
    ? Object.keys(lock.dependencies).length > 0 || Object.keys(lock.publish).length > 0
    : !(lock === oldLock || (sameEntries(lock.dependencies, oldLock.dependencies) && sameEntries(lock.publish, oldLock.publish)))
      && serializeLockfile(oldLock) !== serializeLockfile(lock));
  // The new lock stays in memory until the tree follows it (written after reify, below).
  const writeLock = lockfileChanged && !frozen && !dryRun;
  const t1 = performance.now();

  // An earlier install left its in-progress marker (killed or power loss before its writes were
  // synced): rehash every file, and rewrite what that run tore instead of calling it a user edit.
  const interrupted = await readInProgress(projectDir);
  const observed = await loadActual(projectDir, state, { ideal: lock, ...(options.verify === true || interrupted !== undefined ? { verify: true } : {}), ...(onEvent ? { onEvent } : {}) });
  const actual = interrupted === undefined ? observed : withoutTornWrites(observed, interrupted, lock);
  const plan: Plan = diff(lock, actual, { force: options.force === true });
  const counts = countPlan(plan);
  emit(onEvent, { type: 'plan', counts });
  const t2 = performance.now();
  const result = (fetch: number, reified: number): InstallResult => ({
    counts, lockfileChanged, lockfile: lock, actions: plan.actions, dryRun, fastPath: false,
    durations: { resolve: t1 - t0, plan: t2 - t1, fetch, reify: reified, total: performance.now() - t0 },
  });
  if (dryRun) return result(0, 0);
  assertNoConflicts(plan);

  // Make content available: plain blobs by (digest, size) from the lock; unpacked layers need their listing.
  const writes = plan.actions.filter((a): a is Extract<PlanAction, { kind: 'add' | 'change' }> => a.kind === 'add' || a.kind === 'change');
  const needs: BlobNeed[] = [];
  const unpackedLayers = new Map<string, string>(); // layer digest → dependency name
  const plainWrites: typeof writes = [];
  for (const a of writes) {
    if (a.file.layer === a.file.digest) plainWrites.push(a);
    else if (!unpackedLayers.has(a.file.layer)) unpackedLayers.set(a.file.layer, a.dependency);
  }
  // Which plain blobs are cached: stat them concurrently (bounded), keeping the plan's order.
  const cached = await pLimit(32).map(plainWrites, (a) => cache.has({ digest: a.file.digest, size: a.file.size }));
  for (const [i, a] of plainWrites.entries()) {
    if (cached[i] === true) continue;
    const desc: Descriptor = { mediaType: 'application/octet-stream', digest: a.file.digest, size: a.file.size };
    needs.push({ desc, source: await sources.forDependency(lock.dependencies[a.dependency]!), label: `${a.dependency} ${a.path}` });
  }
  await cache.ensureBlobs(needs, { offline, concurrency: Math.max(1, Math.min(options.concurrency ?? 8, 8)), ...(options.signal ? { signal: options.signal } : {}) });
  const roots = new Map<string, { root: string; layer: Descriptor; source: ResolveTarget | undefined; title: string }>();
  for (const [layerDigest, depName] of unpackedLayers) {
    const dep = lock.dependencies[depName]!;
    const m = await sources.manifest(dep);
    const depPath = posix.normalize(dep.specifier.path).replace(/\/+$/, '');
    const planPull = await loadPlanPull();
    const l = planPull(m, { outDir: '/' }).layers.find((x) => x.layer.digest === layerDigest)
      ?? planPull(m, { outDir: '/', includeUntitled: true }).layers.find((x) => x.layer.digest === layerDigest);
    if (l === undefined) throw new OrasError('ERR_ORAS_LOCKFILE', `layer ${layerDigest} of ${depName} is not in manifest ${dep.digest}`, { hint: 'the lockfile was edited; run `oras update ' + depName + '`' });
    const source = (await cache.readListing(layerDigest)) !== undefined || offline ? undefined : await sources.forDependency(dep);
    roots.set(layerDigest, { root: layerRoot(depPath, l.relativePath), layer: l.layer, source, title: l.title });
    await cache.unpack(l.layer, source, { offline, stripPrefix: l.title });
  }
  const t3 = performance.now();

  const sourceFor = async (file: LockedFile): Promise<string> => {
    if (file.layer === file.digest) return cache.blobPath(file.digest);
    const r = roots.get(file.layer);
    if (r === undefined || !file.path.startsWith(`${r.root}/`)) throw new OrasError('ERR_ORAS_LOCKFILE', `${file.path} is not inside its layer root`, { hint: 'the lockfile was edited; run `oras update`' });
    return cache.unpackedFile(r.layer, file.path.slice(r.root.length + 1), r.source, { offline, stripPrefix: r.title });
  };
  // Recorded with the state only if everything succeeds: enables the next run's fast path.
  const agree = (stamp: FileStamp | null): boolean => frozen || (compareManifestToLock(manifest, lock, { sections: ['dependencies'] }).changes.length === 0
    && !(stamp === null && Object.keys(manifest.dependencies).length > 0));
  // Lock-write order: the tree first, then artifacts.lock, then the state's input stamps. A refused
  // or failed reify leaves artifacts.lock as it was (the state records what landed); a crash
  // between the steps leaves a state without input stamps, so the rerun takes the full path and
  // converges (it resolves the same lock again: nothing moves without `update`).
  const reified = await reify({
    projectDir, plan, actual, state, sourceFor,
    ...(writeLock ? {} : { inputs: { manifest: manifestStamp, lock: old.stamp, agree: agree(old.stamp) } }),
    concurrency: options.concurrency ?? 8,
    ...(options.linkMode !== undefined ? { linkMode: options.linkMode } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(onEvent ? { onEvent } : {}),
  });
  if (writeLock) {
    const written = await writeLockfileStamped(projectDir, lock);
    emit(onEvent, { type: 'lockfile-written', path: written.path });
    const files = reified.state.files;
    await writeState(projectDir, { stateVersion: 1, files, inputs: { manifest: manifestStamp, lock: written.stamp, agree: agree(written.stamp) } });
    emit(onEvent, { type: 'state-written', files: Object.keys(files).length });
  }
  return result(t3 - t2, performance.now() - t3);
}

/**
 * artifacts.lock as found: parsed, or — when it holds git conflict markers —
 * merged entry by entry (`spec/lock-merge.ts`; then `merged`, to be
 * rewritten). With `frozen` a conflicted lock is `ERR_ORAS_FROZEN_LOCKFILE`
 * naming the file and the fix.
 */
async function readOldLock(projectDir: string, frozen: boolean, onEvent: ProjectListener | undefined): Promise<{ lock: Lockfile | undefined; stamp: FileStamp | null; merged: boolean }> {
  try {
    const read = await readLockfileStamped(projectDir);
    return { lock: read?.lock, stamp: read?.stamp ?? null, merged: false };
  } catch (err) {
    if (!isOrasError(err, 'ERR_ORAS_LOCKFILE')) throw err;
    const file = join(projectDir, LOCKFILE_NAME);
    const { hasConflictMarkers, mergeConflictedLockfileText } = await import('./spec/lock-merge.js');
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined || !hasConflictMarkers(text)) throw err;
    if (frozen) {
      throw new OrasError('ERR_ORAS_FROZEN_LOCKFILE', `${file} has unresolved git merge conflicts, and --frozen-lockfile never changes the lock`, {
        hint: 'run `oras install` without --frozen-lockfile (and without CI=true) to merge it entry by entry, then commit artifacts.lock (or set up the `oras lock merge` git merge driver, see README)',
      });
    }
    const merged = mergeConflictedLockfileText(text);
    emit(onEvent, { type: 'lockfile-merged', path: file, conflicts: merged.conflicts });
    return { lock: merged.lock, stamp: null, merged: true };
  }
}

/**
 * The new lock (in memory): {@link resolveAll} (no silent upgrades), then the
 * files of freshly resolved entries (manifests cached, directory layers
 * unpacked) and of kept resolutions under an edited spec (from the locked
 * manifest, cache first), concurrently; entries assigned in name order.
 */
async function computeLock(manifest: ProjectManifest, oldLock: Lockfile | undefined, options: InstallOptions, sources: Sources, cache: ProjectCache): Promise<Lockfile> {
  const offline = options.offline === true;
  const signal = options.signal;
  const ctx = {
    repositoryFor: (ref: Reference) => sources.target(repositoryOf(ref)),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(signal ? { signal } : {}),
  };
  const resolved = await resolveAll(manifest, oldLock, ctx, {
    ...(options.update !== undefined ? { update: options.update } : {}),
    concurrency: options.concurrency ?? 8,
  });
  const jobs: [string, () => Promise<LockedDependency>][] = [
    ...Object.entries(resolved.resolved).map(([name, r]): [string, () => Promise<LockedDependency>] => [name, async () =>
      lockResolved(r, cache, await sources.target(repositoryOf(parseReference(r.locked.resolved))), offline, signal)]),
    ...Object.entries(resolved.rebased).map(([name, rb]): [string, () => Promise<LockedDependency>] => [name, async () => {
      if (rb.files !== undefined) return { ...rb.locked, files: rb.files };
      const dep: LockedDependency = { ...rb.locked, files: [] };
      const m = await sources.manifest(dep);
      const source = offline ? undefined : await sources.forDependency(dep);
      return { ...rb.locked, files: await filesFor(name, rb.locked.specifier, m, cache, source, offline, signal) };
    }]),
  ];
  jobs.sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const limit = pLimit(Math.max(1, options.concurrency ?? 8));
  const settled = await Promise.allSettled(jobs.map(([, job]) => limit(job)));
  const dependencies: Record<string, LockedDependency> = { ...resolved.kept };
  for (const [i, [name]] of jobs.entries()) {
    const s = settled[i]!;
    if (s.status === 'rejected') throw s.reason;
    dependencies[name] = s.value;
  }
  return { lockfileVersion: LOCKFILE_VERSION, dependencies, publish: resolved.publish };
}


/** Turns a freshly resolved dependency into a lock entry (computing its files; caches the manifest). */
async function lockResolved(r: ResolvedDependency, cache: ProjectCache, source: ResolveTarget | undefined, offline: boolean, signal?: AbortSignal): Promise<LockedDependency> {
  await cache.add(r.descriptor, r.manifestBytes);
  if (source !== undefined && !offline) await keepConfig(cache, r.manifest, source, signal);
  const files = await filesFor(r.name, r.locked.specifier, r.manifest, cache, source, offline, signal);
  return { ...r.locked, files };
}

