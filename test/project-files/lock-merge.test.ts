/**
 * Merging artifacts.lock by entry (spec/lock-merge.ts): two-way from git conflict markers,
 * three-way for the merge driver; only entries changed differently on both sides conflict.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  mergeConflictedLockfileText,
  mergeLockfileFiles,
  mergeLockfiles,
  splitConflictMarkers,
} from '../../src/project/spec/lock-merge.js';
import { parseLockfileText, serializeLockfile } from '../../src/project/spec/lockfile.js';
import type { LockedDependency, Lockfile } from '../../src/project/types.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const M = 'application/vnd.oci.image.manifest.v1+json';

function dep(name: string, tag: string, c: string): LockedDependency {
  return {
    specifier: { ref: `localhost:5000/acme/${name}:^1.0.0`, path: `vendor/${name}` },
    resolved: `localhost:5000/acme/${name}:${tag}@${D(c)}`,
    tag,
    digest: D(c),
    mediaType: M,
    files: [{ path: `vendor/${name}/a.txt`, digest: D('9'), size: 1, layer: D('9') }],
  };
}
const lock = (deps: Record<string, LockedDependency>): Lockfile => ({
  lockfileVersion: 1,
  dependencies: deps,
  publish: {},
});

describe('mergeLockfiles', () => {
  test('entries on one side or equal on both are taken; differing ones conflict (two-way)', () => {
    const ours = lock({
      alpha: dep('alpha', '1.0.0', 'a'),
      beta: dep('beta', '1.0.0', 'b'),
      same: dep('same', '1.0.0', 'c'),
    });
    const theirs = lock({
      alpha: dep('alpha', '1.1.0', 'd'),
      zeta: dep('zeta', '1.0.0', 'e'),
      same: dep('same', '1.0.0', 'c'),
    });
    const m = mergeLockfiles(ours, theirs);
    expect(Object.keys(m.lock.dependencies).sort()).toEqual(['beta', 'same', 'zeta']);
    expect(m.conflicts).toEqual(['dependencies.alpha']);
  });

  test('three-way: a change (or removal) on one side only wins; both changed differently conflicts', () => {
    const base = lock({
      alpha: dep('alpha', '1.0.0', 'a'),
      gone: dep('gone', '1.0.0', 'f'),
      both: dep('both', '1.0.0', 'b'),
    });
    const ours = lock({ alpha: dep('alpha', '1.0.0', 'a'), both: dep('both', '1.1.0', 'c') });
    const theirs = lock({
      alpha: dep('alpha', '1.2.0', 'd'),
      gone: dep('gone', '1.0.0', 'f'),
      both: dep('both', '1.2.0', 'e'),
    });
    const m = mergeLockfiles(ours, theirs, base);
    expect(m.lock.dependencies.alpha?.tag).toBe('1.2.0');
    expect(m.lock.dependencies.gone).toBeUndefined();
    expect(m.conflicts).toEqual(['dependencies.both']);
  });
});

describe('conflict markers', () => {
  test('a lock with markers (merge and diff3 style) is rebuilt per side and merged', () => {
    const base = serializeLockfile(lock({ alpha: dep('alpha', '1.0.0', 'a') }));
    const ours = serializeLockfile(lock({ alpha: dep('alpha', '1.0.0', 'a'), beta: dep('beta', '1.0.0', 'b') }));
    const theirs = serializeLockfile(lock({ alpha: dep('alpha', '1.0.0', 'a'), zeta: dep('zeta', '1.0.0', 'e') }));
    // Build a conflict the way git would: common prefix, then the differing tails.
    let i = 0;
    while (ours[i] === theirs[i]) i++;
    const cut = ours.lastIndexOf('\n', i) + 1;
    for (const diff3 of [false, true]) {
      const text = `${ours.slice(0, cut)}<<<<<<< HEAD\n${ours.slice(cut)}${diff3 ? `||||||| base\n${base.slice(cut)}` : ''}=======\n${theirs.slice(cut)}>>>>>>> z\n`;
      expect(splitConflictMarkers(text).ours.trimEnd()).toBe(ours.trimEnd());
      const m = mergeConflictedLockfileText(text);
      expect(Object.keys(m.lock.dependencies).sort()).toEqual(['alpha', 'beta', 'zeta']);
      expect(m.conflicts).toEqual([]);
    }
    expect(() => splitConflictMarkers('a\n<<<<<<< HEAD\nb\n')).toThrow(/unterminated/);
  });

  test('the merge driver writes the merged lock to OURS; an empty base is a two-way merge', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oras-lockmerge-'));
    try {
      await writeFile(join(dir, 'O'), '');
      await writeFile(join(dir, 'A'), serializeLockfile(lock({ beta: dep('beta', '1.0.0', 'b') })));
      await writeFile(join(dir, 'B'), serializeLockfile(lock({ zeta: dep('zeta', '1.0.0', 'e') })));
      const m = await mergeLockfileFiles(join(dir, 'O'), join(dir, 'A'), join(dir, 'B'));
      expect(m.conflicts).toEqual([]);
      expect(Object.keys(parseLockfileText(await readFile(join(dir, 'A'), 'utf8')).dependencies)).toEqual([
        'beta',
        'zeta',
      ]);
      await writeFile(join(dir, 'B'), 'not: [a lock');
      const before = await readFile(join(dir, 'A'));
      await expect(mergeLockfileFiles(join(dir, 'O'), join(dir, 'A'), join(dir, 'B'))).rejects.toMatchObject({
        code: 'ERR_ORAS_LOCKFILE',
      });
      expect(await readFile(join(dir, 'A'))).toEqual(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
