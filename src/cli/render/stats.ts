import type { TransferEvent } from '../../events.js';

/** Counters a renderer keeps, for result output (`--format json`) and tests. */
export interface TransferStats {
  /** Blobs/manifests actually transferred. */
  transferred: number;
  /** Skipped because the destination already had them. */
  exists: number;
  /** Cross-repository mounted. */
  mounted: number;
  /** Skipped for another reason (cached, filtered). */
  skipped: number;
  /** Bytes transferred (sum of finished transfers). */
  bytes: number;
}

/** The verbs a progress renderer prints for one kind of transfer. */
export interface ProgressVerbs {
  /** In progress, e.g. `Uploading`. */
  active: string;
  /** Finished, e.g. `Uploaded`. */
  done: string;
}

/** Base class of the renderers: keeps {@link TransferStats} from the events it sees. */
export abstract class StatsTracker {
  readonly stats: TransferStats = { transferred: 0, exists: 0, mounted: 0, skipped: 0, bytes: 0 };
  protected track(e: TransferEvent): void {
    if (e.type === 'done') {
      this.stats.transferred++;
      this.stats.bytes += e.descriptor.size;
    } else if (e.type === 'skip') {
      if (e.reason === 'exists') this.stats.exists++;
      else if (e.reason === 'mounted') this.stats.mounted++;
      else this.stats.skipped++;
    }
  }
}
