import { posix } from 'node:path';
import { hasOnlyNamedSegments } from '../../artifact/safe-path.js';
import { isOrasError } from '../../errors.js';
import { parseDependencyRef } from './dependency-ref.js';
import { issueAt, type Issue, type PathSegment } from './issues.js';

/*
 * Checks shared by the validation of artifacts.yaml and artifacts.lock (validate.ts,
 * lockfile-validate.ts): project-relative paths and dependency references.
 */

/** A plain object (not null, not an array). */
export const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
/** Directories no installed file may be inside. */
export const RESERVED_DIRS = ['.oras', '.git'];

/** The first segment of a POSIX path (all of it without a `/`). */
export function firstSegment(p: string): string {
  const slash = p.indexOf('/');
  return slash < 0 ? p : p.slice(0, slash);
}

/**
 * Checks a project-relative path and returns it normalized (POSIX, no `./`,
 * no trailing `/`), or an issue at `where` (the field's dot-path segments, or a
 * function giving them, called only for an issue). `kind` `dir` additionally
 * refuses the project root itself; `glob` allows glob characters.
 */
export function checkProjectPath(
  raw: string,
  where: PathSegment[] | (() => PathSegment[]),
  kind: 'dir' | 'file' | 'glob',
): { path: string } | { issue: Issue } {
  // The dot-path is only built for an issue (a lock of 10,000 files passes a thunk).
  const segs = (): PathSegment[] => (typeof where === 'function' ? where() : where);
  const fixRel = 'use a path relative to the project root, e.g. "models/bert"';
  if (raw.includes('\0')) return { issue: issueAt(segs(), 'must not contain NUL characters') };
  if (raw.includes('\\'))
    return {
      issue: issueAt(segs(), `${JSON.stringify(raw)} contains a backslash`, 'use forward slashes (/) as the separator'),
    };
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw) || raw.startsWith('~')) {
    return {
      issue: issueAt(segs(), `${JSON.stringify(raw)} must be relative to the project root, not absolute`, fixRel),
    };
  }
  // Already in normal form (a lockfile's paths are written so): no normalize pass.
  const norm = hasOnlyNamedSegments(raw) ? raw : posix.normalize(raw).replace(/\/+$/, '');
  if (norm === '..' || norm.startsWith('../')) {
    return {
      issue: issueAt(
        segs(),
        `${JSON.stringify(raw)} escapes the project directory`,
        `${fixRel}; '..' may not leave the project`,
      ),
    };
  }
  if (norm === '.' || norm === '') {
    if (kind === 'dir')
      return {
        issue: issueAt(
          segs(),
          `${JSON.stringify(raw)} is the project root`,
          'install into a subdirectory, e.g. "vendor/model"',
        ),
      };
    return {
      issue: issueAt(
        segs(),
        `${JSON.stringify(raw)} is the project root`,
        'name a file, directory or glob inside the project',
      ),
    };
  }
  const first = firstSegment(norm);
  if (RESERVED_DIRS.includes(first) && kind === 'dir') {
    return {
      issue: issueAt(
        segs(),
        `${JSON.stringify(raw)} is inside ${first}/, which oras-ts/git manage`,
        'choose a directory outside .oras/ and .git/',
      ),
    };
  }
  return { path: norm };
}

/** Adds an issue at `segs` when `ref` (a string) is not a valid dependency reference. */
export function checkRef(ref: unknown, segs: PathSegment[], issues: Issue[]): void {
  if (typeof ref !== 'string') return;
  try {
    parseDependencyRef(ref);
  } catch (err) {
    if (!isOrasError(err)) throw err;
    issues.push(issueAt(segs, err.message, err.hint));
  }
}
