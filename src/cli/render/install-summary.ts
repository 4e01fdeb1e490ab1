import type { InstallResult } from '../../project/install.js';
import type { DependencyTiming } from './project-progress.js';
import { formatBytes } from './format.js';

/** What one dependency's part of an install did. */
export interface DependencySummary {
  name: string;
  added: number;
  changed: number;
  removed: number;
  kept: number;
  conflicts: number;
  /** Bytes written into the project (added + changed files). */
  bytes: number;
}

/** Most plan lines `plan` / `--dry-run` prints without `-v` (the rest are counted). */
export const DRY_RUN_LINES = 50;

/** Per-dependency counts of an install's actions (removed files count for the dependency that installed them), sorted by name. */
export function summarizeByDependency(result: Pick<InstallResult, 'actions'>): DependencySummary[] {
  const by = new Map<string, DependencySummary>();
  const get = (name: string): DependencySummary => {
    let s = by.get(name);
    if (s === undefined) {
      s = { name, added: 0, changed: 0, removed: 0, kept: 0, conflicts: 0, bytes: 0 };
      by.set(name, s);
    }
    return s;
  };
  for (const a of result.actions) {
    if (a.kind === 'add' || a.kind === 'change') {
      const s = get(a.dependency);
      if (a.kind === 'add') s.added += 1;
      else s.changed += 1;
      s.bytes += a.file.size;
    } else if (a.kind === 'keep') get(a.dependency).kept += 1;
    else if (a.kind === 'remove') get(a.from.dependency).removed += 1;
    else get(a.dependency ?? '(untracked)').conflicts += 1;
  }
  return [...by.values()].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.max(0, Math.round(ms))}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/**
 * One line per dependency: `  name: 3 added, 1 changed, 2 removed, 10 kept (1.2 MB, 0.4s)`
 * (zero counts left out; `unchanged (10 files)` when nothing changed). The
 * time is the span between the dependency's first and last event (resolve,
 * placed and removed files), when known. `dryRun` says "would".
 */
export function dependencySummaryLine(
  s: DependencySummary,
  timing: DependencyTiming | undefined,
  dryRun: boolean,
): string {
  const parts: string[] = [];
  if (s.added > 0) parts.push(`${s.added} ${dryRun ? 'to add' : 'added'}`);
  if (s.changed > 0) parts.push(`${s.changed} ${dryRun ? 'to change' : 'changed'}`);
  if (s.removed > 0) parts.push(`${s.removed} ${dryRun ? 'to remove' : 'removed'}`);
  if (s.conflicts > 0) parts.push(`${s.conflicts} conflict${s.conflicts === 1 ? '' : 's'}`);
  if (parts.length === 0) return `  ${s.name}: unchanged (${s.kept} file${s.kept === 1 ? '' : 's'})`;
  if (s.kept > 0) parts.push(`${s.kept} kept`);
  const extra = [
    formatBytes(s.bytes),
    ...(timing !== undefined && !dryRun ? [seconds(timing.last - timing.first)] : []),
  ];
  return `  ${s.name}: ${parts.join(', ')} (${extra.join(', ')})`;
}

/**
 * The text result of install / update / plan (stdout): with `dryRun` the
 * planned changes (every one with `verbose`, else the first
 * {@link DRY_RUN_LINES} and a count), one summary line per dependency, then
 * the totals with the elapsed time, and whether artifacts.lock changed.
 */
export function installSummaryLines(
  r: InstallResult,
  timings: Map<string, DependencyTiming>,
  verbose: boolean,
): string[] {
  const lines: string[] = [];
  if (r.dryRun) {
    const changes = r.actions.filter((a) => a.kind !== 'keep');
    const shown = verbose ? changes : changes.slice(0, DRY_RUN_LINES);
    for (const a of shown) lines.push(`${a.kind.padEnd(8)} ${a.path}${a.kind === 'conflict' ? ` (${a.reason})` : ''}`);
    if (shown.length < changes.length) lines.push(`… and ${changes.length - shown.length} more (-v lists all)`);
  }
  // The fast path proved nothing changed: its actions are all keeps, computed lazily; skip them.
  if (!r.fastPath)
    for (const s of summarizeByDependency(r)) lines.push(dependencySummaryLine(s, timings.get(s.name), r.dryRun));
  const c = r.counts;
  const verb = r.dryRun ? 'Would install' : 'Installed';
  lines.push(
    `${verb}: ${c.add} added, ${c.change} changed, ${c.remove} removed, ${c.keep} unchanged${c.conflict > 0 ? `, ${c.conflict} conflicts` : ''}${r.dryRun ? '' : ` in ${seconds(r.durations.total)}`}`,
  );
  if (r.lockfileChanged) lines.push(r.dryRun ? 'artifacts.lock would change' : 'artifacts.lock updated');
  return lines;
}
