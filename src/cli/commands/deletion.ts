import type { Command } from 'commander';
import type { Descriptor } from '../../oci/descriptor.js';
import { cliState, confirm, interrupt, outLine, printJson } from '../context.js';
import { CliExit, ExitCode, usageError } from '../errors.js';
import type { CommonFlags } from '../options.js';
import { plainDescriptor } from '../render/format.js';
import type { OpenedTarget } from '../targets.js';

/** Flags of `manifest delete` and `blob delete`. */
export interface DeleteFlags extends CommonFlags {
  force?: boolean;
  descriptor?: boolean;
}

/** Adds `-f/--force` and `--descriptor` (`what`: "manifest", "blob") to a delete command. */
export function addDeleteOptions(cmd: Command, what: string): Command {
  return cmd
    .option('-f, --force', 'do not ask for confirmation')
    .option('--descriptor', `print the descriptor of the deleted ${what}`);
}

/**
 * Asks for confirmation unless `force`; without a terminal on stdin a
 * deletion requires `--force` (usage error otherwise). Declining exits 1.
 */
export async function confirmDeletion(force: boolean, question: string): Promise<void> {
  if (force) return;
  if (process.stdin.isTTY !== true) throw usageError('refusing to delete without confirmation: stdin is not a terminal', 'pass --force (-f) to delete without asking');
  if (!(await confirm(question))) throw new CliExit(ExitCode.Failure, 'deletion cancelled');
}

/**
 * Deletes `desc` from `target` once {@link confirmDeletion} allows it, then
 * prints the result: the bare descriptor (`--descriptor`), else with
 * `--format json` `{ reference, …descriptor, deleted: true }`, else
 * `Deleted [kind] <shown>`.
 */
export async function deleteAndReport(target: OpenedTarget, desc: Descriptor, opts: DeleteFlags, question: string, shown: string): Promise<void> {
  await confirmDeletion(opts.force === true, question);
  await target.target.delete(desc, { signal: interrupt.signal });
  if (opts.descriptor === true) printJson(plainDescriptor(desc));
  else if (cliState.format === 'json') printJson({ reference: target.display(desc.digest), ...plainDescriptor(desc), deleted: true });
  else outLine(`Deleted [${target.kind}] ${shown}`);
}
