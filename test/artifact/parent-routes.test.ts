/*
 * Write routes to checked parent directories (src/artifact/parent-routes.ts): on Linux a create
 * through the route goes into the directory that was checked, whatever happens to its path; a
 * directory that moved or was replaced since is not routed any more (the caller's path check
 * decides), and the number of open descriptors stays bounded.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParentRoutes } from '../../src/artifact/parent-routes.js';
import { isOrasError } from '../../src/errors.js';
import { writeVerifiedSync } from '../../src/project/apply/materialize.js';

const linux = process.platform === 'linux';
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-parent-routes-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const fds = (): number => readdirSync('/proc/self/fd').length;

describe.runIf(linux)('ParentRoutes (Linux)', () => {
  it('routes to the checked directory: a create through the route lands there, even after the path was swapped for a symlink', async () => {
    const project = join(root, 'p1');
    const outside = join(root, 'p1-outside');
    await mkdir(join(project, 'dir'), { recursive: true });
    await mkdir(outside);
    const routes = new ParentRoutes();
    const via = routes.route(project, join(project, 'dir', 'a.txt'));
    expect(via).toMatch(/^\/proc\/self\/fd\/\d+$/);
    writeFileSync(`${via}/a.txt`, 'a');
    expect(await readdir(join(project, 'dir'))).toEqual(['a.txt']);
    // The directory is moved away and a symlink to elsewhere put at its path: the route still names
    // the directory itself, never the symlink's target.
    await rename(join(project, 'dir'), join(project, 'moved'));
    await symlink(outside, join(project, 'dir'));
    writeFileSync(`${via}/b.txt`, 'b');
    expect((await readdir(join(project, 'moved'))).sort()).toEqual(['a.txt', 'b.txt']);
    expect(await readdir(outside)).toEqual([]);
    // But it is not handed out again: the directory is no longer where it was checked.
    expect(routes.route(project, join(project, 'dir', 'c.txt'))).toBeUndefined();
    routes.close();
  });

  it('a directory replaced at the same path is routed afresh (the new one), never the old one', async () => {
    const project = join(root, 'p2');
    await mkdir(join(project, 'dir'), { recursive: true });
    const routes = new ParentRoutes();
    const first = routes.route(project, join(project, 'dir', 'x'));
    expect(first).toBeDefined();
    await rename(join(project, 'dir'), join(project, 'old'));
    await mkdir(join(project, 'dir'));
    const second = routes.route(project, join(project, 'dir', 'x'));
    expect(second).toBeDefined();
    writeFileSync(`${second}/x`, 'new');
    expect(await readdir(join(project, 'dir'))).toEqual(['x']);
    expect(await readdir(join(project, 'old'))).toEqual([]);
    routes.close();
  });

  it('never routes outside the root (a symlinked parent) or to a missing directory', async () => {
    const project = join(root, 'p3');
    const outside = join(root, 'p3-outside');
    await mkdir(project);
    await mkdir(outside);
    await symlink(outside, join(project, 'link'));
    const routes = new ParentRoutes();
    await mkdir(join(outside, 'sub'));
    expect(routes.route(project, join(project, 'link', 'f'))).toBeUndefined();
    // Through a symlinked component higher up: opened (the open follows it), but outside the root.
    expect(routes.route(project, join(project, 'link', 'sub', 'f'))).toBeUndefined();
    expect(routes.route(project, join(project, 'missing', 'f'))).toBeUndefined();
    expect(routes.route(project, join(project, 'f'))).toBeDefined(); // the root itself
    routes.close();
  });

  it('keeps at most maxOpen descriptors open, and close() releases them all', async () => {
    const project = join(root, 'p4');
    for (let i = 0; i < 12; i++) await mkdir(join(project, `d${i}`), { recursive: true });
    const before = fds();
    const routes = new ParentRoutes(4);
    for (let i = 0; i < 12; i++) expect(routes.route(project, join(project, `d${i}`, 'f'))).toBeDefined();
    expect(fds() - before).toBe(4);
    // The most recently used are the ones kept: d11 is routed without opening another descriptor.
    routes.route(project, join(project, 'd11', 'f'));
    expect(fds() - before).toBe(4);
    routes.close();
    expect(fds()).toBe(before);
  });
});

describe('writeVerifiedSync with routes', () => {
  const file = (data: string): { path: string; digest: string; size: number; layer: string } => ({
    path: 'x',
    digest: 'sha256:' + '0'.repeat(64), // not checked here: the bytes are verified before this call
    size: data.length,
    layer: 'sha256:' + '0'.repeat(64),
  });

  it('places the file (temp + rename through the route) and leaves no temp', async () => {
    const project = join(root, 'w1');
    await mkdir(join(project, 'dir'), { recursive: true });
    const routes = new ParentRoutes();
    const dest = join(project, 'dir', 'f.txt');
    const st = writeVerifiedSync(
      project,
      join(project, 'dir', '.f.txt.oras-tmp-1'),
      dest,
      Buffer.from('hi'),
      file('hi'),
      routes,
    );
    expect(st.size).toBe(2);
    expect(await readdir(join(project, 'dir'))).toEqual(['f.txt']);
    routes.close();
  });

  it('a parent moved out of the project and replaced by a symlink is refused (ERR_ORAS_PATH_TRAVERSAL), nothing lands outside', async () => {
    const project = join(root, 'w2');
    const outside = join(root, 'w2-outside');
    await mkdir(join(project, 'dir'), { recursive: true });
    await mkdir(outside);
    const routes = new ParentRoutes();
    const put = (name: string): unknown => {
      try {
        writeVerifiedSync(
          project,
          join(project, 'dir', `.${name}.oras-tmp-1`),
          join(project, 'dir', name),
          Buffer.from('x'),
          file('x'),
          routes,
        );
        return undefined;
      } catch (err) {
        return err;
      }
    };
    expect(put('a')).toBeUndefined();
    await rename(join(project, 'dir'), join(outside, 'dir'));
    await symlink(join(outside, 'dir'), join(project, 'dir'));
    const err = put('b');
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    expect(await readdir(join(outside, 'dir'))).toEqual(['a']);
    expect(existsSync(join(outside, 'b'))).toBe(false);
    routes.close();
  });
});
