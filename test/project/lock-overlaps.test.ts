import { describe, expect, it } from 'vitest';
import { checkOverlaps } from '../../src/project/plan/lock-compute.js';
import type { Lockfile } from '../../src/project/types.js';

const lock = (deps: Record<string, string[]>): Lockfile =>
  ({
    lockfileVersion: 2,
    dependencies: Object.fromEntries(
      Object.entries(deps).map(([name, paths]) => [name, { files: paths.map((path) => ({ path })) }]),
    ),
    publish: {},
  }) as unknown as Lockfile;

describe('checkOverlaps (a computed lock installs each path once, never a file where a directory goes)', () => {
  it('accepts dependencies side by side, however many files share their directories', () => {
    const many = Array.from({ length: 500 }, (_, i) => `deps/a/d${i % 7}/f${i}`);
    expect(() => checkOverlaps(lock({ a: many, b: ['deps/b/x', 'deps/b/y/z'], c: ['deps/ab'] }))).not.toThrow();
  });

  it('refuses two dependencies installing the same path', () => {
    expect(() => checkOverlaps(lock({ a: ['deps/x/f'], b: ['deps/x/f'] }))).toThrow(
      /'a' and 'b' both install deps\/x\/f/,
    );
  });

  it('refuses a file where another path needs a directory, also once its parents were walked for other files', () => {
    for (const deps of [
      { a: ['v/p/q/1', 'v/p/q/2'], b: ['v/p'] },
      { a: ['v/p/q/1', 'v/p/r/2'], b: ['v/p/r'] },
      { b: ['v/p/r'], a: ['v/p/q/1', 'v/p/r/2'] },
      { a: ['w/1', 'w/2', 'w/3/x/y'], b: ['w/3/x'] },
    ]) {
      expect(() => checkOverlaps(lock(deps)), JSON.stringify(deps)).toThrow(
        /is installed as a file by '.' but is a directory for/,
      );
    }
  });
});
