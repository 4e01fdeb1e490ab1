import { existsSync, readdirSync, renameSync, symlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { install } from '../../src/project/install.js';
import { publish } from '../../src/project/publish.js';
import { layoutFactory, writeTree } from '../project/helpers.js';

/*
 * Issue 12 item 8 for `oras install`: a directory of the project swapped for a symlink while the
 * install is placing files (after the per-run parent check of that directory) must not let a
 * single later file land outside. Small files are placed by a synchronous open/write/rename
 * sequence; the parent is re-verified right before it. The layer's root exists before the install
 * here (an empty directory), so its files are placed one by one; a layer into a new root is filled
 * in a staging directory instead, whose swap is tested in test/project/layer-place.test.ts.
 */

const HOST = 'localhost:5996';
const env = { CI: 'false' };
let root: string;
let factory: ReturnType<typeof layoutFactory>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-swapped-parent-'));
  factory = layoutFactory(join(root, 'registry'));
  const src = join(root, 'src');
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) files[`data/f${String(i).padStart(3, '0')}.txt`] = `file ${i}\n`;
  await writeTree(src, files);
  await writeFile(
    join(src, 'artifacts.yaml'),
    `publish:\n  tree:\n    ref: ${HOST}/acme/tree\n    tags: [v1]\n    files:\n      - data\n`,
  );
  await publish({ projectDir: src, targetFactory: factory });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('issue 12 item 8: a project directory swapped for a symlink mid-install', () => {
  it('is refused with ERR_ORAS_PATH_TRAVERSAL; no file placed after the swap lands outside', async () => {
    const project = join(root, 'project');
    const outside = join(root, 'outside');
    await mkdir(outside);
    await writeTree(project, {
      'artifacts.yaml': `dependencies:\n  tree:\n    ref: "${HOST}/acme/tree:v1"\n    path: vendor\n`,
    });
    const placedDir = join(project, 'vendor', 'data');
    await mkdir(placedDir, { recursive: true });
    let atSwap: string[] | undefined;
    const err = await install({
      projectDir: project,
      targetFactory: factory,
      cacheDir: join(root, 'cache'),
      env,
      concurrency: 1,
      onEvent: (e) => {
        if (e.type !== 'link' || atSwap !== undefined) return;
        // The attacker moves the directory being filled out of the project and leaves a symlink to it.
        renameSync(placedDir, join(outside, 'data'));
        symlinkSync(join(outside, 'data'), placedDir);
        atSwap = readdirSync(join(outside, 'data')).sort();
      },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(atSwap, 'the install placed at least one file before the swap').toBeDefined();
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    // What was there when the directory was moved out is all there is: no new file, no temp file.
    expect((await readdir(join(outside, 'data'))).sort()).toEqual(atSwap);
    expect(atSwap!.length).toBeLessThan(40);
    expect(existsSync(join(project, 'artifacts.lock'))).toBe(false);
  });
});
