import { lstatSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join, posix, relative, sep } from 'node:path';
import { assertParentStillInsideSync } from '../../artifact/safe-path.js';
import { isTempName, tempPathFor } from '../../content/fs-atomic.js';
import { OrasError } from '../../errors.js';
import type { LockedFile } from '../types.js';
import {
  assertProjectRelativePath,
  ensureParentDirs,
  projectPath,
  writeNewFileSync,
  type MaterializeContext,
  type Placed,
} from './materialize.js';

/*
 * A directory layer whose install root does not exist yet (a new project, a new
 * dependency) is placed into a staging directory next to the root, named like a
 * temp file (`.<root>.oras-tmp-<hex>`), with every file created at its final name
 * inside it, and the staging directory is renamed to the root once. That saves a
 * temp name and a rename per file, and the layer appears in the project at once.
 * A crash leaves the staging directory behind: the in-progress marker names it
 * and the next install removes it (see reify's first step). Files are verified
 * before they are written, exactly as when placed one by one.
 */

/** A staging directory being filled (see the module comment). */
export interface LayerStage {
  /** Project-relative root the stage becomes. */
  root: string;
  /** Absolute path of the root. */
  rootAbs: string;
  /** Absolute path of the staging directory. */
  abs: string;
  /** Identity of the staging directory when created (re-checked before each write and the final rename). */
  dev: number;
  ino: number;
  /** Directories created inside the stage (relative to it). */
  dirs: Set<string>;
}

/** The staging path for `root` (a fresh temp name next to it), project-relative, for the in-progress marker. */
export function stagePathFor(projectDir: string, root: string): string {
  return relative(projectDir, tempPathFor(projectPath(projectDir, root)))
    .split(sep)
    .join('/');
}

function stageError(stage: LayerStage, what: string): OrasError {
  return new OrasError('ERR_ORAS_PATH_TRAVERSAL', `refusing to place ${stage.root}: ${what}`, {
    hint: 'something changed the project directory while installing; run `oras install` again',
  });
}

/**
 * Creates the staging directory `stageRel` for `root` when the root does not
 * exist (its ancestors are created and checked like any parent). Returns
 * undefined when the root exists: the layer is then placed file by file.
 */
export async function openStage(
  projectDir: string,
  root: string,
  stageRel: string,
  ctx: MaterializeContext,
): Promise<LayerStage | undefined> {
  await ensureParentDirs(projectDir, root, ctx.dirs);
  const rootAbs = projectPath(projectDir, root);
  if (lstatSync(rootAbs, { throwIfNoEntry: false }) !== undefined) return undefined;
  const abs = join(projectDir, ...stageRel.split('/'));
  if (dirname(abs) !== dirname(rootAbs) || !isTempName(basename(abs)))
    throw new OrasError('ERR_ORAS_PATH_TRAVERSAL', `unsafe staging path ${stageRel} for ${root}`, {
      hint: 'a staging directory is a temp-named sibling of the layer root',
    });
  assertParentStillInsideSync(projectDir, abs);
  mkdirSync(abs);
  const st = lstatSync(abs);
  return { root, rootAbs, abs, dev: st.dev, ino: st.ino, dirs: new Set() };
}

/** Throws `problem` unless `abs` is the directory the stage created (same device + inode: not moved away, not a symlink). */
function assertIsStageDir(stage: LayerStage, abs: string, problem: string): void {
  const st = lstatSync(abs, { throwIfNoEntry: false });
  if (st === undefined || !st.isDirectory() || st.ino !== stage.ino || st.dev !== stage.dev)
    throw stageError(stage, problem);
}

/** Throws unless the staging directory is still the directory that was created. */
function assertStageIntact(stage: LayerStage): void {
  assertIsStageDir(stage, stage.abs, 'its staging directory was moved or replaced while writing');
}

/** The absolute path of project path `rel` (under the stage's root) inside the stage. */
export function stagedPath(stage: LayerStage, rel: string): string {
  const inner = rel.slice(stage.root.length + 1);
  return sep === '/' ? `${stage.abs}/${inner}` : join(stage.abs, ...inner.split('/'));
}

/**
 * Creates the directories of `rel` (a project path under the root) inside the stage, once each,
 * after checking the stage is still ours (a directory made through a swapped stage would land outside).
 */
export function ensureStageDirs(stage: LayerStage, rel: string): void {
  assertProjectRelativePath(rel);
  const inner = rel.slice(stage.root.length + 1);
  const last = inner.lastIndexOf('/');
  if (last < 0 || stage.dirs.has(inner.slice(0, last))) return;
  assertStageIntact(stage);
  let at = inner.indexOf('/');
  while (at >= 0) {
    const dir = inner.slice(0, at);
    if (!stage.dirs.has(dir)) {
      // A fresh directory of ours: EEXIST can only be a name this layer already created.
      try {
        mkdirSync(stagedPath(stage, `${stage.root}/${dir}`));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!lstatSync(stagedPath(stage, `${stage.root}/${dir}`)).isDirectory())
          throw stageError(stage, `${stage.root}/${dir} is not a directory`);
      }
      stage.dirs.add(dir);
    }
    at = inner.indexOf('/', at + 1);
  }
}

/** Writes verified `data` for `file` (a project path under the root) at its final name inside the stage. */
export function writeStagedSync(stage: LayerStage, file: LockedFile, data: Uint8Array): Placed {
  ensureStageDirs(stage, file.path);
  assertStageIntact(stage);
  return writeNewFileSync(stagedPath(stage, file.path), data, file);
}

/**
 * Renames the stage to its root (after re-checking the stage and the root's
 * parent). Fails when the root appeared meanwhile as a file or a non-empty
 * directory; the caller then discards the stage.
 */
export function commitStage(projectDir: string, stage: LayerStage): void {
  assertStageIntact(stage);
  assertParentStillInsideSync(projectDir, stage.rootAbs);
  try {
    renameSync(stage.abs, stage.rootAbs);
  } catch (err) {
    throw new OrasError('ERR_ORAS_IO', `cannot move the staged files of ${stage.root} into place: ${String(err)}`, {
      hint: `${stage.root} was created by something else while installing; run \`oras install\` again`,
      cause: err,
    });
  }
}

/** After {@link commitStage}: throws unless the root is still the renamed staging directory (not moved, not a symlink). */
export function assertRootIsStage(stage: LayerStage): void {
  assertIsStageDir(stage, stage.rootAbs, 'it was moved or replaced by a symlink while installing');
}

/** Removes a stage that will not be committed (a symlink in its place is only unlinked, never followed). */
export function discardStage(stage: LayerStage): void {
  rmSync(stage.abs, { recursive: true, force: true });
}

/**
 * Removes staging directories left by an interrupted install: `stages` are
 * project-relative paths (from the in-progress marker); only directories (and
 * symlinks, which are unlinked, never followed) with a temp name are removed,
 * and never through a symlinked parent (checked by `parentOk`). Missing ones
 * are ignored.
 */
export async function removeStaleStages(
  projectDir: string,
  stages: readonly string[],
  parentOk: (rel: string) => Promise<boolean>,
): Promise<void> {
  for (const rel of stages) {
    const parts = rel.split('/');
    const name = parts.at(-1) ?? '';
    if (!isTempName(name)) continue;
    try {
      if (parts.length > 1) assertProjectRelativePath(parts.slice(0, -1).join('/'));
    } catch {
      continue;
    }
    if (!(await parentOk(rel))) continue;
    const abs = join(projectDir, ...parts);
    const st = await lstat(abs).catch(() => undefined);
    // A directory is removed with what it holds; a symlink in its place only unlinked (rm never follows it).
    if (st?.isDirectory() === true || st?.isSymbolicLink() === true) await rm(abs, { recursive: true, force: true });
  }
}

/** Project-relative paths of temp-named directories (or symlinks) directly inside project directory `dirRel` ('' = the root). */
export async function staleStagesIn(projectDir: string, dirRel: string): Promise<string[]> {
  const abs = dirRel === '' ? projectDir : projectPath(projectDir, dirRel);
  const entries = await readdir(abs, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && isTempName(e.name))
    .map((e) => (dirRel === '' ? e.name : posix.join(dirRel, e.name)));
}
