import type { Command } from 'commander';
import { isDigest } from '../../oci/digest.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { addCommonOptions, addFormatOption, addRemoteOptions, remoteFlagsOf, type CommonFlags } from '../options.js';
import { openRegistry, openTarget } from '../targets.js';

/** Most names printed by one listing (bounds memory on huge catalogs). */
const MAX_LISTED = 1_000_000;

function registerLs(repo: Command): void {
  const cmd = repo
    .command('ls')
    .alias('list')
    .description('list the repositories of a registry (optionally under a namespace)')
    .argument('<registry>', 'host[:port] or host[:port]/namespace')
    .option('--last <name>', 'start after this repository name');
  addRemoteOptions(cmd, { layout: false });
  addCommonOptions(cmd);
  addFormatOption(cmd);
  cmd.action(async (arg: string, opts: CommonFlags & { last?: string } & Record<string, unknown>) => {
    const { registry, host, namespace, close } = await openRegistry(arg, remoteFlagsOf(opts));
    try {
      const prefix = namespace !== undefined ? `${namespace}/` : '';
      const last = opts.last !== undefined ? `${prefix}${opts.last}` : undefined;
      const names: string[] = [];
      for await (const name of registry.repositories({ signal: interrupt.signal, ...(last !== undefined ? { last } : {}) })) {
        if (prefix !== '' && !name.startsWith(prefix)) continue;
        const shown = name.slice(prefix.length);
        if (last !== undefined && name <= last) continue;
        if (cliState.format === 'json') names.push(shown);
        else outLine(shown);
        if (names.length >= MAX_LISTED) break;
      }
      if (cliState.format === 'json') printJson({ registry: host, ...(namespace !== undefined ? { namespace } : {}), repositories: names });
    } finally {
      await close();
    }
  });
}

function registerTags(repo: Command): void {
  const cmd = repo
    .command('tags')
    .alias('show-tags')
    .description('list the tags of a repository')
    .argument('<repository>', 'registry/repo (or DIR with --oci-layout)')
    .option('--last <tag>', 'start after this tag')
    .option('--exclude-digest-tags', 'hide referrers fallback tags like sha256-<hex>');
  addRemoteOptions(cmd);
  addCommonOptions(cmd);
  addFormatOption(cmd);
  cmd.action(async (arg: string, opts: CommonFlags & { last?: string; excludeDigestTags?: boolean } & Record<string, unknown>) => {
    const target = await openTarget(arg, remoteFlagsOf(opts), { readOnly: true });
    try {
      const tags: string[] = [];
      for await (const tag of target.target.tags({ signal: interrupt.signal, ...(opts.last !== undefined ? { last: opts.last } : {}) })) {
        // Registry 2.8 ignores `last`; filter here so the flag works everywhere.
        if (opts.last !== undefined && tag <= opts.last) continue;
        if (opts.excludeDigestTags === true && isDigest(tag.replace(/^(sha256|sha512)-/, '$1:'))) continue;
        if (cliState.format === 'json') tags.push(tag);
        else outLine(tag);
        if (tags.length >= MAX_LISTED) break;
      }
      if (cliState.format === 'json') printJson({ repository: target.name, tags });
    } finally {
      await target.close();
    }
  });
}

/** `oras repo ls|tags` (aliases: `repository list|show-tags`). */
export function registerRepo(program: Command): void {
  const repo = program.command('repo').alias('repository').description('repository operations: ls, tags');
  registerLs(repo);
  registerTags(repo);
}
