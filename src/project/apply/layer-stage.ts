import { fstatSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join, posix, relative, sep } from 'node:path';
import { closeQuietly, openDirRoute } from '../../artifact/parent-routes.js';
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
 *
 * Where the kernel offers `/proc/self/fd` (Linux), the stage is opened once and
 * its files and directories are created (and large ones streamed and renamed)
 * through `/proc/self/fd/<fd>/…`: the kernel resolves that to the directory this
 * run created, whatever happens to its name meanwhile, so a stage moved away or
 * swapped for a symlink can never redirect a create: the files land in the moved
 * directory (ours, wherever it went: whoever moved it could write there anyway),
 * and the identity check before the final rename refuses it. Node has no
 * `openat`; this is the same guarantee by path. Elsewhere the stage's identity
 * is re-checked (`lstat`) before each create, which only narrows that race to
 * the instant between the check and the create. The directories inside the
 * stage are this run's own (writable by others only as far as the umask allows,
 * and whoever can write in them can replace the installed files anyway), so the
 * stage's own name, in a directory of the project, is what could be raced.
 * Cost: none measurable; the walk through `/proc` costs each create about what
 * the `lstat` it replaces did (bench/analysis.md, rounds 14 and 15).
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
  /**
   * An open descriptor of the staging directory and its `/proc/self/fd/<fd>` path, through which
   * creates go (see the module comment); undefined where `/proc` does not resolve it.
   */
  handle: { fd: number; via: string } | undefined;
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
  return createStage(root, rootAbs, abs);
}

/**
 * Creates the staging directory `abs` (never an existing name) for the root `root` (absolute:
 * `rootAbs`) and opens it (see {@link openStageHandle}). The caller chose and checked `abs`.
 */
export function createStage(root: string, rootAbs: string, abs: string): LayerStage {
  mkdirSync(abs);
  const st = lstatSync(abs);
  const stage: LayerStage = { root, rootAbs, abs, dev: st.dev, ino: st.ino, dirs: new Set(), handle: undefined };
  stage.handle = openStageHandle(stage);
  return stage;
}

/**
 * Opens the stage (never through a symlink) and returns its `/proc/self/fd` route when that
 * resolves to the same directory; undefined otherwise (no `/proc`, or not the stage: the
 * per-create identity check is used then).
 */
function openStageHandle(stage: LayerStage): LayerStage['handle'] {
  const opened = openDirRoute(stage.abs);
  if (opened === undefined) return undefined;
  try {
    const own = fstatSync(opened.fd);
    const seen = statSync(opened.via, { throwIfNoEntry: false });
    if (own.ino === stage.ino && own.dev === stage.dev && seen?.ino === own.ino && seen.dev === own.dev) return opened;
  } catch {
    // no usable /proc: fall back to the per-create check
  }
  closeQuietly(opened.fd);
  return undefined;
}

/** Closes the stage's descriptor (idempotent); called once the stage is committed or discarded. */
export function closeStage(stage: LayerStage): void {
  const handle = stage.handle;
  stage.handle = undefined;
  if (handle !== undefined) closeQuietly(handle.fd);
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
function stagedPath(stage: LayerStage, rel: string): string {
  const inner = rel.slice(stage.root.length + 1);
  return sep === '/' ? `${stage.abs}/${inner}` : join(stage.abs, ...inner.split('/'));
}

/**
 * Where a create (or a read of what was created) of project path `rel` inside the stage goes:
 * through the stage's descriptor when it has one, else by name after re-checking the stage's
 * identity.
 */
export function createPath(stage: LayerStage, rel: string): string {
  const handle = stage.handle;
  if (handle === undefined) {
    assertStageIntact(stage);
    return stagedPath(stage, rel);
  }
  return `${handle.via}/${rel.slice(stage.root.length + 1)}`;
}

/**
 * Creates the directories of `rel` (a project path under the root) inside the stage, once each,
 * through the stage's descriptor or after checking the stage is still ours (a directory made
 * through a swapped stage would land outside).
 */
export function ensureStageDirs(stage: LayerStage, rel: string): void {
  assertProjectRelativePath(rel);
  const inner = rel.slice(stage.root.length + 1);
  const last = inner.lastIndexOf('/');
  if (last < 0 || stage.dirs.has(inner.slice(0, last))) return;
  let at = inner.indexOf('/');
  while (at >= 0) {
    const dir = inner.slice(0, at);
    if (!stage.dirs.has(dir)) {
      // A fresh directory of ours: EEXIST can only be a name this layer already created.
      const path = createPath(stage, `${stage.root}/${dir}`);
      try {
        mkdirSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!lstatSync(path).isDirectory()) throw stageError(stage, `${stage.root}/${dir} is not a directory`);
      }
      stage.dirs.add(dir);
    }
    at = inner.indexOf('/', at + 1);
  }
}

/** Writes verified `data` for `file` (a project path under the root) at its final name inside the stage. */
export function writeStagedSync(stage: LayerStage, file: LockedFile, data: Uint8Array): Placed {
  ensureStageDirs(stage, file.path);
  return writeNewFileSync(createPath(stage, file.path), data, file);
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

/**
 * Removes a stage that will not be committed: whatever is at its temp name (a symlink in its
 * place is only unlinked, never followed; the next install would remove it too, see
 * {@link removeStaleStages}), and, when the stage was moved away but is still open, what this
 * run wrote into it, through its descriptor (the moved directory itself, wherever it went, is
 * left).
 */
export function discardStage(stage: LayerStage): void {
  const st = lstatSync(stage.abs, { throwIfNoEntry: false });
  const movedAway = st === undefined || st.ino !== stage.ino || st.dev !== stage.dev;
  rmSync(stage.abs, { recursive: true, force: true });
  const handle = stage.handle;
  if (!movedAway || handle === undefined) return;
  try {
    for (const name of readdirSync(handle.via)) rmSync(`${handle.via}/${name}`, { recursive: true, force: true });
  } catch {
    // best effort: the files are this run's own, in a directory someone else moved
  }
}

/**
 * {@link discardStage}, never throwing: a stage that cannot be removed now stays under its temp
 * name, which the next install removes (the in-progress marker names a stage next to its root;
 * stages in `.oras/` are removed by any install that may prefill, see prefill.ts).
 */
export function discardStageQuietly(stage: LayerStage): void {
  try {
    discardStage(stage);
  } catch {
    // left to the next install (see above)
  }
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
