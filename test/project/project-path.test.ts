/*
 * Project-relative paths (from the lockfile and the state) are checked several times per file of an
 * install, so the check is a single pass and the join a concatenation where that is exact. Both
 * must accept and refuse exactly what the plain rules say, and give the path `join` gives.
 */
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasOnlyNamedSegments, normalizeRelativePath } from '../../src/artifact/safe-path.js';
import { isOrasError } from '../../src/errors.js';
import { assertProjectRelativePath, projectPath } from '../../src/project/apply/materialize.js';

/** The rules, written the plain way. */
function allowed(rel: string): boolean {
  if (rel.length === 0 || rel.length > 4096) return false;
  if (rel.includes('\\') || rel.includes('\0')) return false;
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) return false;
  const parts = rel.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return false;
  if (parts[0] === '.oras') return false;
  return !parts.some((p) => p.includes('.oras-tmp-'));
}

function accepts(rel: string): boolean {
  try {
    assertProjectRelativePath(rel);
    return true;
  } catch (err) {
    expect(isOrasError(err, 'ERR_ORAS_PATH_TRAVERSAL')).toBe(true);
    return false;
  }
}

const SEGMENTS = ['a', 'b.txt', '.', '..', '', '.oras', '.orasx', '...', '.a', 'a.', 'x.oras-tmp-1', 'C:', 'é', 'a\\b'];

/** Every path of up to three segments over SEGMENTS, plus a few leading-slash and edge cases. */
function samples(): string[] {
  const out = new Set<string>(['/', '//', 'a/', '/a', '.oras', '.oras/x', 'x/.oras', 'a\0b', 'c:/x', 'x'.repeat(4097)]);
  for (const a of SEGMENTS) {
    out.add(a);
    for (const b of SEGMENTS) {
      out.add(`${a}/${b}`);
      for (const c of SEGMENTS) out.add(`${a}/${b}/${c}`);
    }
  }
  return [...out];
}

describe('project-relative paths', () => {
  it('accepts and refuses exactly what the rules say', () => {
    const paths = samples();
    expect(paths.length).toBeGreaterThan(2000);
    const wrong = paths.filter((p) => accepts(p) !== allowed(p));
    expect(wrong).toEqual([]);
    expect(paths.filter(allowed).length).toBeGreaterThan(100);
  });

  it('hasOnlyNamedSegments is "every segment a name", and such a path is its own normal form', () => {
    for (const p of samples()) {
      const named = p !== '' && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
      expect(hasOnlyNamedSegments(p), JSON.stringify(p)).toBe(named);
      if (named) expect(posix.normalize(p)).toBe(p);
      let normalized: string | undefined;
      try {
        normalized = normalizeRelativePath(p);
      } catch {
        normalized = undefined;
      }
      // The fast path returns what the segment-by-segment normalization gives.
      if (normalized !== undefined)
        expect(normalized).toBe(
          p
            .split('/')
            .filter((s) => s !== '' && s !== '.')
            .join('/'),
        );
    }
  });

  it('joins like path.join, whatever shape the project directory has', () => {
    const rels = samples().filter(allowed);
    for (const dir of ['/', '/p', '/p/q', '/p/q/', '/p//q', '/p/./q', '/p/../q', 'rel/p', './p', '']) {
      for (const rel of rels) expect(projectPath(dir, rel)).toBe(join(dir, ...rel.split('/')));
    }
    expect(() => projectPath('/p', '../x')).toThrow(/unsafe project path/);
  });
});
