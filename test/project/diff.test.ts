import { describe, expect, it } from 'vitest';
import type { ActualEntry, ActualTree } from '../../src/project/plan/actual.js';
import { countPlan, diff, isNoop } from '../../src/project/plan/diff.js';
import type { InstalledFile, LockedFile, Lockfile } from '../../src/project/types.js';

const D = (c: string): string => `sha256:${c.repeat(64).slice(0, 64)}`;
const A = D('a');
const B = D('b');
const C = D('c');

function lf(path: string, digest: string, size = 1): LockedFile {
  return { path, digest, size, layer: digest };
}
function lock(files: Record<string, LockedFile[]>): Lockfile {
  const dependencies: Lockfile['dependencies'] = {};
  for (const [name, fs] of Object.entries(files)) {
    dependencies[name] = {
      specifier: { ref: `r/${name}:1`, path: 'x' },
      resolved: `r/${name}:1@${A}`,
      digest: A,
      mediaType: 'm',
      files: fs,
    };
  }
  return { lockfileVersion: 1, dependencies, publish: {} };
}
function rec(path: string, digest: string, dependency = 'dep'): InstalledFile {
  return { path, digest, size: 1, mtimeMs: 1, ino: 1, dependency };
}
function tree(entries: ActualEntry[]): ActualTree {
  const files: Record<string, ActualEntry> = {};
  for (const e of entries) files[e.path] = e;
  return { files };
}
function onDisk(path: string, digest: string | undefined, installed?: InstalledFile): ActualEntry {
  return {
    path,
    status: 'file',
    ...(digest !== undefined ? { digest } : {}),
    size: 1,
    mtimeMs: 1,
    ino: 1,
    rehashed: false,
    ...(installed ? { installed } : {}),
  };
}
function absent(path: string, installed?: InstalledFile): ActualEntry {
  return { path, status: 'absent', rehashed: false, ...(installed ? { installed } : {}) };
}
const kinds = (l: Lockfile, t: ActualTree, force = false): string[] =>
  diff(l, t, { force }).actions.map((a) => `${a.kind}${a.kind === 'conflict' ? `:${a.reason}` : ''} ${a.path}`);

describe('diff (pure)', () => {
  it('adds files that are in the lock but not on disk', () => {
    expect(kinds(lock({ dep: [lf('x/a', A)] }), tree([]))).toEqual(['add x/a']);
    expect(kinds(lock({ dep: [lf('x/a', A)] }), tree([absent('x/a')]))).toEqual(['add x/a']);
  });

  it('re-adds a file we installed that was deleted', () => {
    const r = rec('x/a', A);
    const plan = diff(lock({ dep: [lf('x/a', A)] }), tree([absent('x/a', r)]));
    expect(plan.actions).toEqual([{ kind: 'add', path: 'x/a', file: lf('x/a', A), dependency: 'dep' }]);
  });

  it('keeps files that match, recorded or not (adoption)', () => {
    const r = rec('x/a', A);
    expect(kinds(lock({ dep: [lf('x/a', A)] }), tree([onDisk('x/a', A, r)]))).toEqual(['keep x/a']);
    expect(kinds(lock({ dep: [lf('x/a', A)] }), tree([onDisk('x/a', A)]))).toEqual(['keep x/a']);
  });

  it('changes a file we installed unmodified when the lock digest changed', () => {
    const r = rec('x/a', A);
    const plan = diff(lock({ dep: [lf('x/a', B)] }), tree([onDisk('x/a', A, r)]));
    expect(plan.actions).toEqual([{ kind: 'change', path: 'x/a', file: lf('x/a', B), dependency: 'dep', from: r }]);
  });

  it('reports user-modified files as conflicts, and force turns them into change', () => {
    const r = rec('x/a', A);
    const l = lock({ dep: [lf('x/a', B)] });
    const t = tree([onDisk('x/a', C, r)]);
    expect(kinds(l, t)).toEqual(['conflict:user-modified x/a']);
    expect(kinds(l, t, true)).toEqual(['change x/a']);
    // Unknown digest (size differs from everything) is also a modification.
    expect(kinds(l, tree([onDisk('x/a', undefined, r)]))).toEqual(['conflict:user-modified x/a']);
  });

  it('keeps a user edit that happens to equal the new lock content', () => {
    const r = rec('x/a', A);
    expect(kinds(lock({ dep: [lf('x/a', B)] }), tree([onDisk('x/a', B, r)]))).toEqual(['keep x/a']);
  });

  it('reports untracked files where the lock wants to write, force overwrites (add)', () => {
    const l = lock({ dep: [lf('x/a', A)] });
    const t = tree([onDisk('x/a', undefined)]);
    expect(kinds(l, t)).toEqual(['conflict:untracked-file x/a']);
    expect(kinds(l, t, true)).toEqual(['add x/a']);
    expect(kinds(l, tree([onDisk('x/a', B)]))).toEqual(['conflict:untracked-file x/a']);
  });

  it('treats a directory or symlink where a file goes as a conflict', () => {
    const l = lock({ dep: [lf('x/a', A)] });
    expect(kinds(l, tree([{ path: 'x/a', status: 'other', rehashed: false }]))).toEqual([
      'conflict:untracked-file x/a',
    ]);
    expect(kinds(l, tree([{ path: 'x/a', status: 'other', rehashed: false, installed: rec('x/a', A) }]))).toEqual([
      'conflict:user-modified x/a',
    ]);
  });

  it('removes files we installed that left the lock; missing ones are just forgotten', () => {
    const r = rec('x/old', A);
    expect(kinds(lock({}), tree([onDisk('x/old', A, r)]))).toEqual(['remove x/old']);
    expect(kinds(lock({}), tree([absent('x/old', r)]))).toEqual(['remove x/old']);
  });

  it('protects edited files that left the lock unless force', () => {
    const r = rec('x/old', A);
    const t = tree([onDisk('x/old', B, r)]);
    expect(kinds(lock({}), t)).toEqual(['conflict:user-modified x/old']);
    expect(kinds(lock({}), t, true)).toEqual(['remove x/old']);
  });

  it('never touches files we did not install and the lock does not want', () => {
    expect(diff(lock({}), tree([onDisk('mine.txt', A), onDisk('other', undefined)]), { force: true }).actions).toEqual(
      [],
    );
  });

  it('sorts actions by path across dependencies and counts them', () => {
    const l = lock({ two: [lf('b/2', A), lf('b/1', A)], one: [lf('a/1', B)] });
    const t = tree([
      onDisk('b/1', A, rec('b/1', A, 'two')),
      onDisk('z', A, rec('z', A)),
      onDisk('a/1', C, rec('a/1', C, 'one')),
    ]);
    const plan = diff(l, t);
    expect(plan.actions.map((a) => a.path)).toEqual(['a/1', 'b/1', 'b/2', 'z']);
    expect(countPlan(plan)).toEqual({ add: 1, change: 1, remove: 1, keep: 1, conflict: 0 });
    expect(isNoop(plan)).toBe(false);
    expect(isNoop(diff(l, tree([onDisk('a/1', B), onDisk('b/1', A), onDisk('b/2', A)])))).toBe(true);
  });

  it('moves a file between dependencies without rewriting it', () => {
    const plan = diff(lock({ newdep: [lf('x/a', A)] }), tree([onDisk('x/a', A, rec('x/a', A, 'olddep'))]));
    expect(plan.actions).toEqual([{ kind: 'keep', path: 'x/a', file: lf('x/a', A), dependency: 'newdep' }]);
  });

  it('is deterministic and does not mutate its inputs', () => {
    const l = lock({ dep: [lf('x/a', B), lf('x/b', A)] });
    const t = tree([onDisk('x/a', A, rec('x/a', A)), absent('x/c', rec('x/c', C))]);
    const snapshot = JSON.stringify([l, t]);
    const p1 = diff(l, t);
    const p2 = diff(l, t);
    expect(p1).toEqual(p2);
    expect(JSON.stringify([l, t])).toBe(snapshot);
  });
});
