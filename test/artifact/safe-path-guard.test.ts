import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SymlinkEscapeGuard } from '../../src/artifact/safe-path.js';
import { escapeLayout, useTempDirs } from './helpers.js';

const newDir = useTempDirs();
const fixture = (): ReturnType<typeof escapeLayout> => escapeLayout(newDir);

describe('SymlinkEscapeGuard', () => {
  it('same policy as assertNoSymlinkEscape: inside links allowed, escaping and dangling ones refused', async () => {
    const { root, outside } = await fixture();
    await symlink('real', path.join(root, 'inner'));
    await symlink(outside, path.join(root, 'out'));
    await symlink('../outside', path.join(root, 'rel-out'));
    await symlink('nowhere', path.join(root, 'dangling'));
    const g = new SymlinkEscapeGuard(root);
    await expect(g.check(path.join(root, 'new', 'file'))).resolves.toBe(false);
    await expect(g.check(path.join(root, 'inner', 'file'))).resolves.toBe(false);
    await expect(g.check(path.join(root, 'out', 'file'))).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
    await expect(g.check(path.join(root, 'out', 'file'), { dirOnly: true })).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
    await expect(g.check(path.join(root, 'rel-out', 'x', 'y'))).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
    await expect(g.check(path.join(root, 'out'))).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
    await expect(g.check(path.join(root, 'dangling', 'f'))).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
    // refusals are not cached as successes: asking again refuses again
    await expect(g.check(path.join(root, 'out', 'other'))).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
  });

  it('reports whether the target exists, and checks the target itself on every call (never cached)', async () => {
    const { root, outside } = await fixture();
    const g = new SymlinkEscapeGuard(root);
    const f = path.join(root, 'real', 'f');
    await expect(g.check(f)).resolves.toBe(false);
    await writeFile(f, 'x');
    await expect(g.check(f)).resolves.toBe(true);
    await expect(g.check(f, { dirOnly: true })).resolves.toBe(false);
    // a symlink planted at the final name after the directory was verified is still refused
    const l = path.join(root, 'real', 'l');
    await symlink(outside, l);
    await expect(g.check(l)).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
  });

  it('does not cache a directory whose walk stopped at a missing component', async () => {
    const { root, outside } = await fixture();
    const g = new SymlinkEscapeGuard(root);
    const target = path.join(root, 'later', 'f');
    await expect(g.check(target, { dirOnly: true })).resolves.toBe(false);
    // the missing directory appears as an escaping symlink before the next check
    await symlink(outside, path.join(root, 'later'));
    await expect(g.check(target)).rejects.toMatchObject({ code: 'ERR_ORAS_PATH_TRAVERSAL' });
  });

  it('checks nested directories component by component', async () => {
    const { root, outside } = await fixture();
    await mkdir(path.join(root, 'a', 'b'), { recursive: true });
    await symlink(outside, path.join(root, 'a', 'b', 'c'));
    const g = new SymlinkEscapeGuard(root);
    await expect(g.check(path.join(root, 'a', 'b', 'f'))).resolves.toBe(false);
    await expect(g.check(path.join(root, 'a', 'b', 'c', 'd', 'f'))).rejects.toMatchObject({
      code: 'ERR_ORAS_PATH_TRAVERSAL',
    });
  });

  it('does not check paths outside root or root itself', async () => {
    const { root, outside } = await fixture();
    const g = new SymlinkEscapeGuard(root);
    await expect(g.check(path.join(outside, 'f'))).resolves.toBe(false);
    await expect(g.check(root)).resolves.toBe(false);
  });
});
