import { describe, expect, it } from 'vitest';
import { fileBindingProblem } from '../../src/project/plan/locked-files.js';
import type { LockedDependency, LockedFile } from '../../src/project/types.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const file = (path: string, over: Partial<LockedFile> = {}): LockedFile => ({
  path,
  digest: D('a'),
  size: 3,
  layer: D('f'),
  ...over,
});
const dep = (files: LockedFile[]): LockedDependency => ({ digest: D('e'), files }) as unknown as LockedDependency;

describe('fileBindingProblem (a lock entry against what its manifest produces)', () => {
  const produced = [file('d/a'), file('d/b', { mode: 0o755 }), file('d/c', { digest: D('b'), size: 4 })];
  const wanted = { files: produced, layers: [] };

  it('agrees when the lock lists exactly the produced files', () => {
    expect(fileBindingProblem(dep(produced.map((f) => ({ ...f }))), wanted)).toBeUndefined();
  });

  it('words each kind of difference (digest, size, layer, mode, missing, extra, duplicate, order)', () => {
    const cases: Array<[LockedFile[], RegExp]> = [
      [[file('d/a'), file('d/b', { mode: 0o755 }), file('d/c', { size: 4 })], /d\/c is locked as sha256:a+ \(4 bytes/],
      [
        [file('d/a'), file('d/b', { mode: 0o755 }), file('d/c', { digest: D('b'), size: 5 })],
        /d\/c is locked as .*5 bytes/,
      ],
      [[file('d/a', { layer: D('9') }), file('d/b', { mode: 0o755 }), produced[2]!], /d\/a is locked as/],
      [[file('d/a'), file('d/b'), produced[2]!], /d\/b is locked as/],
      [[file('d/a'), file('d/b', { mode: 0o755 })], /d\/c of manifest .* is missing from the lock/],
      [[...produced, file('d/z')], /d\/z \(sha256:a+\) is not a file of manifest/],
      [[file('d/a'), file('d/a'), produced[2]!], /d\/b of manifest .* is missing from the lock/],
    ];
    cases.forEach(([files, message], i) =>
      expect(fileBindingProblem(dep(files), wanted), `case ${i}`).toMatch(message),
    );
    // The same files in another order still bind (the full comparison is by path).
    expect(fileBindingProblem(dep([produced[2]!, produced[0]!, produced[1]!]), wanted)).toBeUndefined();
  });
});
