import { isOrasError } from '../../errors.js';
import { parseReference } from '../../oci/reference.js';
import type { OrasConfigFile } from './config.js';
import { isRangeSpecifier } from './dependency-ref.js';
import { issueAt, type Issue, type PathSegment } from './issues.js';
import { checkProjectPath, checkRef, isObj } from './path-checks.js';
import { schemaIssues } from './schema-validators.js';
import type { DependencySpec, ProjectManifest, PublishFileSpec, PublishSpec } from '../types.js';

export type { Issue } from './issues.js';

/**
 * Pure validation of the three user-facing documents. Each function takes the
 * parsed YAML/JSON value and returns the typed, normalized value when there are
 * no issues, plus every issue found (schema errors from `schemas/*.json` and
 * the semantic checks a schema cannot express). Nothing here reads the project
 * or the network; the schema files are read once from the package. This file
 * holds artifacts.yaml's and the config's; artifacts.lock's is in
 * `lockfile-validate.ts`, the schemas in `schema-validators.ts`, and the path
 * and reference checks both use in `path-checks.ts`.
 */

/** The result of a validation: `value` is set only when `issues` is empty. */
export interface ValidationResult<T> {
  value?: T;
  issues: Issue[];
}

function normalizeDependency(name: string, raw: Record<string, unknown>, issues: Issue[]): DependencySpec | undefined {
  const base: PathSegment[] = ['dependencies', name];
  checkRef(raw.ref, [...base, 'ref'], issues);
  let path: string | undefined;
  if (typeof raw.path === 'string') {
    const r = checkProjectPath(raw.path, [...base, 'path'], 'dir');
    if ('issue' in r) issues.push(r.issue);
    else path = r.path;
  }
  for (const key of ['include', 'exclude'] as const) {
    const globs = raw[key];
    if (!Array.isArray(globs)) continue;
    globs.forEach((g, i) => {
      if (typeof g === 'string' && (g.startsWith('/') || g.includes('\\'))) {
        issues.push(
          issueAt(
            [...base, key, i],
            `glob ${JSON.stringify(g)} must be relative with forward slashes`,
            'globs match file titles inside the artifact, e.g. "**/*.onnx"',
          ),
        );
      }
    });
  }
  if (typeof raw.ref !== 'string' || path === undefined) return undefined;
  return { ...(raw as unknown as DependencySpec), ref: raw.ref.trim(), path };
}

function checkOverlaps(deps: Record<string, DependencySpec>, issues: Issue[]): void {
  const entries = Object.entries(deps).map(([name, d]) => ({ name, key: d.path.toLowerCase(), path: d.path }));
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      const a = entries[i]!;
      const b = entries[j]!;
      const same = a.key === b.key;
      const nested = b.key.startsWith(`${a.key}/`) || a.key.startsWith(`${b.key}/`);
      if (!same && !nested) continue;
      const what = same
        ? `installs into the same directory "${b.path}" as`
        : `path "${b.path}" overlaps "${a.path}" of`;
      issues.push(
        issueAt(
          ['dependencies', b.name, 'path'],
          `${what} dependency '${a.name}'`,
          'give every dependency its own directory, none inside another',
        ),
      );
    }
  }
}

function normalizePublish(name: string, raw: Record<string, unknown>, issues: Issue[]): PublishSpec | undefined {
  const base: PathSegment[] = ['publish', name];
  let ok = true;
  if (typeof raw.ref === 'string') {
    const at = raw.ref.indexOf('@');
    const lastSlash = raw.ref.lastIndexOf('/');
    const colon = raw.ref.indexOf(':', lastSlash + 1);
    if (at >= 0) {
      issues.push(
        issueAt(
          [...base, 'ref'],
          'a publish ref must not contain a digest',
          'write registry/repo or registry/repo:tag; the digest is computed when publishing',
        ),
      );
      ok = false;
    } else if (lastSlash >= 0 && colon >= 0 && isRangeSpecifier(raw.ref.slice(colon + 1))) {
      issues.push(
        issueAt(
          [...base, 'ref'],
          'a publish ref must not contain a version range',
          'write an exact tag, or list tags under `tags:`',
        ),
      );
      ok = false;
    } else {
      try {
        parseReference(raw.ref);
      } catch (err) {
        if (!isOrasError(err)) throw err;
        issues.push(issueAt([...base, 'ref'], err.message, err.hint));
        ok = false;
      }
    }
  }
  if (typeof raw.subject === 'string') {
    try {
      parseReference(raw.subject);
    } catch (err) {
      if (!isOrasError(err)) throw err;
      issues.push(issueAt([...base, 'subject'], err.message, err.hint));
      ok = false;
    }
  }
  const files: PublishFileSpec[] = [];
  if (Array.isArray(raw.files)) {
    raw.files.forEach((f: unknown, i) => {
      const entry =
        typeof f === 'string'
          ? { path: f }
          : isObj(f) && typeof f.path === 'string'
            ? (f as unknown as PublishFileSpec)
            : undefined;
      if (entry === undefined) return;
      const segs: PathSegment[] = typeof f === 'string' ? [...base, 'files', i] : [...base, 'files', i, 'path'];
      const r = checkProjectPath(entry.path, segs, 'glob');
      if ('issue' in r) {
        issues.push(r.issue);
        ok = false;
      } else files.push({ ...entry, path: r.path });
    });
  }
  let config: PublishSpec['config'];
  if (isObj(raw.config) && typeof raw.config.file === 'string') {
    const r = checkProjectPath(raw.config.file, [...base, 'config', 'file'], 'file');
    if ('issue' in r) {
      issues.push(r.issue);
      ok = false;
    } else config = { ...(raw.config as unknown as NonNullable<PublishSpec['config']>), file: r.path };
  }
  if (!ok || typeof raw.ref !== 'string') return undefined;
  return {
    ...(raw as unknown as PublishSpec),
    ref: raw.ref.trim(),
    files,
    ...(config !== undefined ? { config } : {}),
  };
}

/**
 * Validates a parsed artifacts.yaml. An empty document (`null`) is an empty
 * manifest, and an empty section (`dependencies:` alone) an empty record. On success `value` has `dependencies` and `publish` (both default
 * `{}`), dependency `path`s normalized (POSIX, no `./` or trailing `/`), and
 * every publish `files` entry as an object (bare strings become `{ path }`).
 * Semantic checks: refs parse (tag / digest / semver range, see
 * `dependency-ref.ts`), paths are relative, stay inside the project, are not
 * the root nor inside `.oras/` or `.git/`, and no two dependencies install into
 * the same or nested directories; publish refs have no digest or range.
 */
export function validateManifest(doc: unknown): ValidationResult<ProjectManifest> {
  let input = doc ?? {};
  if (isObj(input) && (input.dependencies === null || input.publish === null)) {
    // An empty section (`dependencies:` with nothing under it) means none.
    input = {
      ...input,
      ...(input.dependencies === null ? { dependencies: {} } : {}),
      ...(input.publish === null ? { publish: {} } : {}),
    };
  }
  const issues = schemaIssues('artifacts', input);
  for (const issue of issues) {
    const s = issue.segments ?? [];
    if (s.length === 2 && issue.message.startsWith('must be a mapping') && issue.hint === undefined) {
      issue.hint =
        s[0] === 'dependencies'
          ? `write it as a mapping: ${String(s[1])}: { ref: <registry/repo:tag>, path: <dir> }`
          : `write it as a mapping: ${String(s[1])}: { ref: <registry/repo>, files: [<path>] }`;
    }
  }
  if (!isObj(input)) return { issues };
  const dependencies: Record<string, DependencySpec> = {};
  const publish: Record<string, PublishSpec> = {};
  if (isObj(input.dependencies)) {
    for (const [name, raw] of Object.entries(input.dependencies)) {
      if (!isObj(raw)) continue;
      const spec = normalizeDependency(name, raw, issues);
      if (spec !== undefined) dependencies[name] = spec;
    }
    checkOverlaps(dependencies, issues);
  }
  if (isObj(input.publish)) {
    for (const [name, raw] of Object.entries(input.publish)) {
      if (!isObj(raw)) continue;
      const spec = normalizePublish(name, raw, issues);
      if (spec !== undefined) publish[name] = spec;
    }
  }
  return issues.length > 0 ? { issues } : { value: { dependencies, publish }, issues };
}

/**
 * Validates a parsed oras config file (schema `oras-config.schema.json`).
 * `certFile` and `keyFile` must be given together. No defaults are applied
 * here (see `loadConfig`). An empty document is an empty config.
 */
export function validateConfig(doc: unknown): ValidationResult<OrasConfigFile> {
  const input = doc ?? {};
  const issues = schemaIssues('oras-config', input);
  if (isObj(input) && isObj(input.registries)) {
    for (const [host, reg] of Object.entries(input.registries)) {
      if (!isObj(reg)) continue;
      if ((reg.certFile === undefined) !== (reg.keyFile === undefined)) {
        issues.push(
          issueAt(
            ['registries', host, reg.certFile === undefined ? 'keyFile' : 'certFile'],
            'certFile and keyFile must be given together',
            'set both for mutual TLS, or neither',
          ),
        );
      }
      if (reg.insecure === true && reg.plainHttp === true) {
        issues.push(
          issueAt(
            ['registries', host, 'insecure'],
            'insecure (skip TLS verification) has no effect with plainHttp',
            'remove one of them',
          ),
        );
      }
    }
  }
  return issues.length > 0 ? { issues } : { value: input as OrasConfigFile, issues };
}
