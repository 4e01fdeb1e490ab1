import { existsSync, readdirSync, renameSync, symlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOrasError } from '../../src/errors.js';
import { install } from '../../src/project/install.js';
import { STAGE_MIN_WRITES } from '../../src/project/apply/stage-roots.js';
import { publish } from '../../src/project/publish.js';
import { layoutFactory, writeTree } from '../project/helpers.js';

/*
 * Issue 12 item 8 for `oras install`: a directory of the project swapped for a symlink while the
 * install is placing files (after the per-run parent check of that directory) must not let a
 * single later file land outside. Small files are placed by a synchronous open/write/rename
 * sequence; the parent is re-verified right before it. A layer of at least STAGE_MIN_WRITES files
 * going into a new directory is filled in a staging directory and renamed into place whole instead
 * (its swap while filling is tested in test/project/layer-place.test.ts; a swap right after, here).
 */

const HOST = 'localhost:5996';
/** Files of the layer placed file by file: fewer than STAGE_MIN_WRITES (a bigger layer into a new root is staged). */
const SMALL = Math.min(20, STAGE_MIN_WRITES - 1);
const env = { CI: 'false' };
let root: string;
let factory: ReturnType<typeof layoutFactory>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oras-swapped-parent-'));
  factory = layoutFactory(join(root, 'registry'));
  const src = join(root, 'src');
  const files: Record<string, string> = {};
  for (let i = 0; i < SMALL; i++) files[`data/f${String(i).padStart(3, '0')}.txt`] = `file ${i}\n`;
  await writeTree(src, files);
  await writeFile(
    join(src, 'artifacts.yaml'),
    `publish:\n  tree:\n    ref: ${HOST}/acme/tree\n    tags: [v1]\n    files:\n      - data\n`,
  );
  await publish({ projectDir: src, targetFactory: factory });
  // A layer big enough to be staged (STAGE_MIN_WRITES files): placed whole, then renamed into place.
  const big = join(root, 'src-big');
  const bigFiles: Record<string, string> = {};
  for (let i = 0; i < 300; i++) bigFiles[`data/f${String(i).padStart(3, '0')}.txt`] = `big file ${i}\n`;
  await writeTree(big, bigFiles);
  await writeFile(
    join(big, 'artifacts.yaml'),
    `publish:\n  big:\n    ref: ${HOST}/acme/big\n    tags: [v1]\n    files:\n      - data\n`,
  );
  await publish({ projectDir: big, targetFactory: factory });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * Installs `repo:v1` (one directory layer, titled data) into a new project `name` at `vendor`; at
 * the first `link` event the attacker moves vendor/data out of the project and leaves a symlink to
 * it. Returns the install's error and the files the directory held at the swap.
 */
async function installSwappingOnFirstLink(
  name: string,
  repo: string,
): Promise<{ err: unknown; atSwap: string[] | undefined; project: string; moved: string }> {
  const project = join(root, name);
  const outside = join(root, `${name}-outside`);
  await mkdir(outside);
  await writeTree(project, {
    'artifacts.yaml': `dependencies:\n  dep:\n    ref: "${HOST}/${repo}:v1"\n    path: vendor\n`,
  });
  const placedDir = join(project, 'vendor', 'data');
  const moved = join(outside, 'data');
  let atSwap: string[] | undefined;
  const err = await install({
    projectDir: project,
    targetFactory: factory,
    cacheDir: join(root, 'cache'),
    env,
    concurrency: 1,
    onEvent: (e) => {
      if (e.type !== 'link' || atSwap !== undefined) return;
      atSwap = readdirSync(placedDir).sort();
      renameSync(placedDir, moved);
      symlinkSync(moved, placedDir);
    },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, atSwap, project, moved };
}

describe('issue 12 item 8: a project directory swapped for a symlink mid-install', () => {
  it('is refused with ERR_ORAS_PATH_TRAVERSAL; no file placed after the swap lands outside', async () => {
    const { err, atSwap, project, moved } = await installSwappingOnFirstLink('project', 'acme/tree');
    expect(atSwap, 'the install placed at least one file before the swap').toBeDefined();
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    // What was there when the directory was moved out is all there is: no new file, no temp file.
    expect((await readdir(moved)).sort()).toEqual(atSwap);
    expect(atSwap!.length).toBeLessThan(SMALL);
    expect(existsSync(join(project, 'artifacts.lock'))).toBe(false);
  });

  it('a staged layer: the root appears whole; swapped right after (first link event): refused, nothing lands outside', async () => {
    const { err, atSwap, project, moved } = await installSwappingOnFirstLink('project-big', 'acme/big');
    // At the first event the whole layer is already in place (it was renamed there at once).
    expect(atSwap).toHaveLength(300);
    expect(isOrasError(err) && err.code, String(err)).toBe('ERR_ORAS_PATH_TRAVERSAL');
    expect((await readdir(moved)).sort()).toEqual(atSwap);
    expect(existsSync(join(project, 'artifacts.lock'))).toBe(false);
  });
});
