import { createReadStream, lstatSync } from 'node:fs';
import { chmod, lstat, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { turnEvery } from '../../artifact/event-loop-turn.js';
import { assertParentStillInside } from '../../artifact/safe-path.js';
import type { TarBody, TarScanVisitor } from '../../artifact/tar-scan.js';
import { tempPathFor } from '../../content/fs-atomic.js';
import { OrasError } from '../../errors.js';
import { verifyContent, VerifyingStream } from '../../oci/digest.js';
import type { LockedFile, PlanAction } from '../types.js';
import { HashedBody } from './cache/scan-replay.js';
import {
  assertRootIsStage,
  closeStage,
  commitStage,
  createPath,
  discardStage,
  discardStageQuietly,
  ensureStageDirs,
  openStage,
  writeStagedSync,
  type LayerStage,
} from './layer-stage.js';
import {
  ensureParentDirs,
  projectPath,
  SMALL_FILE_BYTES,
  writeVerifiedSync,
  type MaterializeContext,
  type MaterializeResult,
  type Placed,
} from './materialize.js';

type WriteAction = Extract<PlanAction, { kind: 'add' | 'change' }>;

/**
 * Where the files of one directory layer come from at placement: one scan of
 * the layer's verified blob (see `ProjectCache.scanLayer`) serves every
 * file of it that the plan writes, so each byte is written once, into the
 * project (no unpacked copy in the cache).
 */
export interface LayerSource {
  /** Writes with the same key are placed by one scan (the layer digest and its root). */
  key: string;
  /** The project-relative directory the layer's root is placed at (`''` = the project root). */
  root: string;
  /** Reads the layer once, reporting its entries (under the tar rules) to `visitor`. */
  scan(visitor: TarScanVisitor): Promise<void>;
  /**
   * The stage this install prefilled with exactly these writes, each one's stat (see
   * prefill.ts); undefined when there is none, or it does not match them.
   */
  adopt?(actions: readonly WriteAction[]): Promise<{ stage: LayerStage; placed: Placed[] } | undefined>;
}

/** What {@link placeLayerFiles} reports, write by write (and a failure of the layer as a whole). */
export interface LayerPlacement {
  placed(a: WriteAction, res: MaterializeResult): void;
  failed(a: WriteAction, err: unknown): void;
  /** The scan itself failed after every write it served was settled (e.g. a corrupt cache blob). */
  layerFailed(err: unknown): void;
  /** A directory entry changed in `absDir` other than through the placed files (a stage renamed into it). */
  dirChanged?(absDir: string): void;
}

function notInLayer(a: WriteAction, why: string): OrasError {
  return new OrasError('ERR_ORAS_LOCKFILE', `${a.file.path} ${why}`, {
    hint: 'the lockfile does not match the locked artifact; run `oras update ' + a.dependency + '`',
  });
}

/** Reads a small entry whole (the scanner hands entries up to 1 MiB over as one view). */
async function collect(body: TarBody): Promise<Buffer> {
  if (body instanceof HashedBody) return body.bytes;
  if (Array.isArray(body) && body.length === 1) {
    const c = body[0] as Uint8Array;
    return Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  }
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** Where the files of one layer go: into the project file by file, or into a stage (see layer-stage.ts). */
interface PlaceTarget {
  /** The absolute path `file` is written at. */
  abs(file: LockedFile): string;
  /** Creates (and checks) the parent directories of `file`; a promise only when it had to wait. */
  prepare(file: LockedFile): Promise<void> | undefined;
  /** Writes small, already verified content for `file` (synchronously). */
  writeSmall(file: LockedFile, data: Buffer): Placed;
}

function projectTarget(projectDir: string, ctx: MaterializeContext): PlaceTarget {
  return {
    abs: (file) => projectPath(projectDir, file.path),
    prepare: (file) => ensureParentDirs(projectDir, file.path, ctx.dirs),
    writeSmall: (file, data) => {
      const dest = projectPath(projectDir, file.path);
      return writeVerifiedSync(projectDir, tempPathFor(dest), dest, data, file, ctx.routes);
    },
  };
}

function stageTarget(stage: LayerStage): PlaceTarget {
  return {
    abs: (file) => createPath(stage, file.path),
    prepare: (file) => void ensureStageDirs(stage, file.path),
    writeSmall: (file, data) => writeStagedSync(stage, file, data),
  };
}

/** Streams a large entry into a temp next to `dest`, verified as it is written, then renames it into place (parent re-checked). */
async function placeStreamed(
  projectDir: string,
  dest: string,
  file: LockedFile,
  body: TarBody,
  ctx: MaterializeContext,
): Promise<Placed> {
  const tmp = tempPathFor(dest);
  const mode = file.mode === 0o755 ? 0o755 : 0o644;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await pipeline(
        Readable.from(body),
        new VerifyingStream({ digest: file.digest, size: file.size }, { what: `layer content for ${file.path}` }),
        async (source: AsyncIterable<Buffer>) => {
          for await (const chunk of source) await fh.write(chunk);
        },
        ...(ctx.signal !== undefined ? [{ signal: ctx.signal }] : []),
      );
    } finally {
      await fh.close();
    }
    await chmod(tmp, mode);
    await assertParentStillInside(projectDir, dest);
    await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const st = await lstat(dest);
  return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

/**
 * Places one layer entry at `file.path` through `target`: parents created without following
 * symlinks, the bytes verified against the locked size and digest before anything is renamed
 * into place (small entries in memory, large ones as they stream into the temp). Returns the
 * stat, and the bytes of a small entry.
 */
async function placeEntry(
  projectDir: string,
  target: PlaceTarget,
  file: LockedFile,
  size: number,
  body: TarBody,
  ctx: MaterializeContext,
): Promise<{ st: Placed; data?: Buffer }> {
  const waiting = target.prepare(file);
  if (waiting !== undefined) await waiting;
  if (size > SMALL_FILE_BYTES || file.size > SMALL_FILE_BYTES)
    return { st: await placeStreamed(projectDir, target.abs(file), file, body, ctx) };
  const data = await collect(body);
  // A replayed entry was hashed from these very bytes by this process (see scan-replay.ts): equal digests verify it.
  if (!(body instanceof HashedBody && body.digest === file.digest && data.length === file.size))
    verifyContent(data, { digest: file.digest, size: file.size }, `layer content for ${file.path}`);
  return { st: target.writeSmall(file, data), data };
}

/**
 * Places one entry at every write that wants it (hard links of one file): the first from the
 * entry's bytes, the rest from those bytes again (small) or from the first's placed file (large),
 * each verified against its own locked digest like the first.
 */
async function placeAll(
  projectDir: string,
  target: PlaceTarget,
  acts: WriteAction[],
  size: number,
  body: TarBody,
  ctx: MaterializeContext,
  report: LayerPlacement,
): Promise<void> {
  const [first, ...rest] = acts;
  if (first === undefined) return;
  let placed: { st: Placed; data?: Buffer };
  try {
    placed = await placeEntry(projectDir, target, first.file, size, body, ctx);
    report.placed(first, { method: 'copy', ...placed.st });
  } catch (err) {
    for (const a of acts) report.failed(a, err);
    return;
  }
  for (const a of rest) {
    try {
      if (a.file.digest !== first.file.digest || a.file.size !== first.file.size)
        throw notInLayer(a, `is a hard link to ${first.file.path} in its layer, but the lock gives it other content`);
      const again = placed.data !== undefined ? [placed.data] : createReadStream(target.abs(first.file));
      report.placed(a, {
        method: 'copy',
        ...(await placeEntry(projectDir, target, a.file, a.file.size, again, ctx)).st,
      });
    } catch (err) {
      report.failed(a, err);
    }
  }
}

/**
 * Places the planned writes of one directory layer from one scan of it (a
 * second scan only when a wanted file is a hard link whose target was not
 * itself wanted). Every file is verified against its locked size and digest
 * before it is written; a write the layer does not provide fails with
 * `ERR_ORAS_LOCKFILE`. Without fsync: the caller (`reify`) syncs the batch.
 * Nothing is started once `ctx.signal` is aborted.
 *
 * With `stageRel` (a temp-named sibling of the layer root, recorded in the
 * in-progress marker by the caller) and a root that does not exist yet, every
 * write being an add: the files are created at their final names inside that
 * staging directory, which is then renamed to the root once (see
 * layer-stage.ts), and the writes are reported placed only after that rename.
 * Otherwise each file goes through its own temp and rename.
 */
export async function placeLayerFiles(
  projectDir: string,
  source: LayerSource,
  actions: WriteAction[],
  ctx: MaterializeContext,
  report: LayerPlacement,
  stageRel?: string,
): Promise<void> {
  let stage: LayerStage | undefined;
  if (stageRel !== undefined && source.root !== '' && actions.every((a) => a.kind === 'add')) {
    if (await placePrefilled(projectDir, source, actions, ctx, report)) return;
    try {
      stage = await openStage(projectDir, source.root, stageRel, ctx);
    } catch (err) {
      for (const a of actions) report.failed(a, err);
      return;
    }
  }
  if (stage === undefined) {
    await scanAndPlace(projectDir, projectTarget(projectDir, ctx), source, actions, ctx, report);
    return;
  }
  const landed: Array<[WriteAction, MaterializeResult]> = [];
  try {
    await scanAndPlace(projectDir, stageTarget(stage), source, actions, ctx, {
      placed: (a, res) => void landed.push([a, res]),
      failed: report.failed,
      layerFailed: report.layerFailed,
    });
    finishStage(projectDir, stage, landed, report);
  } finally {
    closeStage(stage);
  }
}

/**
 * Places a layer from the stage this install prefilled with exactly `actions` (see prefill.ts):
 * its parents created and checked, then renamed to the root like a stage filled here. False when
 * there is no such stage or the root exists by now (the stage is then removed): place as usual.
 */
async function placePrefilled(
  projectDir: string,
  source: LayerSource,
  actions: WriteAction[],
  ctx: MaterializeContext,
  report: LayerPlacement,
): Promise<boolean> {
  const prefilled = await source.adopt?.(actions).catch(() => undefined);
  if (prefilled === undefined) return false;
  const { stage, placed } = prefilled;
  try {
    try {
      await ensureParentDirs(projectDir, source.root, ctx.dirs);
    } catch (err) {
      discardStageQuietly(stage);
      for (const a of actions) report.failed(a, err);
      return true;
    }
    // The root must not exist (a stage is renamed onto it), and a rename cannot cross file systems.
    const parent = lstatSync(dirname(stage.rootAbs), { throwIfNoEntry: false });
    if (lstatSync(stage.rootAbs, { throwIfNoEntry: false }) !== undefined || parent?.dev !== stage.dev) {
      discardStageQuietly(stage);
      return false;
    }
    const landed = actions.map((a, i): [WriteAction, MaterializeResult] => [a, { method: 'copy', ...placed[i]! }]);
    finishStage(projectDir, stage, landed, report);
    return true;
  } finally {
    closeStage(stage);
  }
}

/** Renames a filled stage to its root and reports its writes placed (or discards it: an empty one, or on failure). */
function finishStage(
  projectDir: string,
  stage: LayerStage,
  landed: Array<[WriteAction, MaterializeResult]>,
  report: LayerPlacement,
): void {
  try {
    if (landed.length === 0) {
      discardStage(stage);
      return;
    }
    commitStage(projectDir, stage);
  } catch (err) {
    discardStageQuietly(stage);
    for (const [a] of landed) report.failed(a, err);
    return;
  }
  report.dirChanged?.(dirname(stage.rootAbs));
  for (const [a, res] of landed) report.placed(a, res);
  // The placements were reported (events run listeners): the root must still be the directory that
  // was renamed there, or the tree is not what was installed (a swap is reported like the per-file
  // path's parent re-check would have).
  try {
    assertRootIsStage(stage);
  } catch (err) {
    report.layerFailed(err);
  }
}

/** One scan of the layer (two with unwanted hard-link origins), placing each wanted entry through `target`. */
async function scanAndPlace(
  projectDir: string,
  target: PlaceTarget,
  source: LayerSource,
  actions: WriteAction[],
  ctx: MaterializeContext,
  report: LayerPlacement,
): Promise<void> {
  const wanted = new Map<string, WriteAction>();
  for (const a of actions) {
    if (source.root !== '' && !a.file.path.startsWith(`${source.root}/`))
      report.failed(a, notInLayer(a, 'is not inside its layer root'));
    else wanted.set(source.root === '' ? a.file.path : a.file.path.slice(source.root.length + 1), a);
  }
  if (wanted.size === 0) return;
  const links = new Map<string, WriteAction[]>(); // origin entry → wanted hard links to it
  // Signals (Ctrl-C), aborts and progress get a turn at least every 50 ms: a layer read from
  // memory is placed with synchronous writes between microtask-only awaits.
  const pace = turnEvery();
  const take = (rel: string): WriteAction | undefined => {
    const a = wanted.get(rel);
    if (a !== undefined) wanted.delete(rel);
    return ctx.signal?.aborted === true ? undefined : a;
  };
  try {
    await source.scan({
      file: async (rel, _mode, size, body) => {
        const turn = pace();
        if (turn !== undefined) await turn;
        const a = take(rel);
        if (a !== undefined) await placeAll(projectDir, target, [a], size, body, ctx, report);
      },
      link: (rel, _target, origin) => {
        const a = take(rel);
        if (a !== undefined) links.set(origin, [...(links.get(origin) ?? []), a]);
      },
    });
    if (links.size > 0)
      await source.scan({
        file: async (rel, _mode, size, body) => {
          const turn = pace();
          if (turn !== undefined) await turn;
          const acts = links.get(rel);
          links.delete(rel);
          if (acts !== undefined && ctx.signal?.aborted !== true)
            await placeAll(projectDir, target, acts, size, body, ctx, report);
        },
      });
  } catch (err) {
    const unsettled = [...wanted.values(), ...[...links.values()].flat()];
    if (unsettled.length === 0) report.layerFailed(err);
    for (const a of unsettled) report.failed(a, err);
    return;
  }
  if (ctx.signal?.aborted === true) return;
  for (const a of [...wanted.values(), ...[...links.values()].flat()])
    report.failed(a, notInLayer(a, 'is not in its layer'));
}
