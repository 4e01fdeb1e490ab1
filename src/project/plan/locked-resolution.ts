import { createRequire } from 'node:module';
import { parseReference } from '../../oci/reference.js';
import { parseDependencyRef, repositoryOf } from '../spec/dependency-ref.js';
import { tagVersion } from './semver-tags.js';
import { normalizeDependencySpec } from './spec-diff.js';
import type { DependencySpec, LockedDependency } from '../types.js';

/**
 * When a locked resolution survives an edit of artifacts.yaml (no silent
 * upgrades, as pnpm and uv do it). The locked resolution of a dependency is
 * its tag + manifest digest. It is KEPT while it still satisfies the spec:
 *
 * - editing `path`, `include`, `exclude`, `mediaTypes` or `unpack` keeps it
 *   (only the files are recomputed, from the locked manifest);
 * - changing `ref` keeps it when the new ref names the same repository and
 *   the locked version still satisfies it: the same tag, a range the locked
 *   tag's version satisfies (`^1.0.0` → `~1.3.0` with 1.3.0 locked), or the
 *   locked digest itself;
 * - changing `platform` re-selects within the locked tag (or digest) instead
 *   of re-resolving a range (see {@link keepDecision});
 * - renaming a dependency (a new name whose ref equals the ref of exactly one
 *   locked entry that is no longer declared) keeps that entry's resolution.
 *
 * Only `oras update [name]` or a ref the locked version no longer satisfies
 * moves a resolution. Pure functions: no network.
 */

/** How an edited dependency is brought in line with its locked entry. */
export type KeepDecision =
  /** Keep tag + digest; `sameFiles` when the locked files are still exactly right (only `ref` changed). */
  | { kind: 'keep'; sameFiles: boolean }
  /** Re-select the platform within the locked tag/digest: resolve `ref` (a pinned form of the spec). */
  | { kind: 'reselect'; ref: string }
  /** The locked version no longer satisfies the spec: resolve it afresh. */
  | { kind: 'resolve' };

let satisfiesFn: typeof import('semver/functions/satisfies.js') | undefined;
/** `semver.satisfies`, loaded only when a range is compared. */
function satisfies(version: string, range: string): boolean {
  satisfiesFn ??= createRequire(import.meta.url)(
    'semver/functions/satisfies.js',
  ) as typeof import('semver/functions/satisfies.js');
  return satisfiesFn(version, range);
}

/** `registry/repository` of a locked entry's `resolved`, or undefined when it does not parse. */
function lockedRepository(locked: LockedDependency): string | undefined {
  try {
    return repositoryOf(parseReference(locked.resolved));
  } catch {
    return undefined;
  }
}

/** True when the locked tag/digest still satisfies `ref` (same repository; tag equal, range satisfied, or digest equal). */
export function lockedSatisfiesRef(ref: string, locked: LockedDependency): boolean {
  let dep;
  try {
    dep = parseDependencyRef(ref);
  } catch {
    return false;
  }
  if (repositoryOf(dep.reference) !== lockedRepository(locked)) return false;
  if (dep.kind === 'digest') return dep.digest === locked.digest;
  if (locked.tag === undefined) return false;
  if (dep.kind === 'tag') return dep.tag === locked.tag;
  const version = tagVersion(locked.tag);
  return version !== undefined && satisfies(version, dep.range);
}

/**
 * Decides what to do with a locked entry whose specifier differs from the
 * declared spec (see the module doc). PURE.
 */
export function keepDecision(spec: DependencySpec, locked: LockedDependency): KeepDecision {
  const want = normalizeDependencySpec(spec);
  const had = normalizeDependencySpec(locked.specifier);
  if (want.platform !== had.platform) {
    // The locked manifest is for another platform: pick the new one from the same tag (or digest).
    const dep = parseDependencyRef(want.ref);
    if (dep.kind === 'digest') return { kind: 'reselect', ref: want.ref };
    if (locked.tag !== undefined && lockedSatisfiesRef(want.ref, locked))
      return { kind: 'reselect', ref: `${repositoryOf(dep.reference)}:${locked.tag}` };
    return { kind: 'resolve' };
  }
  if (want.ref !== had.ref && !lockedSatisfiesRef(want.ref, locked)) return { kind: 'resolve' };
  const rest = (s: DependencySpec): string => JSON.stringify({ ...s, ref: '' });
  return { kind: 'keep', sameFiles: rest(want) === rest(had) };
}

/**
 * Pairs renamed dependencies: for each declared name without a locked entry,
 * the one locked entry that is no longer declared and has the same `ref`
 * (trimmed). Ambiguous pairings (two candidates either way) are not made.
 * Returns new name → old name. PURE.
 */
export function findRenames(
  declared: Record<string, DependencySpec>,
  locked: Record<string, LockedDependency>,
): Map<string, string> {
  const orphans = Object.keys(locked).filter((n) => declared[n] === undefined);
  const fresh = Object.keys(declared).filter((n) => locked[n] === undefined);
  const out = new Map<string, string>();
  for (const name of fresh) {
    const ref = declared[name]!.ref.trim();
    const candidates = orphans.filter((o) => locked[o]!.specifier.ref.trim() === ref);
    const rivals = fresh.filter((n) => declared[n]!.ref.trim() === ref);
    if (candidates.length === 1 && rivals.length === 1) out.set(name, candidates[0]!);
  }
  return out;
}
