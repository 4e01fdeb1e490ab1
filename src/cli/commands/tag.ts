import type { Command } from 'commander';
import { validateTag } from '../../oci/reference.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { usageError } from '../errors.js';
import { addTargetCommandOptions, remoteFlagsOf, type CommonFlags } from '../options.js';
import { openTarget } from '../targets.js';

/** `oras tag REF TAG...`: points more tags at the manifest REF names. */
export function registerTag(program: Command): void {
  const cmd = program
    .command('tag')
    .description('tag a manifest in a registry or OCI layout')
    .argument('<reference>', 'registry/repo:tag|@digest of the existing manifest')
    .argument('<tags...>', 'new tags');
  addTargetCommandOptions(cmd);
  cmd.action(async (refArg: string, tags: string[], opts: CommonFlags & Record<string, unknown>) => {
    if (tags.length === 0) throw usageError('no tags given');
    for (const t of tags) validateTag(t);
    const target = await openTarget(refArg, remoteFlagsOf(opts), { requireReference: true });
    try {
      const desc = await target.target.resolve(target.reference ?? 'latest', { signal: interrupt.signal });
      for (const t of tags) {
        await target.target.tag(desc, t, { signal: interrupt.signal });
        if (cliState.format !== 'json') outLine(`Tagged ${t}`);
      }
      if (cliState.format === 'json') {
        printJson({
          reference: target.display(desc.digest),
          mediaType: desc.mediaType,
          digest: desc.digest,
          size: desc.size,
          tags,
        });
        return;
      }
      outLine(`Digest: ${desc.digest}`);
    } finally {
      await target.close();
    }
  });
}
