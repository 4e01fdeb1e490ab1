/**
 * Typed lifecycle events of the declarative layer (install, update, publish,
 * verify). The library never prints: the CLI subscribes with an
 * {@link ProjectListener} and renders progress however it likes. Tests use the
 * same events to count fetches and rehashes.
 */

/** How a file was put into the project tree (see `materialize.ts`). */
export type LinkMethod = 'reflink' | 'hardlink' | 'copy';

/** Counts of a plan by action kind. */
export interface PlanCounts {
  add: number;
  change: number;
  remove: number;
  keep: number;
  conflict: number;
}

/** One event of the install/publish lifecycle. */
export type ProjectEvent =
  /** Waiting for another process holding `.oras/lock`. */
  | { type: 'lock-wait'; path: string }
  /** The project lock was acquired. */
  | { type: 'lock-acquired'; path: string }
  /** A dependency is being resolved against its registry (network). */
  | { type: 'resolve'; dependency: string; ref: string }
  /** A dependency was resolved to a manifest. */
  | { type: 'resolved'; dependency: string; resolved: string; digest: string; changed: boolean }
  /**
   * A tag locked earlier now names other content (`1.0.0 was republished`):
   * `from` is the locked manifest digest, `to` the one the tag names now;
   * `kept` tells whether the lock kept `from` (install) or moved (update,
   * platform re-selection).
   */
  | { type: 'republished'; dependency: string; tag: string; from: string; to: string; kept: boolean }
  /**
   * An `artifacts.lock` with git conflict markers was merged entry by entry:
   * `conflicts` are the entries that differed on both sides (dropped and
   * re-resolved), `section.name` each.
   */
  | { type: 'lockfile-merged'; path: string; conflicts: string[] }
  /**
   * A lock entry did not match artifacts.yaml (`re-resolve`: it names another
   * repository, tag or digest) or its locked manifest (`re-derive`: files the
   * manifest does not produce); a non-frozen install replaces it.
   */
  | { type: 'lock-entry-rejected'; dependency: string; reason: string; action: 're-resolve' | 're-derive' }
  /** `artifacts.lock` was (re)written. */
  | { type: 'lockfile-written'; path: string }
  /** A recorded file did not match its stat record and was rehashed. */
  | { type: 'rehash'; path: string }
  /** The plan was computed. */
  | { type: 'plan'; counts: PlanCounts }
  /** A blob or manifest is being downloaded into the cache (network). */
  | { type: 'fetch'; digest: string; size: number; mediaType: string }
  /** Bytes of a download into the cache received so far, for downloads of at least {@link FETCH_PROGRESS_MIN_BYTES} (per chunk: throttle when drawing). */
  | { type: 'fetch-progress'; digest: string; bytes: number; size: number }
  /** A download into the cache finished and was verified. */
  | { type: 'fetched'; digest: string; size: number }
  /** A needed blob was already in the cache. */
  | { type: 'cached'; digest: string }
  /** A directory layer's listing was derived from its verified blob (its files are extracted into projects at placement). */
  | { type: 'unpacked'; digest: string; files: number }
  /** A file was written into the project (add or change). */
  | { type: 'link'; path: string; action: 'add' | 'change'; method: LinkMethod; dependency?: string; size?: number }
  /** A file was adopted: present, not recorded, but matching the lock. */
  | { type: 'adopt'; path: string; dependency?: string }
  /** A file we installed was removed. */
  | { type: 'remove'; path: string; dependency?: string }
  /** `.oras/state.json` was written. */
  | { type: 'state-written'; files: number }
  /** `.oras/state.json` (or some of its records) was not used: `reason` says why (e.g. not written on this machine). */
  | { type: 'state-ignored'; path: string; reason: string }
  /** A publishable was packed (and pushed unless dry-run). */
  | { type: 'publish'; name: string; ref: string; digest: string; tags: string[]; dryRun: boolean }
  /** A file was hashed by `verify`. */
  | { type: 'verify-file'; path: string; ok: boolean }
  /** The cache size budget (`cache.maxSize`) was applied after an install (`skipped: 'busy'` when the cache was in use). */
  | { type: 'cache-pruned'; removed: number; freedBytes: number; overBudget: boolean; skipped?: 'busy' };

/** Downloads into the cache of at least this many bytes (1 MiB) emit `fetch-progress` events. */
export const FETCH_PROGRESS_MIN_BYTES = 1024 * 1024;

/** A sink for {@link ProjectEvent}s. Must not throw (exceptions are swallowed). */
export type ProjectListener = (event: ProjectEvent) => void;

/** Calls `listener` (if any) with `event`, swallowing listener exceptions. */
export function emit(listener: ProjectListener | undefined, event: ProjectEvent): void {
  if (listener === undefined) return;
  try {
    listener(event);
  } catch {
    // A listener must not break the operation.
  }
}
