import type { Writable } from 'node:stream';
import type { TransferEvent, TransferListener } from '../../events.js';
import { padRight, shortDigest, titleOf } from './format.js';
import type { ProgressRenderer } from './progress.js';
import { StatsTracker, type ProgressVerbs } from './stats.js';

/** Pending output is written after at most this long (ms). */
const FLUSH_MS = 100;
/** ... or as soon as this many characters are pending. */
const FLUSH_CHARS = 16 * 1024;

/**
 * Line-per-event progress for non-terminal stderr (CI logs, pipes):
 * `Uploading sha256:0123456789ab file.txt`, `Uploaded  …`, `Exists    …`,
 * `Mounted   …`, `Skipped   …`. Byte progress is not printed.
 *
 * Lines are batched: written together at most {@link FLUSH_MS} ms after the
 * first pending one (or once 16 KiB are pending), and on `close()`, so a
 * transfer of thousands of small files costs a few writes instead of two per
 * file. A `Failed` line is written at once.
 */
export class PlainProgress extends StatsTracker implements ProgressRenderer {
  readonly listener: TransferListener;
  private readonly width: number;
  private closed = false;
  private pending = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: Writable,
    private readonly verbs: ProgressVerbs,
  ) {
    super();
    this.width = Math.max(verbs.active.length, verbs.done.length, 'Exists'.length, 'Mounted'.length, 'Skipped'.length);
    this.listener = (e) => {
      try {
        this.track(e);
        this.onEvent(e);
      } catch {
        // a listener must not throw
      }
    };
  }

  private line(verb: string, e: TransferEvent, now = false): void {
    if (this.closed) return;
    this.pending += `${padRight(verb, this.width)} ${shortDigest(e.descriptor.digest)} ${titleOf(e.descriptor)}\n`;
    if (now || this.pending.length >= FLUSH_CHARS) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  private flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.stream.write(text);
  }

  private onEvent(e: TransferEvent): void {
    switch (e.type) {
      case 'start':
        this.line(this.verbs.active, e);
        break;
      case 'done':
        this.line(this.verbs.done, e);
        break;
      case 'skip':
        this.line(e.reason === 'exists' ? 'Exists' : e.reason === 'mounted' ? 'Mounted' : 'Skipped', e);
        break;
      case 'error':
        this.line('Failed', e, true);
        break;
      default:
        break;
    }
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }
}
