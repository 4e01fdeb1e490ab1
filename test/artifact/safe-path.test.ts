import { symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertNoSymlinkEscape, normalizeRelativePath, resolveInside } from '../../src/artifact/safe-path.js';
import { escapeLayout, useTempDirs } from './helpers.js';

const newDir = useTempDirs();

describe('resolveInside', () => {
  const root = path.resolve('/srv/out');
  it('resolves normal titles', () => {
    expect(resolveInside(root, 'a.txt')).toBe(path.join(root, 'a.txt'));
    expect(resolveInside(root, './dir//sub/./f')).toBe(path.join(root, 'dir', 'sub', 'f'));
    expect(normalizeRelativePath('./a//b/')).toBe('a/b');
  });
  for (const bad of [
    '../x',
    'a/../../x',
    'a/..',
    '..',
    '/etc/x',
    'C:..\\x',
    'C:\\x',
    'c:x',
    '\\\\server\\share',
    'a\\b',
    '.',
    './',
    '',
    'a\0b',
  ]) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      let err: unknown;
      try {
        resolveInside(root, bad);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
      expect((err as { hint?: string }).hint).toBeTruthy();
    });
  }
  it('mentions --allow-path-traversal for escapes', () => {
    expect(() => resolveInside(root, '../x')).toThrow(
      expect.objectContaining({ hint: expect.stringContaining('--allow-path-traversal') }),
    );
  });
  it('allowTraversal lets titles escape but still refuses NUL and empty', () => {
    expect(resolveInside(root, '../x', { allowTraversal: true })).toBe(path.resolve(root, '../x'));
    expect(resolveInside(root, '/etc/x', { allowTraversal: true })).toBe('/etc/x');
    expect(() => resolveInside(root, 'a\0', { allowTraversal: true })).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_PATH_TRAVERSAL' }),
    );
    expect(() => resolveInside(root, '', { allowTraversal: true })).toThrow(
      expect.objectContaining({ code: 'ERR_ORAS_PATH_TRAVERSAL' }),
    );
  });
});

describe('assertNoSymlinkEscape', () => {
  it('allows symlinks resolving inside and refuses ones pointing outside or dangling', async () => {
    const { root, outside } = await escapeLayout(newDir);
    await symlink('real', path.join(root, 'inner'));
    await symlink(outside, path.join(root, 'out'));
    await symlink('../outside', path.join(root, 'rel-out'));
    await symlink('nowhere', path.join(root, 'dangling'));
    await expect(assertNoSymlinkEscape(root, path.join(root, 'new', 'file'))).resolves.toBeUndefined();
    await expect(assertNoSymlinkEscape(root, path.join(root, 'inner', 'file'))).resolves.toBeUndefined();
    await expect(assertNoSymlinkEscape(root, path.join(root, 'out', 'file'))).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
    await expect(assertNoSymlinkEscape(root, path.join(root, 'rel-out', 'x', 'y'))).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
    await expect(assertNoSymlinkEscape(root, path.join(root, 'out'))).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
    await expect(assertNoSymlinkEscape(root, path.join(root, 'dangling', 'f'))).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
  });
});
