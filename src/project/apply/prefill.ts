import { join } from 'node:path';
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { joinRelative } from '../../artifact/safe-path.js';
import { isTempName, tempPathFor } from '../../content/fs-atomic.js';
import type { LayerFileSink, LayerPrefiller, PrefillPlace } from './cache/cache-options.js';
import type { Descriptor } from '../../oci/descriptor.js';
import type { PlanAction } from '../types.js';
import { closeStage, createStage, discardStage, discardStageQuietly, type LayerStage } from './layer-stage.js';
import { assertProjectRelativePath, projectPath, type Placed } from './materialize.js';
import { StageWriter, type StageJob } from './stage-writer.js';
import { STATE_DIR } from './state.js';

/*
 * A cold install reads a new directory layer to derive its listing (each file hashed, for the
 * lock) before it plans, and then places the files the plan writes. For a layer of many small
 * files, both take hundreds of milliseconds, one after the other. A prefill overlaps them: while
 * the listing is derived, the files that would be placed under the layer's root are written by
 * the writer thread (stage-writer.ts) into a staging directory in `.oras/` (temp-named, this run's
 * own). The plan is then computed exactly as before, from the listing and the tree, without
 * looking at the prefill. At placement, reify adopts the staging directory instead of filling a
 * new one only when the plan's writes for that layer are exactly the files prefilled (every one
 * an add into a root that does not exist, same paths, sizes, digests and modes): each file's
 * digest was computed by this process from the very bytes the thread wrote, as a recorded scan's
 * (scan-replay.ts). The staging directory is then renamed to the root as any stage is. Anything
 * else (a plan that differs, a failed write, another file system) discards it and places the
 * layer as before: a prefill changes how fast, never what, an install writes.
 *
 * Crash safety: the prefills live in `.oras/` under temp names, and every install that may
 * prefill removes those left there by a killed run (under the project lock) before it starts
 * one; an adopted stage is renamed into the project only after the in-progress marker (which
 * names every path the layer writes) is durable, as a stage filled by reify is.
 */

/** Layers with fewer selected files than this (64) are not prefilled: their placement is short already. */
export const PREFILL_MIN_FILES = 64;

/**
 * A layer this big (256 KiB compressed) likely holds more than {@link PREFILL_MIN_FILES} files:
 * the writer thread is started as its listing begins, so that it boots (~0.1 s) while the layer
 * downloads rather than when its files are first written.
 */
const WARM_WRITER_BYTES = 256 * 1024;

interface PrefilledFile {
  path: string;
  digest: string;
  size: number;
  mode: number;
}

/** One layer's prefill: its files (project paths) and, past {@link PREFILL_MIN_FILES}, its stage and job. */
class Prefill implements LayerFileSink {
  readonly files: PrefilledFile[] = [];
  /** The first files (path below the root, copy of their bytes), until the stage is opened. */
  private waiting: Array<[string, Uint8Array]> | undefined = [];
  stage: LayerStage | undefined;
  job: StageJob | undefined;
  gaveUp = false;
  completed = false;
  private finished: Promise<Placed[] | undefined> | undefined;

  constructor(
    private readonly owner: Prefills,
    readonly place: PrefillPlace,
  ) {}

  file(rel: string, mode: number, bytes: Uint8Array, digest: string): Promise<void> | undefined {
    if (this.gaveUp || !this.place.selects(rel)) return undefined;
    const path = joinRelative(this.place.root, rel);
    try {
      assertProjectRelativePath(path);
    } catch {
      this.giveUp(); // placement reports it
      return undefined;
    }
    const m = (mode & 0o111) !== 0 ? 0o755 : 0o644;
    this.files.push({ path, digest, size: bytes.byteLength, mode: m });
    if (this.job !== undefined) return this.job.file(rel, m, bytes);
    this.waiting?.push([rel, Uint8Array.from(bytes)]); // the scan's views are valid only during the call
    if (this.files.length < PREFILL_MIN_FILES) return undefined;
    return this.start();
  }

  /** Opens the stage and hands the files so far to the thread. */
  private start(): Promise<void> | undefined {
    const waiting = this.waiting ?? [];
    this.waiting = undefined;
    const opened = this.owner.openStage(this.place.root);
    if (opened === undefined) {
      this.gaveUp = true;
      return undefined;
    }
    [this.stage, this.job] = opened;
    let wait: Promise<void> | undefined;
    for (const [i, [rel, data]] of waiting.entries()) wait = this.job.file(rel, this.files[i]!.mode, data) ?? wait;
    return wait;
  }

  giveUp(): void {
    this.gaveUp = true;
    this.waiting = undefined;
  }

  /** Every file handed to the thread, written: their stats in order (see {@link StageJob.finish}); undefined without a stage. */
  written(): Promise<Placed[] | undefined> {
    this.finished ??= this.job === undefined ? Promise.resolve(undefined) : this.job.finish();
    return this.finished;
  }

  complete(): void {
    this.completed = true;
  }
}

/**
 * The prefills of one install (see the module comment): given to the cache's listings as their
 * {@link LayerPrefiller}, asked by placement to {@link Prefills.adopt} a stage, and
 * {@link Prefills.dispose}d when the install ends (what was not adopted is removed).
 */
export class Prefills implements LayerPrefiller {
  private readonly byKey = new Map<string, Prefill>();
  private readonly writer = new StageWriter();
  private closed = false;

  private constructor(private readonly projectDir: string) {}

  /**
   * The prefills of an install of `projectDir`, whose `.oras/` exists and is a real directory
   * (the project lock's): removes the staging directories a killed install left there first.
   * Undefined where a stage cannot be written through a descriptor (off Linux): no prefill.
   */
  static open(projectDir: string): Prefills | undefined {
    if (process.platform !== 'linux') return undefined;
    const dir = join(projectDir, STATE_DIR);
    if (lstatSync(dir, { throwIfNoEntry: false })?.isDirectory() !== true) return undefined;
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (isTempName(e.name) && (e.isDirectory() || e.isSymbolicLink()))
        rmSync(join(dir, e.name), { recursive: true, force: true });
    return new Prefills(projectDir);
  }

  private static key(layerDigest: string, stripPrefix: string | undefined, root: string): string {
    return `${layerDigest} ${stripPrefix ?? ''} ${root}`;
  }

  /** {@link LayerPrefiller.sink}: one sink per layer and root; none when the root exists or was prefilled already. */
  sink(layer: Descriptor, stripPrefix: string | undefined, place: PrefillPlace): LayerFileSink | undefined {
    const key = Prefills.key(layer.digest, stripPrefix, place.root);
    if (this.closed || place.root === '' || this.byKey.has(key)) return undefined;
    try {
      if (lstatSync(projectPath(this.projectDir, place.root), { throwIfNoEntry: false }) !== undefined)
        return undefined;
    } catch {
      return undefined; // an unsafe root: placement refuses it
    }
    const prefill = new Prefill(this, place);
    this.byKey.set(key, prefill);
    // The thread boots while the layer downloads, when it is big enough to hold many files.
    if (layer.size >= WARM_WRITER_BYTES) this.writer.warm();
    return prefill;
  }

  /** @internal A new staging directory in `.oras/` for `root`, opened, and its writer job; undefined when that fails. */
  openStage(root: string): [LayerStage, StageJob] | undefined {
    if (this.closed) return undefined;
    const abs = tempPathFor(join(this.projectDir, STATE_DIR, 'prefill'));
    try {
      const stage = createStage(root, projectPath(this.projectDir, root), abs);
      if (stage.handle === undefined) {
        discardStage(stage);
        return undefined;
      }
      return [stage, this.writer.job(stage.handle.via)];
    } catch {
      rmSync(abs, { recursive: true, force: true });
      return undefined;
    }
  }

  /**
   * The filled stage of `root` for the writes `actions` of one layer, with each write's stat, when
   * the layer was prefilled completely and the writes are exactly its files (see the module
   * comment); undefined otherwise (the prefill, if any, is removed). The caller renames the stage
   * to its root (`commitStage`) or discards it, and closes it.
   */
  async adopt(
    layerDigest: string,
    stripPrefix: string | undefined,
    root: string,
    actions: readonly Extract<PlanAction, { kind: 'add' | 'change' }>[],
  ): Promise<{ stage: LayerStage; placed: Placed[] } | undefined> {
    const key = Prefills.key(layerDigest, stripPrefix, root);
    const prefill = this.byKey.get(key);
    if (prefill === undefined) return undefined;
    this.byKey.delete(key);
    const stage = prefill.stage;
    if (stage === undefined) return undefined;
    const placed = await prefill.written().catch(() => undefined);
    const order =
      placed !== undefined && prefill.completed && !prefill.gaveUp ? matchWrites(prefill, actions) : undefined;
    if (placed === undefined || order === undefined) {
      dropStage(stage);
      return undefined;
    }
    return { stage, placed: order.map((i) => placed[i]!) };
  }

  /** Removes every prefill not adopted and stops the writer thread. Idempotent. */
  async dispose(): Promise<void> {
    this.closed = true;
    const left = [...this.byKey.values()];
    this.byKey.clear();
    for (const p of left) {
      await p.written().catch(() => undefined);
      if (p.stage !== undefined) dropStage(p.stage);
    }
    await this.writer.close();
  }

  /**
   * No prefill starts after this (the listings are derived): each one's last files go to the
   * thread, and the thread stops once it wrote them, giving its memory (~10 MiB) back before the
   * install plans and writes its state, when its own memory peaks.
   */
  seal(): void {
    this.closed = true;
    const writing = [...this.byKey.values()].map((p) => p.written().catch(() => undefined));
    void Promise.all(writing).then(() => this.writer.close().catch(() => undefined));
  }
}

/** For each action, the index of its prefilled file; undefined unless they are the same files exactly. */
function matchWrites(
  prefill: Prefill,
  actions: readonly Extract<PlanAction, { kind: 'add' | 'change' }>[],
): number[] | undefined {
  const files = prefill.files;
  if (actions.length !== files.length) return undefined;
  const same = (a: (typeof actions)[number], f: PrefilledFile | undefined): boolean =>
    a.kind === 'add' &&
    f !== undefined &&
    f.path === a.file.path &&
    f.digest === a.file.digest &&
    f.size === a.file.size &&
    f.mode === (a.file.mode === 0o755 ? 0o755 : 0o644);
  // Usually the plan lists them in the layer's order: no index needed (the plan's paths are unique).
  if (actions.every((a, i) => same(a, files[i]))) return actions.map((_, i) => i);
  const index = new Map<string, number>();
  for (const [i, f] of files.entries()) index.set(f.path, i);
  if (index.size !== files.length) return undefined;
  const order: number[] = [];
  for (const a of actions) {
    const i = index.get(a.file.path);
    if (i === undefined || !same(a, files[i])) return undefined;
    order.push(i);
  }
  return order;
}

/** Removes a stage that will not be adopted, and closes it. */
function dropStage(stage: LayerStage): void {
  discardStageQuietly(stage);
  closeStage(stage);
}
