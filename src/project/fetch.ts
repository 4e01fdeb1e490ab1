import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { mapBounded } from '../artifact/map-bounded.js';
import { OrasError } from '../errors.js';
import type { Descriptor, ImageManifest } from '../oci/descriptor.js';
import { parseManifest } from '../oci/manifest.js';
import { Annotation } from '../oci/media-types.js';
import { parseReference } from '../oci/reference.js';
import { ProjectCache } from './apply/cache/project-cache.js';
import type { BlobNeed } from './apply/cache/cache-options.js';
import { defaultCacheDir } from './spec/config.js';
import { keepConfig } from './apply/cache/index-records.js';
import { withCacheSession } from './apply/cache/session.js';
import type { ProjectListener } from './events.js';
import type { TargetFactory } from './install.js';
import { installSettings, withConfiguredTargets, type ConfigOptions } from './configured-targets.js';
import type { ResolveTarget } from './plan/resolve.js';
import { repositoryOf } from './spec/dependency-ref.js';
import { LOCKFILE_NAME, MAX_LOCKFILE_BYTES, parseLockfileText } from './spec/lockfile.js';
import type { LockedDependency, Lockfile } from './types.js';

/**
 * `oras fetch` (like `pnpm fetch`): fills the shared cache from
 * `artifacts.lock` alone — no artifacts.yaml, no project tree — so a CI image
 * or an offline machine can later run `oras install --offline` (or
 * `--frozen-lockfile`) with no network. For every locked dependency it caches
 * the manifest (by its locked digest: tags are never re-resolved), the config
 * blob, every blob a locked file comes from, and unpacks the directory layers
 * (so the install only links files). Everything is verified (size + digest)
 * before it lands. The lock's directory is registered as a project of the
 * cache (so `oras cache prune` keeps what it fetched), and the artifacts are
 * recorded in the cache's index.json.
 */

/**
 * Options for {@link fetchLocked}. Without a `targetFactory` the stores and the defaults of
 * `cacheDir`, `cacheMaxSize`, `maxEntries`, `maxUncompressedBytes` and `concurrency` come from
 * the oras config (see {@link ConfigOptions}; searched from the lockfile's directory), as in `oras fetch`.
 */
export interface FetchLockedOptions extends ConfigOptions {
  /** `artifacts.lock`, or a directory holding one. */
  lockfile: string;
  /** Where blobs are fetched from (default: the stores the oras config maps). */
  targetFactory?: TargetFactory;
  /** See `InstallOptions.cacheDir`. */
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Parallel downloads (default 8). */
  concurrency?: number;
  /** Check only: fail with `ERR_ORAS_OFFLINE` listing what is not cached. */
  offline?: boolean;
  maxEntries?: number;
  maxUncompressedBytes?: number;
  cacheMaxSize?: number;
  signal?: AbortSignal;
  onEvent?: ProjectListener;
}

/** What {@link fetchLocked} made available. */
export interface FetchLockedResult {
  lockfile: string;
  dependencies: number;
  /** Distinct blobs (manifests excluded) the lock needs, all cached now. */
  blobs: number;
  /** Directory layers unpacked (or already unpacked) in the cache. */
  unpacked: number;
  cacheDir: string;
}

async function lockPath(arg: string): Promise<string> {
  const abs = resolvePath(arg);
  const st = await stat(abs).catch(() => undefined);
  if (st === undefined)
    throw new OrasError('ERR_ORAS_NOT_FOUND', `${arg} not found`, {
      hint: `pass the path of an ${LOCKFILE_NAME} (or of the directory holding it)`,
    });
  return st.isDirectory() ? join(abs, LOCKFILE_NAME) : abs;
}

async function readLock(path: string): Promise<Lockfile> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined)
    throw new OrasError('ERR_ORAS_NOT_FOUND', `${path} not found`, {
      hint: 'run `oras install` where artifacts.yaml is to create the lock, and commit it',
    });
  if (st.size > MAX_LOCKFILE_BYTES)
    throw new OrasError('ERR_ORAS_LOCKFILE', `${path} is ${st.size} bytes, over the ${MAX_LOCKFILE_BYTES}-byte limit`);
  return parseLockfileText(await readFile(path, 'utf8'), basename(path));
}

/** Caches one dependency's manifest (by locked digest) and config; returns the parsed manifest. */
async function manifestOf(
  cache: ProjectCache,
  dep: LockedDependency,
  source: () => Promise<ResolveTarget>,
  offline: boolean,
  signal?: AbortSignal,
): Promise<ImageManifest> {
  let desc: Descriptor | undefined = await cache.store.resolve(dep.digest).then(
    (d) => ({ mediaType: dep.mediaType, digest: dep.digest, size: d.size }),
    () => undefined,
  );
  const src = desc === undefined && !offline ? await source() : undefined;
  if (desc === undefined) {
    if (src === undefined)
      throw new OrasError('ERR_ORAS_OFFLINE', `offline: manifest ${dep.digest} (${dep.resolved}) is not in the cache`, {
        hint: 'run `oras fetch` without --offline',
      });
    desc = await src.resolve(dep.digest, signal ? { signal } : {});
    if (desc.digest !== dep.digest)
      throw new OrasError(
        'ERR_ORAS_DIGEST_MISMATCH',
        `${dep.resolved} resolved to ${desc.digest}, not the locked ${dep.digest}`,
      );
  }
  const parsed = parseManifest(
    await cache.manifest(desc, src, { offline, ...(signal ? { signal } : {}) }),
    desc.mediaType,
  );
  if (parsed.kind !== 'manifest')
    throw new OrasError(
      'ERR_ORAS_LOCKFILE',
      `locked digest ${dep.digest} of ${dep.resolved} is an index, not a manifest`,
      { hint: 'delete the entry from artifacts.lock and run `oras install`' },
    );
  if (!offline) await keepConfig(cache, parsed.manifest, src ?? (await source()), signal);
  return parsed.manifest;
}

/** Fills the cache from a lockfile (see the module comment). */
export async function fetchLocked(options: FetchLockedOptions): Promise<FetchLockedResult> {
  if (options.targetFactory !== undefined) return fetchWith({ ...options, targetFactory: options.targetFactory });
  const path = await lockPath(options.lockfile);
  return withConfiguredTargets(dirname(path), options, (config, targets) => {
    const { linkMode: _link, maxArtifactBytes: _notUsedByFetch, ...settings } = installSettings(config);
    return fetchWith({ ...settings, ...options, targetFactory: targets.readFactory() });
  });
}

/** {@link fetchLocked} with its stores settled. */
async function fetchWith(options: FetchLockedOptions & { targetFactory: TargetFactory }): Promise<FetchLockedResult> {
  const path = await lockPath(options.lockfile);
  const lock = await readLock(path);
  const env = options.env ?? process.env;
  const offline = options.offline === true;
  const signal = options.signal;
  const root = defaultCacheDir(env, options.cacheDir);
  const counts = { blobs: 0, unpacked: 0 };
  await withCacheSession({ ...options, env }, dirname(path), async () => {
    const cache = await ProjectCache.open(root, {
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
      ...(options.maxUncompressedBytes !== undefined ? { maxUncompressedBytes: options.maxUncompressedBytes } : {}),
    });
    const targets = new Map<string, Promise<ResolveTarget>>();
    const sourceOf = (dep: LockedDependency) => (): Promise<ResolveTarget> => {
      const repo = repositoryOf(parseReference(dep.resolved));
      let t = targets.get(repo);
      if (t === undefined) targets.set(repo, (t = Promise.resolve(options.targetFactory(repo))));
      return t;
    };
    const deps = Object.entries(lock.dependencies);
    // mapBounded: on a failure, the manifests already being fetched into the cache settle first.
    const manifests = await mapBounded(deps, Math.max(1, options.concurrency ?? 8), ([, dep]) =>
      manifestOf(cache, dep, sourceOf(dep), offline, signal),
    );
    const needs: BlobNeed[] = [];
    const dirLayers: { layer: Descriptor; dep: LockedDependency; manifest: ImageManifest }[] = [];
    for (const [i, [name, dep]] of deps.entries()) {
      const m = manifests[i] as ImageManifest;
      const source = offline ? undefined : await sourceOf(dep)();
      const seen = new Set<string>();
      for (const f of dep.files) {
        if (seen.has(f.layer)) continue;
        seen.add(f.layer);
        const layer = f.layer === f.digest ? undefined : m.layers.find((l) => l.digest === f.layer);
        if (f.layer !== f.digest && layer === undefined)
          throw new OrasError('ERR_ORAS_LOCKFILE', `layer ${f.layer} of ${name} is not in manifest ${dep.digest}`, {
            hint: `the lockfile was edited; run \`oras update ${name}\``,
          });
        const desc: Descriptor = layer ?? { mediaType: 'application/octet-stream', digest: f.digest, size: f.size };
        // Offline, ensureBlobs only checks presence and never uses the source.
        needs.push({ desc, source: source as ResolveTarget, label: `${name} ${f.path}` });
        if (layer !== undefined) dirLayers.push({ layer, dep, manifest: m });
      }
    }
    await cache.ensureBlobs(needs, {
      offline,
      concurrency: Math.max(1, Math.min(options.concurrency ?? 8, 8)),
      ...(signal ? { signal } : {}),
    });
    counts.blobs = new Set(needs.map((n) => n.desc.digest)).size;
    const { planPull } = await import('../artifact/pull.js');
    for (const { layer, manifest } of dirLayers) {
      const l = planPull(manifest, { outDir: '/', includeUntitled: true }).layers.find(
        (x) => x.layer.digest === layer.digest,
      );
      const contentDigest = layer.annotations?.[Annotation.ContentDigest];
      await cache.unpack(layer, undefined, {
        offline: true,
        ...(l !== undefined ? { stripPrefix: l.title } : {}),
        ...(contentDigest !== undefined ? { expectedUncompressedDigest: contentDigest } : {}),
        ...(signal ? { signal } : {}),
      });
      counts.unpacked += 1;
    }
    return { dryRun: false, lockfile: lock };
  });
  return { lockfile: path, dependencies: Object.keys(lock.dependencies).length, ...counts, cacheDir: root };
}
