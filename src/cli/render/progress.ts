import type { Writable } from 'node:stream';
import type { TransferListener } from '../../events.js';
import { PlainProgress } from './plain-progress.js';
import { TtyProgress } from './tty-progress.js';
import { StatsTracker, type ProgressVerbs, type TransferStats } from './stats.js';

export type { ProgressVerbs, TransferStats } from './stats.js';

/** Verbs for pushes (uploads). */
export const PUSH_VERBS: ProgressVerbs = { active: 'Uploading', done: 'Uploaded' };
/** Verbs for pulls (downloads). */
export const PULL_VERBS: ProgressVerbs = { active: 'Downloading', done: 'Downloaded' };
/** Verbs for copies. */
export const COPY_VERBS: ProgressVerbs = { active: 'Copying', done: 'Copied' };

/** A progress sink: pass `listener` to the library; call `close()` when done. */
export interface ProgressRenderer {
  readonly listener: TransferListener;
  readonly stats: TransferStats;
  /** Flushes and stops redrawing (idempotent). */
  close(): void;
}

/** How to render progress. */
export type ProgressMode = 'tty' | 'plain' | 'silent';

/** Options for {@link createProgressRenderer}. */
export interface ProgressOptions {
  mode: ProgressMode;
  verbs: ProgressVerbs;
  /** Where to draw (default `process.stderr`). */
  stream?: Writable;
}

class SilentProgress extends StatsTracker implements ProgressRenderer {
  readonly listener: TransferListener = (e) => this.track(e);
  close(): void {}
}

/**
 * Picks the renderer: `tty` draws live bars (redraws throttled to ~10/s),
 * `plain` prints one line per state change (`Uploading sha256:… file.txt`,
 * `Exists …`, `Uploaded …`), `silent` prints nothing (used with `--format json`).
 */
export function createProgressRenderer(options: ProgressOptions): ProgressRenderer {
  const stream = options.stream ?? process.stderr;
  if (options.mode === 'silent') return new SilentProgress();
  if (options.mode === 'tty') return new TtyProgress(stream, options.verbs);
  return new PlainProgress(stream, options.verbs);
}

/** The progress mode for a command: silent for JSON output, tty when stderr is a terminal, plain otherwise. */
export function progressModeFor(format: string, tty: boolean): ProgressMode {
  if (format === 'json') return 'silent';
  return tty ? 'tty' : 'plain';
}

/** The renderer for a command's flags: silent with `--format json`, bars on a TTY (unless `--no-tty`), plain lines otherwise. */
export function progressFor(format: string, tty: boolean, verbs: ProgressVerbs): ProgressRenderer {
  return createProgressRenderer({ mode: progressModeFor(format, tty), verbs });
}
