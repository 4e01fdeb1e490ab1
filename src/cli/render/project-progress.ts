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
      case 'republished':
        line(`Warning:  ${republishedText(e.dependency, e.tag, e.from, e.to)}${e.kept ? `; kept ${shortHex(e.from)} (\`oras update ${e.dependency}\` moves to it)` : ''}`);
        break;
      case 'lockfile-merged':
        line(`Merged    ${e.path} (git conflict markers) entry by entry${e.conflicts.length > 0 ? `; re-resolving ${e.conflicts.length} conflicting: ${e.conflicts.join(', ')}` : ''}`);
        break;
      case 'lock-entry-rejected':
        line(`Rejected  artifacts.lock entry ${e.dependency} (${e.reason}): ${e.action === 're-resolve' ? 're-resolving it' : 're-deriving its files from the locked manifest'}`);
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

/** The first 12 hex digits of a digest, with an ellipsis. */
function shortHex(digest: string): string {
  return `${digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13)}…`;
}

/** `data: 1.0.0 was republished: 26bf1c0ffee0… → 8a24…` (install, update and outdated say it the same way). */
export function republishedText(dependency: string, tag: string, from: string, to: string): string {
  return `${dependency}: ${tag} was republished: ${shortHex(from)} → ${shortHex(to)}`;
}
