import type { Writable } from 'node:stream';
import { FETCH_PROGRESS_MIN_BYTES, type ProjectEvent, type ProjectListener } from '../../project/events.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { escapeTerminalText } from './escape.js';
import { formatBytes, shortDigest } from './format.js';
import { TtyProgress } from './tty-progress.js';

/** Timing of one dependency, as seen in its events (for the per-dependency summary lines). */
export interface DependencyTiming {
  /** When the first event naming it arrived (ms, `performance.now()` clock). */
  first: number;
  /** When the last event naming it arrived. */
  last: number;
}

/** A project progress renderer: pass `listener` to the library, call `close()` before printing results. */
export interface ProjectProgress {
  readonly listener: ProjectListener;
  /** Per dependency: first and last event times (resolve, fetch of its files, placed/removed files). */
  readonly timings: Map<string, DependencyTiming>;
  /** Stops drawing bars (idempotent). */
  close(): void;
}

/** Options for {@link createProjectProgress}. */
export interface ProjectProgressOptions {
  /** Where to write (default `process.stderr`). */
  stream?: Writable;
  /** `-v`: one line per placed, adopted, removed, cached, fetched and rehashed file. */
  verbose?: boolean;
  /** Draw live progress bars for downloads of at least 1 MiB (stderr is a terminal and `--no-tty` was not given). */
  tty?: boolean;
}

function dependencyOf(e: ProjectEvent): string | undefined {
  switch (e.type) {
    case 'resolve':
    case 'resolved':
      return e.dependency;
    case 'link':
    case 'adopt':
    case 'remove':
      return e.dependency;
    default:
      return undefined;
  }
}

/**
 * Renders the declarative layer's {@link ProjectEvent}s on stderr.
 *
 * By default one line per unit of work, never one per file: `Resolved` per
 * dependency, `Wrote artifacts.lock`, `Published`, drift found by `verify`;
 * the command prints a summary line per dependency at the end (see
 * `install-summary.ts`). With `verbose` also one line per placed (`Added`,
 * `Changed`), adopted, removed, fetched, cached and rehashed file. On a
 * terminal (`tty`), downloads of at least 1 MiB draw a live progress bar
 * (redrawn at most ~10 times per second). Silent for `--format json` (the
 * caller passes no listener).
 */
export function createProjectProgress(options: ProjectProgressOptions = {}): ProjectProgress {
  const stream = options.stream ?? process.stderr;
  const verbose = options.verbose === true;
  const bars = options.tty === true ? new TtyProgress(stream, { active: 'Fetching', done: 'Fetched' }) : undefined;
  const fetching = new Map<string, Descriptor>();
  const timings = new Map<string, DependencyTiming>();
  const line = (s: string): void => {
    const safe = escapeTerminalText(s); // dependency names, paths and refs come from artifacts.yaml / the lock
    if (bars !== undefined) bars.line(safe);
    else
      stream.write(`${safe}
`);
  };
  const listener: ProjectListener = (e: ProjectEvent) => {
    const dep = dependencyOf(e);
    if (dep !== undefined) {
      const now = performance.now();
      const t = timings.get(dep);
      if (t === undefined) timings.set(dep, { first: now, last: now });
      else t.last = now;
    }
    switch (e.type) {
      case 'lock-wait':
        line(`Waiting for another oras process (lock ${e.path})…`);
        break;
      case 'resolved':
        line(`Resolved  ${e.dependency} -> ${e.resolved}${e.changed ? ' (changed)' : ''}`);
        break;
      case 'fetch':
        if (bars !== undefined && e.size >= FETCH_PROGRESS_MIN_BYTES) {
          const desc: Descriptor = { mediaType: e.mediaType, digest: e.digest, size: e.size };
          fetching.set(e.digest, desc);
          bars.listener({ type: 'start', descriptor: desc });
        } else if (verbose) line(`Fetching  ${shortDigest(e.digest)} ${formatBytes(e.size)}`);
        break;
      case 'fetch-progress': {
        const desc = fetching.get(e.digest);
        if (desc !== undefined) bars?.listener({ type: 'progress', descriptor: desc, bytes: e.bytes });
        break;
      }
      case 'fetched': {
        const desc = fetching.get(e.digest);
        fetching.delete(e.digest);
        if (desc !== undefined) bars?.listener({ type: 'done', descriptor: desc });
        break;
      }
      case 'link':
        if (verbose) line(`${e.action === 'add' ? 'Added    ' : 'Changed  '} ${e.path}`);
        break;
      case 'adopt':
        if (verbose) line(`Adopted   ${e.path}`);
        break;
      case 'remove':
        if (verbose) line(`Removed   ${e.path}`);
        break;
      case 'republished':
        line(
          `Warning:  ${republishedText(e.dependency, e.tag, e.from, e.to)}${e.kept ? `; kept ${shortHex(e.from)} (\`oras update ${e.dependency}\` moves to it)` : ''}`,
        );
        break;
      case 'lockfile-merged':
        line(
          `Merged    ${e.path} (git conflict markers) entry by entry${e.conflicts.length > 0 ? `; re-resolving ${e.conflicts.length} conflicting: ${e.conflicts.join(', ')}` : ''}`,
        );
        break;
      case 'lock-entry-rejected':
        line(
          `Rejected  artifacts.lock entry ${e.dependency} (${e.reason}): ${e.action === 're-resolve' ? 're-resolving it' : 're-deriving its files from the locked manifest'}`,
        );
        break;
      case 'state-ignored':
        line(`Warning:  ignored ${e.path}: ${e.reason}`);
        break;
      case 'lockfile-written':
        line(`Wrote     ${e.path}`);
        break;
      case 'publish':
        line(
          `${e.dryRun ? 'Packed   ' : 'Published'} ${e.name} -> ${e.ref}@${e.digest}${e.tags.length > 0 ? ` (${e.tags.join(', ')})` : ''}`,
        );
        break;
      case 'cached':
        if (verbose) line(`Cached    ${shortDigest(e.digest)}`);
        break;
      case 'rehash':
        if (verbose) line(`Rehashed  ${e.path}`);
        break;
      case 'verify-file':
        if (verbose || !e.ok) line(`${e.ok ? 'OK       ' : 'DRIFT    '} ${e.path}`);
        break;
      default:
        break;
    }
  };
  return {
    listener: (e) => {
      try {
        listener(e);
      } catch {
        // A listener must not break the operation.
      }
    },
    timings,
    close: () => bars?.close(),
  };
}

/** The listener of a {@link createProjectProgress} renderer without bars (for callers that need only the lines). */
export function projectProgress(stream: Writable = process.stderr, verbose = false): ProjectListener {
  return createProjectProgress({ stream, verbose }).listener;
}

/** The first 12 hex digits of a digest, with an ellipsis. */
function shortHex(digest: string): string {
  return `${digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13)}…`;
}

/** `data: 1.0.0 was republished: 26bf1c0ffee0… → 8a24…` (install, update and outdated say it the same way). */
export function republishedText(dependency: string, tag: string, from: string, to: string): string {
  return `${dependency}: ${tag} was republished: ${shortHex(from)} → ${shortHex(to)}`;
}
