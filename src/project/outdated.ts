import pLimit from 'p-limit';
import { hasTags } from '../content/store.js';
import { parseDependencyRef, repositoryOf } from './spec/dependency-ref.js';
import { isOrasError } from '../errors.js';
import { resolveDependency, type ResolveContext, type ResolvedDependency, type ResolveTarget } from './plan/resolve.js';
import { latestVersion, listSemverTags, tagVersion, type SemverTags } from './plan/semver-tags.js';
import type { DependencySpec, Lockfile, ProjectManifest } from './types.js';

/** One row of `oras outdated`. */
export interface OutdatedEntry {
  name: string;
  /** The ref as written in artifacts.yaml. */
  ref: string;
  kind: 'tag' | 'digest' | 'range';
  /** The locked tag (or the locked digest for digest pins); absent when not locked yet. */
  current?: string;
  /** The locked manifest digest. */
  currentDigest?: string;
  /** What an update would pick: the highest tag in range, the tag itself, or the pinned digest. */
  wanted: string;
  /** The manifest digest `wanted` resolves to now. */
  wantedDigest: string;
  /** The highest semver tag of the repository (stable versions preferred); absent without semver tags. */
  latest?: string;
  /** True when an update would change the lock (different tag or digest). */
  outdated: boolean;
  /**
   * Set when the locked tag (one that looks like a version, not `latest`) now names other content (`1.0.0 was republished:
   * from → to`): `from` is the locked manifest digest, `to` what the tag names
   * now. `install` keeps `from`; `oras update <name>` moves to `to`.
   */
  republished?: { tag: string; from: string; to: string };
}

/** The locked tag of `name` resolved now (undefined when it no longer exists). */
async function lockedTagNow(
  name: string,
  spec: DependencySpec,
  tag: string,
  repo: ResolveTarget,
  ctx: ResolveContext,
): Promise<ResolvedDependency | undefined> {
  const at = parseDependencyRef(spec.ref);
  try {
    return await resolveDependency(
      name,
      { ...spec, ref: `${repositoryOf(at.reference)}:${tag}` },
      { ...ctx, repositoryFor: () => repo },
    );
  } catch (err) {
    if (isOrasError(err, 'ERR_ORAS_RESOLVE')) return undefined;
    throw err;
  }
}

/**
 * For every declared dependency, compares the locked version with what the
 * registry offers now (network, read-only): `wanted` (what `oras update`
 * would lock: the max tag in range / the tag's current digest) and `latest`
 * (max semver tag overall, even outside the range), and whether the locked
 * tag was republished (now names other content). Returns all dependencies
 * sorted by name, with `outdated` set when the lock would change. Errors are
 * those of {@link resolveDependency}.
 */
export async function findOutdated(
  manifest: ProjectManifest,
  lock: Lockfile | undefined,
  ctx: ResolveContext,
  options: { concurrency?: number } = {},
): Promise<OutdatedEntry[]> {
  const limit = pLimit(Math.max(1, options.concurrency ?? 8));
  const names = Object.keys(manifest.dependencies).sort();
  return Promise.all(
    names.map((name) =>
      limit(async (): Promise<OutdatedEntry> => {
        const spec = manifest.dependencies[name]!;
        const dep = parseDependencyRef(spec.ref);
        const repo = await ctx.repositoryFor(dep.reference);
        let tags: SemverTags | undefined;
        if (hasTags(repo)) {
          tags = await listSemverTags(repo, {
            max: ctx.maxTags ?? 10_000,
            what: repositoryOf(dep.reference),
            ...(ctx.signal ? { signal: ctx.signal } : {}),
          });
        }
        const r = await resolveDependency(name, spec, { ...ctx, repositoryFor: () => repo }, tags);
        const locked = lock?.dependencies[name];
        const current = locked === undefined ? undefined : dep.kind === 'digest' ? locked.digest : locked.tag;
        const wanted = dep.kind === 'digest' ? dep.digest : r.locked.tag!;
        const latest = tags !== undefined ? latestVersion(tags)?.tag : undefined;
        // The tag the lock holds, resolved now: for a range whose best tag moved on, the locked tag itself is checked.
        const sameTag =
          locked?.tag !== undefined && dep.kind !== 'digest' && tagVersion(locked.tag) !== undefined
            ? locked.tag === r.locked.tag
              ? r
              : await lockedTagNow(name, spec, locked.tag, repo, ctx)
            : undefined;
        const moved =
          locked !== undefined &&
          sameTag !== undefined &&
          sameTag.locked.digest !== locked.digest &&
          !(sameTag.index?.index.manifests.some((m) => m.digest === locked.digest) ?? false);
        return {
          name,
          ref: spec.ref,
          kind: dep.kind,
          ...(current !== undefined ? { current } : {}),
          ...(locked !== undefined ? { currentDigest: locked.digest } : {}),
          wanted,
          wantedDigest: r.locked.digest,
          ...(latest !== undefined ? { latest } : {}),
          outdated:
            locked === undefined ||
            locked.digest !== r.locked.digest ||
            (dep.kind !== 'digest' && locked.tag !== r.locked.tag),
          ...(moved ? { republished: { tag: locked.tag!, from: locked.digest, to: sameTag.locked.digest } } : {}),
        };
      }),
    ),
  );
}
