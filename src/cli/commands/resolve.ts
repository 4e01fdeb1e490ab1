import type { Command } from 'commander';
import { cliState, outLine, printJson } from '../context.js';
import { addTargetCommandOptions, remoteFlagsOf, type CommonFlags } from '../options.js';
import { openTarget } from '../targets.js';
import { addPlatformOption, resolveForPlatform } from '../platform.js';

/** `oras resolve REF`: prints the manifest digest a tag points at. */
export function registerResolve(program: Command): void {
  const cmd = program
    .command('resolve')
    .description('print the digest of the manifest a reference points at')
    .argument('<reference>', 'registry/repo:tag|@digest')
    .option('-l, --full-reference', 'print registry/repo@digest instead of the bare digest');
  addPlatformOption(cmd);
  addTargetCommandOptions(cmd);
  cmd.action(
    async (
      refArg: string,
      opts: CommonFlags & { fullReference?: boolean; platform?: string } & Record<string, unknown>,
    ) => {
      const target = await openTarget(refArg, remoteFlagsOf(opts), { readOnly: true });
      try {
        const ref = target.reference ?? 'latest';
        const desc = await resolveForPlatform(target.target, ref, opts.platform, target.display(ref));
        if (cliState.format === 'json') {
          printJson({
            reference: target.display(desc.digest),
            mediaType: desc.mediaType,
            digest: desc.digest,
            size: desc.size,
          });
          return;
        }
        outLine(opts.fullReference === true ? target.display(desc.digest) : desc.digest);
      } finally {
        await target.close();
      }
    },
  );
}
