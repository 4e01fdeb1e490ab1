import type { Writable } from 'node:stream';
import type { ProjectEvent, ProjectListener } from '../../project/events.js';
import { formatBytes, shortDigest } from './format.js';

/**
 * Renders the declarative layer's {@link ProjectEvent}s as one line per
 * interesting event on stderr (`Resolved`, `Fetching`, `Added`, `Removed`,
 * `Published`, …). `verbose` adds per-file cache hits and rehashes. Silent
 * for `--format json` (the caller passes no listener).
 */
export function projectProgress(stream: Writable = process.stderr, verbose = false): ProjectListener {
  const line = (s: string): void => {
    stream.write(`${s}\n`);
  };
  return (e: ProjectEvent) => {
    switch (e.type) {
      case 'lock-wait':
        line(`Waiting for another oras process (lock ${e.path})…`);
        break;
      case 'resolved':
        line(`Resolved  ${e.dependency} -> ${e.resolved}${e.changed ? ' (changed)' : ''}`);
        break;
      case 'fetch':
        line(`Fetching  ${shortDigest(e.digest)} ${formatBytes(e.size)}`);
        break;
      case 'link':
        line(`${e.action === 'add' ? 'Added    ' : 'Changed  '} ${e.path}`);
        break;
      case 'adopt':
        line(`Adopted   ${e.path}`);
        break;
      case 'remove':
        line(`Removed   ${e.path}`);
        break;
      case 'lockfile-written':
        line(`Wrote     ${e.path}`);
        break;
      case 'publish':
        line(`${e.dryRun ? 'Packed   ' : 'Published'} ${e.name} -> ${e.ref}@${e.digest}${e.tags.length > 0 ? ` (${e.tags.join(', ')})` : ''}`);
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
}
