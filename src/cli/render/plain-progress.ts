import type { Writable } from 'node:stream';
import type { TransferEvent, TransferListener } from '../../events.js';
import { padRight, shortDigest, titleOf } from './format.js';
import type { ProgressRenderer } from './progress.js';
import { StatsTracker, type ProgressVerbs } from './stats.js';

/**
 * Line-per-event progress for non-terminal stderr (CI logs, pipes):
 * `Uploading sha256:0123456789ab file.txt`, `Uploaded  …`, `Exists    …`,
 * `Mounted   …`, `Skipped   …`. Byte progress is not printed.
 */
export class PlainProgress extends StatsTracker implements ProgressRenderer {
  readonly listener: TransferListener;
  private readonly width: number;
  private closed = false;

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

  private line(verb: string, e: TransferEvent): void {
    if (this.closed) return;
    this.stream.write(`${padRight(verb, this.width)} ${shortDigest(e.descriptor.digest)} ${titleOf(e.descriptor)}\n`);
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
        this.line('Failed', e);
        break;
      default:
        break;
    }
  }

  close(): void {
    this.closed = true;
  }
}
