import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinRelative } from '../../src/artifact/safe-path.js';

describe('joinRelative (posix.join without the normalize pass for normal-form paths)', () => {
  const parts = [
    '',
    '.',
    '..',
    'a',
    'a/b',
    'a/b/',
    './a',
    'a//b',
    'a/./b',
    'a/../b',
    '/a',
    '/',
    '.oras',
    '..a',
    'a..',
    'é/ü',
  ];
  it('gives what posix.join gives, for every pair of a corpus of normal and odd paths', () => {
    for (const base of parts)
      for (const rel of parts) expect(joinRelative(base, rel), `${base} + ${rel}`).toBe(posix.join(base, rel));
  });
  it('concatenates normal-form paths', () => {
    expect(joinRelative('deps/x', 'data/f.bin')).toBe('deps/x/data/f.bin');
    expect(joinRelative('', 'f')).toBe('f');
    expect(joinRelative('.', 'f/g')).toBe('f/g');
  });
});
