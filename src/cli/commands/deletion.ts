import type { Command } from 'commander';
import { OrasError } from '../../errors.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { cliState, interrupt, loadReadline, out, outLine, printJson } from '../context.js';
import type { CommonFlags } from '../options.js';
import { plainDescriptor } from '../render/format.js';
import { kindLabel, type OpenedTarget } from '../targets.js';

/** Flags of `manifest delete` and `blob delete`. */
export interface DeleteFlags extends CommonFlags {
  force?: boolean;
  descriptor?: boolean;
}

/** Adds `-f/--force` and `--descriptor` (`what`: "manifest", "blob") to a delete command. */
export function addDeleteOptions(cmd: Command, what: string): Command {
  return cmd
    .option('-f, --force', 'ignore nonexistent references, never prompt')
    .option('--descriptor', `print the descriptor of the deleted ${what}`);
}

/** Reads one line from stdin (terminal or pipe); '' at end of input. */
async function readAnswer(): Promise<string> {
  const { createInterface } = loadReadline();
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    return await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
  } finally {
    rl.close();
  }
}

/**
 * oras 1.3's confirmation (cmd/oras/internal/option/confirmation.go): unless
 * `force`, prints `QUESTION [y/N] ` on stdout and reads one line from stdin,
 * a terminal or not (`echo y | oras manifest delete …`). Anything but `y`/
 * `yes` (empty stdin included) prints `Operation cancelled.` and is not an
 * error (exit 0). Returns whether to go on.
 */
export async function confirmDeletion(force: boolean, question: string): Promise<boolean> {
  if (force) return true;
  out(`${question} [y/N] `);
  const answer = (await readAnswer()).trim().toLowerCase();
  if (answer === 'y' || answer === 'yes') return true;
  outLine('Operation cancelled.');
  return false;
}

/** Options of {@link deleteResolved}. */
export interface DeleteRequest {
  /** "manifest" or "blob" (in messages). */
  what: 'manifest' | 'blob';
  /** The reference as the user typed it (oras prints it in `Missing` / errors). */
  raw: string;
  /** Resolves the descriptor to delete (throws `ERR_ORAS_NOT_FOUND` when gone). */
  resolve(): Promise<Descriptor>;
  /** The confirmation question for a resolved descriptor. */
  question(desc: Descriptor): string;
  /** What `Deleted [kind] …` shows. */
  shown: string;
}

/**
 * Deletes like oras 1.3: a reference already gone is `Missing REF` and exit 0
 * with `-f` (not with `--descriptor`), else `ERR_ORAS_NOT_FOUND` (exit 3:
 * "REF: the specified manifest does not exist"); asks with
 * {@link confirmDeletion}; then prints the bare descriptor (`--descriptor`),
 * the JSON document (`--format json`: `{ reference, …descriptor, deleted }`)
 * or `Deleted [kind] REF`.
 */
export async function deleteResolved(target: OpenedTarget, opts: DeleteFlags, req: DeleteRequest): Promise<void> {
  let desc: Descriptor;
  try {
    desc = await req.resolve();
  } catch (err) {
    if (!(err instanceof OrasError) || err.code !== 'ERR_ORAS_NOT_FOUND') throw err;
    if (opts.force === true && opts.descriptor !== true) {
      if (cliState.format === 'json') printJson({ reference: req.raw, deleted: false, missing: true });
      else outLine(`Missing ${req.raw}`);
      return;
    }
    throw new OrasError('ERR_ORAS_NOT_FOUND', `${req.raw}: the specified ${req.what} does not exist`, {
      hint: 'pass -f/--force to ignore a missing reference',
      cause: err,
    });
  }
  if (!(await confirmDeletion(opts.force === true, req.question(desc)))) return;
  await target.target.delete(desc, { signal: interrupt.signal });
  if (opts.descriptor === true) printJson(plainDescriptor(desc));
  else if (cliState.format === 'json')
    printJson({ reference: target.display(desc.digest), ...plainDescriptor(desc), deleted: true });
  else outLine(`Deleted [${kindLabel(target.kind)}] ${req.shown}`);
}
