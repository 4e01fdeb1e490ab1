import { lstat, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { OrasError } from '../../errors.js';
import { dirHasNoSymlinkSync, type ActualTree } from '../plan/actual.js';
import { emit, type ProjectListener } from '../events.js';
import { syncWritten } from '../../content/sync-batch.js';
import { mapBounded } from '../../artifact/map-bounded.js';
import { ParentRoutes } from '../../artifact/parent-routes.js';
import { clearInProgress, markInProgress, readInProgress } from './in-progress.js';
import { removeStaleStages, stagePathFor, staleStagesIn } from './layer-stage.js';
import {
  cleanStaleTemps,
  dirHasNoSymlink,
  materializeFile,
  newMaterializeContext,
  projectPath,
  type LinkMode,
  type MaterializeContext,
  type MaterializeResult,
} from './materialize.js';
import { placeLayerFiles, type LayerSource } from './layer-place.js';
import { STATE_DIR, writeState } from './state.js';
import { stageableRoots } from './stage-roots.js';
import { recordRoots } from './state-roots.js';
import type { InstallInputs, InstallState, InstalledFile, LockedFile, Plan, PlanAction } from '../types.js';

/** Options for {@link reify}. */
export interface ReifyOptions {
  projectDir: string;
  plan: Plan;
  /** The actual tree the plan was computed from (stat records for `keep`s). */
  actual: ActualTree;
  /** The state the actual tree was loaded with. Not mutated. */
  state: InstallState;
  /** Returns the local (cache) file holding `file`'s content, fetching it if needed (files not served by `layerFor`). */
  sourceFor: (file: LockedFile, dependency: string) => Promise<string>;
  /**
   * The directory layer `file` is extracted from, when it comes from one
   * (undefined: a plain blob, read through `sourceFor`). The writes of one
   * layer are placed by one scan of its blob (see {@link LayerSource}).
   */
  layerFor?: (file: LockedFile, dependency: string) => LayerSource | undefined;
  /** Parallel file operations (default 8). */
  concurrency?: number;
  /** See {@link LinkMode} (default `auto`). */
  linkMode?: LinkMode;
  /** Whether to write `.oras/state.json` (default true). */
  writeState?: boolean;
  /**
   * Each locked dependency's install directory (its normalized `path`, POSIX,
   * `''` for the project root; see {@link dependencyRoots}). Recorded in the
   * state as the roots a later removal must stay within.
   */
  roots: Record<string, string>;
  /** Environment for the state key (see `state-key.ts`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * The install's inputs, recorded in the state only when every action
   * succeeded (enables the next install's fast path); a state written after a
   * failure never carries inputs. A change from the previous record makes the
   * state dirty (written even for a no-op).
   */
  inputs?: InstallInputs;
  /**
   * Instead of `inputs`: writes what must land after the tree and before the state, and gives the
   * inputs to record. Install writes artifacts.lock here and returns its stamp, so the state is
   * written once, after the lockfile (the in-progress marker stays until then). Called once every
   * write landed, as their sync starts (after the removes when nothing was written), with `synced`,
   * which resolves once the tree is durable: it may prepare its write meanwhile but makes nothing
   * visible before (install fills and fsyncs the lock's temp, and renames it after). `inputs`
   * resolves once they are known (the state's temp is then filled meanwhile too), `landed` once
   * the write is in place; the state is renamed only after it. If either rejects, the state is
   * recorded without inputs and the error rethrown.
   */
  inputsAfter?: (synced: () => Promise<void>) => AfterSync;
  /**
   * Called (not awaited) when the written files start to be synced: work that needs the main
   * thread can run while the sync waits on the kernel (install starts the cache's records there).
   * It must handle its own errors; not called when nothing was written.
   */
  whileSyncing?: () => void;
  /**
   * Interrupts the run (SIGINT/SIGTERM in the CLI). Once aborted, no new
   * remove or write is started; writes already in flight either land (their
   * atomic rename happens) or roll back (their temp is removed; a large
   * streaming copy stops mid-file), so every project file is the old or the
   * new version. The state then records exactly what landed (without inputs,
   * so the next install takes the full path and finishes the job) and
   * `ERR_ORAS_ABORTED` is thrown.
   */
  signal?: AbortSignal;
  onEvent?: ProjectListener;
}

/** What {@link ReifyOptions.inputsAfter} started: the inputs to record, and the write that must land before the state. */
export interface AfterSync {
  inputs: Promise<InstallInputs>;
  landed: Promise<void>;
}

/** What {@link reify} did. */
export interface ReifyResult {
  state: InstallState;
  added: number;
  changed: number;
  removed: number;
  kept: number;
}

/** Fails with `ERR_ORAS_USER_MODIFIED` listing the conflicting paths (when there are any). */
export function assertNoConflicts(plan: Plan): void {
  const conflicts = plan.actions.filter((a): a is Extract<PlanAction, { kind: 'conflict' }> => a.kind === 'conflict');
  if (conflicts.length === 0) return;
  const shown = conflicts
    .slice(0, 20)
    .map((c) => `  ${c.path} (${c.reason})`)
    .join('\n');
  const more = conflicts.length > 20 ? `\n  … and ${conflicts.length - 20} more` : '';
  throw new OrasError(
    'ERR_ORAS_USER_MODIFIED',
    `refusing to overwrite or remove ${conflicts.length} file(s) not as installed:\n${shown}${more}`,
    {
      hint: 'move your changes away, or rerun with --force to overwrite them',
    },
  );
}

function abortedError(written: number, writes: number, removed: number, removes: number): OrasError {
  return new OrasError(
    'ERR_ORAS_ABORTED',
    `interrupted: placed ${written} of ${writes} file(s), removed ${removed} of ${removes}; every file is either its old or its new version`,
    {
      hint: 'run `oras install` again to finish (.oras/state.json records what was done)',
      details: { written, writes, removed, removes },
    },
  );
}

function record(
  path: string,
  file: LockedFile,
  dependency: string,
  st: { size: number; mtimeMs: number; ino: number },
): InstalledFile {
  return { path, digest: file.digest, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dependency };
}

/**
 * Executes a plan. Refuses (before touching anything) when it has conflicts.
 * Then: stale `.<name>.oras-tmp-<hex>` files are removed from every directory the plan
 * touches; `remove`s delete files we installed (re-checking they are still
 * regular files) and then `rmdir` directories left empty, up to the project
 * root (rmdir only removes empty directories, so no user file is ever lost);
 * `add`/`change`s are materialized concurrently (temp + verify + fsync +
 * rename); `keep`s refresh their stat record (which also adopts matching
 * unrecorded files). The new state is written once at the end (not at all for
 * a pure no-op whose records are unchanged) — also when an
 * operation failed, recording every file that did land — and the first error
 * is rethrown. A crash at any moment is recoverable: renamed files match the
 * lock and are adopted by hash on the next run; temps are cleaned.
 */
export async function reify(options: ReifyOptions): Promise<ReifyResult> {
  assertNoConflicts(options.plan);
  const files: Record<string, InstalledFile> = { ...options.state.files };
  const run: ReifyRun = {
    options,
    files,
    result: { added: 0, changed: 0, removed: 0, kept: 0 },
    errors: [],
    dirChecks: new Map(),
    concurrency: options.concurrency ?? 8,
    // Whether the state must be rewritten (a pure no-op leaves state.json untouched).
    dirty:
      options.plan.actions.some((a) => a.kind !== 'keep') ||
      Object.keys(files).length !==
        options.plan.actions.filter((a) => a.kind === 'keep' && files[a.path] !== undefined).length,
    // True once every write of this run is durable (or there was none): the in-progress marker may go.
    synced: true,
  };
  await cleanTouchedTemps(run);
  let completed = false;
  try {
    refreshKeeps(run);
    const removes = await removeFiles(run);
    const writes = await writeFiles(run);
    const done = run.result.added + run.result.changed;
    if (options.signal?.aborted === true && (done < writes || run.result.removed < removes))
      throw abortedError(done, writes, run.result.removed, removes);
    if (run.errors.length > 0) throw run.errors[0];
    const inputs = await finalInputs(run);
    if (inputs !== undefined) {
      run.inputs = inputs;
      if (JSON.stringify(inputs) !== JSON.stringify(options.state.inputs)) run.dirty = true;
    }
    completed = true;
  } finally {
    await recordState(run, completed);
  }
  return {
    state: stateOf(run, run.inputs),
    ...run.result,
  };
}

/** The working set of one {@link reify} run, shared by its steps. */
interface ReifyRun {
  options: ReifyOptions;
  /** The state's file records, updated as actions land. */
  files: Record<string, InstalledFile>;
  result: { added: number; changed: number; removed: number; kept: number };
  /** Errors of individual removes/writes (the first is rethrown once the step settled). */
  errors: unknown[];
  /** Memo of "no symlink among this directory's parents" checks. */
  dirChecks: Map<string, Promise<boolean>>;
  /** Most removes / writes in flight at once (bounded pending work: `mapBounded`). */
  concurrency: number;
  dirty: boolean;
  synced: boolean;
  /** The inputs to record once the run completed (`inputs`, or what `inputsAfter` returned). */
  inputs?: InstallInputs;
  /** The roots step 5 recorded (computed once: a pass over every file). */
  roots?: Record<string, string[]>;
  /** What `inputsAfter` started while the batch was synced (see {@link startFinalWrites}). */
  after?: AfterSync;
  /** The completed run's state, written while the batch was synced (see {@link startFinalWrites}). */
  early?: Promise<{ ok: true } | { ok: false; err: unknown }>;
}

/**
 * Step 1: removes stale temps in `.oras/` and in every directory the plan touches, and the
 * staging directories an interrupted run left (named by its in-progress marker, or found next
 * to the root of a dependency this run writes); only real directories inside the project.
 */
async function cleanTouchedTemps({ options, dirChecks, concurrency }: ReifyRun): Promise<void> {
  const { projectDir, plan } = options;
  await cleanStaleTemps(join(projectDir, STATE_DIR));
  const touched = new Set<string>();
  const rootParents = new Set<string>();
  for (const a of plan.actions) {
    if (a.kind === 'keep' || a.kind === 'conflict') continue;
    touched.add(posix.dirname(a.path));
    const root = options.roots[a.kind === 'remove' ? a.from.dependency : a.dependency];
    if (root !== undefined && root !== '') rootParents.add(posix.dirname(root));
  }
  // Only real directories: never through a symlink below the project root.
  const real = async (dir: string): Promise<boolean> =>
    dir === '.' || (await dirHasNoSymlink(projectDir, `${dir}/x`, dirChecks));
  // Which touched directories exist, checked synchronously (an lstat each, once per directory; a
  // directory under a missing one is missing without a call): a new dependency's directories
  // need no listing, and missing ones cost no failing call (Node builds an error object for each).
  const checked = new Map<string, boolean>();
  const absent = new Set<string>();
  const listable = [...touched].filter(
    (dir) => dir === '.' || (dirHasNoSymlinkSync(projectDir, `${dir}/x`, checked, absent) && !absent.has(dir)),
  );
  // Directories are independent (each listing sees only its own temps): several at a time, as
  // one after another 200 dependencies spent ~0.1 s waiting on 600 thread-pool round trips.
  await mapBounded(listable, concurrency, (dir) =>
    cleanStaleTemps(dir === '.' ? projectDir : projectPath(projectDir, dir)),
  );
  const stages = (await readInProgress(projectDir))?.stages ?? [];
  const found = await mapBounded([...rootParents], concurrency, async (dir) =>
    (await real(dir)) ? staleStagesIn(projectDir, dir === '.' ? '' : dir) : [],
  );
  stages.push(...found.flat());
  await removeStaleStages(projectDir, stages, (rel) => dirHasNoSymlink(projectDir, rel, dirChecks));
}

/** Step 2: keeps refresh their stat records; unrecorded matching files are adopted. */
function refreshKeeps(run: ReifyRun): void {
  const { files } = run;
  for (const a of run.options.plan.actions) {
    if (a.kind !== 'keep') continue;
    const e = run.options.actual.files[a.path];
    if (e?.size === undefined || e.mtimeMs === undefined || e.ino === undefined) continue;
    const prev = files[a.path];
    if (prev === undefined) emit(run.options.onEvent, { type: 'adopt', path: a.path, dependency: a.dependency });
    const next = record(a.path, a.file, a.dependency, { size: e.size, mtimeMs: e.mtimeMs, ino: e.ino });
    if (
      prev === undefined ||
      prev.digest !== next.digest ||
      prev.size !== next.size ||
      prev.mtimeMs !== next.mtimeMs ||
      prev.ino !== next.ino ||
      prev.dependency !== next.dependency
    ) {
      files[a.path] = next;
      run.dirty = true;
    }
    run.result.kept += 1;
  }
}

/**
 * Step 3: removes first (a removed file may be where an added directory goes; still regular files
 * only, never through a symlinked parent), then directories left empty. Returns the number of
 * removes planned; the first error is thrown after all settled.
 */
async function removeFiles(run: ReifyRun): Promise<number> {
  const { projectDir, plan, signal, onEvent } = run.options;
  const removes = plan.actions.filter((a) => a.kind === 'remove');
  const emptied = new Set<string>();
  await mapBounded(removes, run.concurrency, async (a) => {
    if (signal?.aborted === true) return;
    try {
      if (await dirHasNoSymlink(projectDir, a.path, run.dirChecks)) {
        const abs = projectPath(projectDir, a.path);
        const st = await lstat(abs).catch(() => undefined);
        if (st !== undefined && !st.isDirectory())
          await unlink(abs).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'ENOENT') throw err;
          });
        emptied.add(posix.dirname(a.path));
      }
      delete run.files[a.path];
      run.result.removed += 1;
      emit(onEvent, { type: 'remove', path: a.path, dependency: a.from.dependency });
    } catch (err) {
      run.errors.push(err);
    }
  });
  await removeEmptiedDirs(projectDir, plan, emptied);
  if (run.errors.length > 0) throw run.errors[0];
  return removes.length;
}

/** `rmdir`s each emptied directory and its parents up to the project root, stopping at one the plan still needs or that is not empty. */
async function removeEmptiedDirs(projectDir: string, plan: Plan, emptied: Set<string>): Promise<void> {
  const wantedDirs = new Set<string>();
  for (const a of plan.actions) {
    if (a.kind === 'add' || a.kind === 'change' || a.kind === 'keep') {
      for (let d = posix.dirname(a.path); d !== '.'; d = posix.dirname(d)) wantedDirs.add(d);
    }
  }
  for (const start of [...emptied].sort((x, y) => y.length - x.length)) {
    for (let d = start; d !== '.' && !wantedDirs.has(d); d = posix.dirname(d)) {
      try {
        await rmdir(projectPath(projectDir, d));
      } catch {
        break;
      }
    }
  }
}

/** Materializes one planned write of a plain blob from its cache file. */
async function placeFromSource(run: ReifyRun, a: WriteAction, mctx: MaterializeContext): Promise<MaterializeResult> {
  const src = await run.options.sourceFor(a.file, a.dependency);
  return materializeFile(run.options.projectDir, src, a.file, run.options.linkMode ?? 'auto', mctx);
}

type WriteAction = Extract<PlanAction, { kind: 'add' | 'change' }>;

/**
 * One unit of step 4's work: a plain file from its source, or every write of one directory layer
 * (with `stage`: the staging directory to use should its root not exist, see layer-stage.ts).
 */
type WriteUnit = { write: WriteAction } | LayerUnit;
type LayerUnit = { layer: LayerSource; writes: WriteAction[]; stage?: string };

/** Groups the writes into units (the writes of one layer become one unit, placed by one scan of it). */
function writeUnits(run: ReifyRun, writes: WriteAction[]): WriteUnit[] {
  const units: WriteUnit[] = [];
  const layers = new Map<string, LayerUnit>();
  for (const a of writes) {
    let layer: LayerSource | undefined;
    try {
      layer = run.options.layerFor?.(a.file, a.dependency);
    } catch (err) {
      run.errors.push(err);
      continue;
    }
    if (layer === undefined) {
      units.push({ write: a });
      continue;
    }
    let unit = layers.get(layer.key);
    if (unit === undefined) {
      unit = { layer, writes: [] };
      layers.set(layer.key, unit);
      units.push(unit);
    }
    unit.writes.push(a);
  }
  const staged = new Set(stageableRoots(run.options.plan, layers.values()));
  for (const unit of layers.values())
    if (staged.has(unit.layer.root)) unit.stage = stagePathFor(run.options.projectDir, unit.layer.root);
  return units;
}

/**
 * Step 4: adds and changes, concurrently (temp + verify + rename), without per-file fsync: a
 * durable in-progress marker names the paths a power loss may tear until the batch is synced
 * (see in-progress.ts). What landed is synced also after an abort. Returns the number of writes planned.
 */
async function writeFiles(run: ReifyRun): Promise<number> {
  const { projectDir, plan, signal, onEvent } = run.options;
  const writes = plan.actions.filter((a): a is WriteAction => a.kind === 'add' || a.kind === 'change');
  if (writes.length === 0) return 0;
  const syncDirs = new Set<string>();
  const written: string[] = [];
  run.synced = false;
  const units = writeUnits(run, writes);
  await markInProgress(
    projectDir,
    writes.map((a) => a.path),
    units.flatMap((u) => ('stage' in u && u.stage !== undefined ? [u.stage] : [])),
  );
  const mctx: MaterializeContext = {
    ...newMaterializeContext({ durable: false }),
    ...(signal !== undefined ? { signal } : {}),
    routes: new ParentRoutes(),
  };
  const landed = (a: WriteAction, res: MaterializeResult): void => {
    run.files[a.path] = record(a.path, a.file, a.dependency, res);
    const abs = projectPath(projectDir, a.path);
    written.push(abs);
    syncDirs.add(dirname(abs));
    if (a.kind === 'add') run.result.added += 1;
    else run.result.changed += 1;
    emit(onEvent, {
      type: 'link',
      path: a.path,
      action: a.kind,
      method: res.method,
      dependency: a.dependency,
      size: a.file.size,
    });
  };
  try {
    await placeUnits(run, units, mctx, landed, syncDirs);
  } finally {
    mctx.routes?.close();
  }
  // Not interruptible (one syncfs), so the state may record what landed.
  const synced = syncWritten(written, syncDirs);
  run.options.whileSyncing?.();
  if (run.result.added + run.result.changed === writes.length)
    startFinalWrites(run, () => synced.then(() => undefined));
  await synced;
  run.synced = true;
  return writes.length;
}

/** Step 4's placements: the writes of each layer from one scan of it, each other write from its source; `run.concurrency` units at a time. */
async function placeUnits(
  run: ReifyRun,
  units: WriteUnit[],
  mctx: MaterializeContext,
  landed: (a: WriteAction, res: MaterializeResult) => void,
  syncDirs: Set<string>,
): Promise<void> {
  const { projectDir, signal } = run.options;
  const failed = (_a: WriteAction, err: unknown): void => void run.errors.push(err);
  await mapBounded(units, run.concurrency, async (unit) => {
    if (signal?.aborted === true) return;
    if ('layer' in unit) {
      const report = {
        placed: landed,
        failed,
        layerFailed: (err: unknown) => failed(unit.writes[0]!, err),
        dirChanged: (dir: string) => void syncDirs.add(dir),
      };
      await placeLayerFiles(projectDir, unit.layer, unit.writes, mctx, report, unit.stage);
      return;
    }
    try {
      landed(unit.write, await placeFromSource(run, unit.write, mctx));
    } catch (err) {
      failed(unit.write, err);
    }
  });
}

/**
 * Step 5 (always, also after a failure): writes the state when it changed or the run did not
 * complete (inputs only when it completed), then clears the in-progress marker once everything
 * written is durable (also a marker left by an earlier interrupted run).
 */
async function recordState(run: ReifyRun, completed: boolean): Promise<void> {
  const { options, files } = run;
  const early = run.early === undefined ? undefined : await run.early;
  // Nothing started during the sync is still running once reify returns (nor its temp left behind).
  await run.after?.landed.catch(() => undefined);
  if (options.writeState !== false && (run.dirty || !completed)) {
    if (completed && early !== undefined) {
      // Written during the sync, as this completed run would write it now.
      if (!early.ok) throw early.err;
    } else {
      const state = stateOf(run, completed ? run.inputs : undefined);
      await writeState(options.projectDir, state, options.env !== undefined ? { env: options.env } : {});
    }
    emit(options.onEvent, { type: 'state-written', files: Object.keys(files).length });
  }
  if (run.synced) await clearInProgress(options.projectDir);
}

/**
 * Starts the writes that follow the tree while its batch is synced, when the run can only complete
 * now: every write landed (the caller checks), no remove or write failed, nothing was aborted. First
 * `inputsAfter` (install: artifacts.lock's temp, renamed once `synced` resolved); then the state of
 * the completed run, with `inputs` or what `inputsAfter` gives: its temp is filled (its MAC taken)
 * and fsynced while the kernel writes the tree back, and renamed over state.json only after the sync
 * (and `inputsAfter`'s write) succeeded, so the order stays the tree, artifacts.lock, the state. A
 * failure removes the temp and step 5 writes the state of an incomplete run instead, as before.
 */
function startFinalWrites(run: ReifyRun, synced: () => Promise<void>): void {
  const { options } = run;
  if (run.errors.length > 0 || options.signal?.aborted === true) return;
  const after = options.inputsAfter === undefined ? undefined : handled(options.inputsAfter(synced));
  if (after !== undefined) run.after = after;
  if (options.writeState === false) return;
  run.early = (async () => {
    const state = stateOf(run, after !== undefined ? await after.inputs : options.inputs);
    await writeState(options.projectDir, state, {
      ...(options.env !== undefined ? { env: options.env } : {}),
      beforeRename: after !== undefined ? () => after.landed : synced,
    });
  })().then(
    () => ({ ok: true as const }),
    (err: unknown) => ({ ok: false as const, err }),
  );
}

/**
 * The state that records `run`'s files (as they are now) with `inputs`; its roots are computed once
 * (a pass over every file) and kept in `run.roots`.
 */
function stateOf(run: ReifyRun, inputs: InstallInputs | undefined): InstallState {
  const { options, files } = run;
  run.roots ??= recordRoots(files, options.roots, options.state.roots ?? {});
  return { stateVersion: 1, files, roots: run.roots, ...(inputs !== undefined ? { inputs } : {}) };
}

/** `after` with its rejections marked handled (they are awaited later, or not at all when an earlier step failed). */
function handled(after: AfterSync): AfterSync {
  after.inputs.catch(() => undefined);
  after.landed.catch(() => undefined);
  return after;
}

/** The inputs to record once every action landed: `inputs`, or `inputsAfter`'s once its write landed (started now when nothing was written). */
async function finalInputs(run: ReifyRun): Promise<InstallInputs | undefined> {
  const { options } = run;
  if (options.inputsAfter === undefined) return options.inputs;
  const after = run.after ?? handled(options.inputsAfter(() => Promise.resolve()));
  const inputs = await after.inputs;
  await after.landed;
  return inputs;
}
