import { createRequire } from 'node:module';
import { parseReference, type Reference } from '../../oci/reference.js';
import { OrasError } from '../../errors.js';
import { parseDependencyRef, repositoryOf } from './dependency-ref.js';
import type { LockedDependency, Lockfile, ProjectManifest } from '../types.js';

/**
 * Binding of `artifacts.lock` to `artifacts.yaml` (PURE): a lock entry may
 * only name what its spec `ref` names. The lock is repository content that a
 * pull request can change without a reviewer noticing (a long generated
 * file), so its `resolved` reference is never an authority: the registry and
 * repository always come from artifacts.yaml (normalized exactly as
 * references are parsed, so `docker.io/library/x` and `x` are the same), and
 * the tag or version from the spec as well. A mirror or OCI layout from the
 * configuration is a place bytes are fetched from, never a recorded identity.
 *
 * Like lockfile-lint's `--allowed-hosts` / `--validate-package-names` (every
 * resolved URL must belong to an allowed host and match the package name)
 * and pnpm, which re-derives the tarball URL from the registry and the
 * package name rather than trusting a URL in the lock, but stricter: the
 * allowed identity is per dependency, taken from the reviewed artifacts.yaml.
 */

/** One way a lock entry names something its spec does not. */
export interface BindingProblem {
  dependency: string;
  /** What differs: the repository, the tag (exact tags, ranges), or the digest. */
  field: 'repository' | 'tag' | 'digest';
  /** What artifacts.yaml (or the entry's own resolved reference) requires. */
  expected: string;
  /** What artifacts.lock says. */
  found: string;
}

let satisfiesFn: typeof import('semver/functions/satisfies.js') | undefined;
function satisfies(version: string, range: string): boolean {
  satisfiesFn ??= createRequire(import.meta.url)(
    'semver/functions/satisfies.js',
  ) as typeof import('semver/functions/satisfies.js');
  return satisfiesFn(version, range);
}

/** The semver version a tag denotes (`v1.2.3`, `1.2.3_build` → `1.2.3+build`), as the resolver reads tags. */
async function tagVersionOf(tag: string): Promise<string | undefined> {
  return (await import('../plan/semver-tags.js')).tagVersion(tag);
}

/**
 * The binding problems of one lock entry against the spec `ref` it must
 * satisfy (normally artifacts.yaml's; the entry's own `specifier.ref` agrees
 * with it whenever `--frozen-lockfile` passes). Checks that the resolved
 * registry/repository equal the spec's, that the resolved digest is the
 * entry's `digest`, that an exact tag is the spec's tag, that a range's tag
 * is a version satisfying it, and that a digest pin to a manifest is that
 * digest (a pin to an index records the chosen platform's manifest, which is
 * bound through the index by the install engine).
 */
export async function entryBindingProblems(
  name: string,
  specRef: string,
  dep: LockedDependency,
): Promise<BindingProblem[]> {
  const problems: BindingProblem[] = [];
  const spec = parseDependencyRef(specRef);
  let resolved: Reference;
  try {
    resolved = parseReference(dep.resolved);
  } catch {
    return [{ dependency: name, field: 'repository', expected: repositoryOf(spec.reference), found: dep.resolved }];
  }
  const want = repositoryOf(spec.reference);
  const have = repositoryOf(resolved);
  if (want !== have) problems.push({ dependency: name, field: 'repository', expected: want, found: have });
  if (resolved.digest !== dep.digest)
    problems.push({ dependency: name, field: 'digest', expected: dep.digest, found: resolved.digest ?? '(none)' });
  if (spec.kind === 'tag') {
    if (dep.tag !== spec.tag || resolved.tag !== spec.tag)
      problems.push({ dependency: name, field: 'tag', expected: spec.tag, found: dep.tag ?? resolved.tag ?? '(none)' });
  } else if (spec.kind === 'range') {
    const version = dep.tag !== undefined ? await tagVersionOf(dep.tag) : undefined;
    if (dep.tag === undefined || resolved.tag !== dep.tag || version === undefined || !satisfies(version, spec.range)) {
      problems.push({
        dependency: name,
        field: 'tag',
        expected: `a version satisfying ${spec.range}`,
        found: dep.tag ?? resolved.tag ?? '(none)',
      });
    }
  } else if (dep.tag !== undefined || resolved.tag !== undefined) {
    problems.push({
      dependency: name,
      field: 'tag',
      expected: '(none: a digest pin)',
      found: dep.tag ?? resolved.tag ?? '',
    });
  }
  return problems;
}

/**
 * The binding problems of every lock entry whose dependency is declared in
 * artifacts.yaml, checked against the declared `ref` (entries whose spec
 * changed are checked too: a re-resolution replaces them anyway, and a
 * frozen install reports them). Sorted by dependency name.
 */
export async function lockBindingProblems(manifest: ProjectManifest, lock: Lockfile): Promise<BindingProblem[]> {
  const out: BindingProblem[] = [];
  for (const name of Object.keys(lock.dependencies).sort()) {
    const spec = manifest.dependencies[name];
    if (spec === undefined) continue;
    try {
      out.push(...(await entryBindingProblems(name, spec.ref, lock.dependencies[name]!)));
    } catch {
      // An invalid ref in artifacts.yaml is reported by its own validation.
    }
  }
  return out;
}

/** One line per problem: `dependencies.<name>: artifacts.yaml names <expected>, artifacts.lock has <found> (<field>)`. */
export function formatBindingProblems(problems: readonly BindingProblem[]): string {
  return problems
    .map(
      (p) =>
        `dependencies.${p.dependency}: artifacts.yaml requires ${p.field} ${p.expected}, artifacts.lock has ${p.found}`,
    )
    .join('\n');
}

/** The hint for a lock that does not match artifacts.yaml or its manifests. */
export const LOCK_MISMATCH_HINT =
  'run `oras install` without --frozen-lockfile to re-resolve the listed dependencies, or revert artifacts.lock';

/** `ERR_ORAS_LOCK_MISMATCH` for binding problems (what `install --frozen-lockfile` and `verify` report). */
export function bindingError(problems: readonly BindingProblem[]): OrasError {
  return new OrasError(
    'ERR_ORAS_LOCK_MISMATCH',
    `artifacts.lock does not match artifacts.yaml:\n${formatBindingProblems(problems)}`,
    { hint: LOCK_MISMATCH_HINT },
  );
}
