import { posix } from 'node:path';
import { parseReference } from '../../oci/reference.js';
import type { DependencySpec, Lockfile, ProjectManifest } from '../types.js';

/** One difference between artifacts.yaml and artifacts.lock. */
export interface SpecChange {
  kind: 'added' | 'removed' | 'changed';
  section: 'dependencies' | 'publish';
  name: string;
  /** The field that differs (for `changed`). */
  field?: string;
  /** The value in artifacts.yaml (absent for `removed`, or when the field was removed). */
  wanted?: unknown;
  /** The value in artifacts.lock (absent for `added`, or when the field is new). */
  locked?: unknown;
}

/** Fields of a dependency spec, in the order they are compared and shown. */
export const DEPENDENCY_FIELDS = ['ref', 'path', 'include', 'exclude', 'mediaTypes', 'platform', 'unpack'] as const;

/**
 * The canonical form of a dependency spec, used both as the lockfile's
 * `specifier` and for comparison: `ref` trimmed; `path` POSIX-normalized
 * without `./` or a trailing `/`; `unpack: true` (the default) and an empty
 * `exclude` dropped; `include`, `exclude` and `mediaTypes` de-duplicated and
 * sorted (their order has no meaning). Unknown/undefined fields are dropped.
 */
export function normalizeDependencySpec(spec: DependencySpec): DependencySpec {
  const list = (v: string[] | undefined): string[] | undefined =>
    v === undefined ? undefined : [...new Set(v)].sort();
  const include = list(spec.include);
  const exclude = list(spec.exclude);
  const mediaTypes = list(spec.mediaTypes);
  const path = posix.normalize(spec.path).replace(/\/+$/, '');
  return {
    ref: spec.ref.trim(),
    path,
    ...(include !== undefined ? { include } : {}),
    ...(exclude !== undefined && exclude.length > 0 ? { exclude } : {}),
    ...(mediaTypes !== undefined ? { mediaTypes } : {}),
    ...(spec.platform !== undefined ? { platform: spec.platform } : {}),
    ...(spec.unpack === false ? { unpack: false } : {}),
  };
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** True when the locked specifier still matches the manifest spec (after normalization). */
export function specifierMatches(spec: DependencySpec, locked: DependencySpec): boolean {
  return equal(normalizeDependencySpec(spec), normalizeDependencySpec(locked));
}

function repoOf(ref: string): string | undefined {
  try {
    const r = parseReference(ref);
    return `${r.registry}/${r.repository}`;
  } catch {
    return undefined;
  }
}

/** Options for {@link compareManifestToLock}. */
export interface CompareOptions {
  /** Sections to compare (default both). */
  sections?: ('dependencies' | 'publish')[];
}

/**
 * Compares artifacts.yaml with artifacts.lock (PURE). Dependencies: `added`
 * (declared, not locked), `removed` (locked, no longer declared), `changed`
 * (one entry per differing field of the normalized spec). Publish entries
 * record what was last published, so only `removed` (locked but no longer
 * declared) and a changed repository (`field: 'ref'`) are reported: a
 * publishable never published yet is not a difference. Sorted by section, name,
 * field. An absent lock counts as empty.
 */
export function compareManifestToLock(
  manifest: ProjectManifest,
  lock: Lockfile | undefined,
  options: CompareOptions = {},
): { changes: SpecChange[] } {
  const sections = options.sections ?? ['dependencies', 'publish'];
  const changes: SpecChange[] = [];
  const lockedDeps = lock?.dependencies ?? {};
  if (sections.includes('dependencies')) {
    const names = [...new Set([...Object.keys(manifest.dependencies), ...Object.keys(lockedDeps)])].sort();
    for (const name of names) {
      const spec = manifest.dependencies[name];
      const locked = lockedDeps[name];
      if (spec === undefined) {
        changes.push({ kind: 'removed', section: 'dependencies', name, locked: locked?.specifier.ref });
        continue;
      }
      if (locked === undefined) {
        changes.push({ kind: 'added', section: 'dependencies', name, wanted: spec.ref });
        continue;
      }
      const w = normalizeDependencySpec(spec) as unknown as Record<string, unknown>;
      const l = normalizeDependencySpec(locked.specifier) as unknown as Record<string, unknown>;
      for (const field of DEPENDENCY_FIELDS) {
        if (equal(w[field], l[field])) continue;
        changes.push({
          kind: 'changed',
          section: 'dependencies',
          name,
          field,
          ...(w[field] !== undefined ? { wanted: w[field] } : {}),
          ...(l[field] !== undefined ? { locked: l[field] } : {}),
        });
      }
    }
  }
  if (sections.includes('publish')) {
    const lockedPub = lock?.publish ?? {};
    for (const name of Object.keys(lockedPub).sort()) {
      const spec = manifest.publish[name];
      const locked = lockedPub[name]!;
      if (spec === undefined) {
        changes.push({ kind: 'removed', section: 'publish', name, locked: locked.ref });
        continue;
      }
      const want = repoOf(spec.ref);
      const have = repoOf(locked.ref);
      if (want !== undefined && have !== undefined && want !== have) {
        changes.push({ kind: 'changed', section: 'publish', name, field: 'ref', wanted: spec.ref, locked: locked.ref });
      }
    }
  }
  return { changes };
}

function show(v: unknown): string {
  if (v === undefined) return '(default)';
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  return JSON.stringify(v);
}

/**
 * Formats changes one per line, for `--frozen-lockfile` and `verify`:
 *
 *     + dependencies.data: added to artifacts.yaml ("localhost:5000/acme/data:v1"), not in artifacts.lock
 *     - dependencies.old: removed from artifacts.yaml, still in artifacts.lock ("…")
 *     ~ dependencies.model.ref: locked "…:^1.0.0" → wanted "…:^2.0.0"
 *
 * Returns the empty string for no changes.
 */
export function formatSpecChanges(changes: readonly SpecChange[]): string {
  return changes
    .map((c) => {
      const at = `${c.section}.${c.name}`;
      if (c.kind === 'added') return `+ ${at}: added to artifacts.yaml (${show(c.wanted)}), not in artifacts.lock`;
      if (c.kind === 'removed')
        return `- ${at}: removed from artifacts.yaml, still in artifacts.lock (${show(c.locked)})`;
      return `~ ${at}${c.field !== undefined ? `.${c.field}` : ''}: locked ${show(c.locked)} → wanted ${show(c.wanted)}`;
    })
    .join('\n');
}
