import { posix } from 'node:path';
import { createRequire } from 'node:module';
import type picomatchType from 'picomatch';
import { OrasError } from '../../errors.js';
import type { Descriptor, ImageManifest } from '../../oci/descriptor.js';
import { Annotation, MediaType } from '../../oci/media-types.js';
import { parseManifest, type ParsedManifest } from '../../oci/manifest.js';
import { parseReference } from '../../oci/reference.js';
import { entriesByDigest } from '../../content/layout-index.js';
import type { ProjectCache } from '../apply/cache/project-cache.js';
import { parseDependencyRef, repositoryOf } from '../spec/dependency-ref.js';
import { assertProjectRelativePath } from '../apply/materialize.js';
import { joinRelative } from '../../artifact/safe-path.js';
import type { TargetFactory } from '../install.js';
import type { ResolveTarget } from './resolve.js';
import { layerEntry, type LayerFileV2, type LockedLayerV2 } from '../spec/lock-format.js';
import type { DependencySpec, LockedDependency, LockedFile, LockedLayer } from '../types.js';

/**
 * What a locked manifest produces: per-run access to dependency sources and
 * manifests, and the files a dependency spec selects from a manifest.
 */

/** `planPull`, loaded on first use (it pulls in tar-stream). */
export async function loadPlanPull(): Promise<typeof import('../../artifact/pull.js').planPull> {
  return (await import('../../artifact/pull.js')).planPull;
}

let picomatchModule: typeof picomatchType | undefined;
function picomatchLib(): typeof picomatchType {
  return (picomatchModule ??= createRequire(import.meta.url)('picomatch') as typeof picomatchType);
}

/** Per-run access to dependency sources and manifests (lazy: no network unless needed). */
export class Sources {
  private readonly targets = new Map<string, Promise<ResolveTarget>>();
  private readonly manifests = new Map<string, Promise<ParsedManifest>>();
  /** The manifests recorded in the cache's index.json, read once per run (not once per dependency). */
  private indexEntries: Promise<Map<string, Descriptor>> | undefined;
  /** `resolved` of the locked entries whose repository this run contacted (a cache miss). */
  private readonly reached = new Set<string>();
  /** Lock entries whose files this run already bound to their manifest (`deferred-files.ts`). */
  private readonly bound = new WeakSet<LockedDependency>();
  constructor(
    private readonly factory: TargetFactory,
    private readonly cache: ProjectCache,
    private readonly offline: boolean,
  ) {}

  target(repository: string): Promise<ResolveTarget> {
    let t = this.targets.get(repository);
    if (t === undefined) {
      if (this.offline) {
        return Promise.reject(
          new OrasError('ERR_ORAS_OFFLINE', `offline: ${repository} is not reachable`, {
            hint: 'run without --offline to fetch what is missing',
          }),
        );
      }
      t = Promise.resolve(this.factory(repository));
      this.targets.set(repository, t);
    }
    return t;
  }

  /**
   * The source of a locked entry. The first method called on it (a request:
   * something of this entry was not in the cache) marks the entry as
   * {@link contacted}; merely holding the source does not.
   */
  async forDependency(dep: LockedDependency): Promise<ResolveTarget> {
    const target = await this.target(repositoryOf(parseReference(dep.resolved)));
    const reached = this.reached;
    return new Proxy(target, {
      get(t, prop, receiver): unknown {
        const value: unknown = Reflect.get(t, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]): unknown => {
          reached.add(dep.resolved);
          return (value as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    });
  }

  /**
   * Records that `dep`'s files are exactly what its locked manifest produces (checked as
   * {@link bindToManifest} checks them): {@link isBound} then holds for this object.
   */
  markBound(dep: LockedDependency): void {
    this.bound.add(dep);
  }

  /** True when {@link markBound} recorded this very object. */
  isBound(dep: LockedDependency): boolean {
    return this.bound.has(dep);
  }

  /** True when manifest `digest` is in the cache (no request made). */
  async isCached(digest: string): Promise<boolean> {
    return (await this.cachedSize(digest)) !== undefined;
  }

  /** True when this run made a request for `dep` through {@link forDependency} (a cache miss). */
  contacted(dep: LockedDependency): boolean {
    return this.reached.has(dep.resolved);
  }

  /** The image manifest of a locked dependency: from the cache by digest, else fetched (and cached); digest-verified. */
  async manifest(dep: LockedDependency): Promise<ImageManifest> {
    const parsed = await this.parsed(dep, dep.digest);
    if (parsed.kind !== 'manifest')
      throw new OrasError(
        'ERR_ORAS_LOCKFILE',
        `locked digest ${dep.digest} of ${dep.resolved} is an index, not a manifest`,
        { hint: 'delete the entry from artifacts.lock and install again' },
      );
    return parsed.manifest;
  }

  /** The manifest digests an index of a locked dependency's repository lists (cache, else fetched; verified). */
  async indexChildren(dep: LockedDependency, digest: string): Promise<string[]> {
    const parsed = await this.parsed(dep, digest);
    return parsed.kind === 'index' ? parsed.index.manifests.map((m) => m.digest) : [];
  }

  private parsed(dep: LockedDependency, digest: string): Promise<ParsedManifest> {
    let m = this.manifests.get(digest);
    if (m === undefined) {
      m = (async () => {
        let desc: Descriptor | undefined;
        const cachedSize = await this.cachedSize(digest);
        if (cachedSize !== undefined)
          desc = { mediaType: digest === dep.digest ? dep.mediaType : MediaType.ImageIndex, digest, size: cachedSize };
        let source: ResolveTarget | undefined;
        if (desc === undefined) {
          if (this.offline)
            throw new OrasError(
              'ERR_ORAS_OFFLINE',
              `offline: manifest ${digest} (${dep.resolved}) is not in the cache`,
              { hint: 'run without --offline to fetch it' },
            );
          source = await this.forDependency(dep);
          desc = await source.resolve(digest);
        }
        const bytes = await this.cache.manifest(desc, source, { offline: this.offline });
        return parseManifest(bytes, desc.mediaType);
      })();
      this.manifests.set(digest, m);
    }
    return m;
  }

  /**
   * The size of manifest `digest` in the cache: its index.json entry (the index is read once per
   * run: with one read per dependency, 200 dependencies cost 200 reads and parses of an index of
   * 200 entries), else what resolving the digest in the cache finds (a stored blob); undefined
   * when not cached.
   */
  private async cachedSize(digest: string): Promise<number | undefined> {
    this.indexEntries ??= this.cache.store.readLayoutIndex().then(entriesByDigest, () => new Map());
    const known = (await this.indexEntries).get(digest);
    if (known !== undefined) return known.size;
    return this.cache.store.resolve(digest).then(
      (d) => d.size,
      () => undefined,
    );
  }
}

/** The project-relative root of a layer (`<dep.path>/<title>`), POSIX. */
export function layerRoot(depPath: string, relativePath: string): string {
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
function pathSelection(spec: DependencySpec): {
  selects: (rel: string) => boolean;
  mayContain: (dir: string) => boolean;
} {
  const inc = spec.include !== undefined && spec.include.length > 0 ? spec.include : undefined;
  const exc = spec.exclude !== undefined && spec.exclude.length > 0 ? spec.exclude : undefined;
  const picomatch = inc !== undefined || exc !== undefined ? picomatchLib() : undefined;
  const include = inc && picomatch ? picomatch(inc, { dot: true }) : undefined;
  const exclude = exc && picomatch ? picomatch(exc, { dot: true }) : undefined;
  // Static bases of the include globs ('' = could match anywhere), for the cheap "can anything below dir match" test.
  const bases = (inc ?? []).map((g) => {
    const scan = picomatchLib().scan(g);
    return scan.negated
      ? ''
      : posix
          .normalize(scan.base || '.')
          .replace(/^\.$/, '')
          .replace(/\/+$/, '');
  });
  const selects = (rel: string): boolean => {
    if (include === undefined && exclude === undefined) return true;
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

/** What a dependency's manifest produces: its files (sorted by path) and the layers they come from (manifest order). */
export interface ProducedFiles {
  files: LockedFile[];
  layers: LockedLayer[];
}

/** {@link filesFor}'s result: {@link ProducedFiles}, and the same layers as a v2 lock writes them. */
export interface ProducedLayers extends ProducedFiles {
  /**
   * The layers contributing files, as a v2 lock lists them (`lock-format.ts`): an unpacked layer
   * with its selected files relative to its root, in listing order (sorted by path); a plain
   * layer with the blob's size. The lock's grouping of {@link ProducedFiles.files} (`groupFiles`)
   * gives the same, without regrouping every file by path.
   */
  written: LockedLayerV2[];
}

/** Options for {@link filesFor}. */
export interface FilesForOptions {
  offline: boolean;
  signal?: AbortSignal;
  /**
   * Listing digests a lock records, by layer digest: such a listing is read
   * from the cache when its blob is there (content-addressed, verified);
   * every other listing is derived from the verified layer blob.
   */
  recorded?: ReadonlyMap<string, string>;
  /** Refuse an `include` glob that selects nothing (default true; false when re-checking a kept lock entry). */
  checkIncludes?: boolean;
}

/**
 * Computes the locked files of a dependency from its (verified) manifest:
 * `planPull` selection (media types; include/exclude over the installed
 * paths relative to `spec.path`, see {@link pathSelection}); plain layers are
 * one file at `<path>/<title>`; for directory layers
 * (`io.deis.oras.content.unpack`, unless `unpack: false`) — unless no file
 * below their title can be selected — every selected regular file of the
 * layer's verified listing (`ProjectCache.listing`) becomes a LockedFile
 * whose `layer` is the tarball digest. Layers contributing no file are not
 * recorded.
 */
export async function filesFor(
  name: string,
  spec: DependencySpec,
  manifest: ImageManifest,
  cache: ProjectCache,
  source: ResolveTarget | undefined,
  options: FilesForOptions,
): Promise<ProducedLayers> {
  const depPath = posix.normalize(spec.path).replace(/\/+$/, '');
  const selection = pathSelection(spec);
  const unpacks = (l: { unpack: boolean }): boolean => l.unpack && spec.unpack !== false;
  const planPull = await loadPlanPull();
  // Every candidate path, for the include check (only collected when there is one to make).
  const checkIncludes = options.checkIncludes !== false && spec.include !== undefined && spec.include.length > 0;
  const seen: string[] = [];
  const plan = planPull(manifest, {
    outDir: '/',
    ...(spec.mediaTypes !== undefined ? { allowedMediaTypes: spec.mediaTypes } : {}),
    filter: (c) => {
      seen.push(c.relativePath);
      return unpacks(c) ? selection.mayContain(c.relativePath) : selection.selects(c.relativePath);
    },
  });
  const files: LockedFile[] = [];
  const layers: LockedLayer[] = [];
  const written: LockedLayerV2[] = [];
  for (const l of plan.layers) {
    const root = layerRoot(depPath, l.relativePath);
    const record: LockedLayer = {
      digest: l.layer.digest,
      size: l.layer.size,
      mediaType: l.layer.mediaType,
      path: l.relativePath,
    };
    if (unpacks(l)) {
      const recorded = options.recorded?.get(l.layer.digest);
      const listing = await cache.listing(l.layer, source, {
        offline: options.offline,
        stripPrefix: l.title,
        place: { root, selects: (rel: string) => selection.selects(joinRelative(l.relativePath, rel)) },
        ...(recorded !== undefined ? { recorded } : {}),
        ...(l.layer.annotations?.[Annotation.ContentDigest] !== undefined
          ? { expectedUncompressedDigest: l.layer.annotations[Annotation.ContentDigest] }
          : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const selected: LayerFileV2[] = [];
      for (const f of listing.files) {
        const rel = joinRelative(l.relativePath, f.path);
        if (checkIncludes) seen.push(rel);
        if (!selection.selects(rel)) continue;
        selected.push(f);
        files.push({
          path: joinRelative(root, f.path),
          digest: f.digest,
          size: f.size,
          layer: l.layer.digest,
          ...(f.mode !== undefined ? { mode: f.mode } : {}),
        });
      }
      if (selected.length > 0) {
        const unpacked: LockedLayer = { ...record, unpacked: true, listing: listing.digest };
        layers.push(unpacked);
        written.push(layerEntry(unpacked, selected));
      }
    } else {
      files.push({ path: root, digest: l.layer.digest, size: l.layer.size, layer: l.layer.digest });
      layers.push(record);
      written.push(layerEntry(record));
    }
  }
  for (const f of files) assertProjectRelativePath(f.path);
  if (checkIncludes) assertIncludesMatch(name, spec, seen);
  return { files: files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), layers, written };
}

/** Whether two entries for one path lock the same content: digest, size, layer and mode. */
const sameContent = (a: LockedFile, b: LockedFile): boolean =>
  a.digest === b.digest && a.size === b.size && a.layer === b.layer && (a.mode ?? '') === (b.mode ?? '');

/**
 * The common case of {@link fileBindingProblem}, in one pass without a map: both lists hold the
 * same files in the same order (the lock's are sorted by path without duplicates, as produced
 * ones are), each with the same content. False sends the caller to the full comparison, which
 * words the difference.
 */
function sameSortedFiles(locked: readonly LockedFile[], produced: readonly LockedFile[]): boolean {
  if (locked.length !== produced.length) return false;
  for (let i = 0; i < locked.length; i++) {
    const f = locked[i]!;
    const w = produced[i]!;
    if (f.path !== w.path || (i > 0 && !(locked[i - 1]!.path < f.path)) || !sameContent(f, w)) return false;
  }
  return true;
}

/**
 * The first way a lock entry's files differ from what its manifest produces
 * (PURE), worded for a message; undefined when they agree. Only files are
 * compared: layer records (media type, listing digest…) describe where the
 * files come from and are rewritten from the manifest by the next non-frozen
 * install (see {@link sameLayers}); a recorded listing digest is only ever
 * used through a verified blob that names its layer.
 */
export function fileBindingProblem(dep: LockedDependency, produced: ProducedFiles): string | undefined {
  if (sameSortedFiles(dep.files, produced.files)) return undefined;
  const want = new Map(produced.files.map((f) => [f.path, f]));
  for (const f of dep.files) {
    const w = want.get(f.path);
    if (w === undefined) return `${f.path} (${f.digest}) is not a file of manifest ${dep.digest}`;
    if (!sameContent(w, f))
      return `${f.path} is locked as ${f.digest} (${f.size} bytes, layer ${f.layer}) but manifest ${dep.digest} has ${w.digest} (${w.size} bytes, layer ${w.layer})`;
  }
  // Every locked file is produced; a produced one may still be missing (the lock listing another twice).
  const have = new Set(dep.files.map((f) => f.path));
  const missing = produced.files.find((f) => !have.has(f.path));
  if (missing !== undefined) return `${missing.path} of manifest ${dep.digest} is missing from the lock`;
  if (dep.files.length !== produced.files.length) return 'the lock lists a file twice';
  return undefined;
}

/**
 * Checks one kept lock entry against its locked manifest (fetched by the
 * locked digest from the cache, else `source`, and digest-verified): the
 * files and layers it lists must be exactly those the manifest and the
 * spec's selection produce ({@link filesFor}, listings from recorded and
 * verified blobs or derived from the verified layer blobs). Returns what the
 * manifest produces and the first difference, if any.
 */
export async function bindToManifest(
  name: string,
  dep: LockedDependency,
  sources: Sources,
  cache: ProjectCache,
  options: Omit<FilesForOptions, 'recorded'>,
): Promise<{ produced: ProducedFiles; problem?: string }> {
  const pin = parseDependencyRef(dep.specifier.ref);
  if (
    pin.kind === 'digest' &&
    pin.digest !== dep.digest &&
    !(await sources.indexChildren(dep, pin.digest)).includes(dep.digest)
  ) {
    return {
      produced: { files: [], layers: [] },
      problem: `manifest ${dep.digest} is neither the pinned ${pin.digest} nor listed in that index`,
    };
  }
  const manifest = await sources.manifest(dep);
  const recorded = recordedListings(dep);
  const source = options.offline ? undefined : await sources.forDependency(dep);
  const produced = await filesFor(name, dep.specifier, manifest, cache, source, {
    ...options,
    recorded,
    checkIncludes: false,
  });
  const problem = fileBindingProblem(dep, produced);
  return problem === undefined ? { produced } : { produced, problem };
}

/** The listing digests a lock entry records, by layer digest ({@link FilesForOptions.recorded}). */
export function recordedListings(dep: LockedDependency): Map<string, string> {
  const recorded = new Map<string, string>();
  for (const l of dep.layers ?? []) if (l.listing !== undefined) recorded.set(l.digest, l.listing);
  return recorded;
}

/** True when a lock entry's layer records are exactly those its manifest gives (so the entry need not be rewritten). */
export function sameLayers(recorded: readonly LockedLayer[] | undefined, produced: readonly LockedLayer[]): boolean {
  if (recorded === undefined || recorded.length !== produced.length) return false;
  const key = (l: LockedLayer): string =>
    JSON.stringify([l.digest, l.size, l.mediaType, l.path, l.unpacked === true, l.listing]);
  return recorded.every((l, i) => key(l) === key(produced[i]!));
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
    throw new OrasError(
      'ERR_ORAS_USAGE',
      `dependency '${name}': include glob ${JSON.stringify(glob)} matches no file of ${spec.ref} (it has: ${sample.join(', ') || 'no files'}${seen.length > sample.length ? ', …' : ''})`,
      {
        hint: `fix or remove the glob in artifacts.yaml (dependencies.${name}.include); paths are relative to the dependency's \`path\`, e.g. "${sample[0]?.split('/')[0] ?? 'dir'}/**"`,
      },
    );
  }
}
