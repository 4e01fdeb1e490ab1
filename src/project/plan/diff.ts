import type { ActualEntry, ActualTree } from './actual.js';
import { lockedFiles } from './actual.js';
import type { PlanCounts } from '../events.js';
import type { Lockfile, Plan, PlanAction } from '../types.js';

/** Options for {@link diff}. */
export interface DiffOptions {
  /** Overwrite/remove user-modified and untracked files instead of reporting conflicts (default false). */
  force?: boolean;
}

/**
 * Computes the reconciliation plan from the ideal tree (the lockfile) and the
 * actual tree. PURE: no I/O, deterministic, actions sorted by path.
 *
 * For a path the lock wants (file `L`), with our record `R` (if any):
 * - nothing on disk → `add` (also when we installed it and it was deleted);
 * - on disk with `L`'s digest → `keep` (this also *adopts* a file we did not
 *   record, e.g. after a crash between rename and state write);
 * - recorded, disk still has `R`'s content → `change`;
 * - recorded, disk differs from both → `conflict: user-modified` (force → `change`);
 * - not recorded, disk differs from `L` → `conflict: untracked-file` (force → `add`, overwriting).
 *
 * For a path we recorded that the lock no longer wants:
 * - gone, or still `R`'s content → `remove`;
 * - edited since → `conflict: user-modified` (force → `remove`).
 *
 * Paths neither recorded nor locked are never touched.
 */
export function diff(ideal: Lockfile, actual: ActualTree, options: DiffOptions = {}): Plan {
  const force = options.force === true;
  const wanted = lockedFiles(ideal);
  const paths = [
    ...new Set([
      ...wanted.keys(),
      ...Object.keys(actual.files).filter((p) => actual.files[p]!.installed !== undefined),
    ]),
  ].sort();
  const actions: PlanAction[] = [];
  for (const path of paths) {
    const entry: ActualEntry = actual.files[path] ?? { path, status: 'absent', rehashed: false };
    const rec = entry.installed;
    const want = wanted.get(path);
    if (want !== undefined) {
      const { file, dependency } = want;
      if (entry.status === 'absent') {
        actions.push({ kind: 'add', path, file, dependency });
      } else if (entry.status === 'file' && entry.digest === file.digest) {
        actions.push({ kind: 'keep', path, file, dependency });
      } else if (rec !== undefined) {
        if (entry.status === 'file' && entry.digest === rec.digest)
          actions.push({ kind: 'change', path, file, dependency, from: rec });
        else if (force) actions.push({ kind: 'change', path, file, dependency, from: rec });
        else actions.push({ kind: 'conflict', path, file, dependency, reason: 'user-modified' });
      } else if (force) {
        actions.push({ kind: 'add', path, file, dependency });
      } else {
        actions.push({ kind: 'conflict', path, file, dependency, reason: 'untracked-file' });
      }
    } else if (rec !== undefined) {
      if (entry.status === 'absent' || (entry.status === 'file' && entry.digest === rec.digest) || force) {
        actions.push({ kind: 'remove', path, from: rec });
      } else {
        actions.push({ kind: 'conflict', path, reason: 'user-modified' });
      }
    }
  }
  return { actions };
}

/** Counts a plan's actions by kind. */
export function countPlan(plan: Plan): PlanCounts {
  const counts: PlanCounts = { add: 0, change: 0, remove: 0, keep: 0, conflict: 0 };
  for (const a of plan.actions) counts[a.kind] += 1;
  return counts;
}

/** True when the plan changes nothing on disk (only `keep`s). */
export function isNoop(plan: Plan): boolean {
  return plan.actions.every((a) => a.kind === 'keep');
}
