import type { Command } from 'commander';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { addTargetCommandOptions, remoteFlagsOf, type CommonFlags } from '../options.js';
import { openTarget } from '../targets.js';

/** `oras resolve REF`: prints the manifest digest a tag points at. */
export function registerResolve(program: Command): void {
  const cmd = program
    .command('resolve')
    .description('print the digest of the manifest a reference points at')
    .argument('<reference>', 'registry/repo:tag|@digest')
    .option('-l, --full-reference', 'print registry/repo@digest instead of the bare digest');
  addTargetCommandOptions(cmd);
  cmd.action(async (refArg: string, opts: CommonFlags & { fullReference?: boolean } & Record<string, unknown>) => {
    const target = await openTarget(refArg, remoteFlagsOf(opts), { readOnly: true });
    try {
      const desc = await target.target.resolve(target.reference ?? 'latest', { signal: interrupt.signal });
      if (cliState.format === 'json') {
        printJson({ reference: target.display(desc.digest), mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
        return;
      }
      outLine(opts.fullReference === true ? target.display(desc.digest) : desc.digest);
    } finally {
      await target.close();
    }
  });
}
