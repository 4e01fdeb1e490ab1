import type { Writable } from 'node:stream';
import type { TransferEvent, TransferListener } from '../../events.js';
import { formatBytes, padRight, shortDigest, titleOf } from './format.js';
import type { ProgressRenderer } from './progress.js';
import { StatsTracker, type ProgressVerbs } from './stats.js';

interface Entry {
  digest: string;
  title: string;
  size: number;
  bytes: number;
  startedAt: number;
}

/** Most live bars drawn at once; the rest are summarised in one line. */
const MAX_LIVE = 12;
/** Redraw interval (≈10 redraws per second). */
const REDRAW_MS = 100;
const BAR_WIDTH = 20;

/**
 * Live progress bars on a terminal (stderr). Transfers in flight are drawn in a
 * region that is redrawn at most every 100 ms (ANSI cursor-up + clear-line);
 * a finished, skipped, mounted or failed transfer is printed once as a final
 * line above that region (finished/skipped lines are written with the next
 * redraw, so thousands of small transfers cost ~10 writes per second, not one
 * per file; a failure is written at once). Per line: status, short digest,
 * title, bar, bytes, rate.
 */
export class TtyProgress extends StatsTracker implements ProgressRenderer {
  readonly listener: TransferListener;
  private readonly live = new Map<string, Entry>();
  private drawnLines = 0;
  /** Final lines not yet written (flushed by the next redraw or close). */
  private finals = '';
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly width: number;

  constructor(
    private readonly stream: Writable,
    private readonly verbs: ProgressVerbs,
  ) {
    super();
    this.width = Math.max(verbs.active.length, verbs.done.length, 'Mounted'.length, 'Skipped'.length);
    this.listener = (e) => {
      try {
        this.track(e);
        this.onEvent(e);
      } catch {
        // a listener must not throw
      }
    };
  }

  private onEvent(e: TransferEvent): void {
    if (this.closed) return;
    const d = e.descriptor;
    switch (e.type) {
      case 'start':
        this.live.set(d.digest, { digest: d.digest, title: titleOf(d), size: d.size, bytes: 0, startedAt: Date.now() });
        this.schedule();
        break;
      case 'progress': {
        const entry = this.live.get(d.digest);
        if (entry) entry.bytes = e.bytes;
        this.schedule();
        break;
      }
      case 'done': {
        const entry = this.live.get(d.digest);
        this.live.delete(d.digest);
        const secs = entry ? Math.max((Date.now() - entry.startedAt) / 1000, 0.001) : 0;
        const rate = entry && secs > 0 ? `  ${formatBytes(Math.round(d.size / secs))}/s` : '';
        this.commit(
          `\u2713 ${padRight(this.verbs.done, this.width)} ${shortDigest(d.digest)} ${titleOf(d)}  ${formatBytes(d.size)}${rate}`,
        );
        break;
      }
      case 'skip': {
        this.live.delete(d.digest);
        const verb = e.reason === 'exists' ? 'Exists' : e.reason === 'mounted' ? 'Mounted' : 'Skipped';
        this.commit(
          `\u2713 ${padRight(verb, this.width)} ${shortDigest(d.digest)} ${titleOf(d)}  ${formatBytes(d.size)}`,
        );
        break;
      }
      case 'error':
        this.live.delete(d.digest);
        this.commit(`\u2717 ${padRight('Failed', this.width)} ${shortDigest(d.digest)} ${titleOf(d)}`, true);
        break;
      default:
        break;
    }
  }

  private schedule(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.redraw();
    }, REDRAW_MS);
    this.timer.unref();
  }

  private clearRegion(): string {
    let s = '';
    for (let i = 0; i < this.drawnLines; i++) s += '\x1b[1A\x1b[2K';
    this.drawnLines = 0;
    return `${s}\r`;
  }

  private liveLines(): string[] {
    const reported = (this.stream as { columns?: number }).columns;
    const cols = reported !== undefined && reported >= 40 ? reported : 100;
    const lines: string[] = [];
    let shown = 0;
    for (const e of this.live.values()) {
      if (shown >= MAX_LIVE) break;
      shown++;
      const frac = e.size > 0 ? Math.min(e.bytes / e.size, 1) : 0;
      const filled = Math.round(frac * BAR_WIDTH);
      const bar = `[${'='.repeat(Math.max(filled - 1, 0))}${filled > 0 ? '>' : ''}${' '.repeat(BAR_WIDTH - filled)}]`;
      const secs = Math.max((Date.now() - e.startedAt) / 1000, 0.001);
      const line = `\u280b ${padRight(this.verbs.active, this.width)} ${shortDigest(e.digest)} ${e.title} ${bar} ${formatBytes(e.bytes)}/${formatBytes(e.size)}  ${formatBytes(Math.round(e.bytes / secs))}/s`;
      lines.push(line.length > cols - 1 ? line.slice(0, Math.max(cols - 2, 10)) + '\u2026' : line);
    }
    if (this.live.size > shown) lines.push(`  … and ${this.live.size - shown} more`);
    return lines;
  }

  private redraw(): void {
    if (this.closed) return;
    const lines = this.liveLines();
    let s = this.clearRegion() + this.finals;
    this.finals = '';
    for (const l of lines) s += `${l}\n`;
    this.drawnLines = lines.length;
    this.stream.write(s);
  }

  /** Queues a final line above the live region; `now` writes it (and the region) at once. */
  private commit(line: string, now = false): void {
    this.finals += `${line}\n`;
    if (now) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.redraw();
    } else {
      this.schedule();
    }
  }

  /** Writes a line above the live region at once (other messages while bars are drawn); after close, plainly. */
  line(text: string): void {
    if (this.closed) {
      this.stream.write(`${text}\n`);
      return;
    }
    this.commit(text, true);
  }

  close(): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.stream.write(this.clearRegion() + this.finals);
    this.finals = '';
    this.closed = true;
  }
}
