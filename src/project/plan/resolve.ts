import pLimit from 'p-limit';
import { createRequire } from 'node:module';
import { isOrasError, OrasError } from '../../errors.js';
import { fetchAll } from '../../content/read.js';
import { hasFetchManifest, type ReadOnlyTarget, type TagLister } from '../../content/store.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../../oci/descriptor.js';
import { MAX_MANIFEST_BYTES, parseManifest, type ParsedManifest } from '../../oci/manifest.js';
import { isManifestMediaType, MediaType } from '../../oci/media-types.js';
import type { Reference } from '../../oci/reference.js';
import { parseDependencyRef, repositoryOf, type DependencyRef } from '../spec/dependency-ref.js';
import { emit, type ProjectListener } from '../events.js';
import { normalizeDependencySpec, specifierMatches } from './spec-diff.js';
import { tagVersion, type SemverTag, type SemverTags } from './semver-tags.js';
import { findRenames, keepDecision } from './locked-resolution.js';
import type {
  DependencySpec,
  LockedDependency,
  LockedFile,
  LockedPublish,
  Lockfile,
  ProjectManifest,
} from '../types.js';

/** What the resolver reads from: a repository (registry or OCI layout) that can resolve, fetch and list tags. */
export type ResolveTarget = ReadOnlyTarget & TagLister;

/** The environment of a resolution. The caller decides how repositories are reached (registry, OCI layout, mirrors…). */
export interface ResolveContext {
  /** The repository for a parsed reference (only `registry` and `repository` matter). */
  repositoryFor(reference: Reference): ResolveTarget | Promise<ResolveTarget>;
  /** Receives `resolve` / `resolved` events. */
  onEvent?: ProjectListener;
  signal?: AbortSignal;
  /** Most tags read from one repository for a range (default 10 000); more → `ERR_ORAS_LIMIT_EXCEEDED`. */
  maxTags?: number;
  /** Largest manifest/index read (default 4 MiB). */
  maxManifestBytes?: number;
}

/** A dependency resolved to one manifest; `locked` lacks `files` (the install engine computes them). */
export interface ResolvedDependency {
  name: string;
  locked: Omit<LockedDependency, 'files'>;
  /** Descriptor of the (platform-specific) image manifest. */
  descriptor: Descriptor;
  /** Its bytes, verified against the descriptor. */
  manifestBytes: Buffer;
  manifest: ImageManifest;
  /** The index the manifest was picked from, for multi-platform artifacts. */
  index?: { descriptor: Descriptor; bytes: Buffer; index: ImageIndex };
}

/** The default platform picked from an index with several manifests. */
export const DEFAULT_PLATFORM = 'linux/amd64';

function resolveError(message: string, hint: string, cause?: unknown): OrasError {
  return new OrasError('ERR_ORAS_RESOLVE', message, { hint, ...(cause !== undefined ? { cause } : {}) });
}

function platformOf(d: Descriptor): string {
  const p = d.platform;
  return p === undefined ? 'unknown' : `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ''}`;
}

/** Picks the child of an index for `platform` (`os/arch[/variant]`), or the only real child, or linux/amd64. */
export function pickPlatform(index: ImageIndex, platform: string | undefined, what: string): Descriptor {
  const real = index.manifests.filter((m) => m.platform?.os !== 'unknown' && m.platform?.architecture !== 'unknown');
  const want = platform ?? (real.length === 1 ? undefined : DEFAULT_PLATFORM);
  if (want === undefined && real[0] !== undefined) return real[0];
  const [os, arch, variant] = (want ?? DEFAULT_PLATFORM).split('/');
  const match = real.find(
    (m) =>
      m.platform?.os === os &&
      m.platform?.architecture === arch &&
      (variant === undefined || m.platform?.variant === variant),
  );
  if (match !== undefined) return match;
  const available = real.map(platformOf);
  throw resolveError(
    `${what} is a multi-platform index without a manifest for ${want ?? DEFAULT_PLATFORM} (available: ${available.join(', ') || 'none'})`,
    'set `platform:` on the dependency to one of the available platforms',
  );
}

function artifactTypeOf(m: ImageManifest): string | undefined {
  if (m.artifactType !== undefined) return m.artifactType;
  return m.config.mediaType !== MediaType.Empty ? m.config.mediaType : undefined;
}

/** Resolves the tag/digest of `dep` (tags pre-listed for ranges) to a descriptor and the chosen tag. */
async function target(
  name: string,
  dep: DependencyRef,
  repo: ResolveTarget,
  ctx: ResolveContext,
  tags?: SemverTags,
): Promise<{ desc: Descriptor; tag?: string; prefetched?: { bytes: Buffer; parsed: ParsedManifest } }> {
  const where = repositoryOf(dep.reference);
  const opts = ctx.signal ? { signal: ctx.signal } : {};
  let ref: string;
  let tag: string | undefined;
  if (dep.kind === 'digest') ref = dep.digest;
  else if (dep.kind === 'tag') ref = tag = dep.tag;
  else {
    // semver is loaded only for ranges (tag and digest refs, the common case, never need it).
    const { listSemverTags, pickVersion } = await import('./semver-tags.js');
    const listed = tags ?? (await listSemverTags(repo, { max: ctx.maxTags ?? 10_000, what: where, ...opts }));
    const chosen = pickVersion(listed, dep.range);
    if (chosen === undefined) throw noMatch(name, where, dep.range, listed);
    await assertUnambiguous(name, where, repo, chosen, listed, opts);
    ref = tag = chosen.tag;
  }
  try {
    // A registry repository fetches a tag's manifest in one GET (digest computed from the verified
    // bytes) instead of a HEAD to resolve plus a GET by digest.
    if (ctx.maxManifestBytes === undefined && hasFetchManifest(repo)) {
      const m = await repo.fetchManifest(ref, opts);
      return {
        desc: m.descriptor,
        ...(tag !== undefined ? { tag } : {}),
        prefetched: { bytes: m.bytes, parsed: m.parsed },
      };
    }
    return { desc: await repo.resolve(ref, opts), ...(tag !== undefined ? { tag } : {}) };
  } catch (err) {
    if (isOrasError(err, 'ERR_ORAS_NOT_FOUND')) {
      throw resolveError(
        `dependency '${name}': ${where}${dep.kind === 'digest' ? '@' : ':'}${ref} not found`,
        dep.kind === 'digest'
          ? 'check the digest, or that it was pushed to this repository'
          : 'check the tag exists (oras repo tags)',
        err,
      );
    }
    throw err;
  }
}

/**
 * Several tags denoting the version a range picked (`1.1.0` and `v1.1.0`)
 * must name the same manifest: otherwise which one is "1.1.0" is a guess, and
 * the resolution fails (`ERR_ORAS_RESOLVE`) naming every tag and digest. One
 * HEAD per tag, only when such twins exist.
 */
async function assertUnambiguous(
  name: string,
  where: string,
  repo: ResolveTarget,
  chosen: SemverTag,
  tags: SemverTags,
  opts: { signal?: AbortSignal },
): Promise<void> {
  const twins = tags.versions
    .filter((v) => v.version === chosen.version)
    .map((v) => v.tag)
    .sort();
  if (twins.length < 2) return;
  const digests = await Promise.all(twins.map(async (t) => (await repo.resolve(t, opts)).digest));
  if (new Set(digests).size === 1) return;
  const listed = twins.map((t, i) => `${t} → ${digests[i]}`).join(', ');
  throw resolveError(
    `dependency '${name}': tags of ${where} for version ${chosen.version} name different manifests (${listed}); the range cannot pick one`,
    `pin one of them exactly (${twins.map((t) => `${where}:${t}`).join(' or ')}), or retag the repository so both name the same manifest`,
  );
}

function noMatch(name: string, where: string, range: string, tags: SemverTags): OrasError {
  if (tags.versions.length === 0) {
    const some = tags.other.slice(0, 10).join(', ');
    return resolveError(
      `dependency '${name}': no tag of ${where} satisfies ${range}: it has no semver tags${some ? ` (tags: ${some}${tags.other.length > 10 ? ', …' : ''})` : ''}`,
      'use an exact tag (:latest) or a digest, or push semver tags such as 1.2.3',
    );
  }
  const req = createRequire(import.meta.url);
  const compare = req('semver/functions/compare.js') as typeof import('semver/functions/compare.js');
  const gte = req('semver/functions/gte.js') as typeof import('semver/functions/gte.js');
  const minVersion = req('semver/ranges/min-version.js') as typeof import('semver/ranges/min-version.js');
  const sorted = [...tags.versions].sort((a, b) => compare(a.version, b.version));
  const min = minVersion(range);
  let i = min === null ? sorted.length : sorted.findIndex((v) => gte(v.version, min));
  if (i < 0) i = sorted.length;
  const near = sorted.slice(Math.max(0, i - 3), i + 3).map((v) => v.tag);
  return resolveError(
    `dependency '${name}': no tag of ${where} satisfies ${range} (nearest available: ${near.join(', ')})`,
    'widen the range in artifacts.yaml, or push a matching version',
  );
}

/**
 * Resolves one dependency to a manifest (network): a tag is resolved to its
 * digest; a digest pin is checked to exist; a range lists tags (bounded),
 * keeps semver tags (leading `v` allowed), and picks the highest satisfying one
 * (prereleases only when the range names one). An index is narrowed to
 * `spec.platform` (default: its only manifest, else linux/amd64) and the child
 * manifest's digest is recorded. The manifest bytes are verified.
 * Errors: `ERR_ORAS_RESOLVE` (no match, not found, no platform), plus
 * whatever the target throws (auth, network…).
 */
export async function resolveDependency(
  name: string,
  spec: DependencySpec,
  ctx: ResolveContext,
  tags?: SemverTags,
): Promise<ResolvedDependency> {
  const dep = parseDependencyRef(spec.ref);
  emit(ctx.onEvent, { type: 'resolve', dependency: name, ref: spec.ref });
  const repo = await ctx.repositoryFor(dep.reference);
  const { desc, tag, prefetched } = await target(name, dep, repo, ctx, tags);
  const limit = ctx.maxManifestBytes ?? MAX_MANIFEST_BYTES;
  const opts = ctx.signal ? { signal: ctx.signal } : {};
  const where = repositoryOf(dep.reference);
  if (!isManifestMediaType(desc.mediaType)) {
    throw resolveError(
      `dependency '${name}': ${where} ${desc.digest} is ${desc.mediaType}, not a manifest`,
      'point the ref at an artifact or image manifest',
    );
  }
  let bytes = prefetched?.bytes ?? (await fetchAll(repo, desc, limit, opts));
  let parsed = prefetched?.parsed ?? parseManifest(bytes, desc.mediaType);
  let descriptor = desc;
  let index: ResolvedDependency['index'];
  if (parsed.kind === 'index') {
    const child = pickPlatform(parsed.index, spec.platform, `${where}@${desc.digest}`);
    index = { descriptor: desc, bytes, index: parsed.index };
    if (!isManifestMediaType(child.mediaType))
      throw resolveError(
        `dependency '${name}': index entry ${child.digest} is ${child.mediaType}`,
        'point the ref at an artifact or image manifest',
      );
    bytes = await fetchAll(repo, child, limit, opts);
    parsed = parseManifest(bytes, child.mediaType);
    descriptor = child;
    if (parsed.kind === 'index') {
      throw new OrasError(
        'ERR_ORAS_UNSUPPORTED',
        `dependency '${name}': nested index ${child.digest} is not supported`,
        { hint: 'point the ref at a single-level index or a manifest' },
      );
    }
  }
  const manifest = parsed.manifest;
  const artifactType = artifactTypeOf(manifest);
  const locked: Omit<LockedDependency, 'files'> = {
    specifier: normalizeDependencySpec(spec),
    resolved: `${where}${tag !== undefined ? `:${tag}` : ''}@${descriptor.digest}`,
    ...(tag !== undefined ? { tag } : {}),
    digest: descriptor.digest,
    mediaType: parsed.mediaType,
    ...(artifactType !== undefined ? { artifactType } : {}),
  };
  return { name, locked, descriptor, manifestBytes: bytes, manifest, ...(index !== undefined ? { index } : {}) };
}

/** Options for {@link resolveAll}. */
export interface ResolveAllOptions {
  /** Re-resolve these dependencies (or all with `true`) even when their specifier is unchanged. Unknown names → `ERR_ORAS_USAGE`. */
  update?: string[] | true;
  /** Parallel resolutions (default 8). */
  concurrency?: number;
}

/** A locked resolution kept under an edited specifier (see `locked-resolution.ts`). */
export interface RebasedDependency {
  /** The locked entry with the new specifier (same `resolved`, `tag`, `digest`). */
  locked: Omit<LockedDependency, 'files'>;
  /** The locked files when they are still exactly right (only `ref` changed); else the caller recomputes them from the locked manifest. */
  files?: LockedFile[];
}

/** The outcome of {@link resolveAll}. */
export interface ResolveAllResult {
  /** Locked entries kept as they are (specifier unchanged, not updated; or renamed with an identical spec). */
  kept: Record<string, LockedDependency>;
  /** Locked resolutions kept under an edited specifier (no network); files to recompute when `files` is absent. */
  rebased: Record<string, RebasedDependency>;
  /** Entries resolved now (new, no longer satisfied, platform re-selected, or updated); their files are still to be computed. */
  resolved: Record<string, ResolvedDependency>;
  /** Names that were locked but are no longer declared (dropped, or renamed). */
  removed: string[];
  /** Locked publish records whose publishable is still declared. */
  publish: Record<string, LockedPublish>;
}

/** Rejects `update` names that are not declared. */
function checkUpdateNames(manifest: ProjectManifest, update: ResolveAllOptions['update']): void {
  if (!Array.isArray(update)) return;
  const unknown = update.filter((n) => manifest.dependencies[n] === undefined);
  if (unknown.length > 0) {
    throw new OrasError(
      'ERR_ORAS_USAGE',
      `unknown dependenc${unknown.length === 1 ? 'y' : 'ies'}: ${unknown.join(', ')}`,
      {
        hint: `declared dependencies: ${Object.keys(manifest.dependencies).sort().join(', ') || '(none)'}`,
      },
    );
  }
}

/** One dependency to resolve over the network: its spec, and the ref actually resolved (a pinned form when re-selecting a platform). */
interface Todo {
  name: string;
  spec: DependencySpec;
  ref: string;
}

/**
 * Sorts declared dependencies into kept / rebased / to-resolve (PURE), by the
 * rules of `locked-resolution.ts`: an unchanged specifier keeps its entry; an
 * edited one keeps its resolution while the locked version still satisfies
 * the spec; a renamed one inherits the entry of its old name; `update` forces
 * a fresh resolution.
 */
function classify(
  manifest: ProjectManifest,
  prior: Record<string, LockedDependency>,
  update: ResolveAllOptions['update'],
): {
  kept: Record<string, LockedDependency>;
  rebased: Record<string, RebasedDependency>;
  todo: Todo[];
  previous: Map<string, LockedDependency>;
} {
  const renames = findRenames(manifest.dependencies, prior);
  const kept: Record<string, LockedDependency> = {};
  const rebased: Record<string, RebasedDependency> = {};
  const todo: Todo[] = [];
  const previous = new Map<string, LockedDependency>();
  for (const name of Object.keys(manifest.dependencies).sort()) {
    const spec = manifest.dependencies[name]!;
    const locked = prior[name] ?? (renames.has(name) ? prior[renames.get(name)!] : undefined);
    if (locked !== undefined) previous.set(name, locked);
    const forced = update === true || (Array.isArray(update) && update.includes(name));
    if (locked === undefined || forced) {
      todo.push({ name, spec, ref: spec.ref });
      continue;
    }
    if (specifierMatches(spec, locked.specifier)) {
      kept[name] = locked;
      continue;
    }
    const decision = keepDecision(spec, locked);
    if (decision.kind === 'resolve') todo.push({ name, spec, ref: spec.ref });
    else if (decision.kind === 'reselect') todo.push({ name, spec, ref: decision.ref });
    else {
      const { files, ...rest } = locked;
      rebased[name] = {
        locked: { ...rest, specifier: normalizeDependencySpec(spec) },
        ...(decision.sameFiles ? { files } : {}),
      };
    }
  }
  return { kept, rebased, todo, previous };
}

/**
 * The tag a previous resolution locked now points elsewhere (same tag, other
 * content): returns the digests to report, else undefined. Only tags that
 * look like versions (`1.0.0`, `v1.2.3`) count: a release is expected to be
 * immutable, `latest` is not. An index that still lists the locked (platform)
 * manifest is the same release.
 */
function republished(
  prev: LockedDependency | undefined,
  r: ResolvedDependency,
): { tag: string; from: string; to: string } | undefined {
  if (prev?.tag === undefined || prev.tag !== r.locked.tag || prev.digest === r.locked.digest) return undefined;
  if (tagVersion(prev.tag) === undefined) return undefined; // `latest`, `stable`…: moving is what such tags do
  if (r.index !== undefined && r.index.index.manifests.some((m) => m.digest === prev.digest)) return undefined;
  return { tag: prev.tag, from: prev.digest, to: r.locked.digest };
}

/**
 * Brings the lock in line with the manifest without silent upgrades: keeps
 * locked dependencies whose specifier is unchanged (unless named in
 * `update`), keeps the locked resolution of edited and renamed ones while it
 * still satisfies the spec (`rebased`), resolves missing, unsatisfied and
 * updated ones (p-limit, `concurrency`), drops removed ones. Emits `resolved`
 * with `changed` = the digest differs from the previously locked one, and
 * `republished` when a previously locked tag now names other content. When
 * several resolutions fail, throws one error listing all (the original error
 * when only one failed).
 */
export async function resolveAll(
  manifest: ProjectManifest,
  lock: Lockfile | undefined,
  ctx: ResolveContext,
  options: ResolveAllOptions = {},
): Promise<ResolveAllResult> {
  checkUpdateNames(manifest, options.update);
  const prior = lock?.dependencies ?? {};
  const { kept, rebased, todo, previous } = classify(manifest, prior, options.update);
  const result: ResolveAllResult = { kept, rebased, resolved: {}, removed: [], publish: {} };
  result.removed = Object.keys(prior)
    .filter((n) => manifest.dependencies[n] === undefined)
    .sort();
  for (const [name, p] of Object.entries(lock?.publish ?? {}))
    if (manifest.publish[name] !== undefined) result.publish[name] = p;
  const limit = pLimit(Math.max(1, options.concurrency ?? 8));
  const failures: { name: string; error: unknown }[] = [];
  await Promise.all(
    todo.map(({ name, spec, ref }) =>
      limit(async () => {
        if (ctx.signal?.aborted) throw new OrasError('ERR_ORAS_ABORTED', 'resolve: aborted');
        try {
          const r = await resolveDependency(name, { ...spec, ref }, ctx);
          r.locked.specifier = normalizeDependencySpec(spec);
          result.resolved[name] = r;
          const prev = previous.get(name);
          const moved = republished(prev, r);
          if (moved !== undefined) emit(ctx.onEvent, { type: 'republished', dependency: name, ...moved, kept: false });
          emit(ctx.onEvent, {
            type: 'resolved',
            dependency: name,
            resolved: r.locked.resolved,
            digest: r.locked.digest,
            changed: prev?.digest !== r.locked.digest,
          });
        } catch (error) {
          failures.push({ name, error });
        }
      }),
    ),
  );
  if (failures.length === 1) throw failures[0]!.error;
  if (failures.length > 1) {
    failures.sort((a, b) => (a.name < b.name ? -1 : 1));
    const codes = new Set(failures.map((f) => (isOrasError(f.error) ? f.error.code : 'ERR_ORAS_RESOLVE')));
    const code = codes.size === 1 ? [...codes][0]! : 'ERR_ORAS_RESOLVE';
    throw new OrasError(
      code,
      `failed to resolve ${failures.length} dependencies:\n  ${failures.map((f) => `${f.name}: ${(f.error as Error).message}`).join('\n  ')}`,
      {
        cause: failures[0]!.error,
        hint: (isOrasError(failures[0]!.error) ? failures[0]!.error.hint : undefined) ?? 'fix the listed dependencies',
      },
    );
  }
  return result;
}
