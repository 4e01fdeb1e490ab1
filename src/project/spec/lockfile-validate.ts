import { posix } from 'node:path';
import { hasOnlyNamedSegments, joinRelative } from '../../artifact/safe-path.js';
import { isOrasError } from '../../errors.js';
import { parseReference } from '../../oci/reference.js';
import { LOCKFILE_VERSION, type Lockfile } from '../types.js';
import { issueAt, type Issue, type PathSegment } from './issues.js';
import { lockFromDocument } from './lock-format.js';
import { checkProjectPath, checkRef, firstSegment, isObj, RESERVED_DIRS } from './path-checks.js';
import { schemaIssues } from './schema-validators.js';
import type { ValidationResult } from './validate.js';

/**
 * One file of a lock entry as read, with where its `path` field is (for messages): v1
 * `files[i]`, v2 `layers[i]` (`j` -1: a plain layer's own path) or `layers[i].files[j]`. The
 * dot-path is only built for a message ({@link fileAt}): a lock of 10,000 files has no issue.
 */
interface ReadFile {
  path: unknown;
  i: number;
  j: number;
}

/** The dot-path of a {@link ReadFile}'s `path` field. */
function fileAt(name: string, version: number, f: ReadFile): PathSegment[] {
  if (version === 1) return ['dependencies', name, 'files', f.i, 'path'];
  return f.j < 0
    ? ['dependencies', name, 'layers', f.i, 'path']
    : ['dependencies', name, 'layers', f.i, 'files', f.j, 'path'];
}

/** The files of one dependency entry as written: v1 `files[i].path`, v2 `<layer path>/<file path>` per layer. */
function entryFiles(dep: Record<string, unknown>, version: number, depRoot: string | undefined): ReadFile[] {
  const out: ReadFile[] = [];
  if (version === 1) {
    if (Array.isArray(dep.files))
      dep.files.forEach((f: unknown, i) => void (isObj(f) && out.push({ path: f.path, i, j: -1 })));
    return out;
  }
  if (!Array.isArray(dep.layers) || depRoot === undefined) return out;
  dep.layers.forEach((l: unknown, i) => {
    if (!isObj(l) || (l.path !== undefined && typeof l.path !== 'string')) return;
    const root = posix.join(depRoot, typeof l.path === 'string' ? l.path : '.');
    if (!Array.isArray(l.files)) return void out.push({ path: root, i, j: -1 });
    l.files.forEach((f: unknown, j) => {
      if (isObj(f) && typeof f.path === 'string') out.push({ path: joinRelative(root, f.path), i, j });
    });
  });
  return out;
}

/** v2 layer fields the schema cannot express: a plain layer has a size; layer and file paths stay below their root. */
function layerIssues(name: string, dep: Record<string, unknown>, issues: Issue[]): void {
  if (!Array.isArray(dep.layers)) return;
  dep.layers.forEach((l: unknown, i) => {
    if (!isObj(l)) return;
    if (l.files === undefined && l.path === undefined)
      issues.push(
        issueAt(['dependencies', name, 'layers', i], 'a plain layer (no `files`) needs its path', REGENERATE_LOCK),
      );
    if (l.files === undefined && l.size === undefined)
      issues.push(
        issueAt(
          ['dependencies', name, 'layers', i, 'size'],
          'a plain layer (no `files`) needs its size',
          REGENERATE_LOCK,
        ),
      );
    if (l.files === undefined && l.listing !== undefined)
      issues.push(
        issueAt(
          ['dependencies', name, 'layers', i, 'listing'],
          'only an unpacked layer (with `files`) has a listing',
          REGENERATE_LOCK,
        ),
      );
    // Relative, without '.', '..' or empty segments (a leading '/' is an empty first segment).
    const belowRoot = (raw: unknown, at: () => PathSegment[]): void => {
      if (typeof raw !== 'string' || hasOnlyNamedSegments(raw)) return;
      const where = at().length === 5 ? "dependency's path" : "layer's path";
      issues.push(
        issueAt(
          at(),
          `"${raw}" must be a relative path below its ${where}, without '.' or '..' segments`,
          'the lockfile was edited or tampered with; ' + REGENERATE_LOCK,
        ),
      );
    };
    belowRoot(l.path, () => ['dependencies', name, 'layers', i, 'path']);
    if (Array.isArray(l.files))
      l.files.forEach(
        (f: unknown, j) =>
          void (isObj(f) && belowRoot(f.path, () => ['dependencies', name, 'layers', i, 'files', j, 'path'])),
      );
  });
}

const REGENERATE_LOCK = 'delete artifacts.lock and run `oras install` to regenerate it';

/**
 * Validates a parsed artifacts.lock (version 1 or 2; see `lock-format.ts`).
 * An unsupported `lockfileVersion` is reported alone (with an upgrade hint)
 * since the rest cannot be interpreted. Checks digests, file paths
 * (relative, inside the project, outside `.oras/` and `.git/`, below their
 * dependency's `specifier.path`, unique across the lockfile) and that
 * `resolved` parses. `dependencies`/`publish` default `{}`. The value is the
 * in-memory form: v2 layers are flattened into `files` (layer records kept in
 * `layers`); `lockfileVersion` is the version read.
 */
export function validateLockfile(doc: unknown): ValidationResult<Lockfile> {
  if (
    isObj(doc) &&
    doc.lockfileVersion !== undefined &&
    doc.lockfileVersion !== LOCKFILE_VERSION &&
    doc.lockfileVersion !== 1
  ) {
    const v = doc.lockfileVersion;
    const newer = typeof v === 'number' && v > LOCKFILE_VERSION;
    return {
      issues: [
        issueAt(
          ['lockfileVersion'],
          `unsupported lockfileVersion ${JSON.stringify(v)} (this oras-ts reads versions 1 and ${LOCKFILE_VERSION})`,
          newer ? 'the lockfile was written by a newer oras-ts: upgrade oras-ts' : REGENERATE_LOCK,
        ),
      ],
    };
  }
  const issues = schemaIssues('artifacts-lock', doc);
  if (!isObj(doc)) return { issues };
  const version = doc.lockfileVersion === 1 ? 1 : 2;
  const seen = new Map<string, string>();
  if (isObj(doc.dependencies)) {
    for (const [name, dep] of Object.entries(doc.dependencies)) {
      if (!isObj(dep)) continue;
      if (typeof dep.resolved === 'string') {
        try {
          parseReference(dep.resolved);
        } catch (err) {
          if (!isOrasError(err)) throw err;
          issues.push(issueAt(['dependencies', name, 'resolved'], err.message, REGENERATE_LOCK));
        }
      }
      if (isObj(dep.specifier)) checkRef(dep.specifier.ref, ['dependencies', name, 'specifier', 'ref'], issues);
      // A tampered lock must not place files outside its dependency's directory (e.g. .git/hooks/,
      // CI workflows, artifacts.yaml): every file must lie below the (valid) specifier.path.
      let depRoot: string | undefined;
      if (isObj(dep.specifier) && typeof dep.specifier.path === 'string') {
        const r = checkProjectPath(dep.specifier.path, ['dependencies', name, 'specifier', 'path'], 'dir');
        if ('issue' in r) issues.push(r.issue);
        else depRoot = r.path;
      }
      if (version === 2) layerIssues(name, dep, issues);
      for (const read of entryFiles(dep, version, depRoot)) {
        const { path } = read;
        if (typeof path !== 'string') continue;
        const at = (): PathSegment[] => fileAt(name, version, read);
        const r = checkProjectPath(path, at, 'file');
        if ('issue' in r) {
          issues.push(r.issue);
          continue;
        }
        if (RESERVED_DIRS.includes(firstSegment(r.path))) {
          issues.push(
            issueAt(
              at(),
              `file "${r.path}" is inside ${firstSegment(r.path)}/, which oras-ts/git manage`,
              REGENERATE_LOCK,
            ),
          );
          continue;
        }
        if (depRoot !== undefined && !r.path.startsWith(`${depRoot}/`)) {
          issues.push(
            issueAt(
              at(),
              `file "${r.path}" is outside the dependency's path "${depRoot}"`,
              'the lockfile was edited or tampered with; delete artifacts.lock and run `oras install` to regenerate it',
            ),
          );
        }
        const other = seen.get(r.path);
        if (other !== undefined)
          issues.push(issueAt(at(), `file "${r.path}" is also installed by '${other}'`, REGENERATE_LOCK));
        else seen.set(r.path, name);
      }
    }
  }
  if (issues.length > 0) return { issues };
  return { value: lockFromDocument(doc), issues };
}
