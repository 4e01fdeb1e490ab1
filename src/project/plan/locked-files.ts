import { posix } from 'node:path';
import { createRequire } from 'node:module';
import type picomatchType from 'picomatch';
import { OrasError } from '../../errors.js';
import type { Descriptor, ImageManifest } from '../../oci/descriptor.js';
import { Annotation } from '../../oci/media-types.js';
import { parseManifest } from '../../oci/manifest.js';
import { parseReference } from '../../oci/reference.js';
import type { ProjectCache, UnpackedFile } from '../apply/cache.js';
import { repositoryOf } from '../spec/dependency-ref.js';
import { assertProjectRelativePath } from '../apply/materialize.js';
import type { TargetFactory } from '../install.js';
import type { ResolveTarget } from './resolve.js';
import type { DependencySpec, LockedDependency, LockedFile } from '../types.js';

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
export async function filesFor(name: string, spec: DependencySpec, manifest: ImageManifest, cache: ProjectCache, source: ResolveTarget | undefined, offline: boolean, signal?: AbortSignal): Promise<LockedFile[]> {
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
