import type { Command } from 'commander';
import { mergeLockfileFiles } from '../../project/spec/lock-merge.js';
import { cliState, printJson } from '../context.js';
import { addCommonOptions, addFormatOption, type CommonFlags } from '../options.js';

/**
 * `oras lock merge <base> <ours> <theirs>`: the git merge driver for
 * artifacts.lock. Configure it once per clone:
 *
 *     git config merge.oras-lock.driver "oras lock merge %O %A %B"
 *     echo "artifacts.lock merge=oras-lock" >> .gitattributes
 *
 * Merges the three versions entry by entry (`spec/lock-merge.ts`) and writes
 * the result to `<ours>` (%A), as git expects. Exit 0 when merged — entries
 * changed differently on both branches are left out and listed on stderr, for
 * the next `oras install` to re-resolve (only them); non-zero only when it
 * cannot merge (a side is not a valid lock, I/O error), leaving `<ours>` as it
 * was so git reports the conflict.
 */
export function registerLock(program: Command): void {
  const lock = program.command('lock').description('operate on artifacts.lock');
  const merge = lock
    .command('merge')
    .description('git merge driver: merge artifacts.lock by entry (use as "oras lock merge %O %A %B")')
    .argument('<base>', 'the merge base version (%O; may be empty)')
    .argument('<ours>', 'our version (%A); the merged lock is written here')
    .argument('<theirs>', 'their version (%B)')
    .option('--json', 'shorthand for --format json');
  addCommonOptions(merge);
  addFormatOption(merge);
  merge.action(async (base: string, ours: string, theirs: string, _opts: CommonFlags) => {
    const merged = await mergeLockfileFiles(base, ours, theirs);
    if (cliState.format === 'json') {
      printJson({ merged: ours, conflicts: merged.conflicts });
      return;
    }
    if (merged.conflicts.length > 0) {
      process.stderr.write(
        `artifacts.lock: ${merged.conflicts.length} entr${merged.conflicts.length === 1 ? 'y' : 'ies'} changed on both branches, left for \`oras install\` to re-resolve: ${merged.conflicts.join(', ')}\n`,
      );
    }
  });
}
