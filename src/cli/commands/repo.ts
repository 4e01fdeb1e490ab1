import type { Command } from 'commander';
import { isDigest } from '../../oci/digest.js';
import { cliState, interrupt, outLine } from '../context.js';
import { addTargetCommandOptions, remoteFlagsOf, TEMPLATE_FORMATS, type CommonFlags } from '../options.js';
import { printResult } from '../output-format.js';
import { openRegistry, openTarget } from '../targets.js';

/** Most names printed by one listing (bounds memory on huge catalogs). */
const MAX_LISTED = 1_000_000;

/** True for a referrers fallback tag (`sha256-<hex>`, `sha512-<hex>`) of registries without the referrers API. */
export function isFallbackTag(tag: string): boolean {
  return isDigest(tag.replace(/^(sha256|sha512)-/, '$1:'));
}

/**
 * Prints each name `keep` maps to a line (undefined: skip it) as it arrives,
 * or with `--format json|go-template` collects the names `keepJson` maps to
 * (at most {@link MAX_LISTED}) and prints the document `json(names)` once
 * (oras 1.3: the JSON document lists full repository names, the text one
 * names below the namespace).
 */
async function printNames(
  names: AsyncIterable<string>,
  keep: (name: string) => string | undefined,
  json: (names: string[]) => unknown,
  keepJson: (name: string) => string | undefined = keep,
): Promise<void> {
  const collected: string[] = [];
  const text = cliState.format === 'text';
  for await (const name of names) {
    const shown = text ? keep(name) : keepJson(name);
    if (shown === undefined) continue;
    if (!text) collected.push(shown);
    else outLine(shown);
    if (collected.length >= MAX_LISTED) break;
  }
  if (!text) printResult(json(collected), () => undefined);
}

function registerLs(repo: Command): void {
  const cmd = repo
    .command('ls')
    .alias('list')
    .description('list the repositories of a registry (optionally under a namespace)')
    .argument('<registry>', 'host[:port] or host[:port]/namespace')
    .option('--last <name>', 'start after this repository name');
  addTargetCommandOptions(cmd, { layout: false }, TEMPLATE_FORMATS);
  cmd.action(async (arg: string, opts: CommonFlags & { last?: string } & Record<string, unknown>) => {
    const { registry, host, namespace, close } = await openRegistry(arg, remoteFlagsOf(opts));
    try {
      const prefix = namespace !== undefined ? `${namespace}/` : '';
      const last = opts.last !== undefined ? `${prefix}${opts.last}` : undefined;
      const listed = (name: string): boolean =>
        !((prefix !== '' && !name.startsWith(prefix)) || (last !== undefined && name <= last));
      await printNames(
        registry.repositories({ signal: interrupt.signal, ...(last !== undefined ? { last } : {}) }),
        (name) => (listed(name) ? name.slice(prefix.length) : undefined),
        (repositories) => ({ registry: host, ...(namespace !== undefined ? { namespace } : {}), repositories }),
        (name) => (listed(name) ? name : undefined),
      );
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
  addTargetCommandOptions(cmd, {}, TEMPLATE_FORMATS);
  cmd.action(
    async (
      arg: string,
      opts: CommonFlags & { last?: string; excludeDigestTags?: boolean } & Record<string, unknown>,
    ) => {
      const target = await openTarget(arg, remoteFlagsOf(opts), { readOnly: true });
      try {
        const last = opts.last;
        await printNames(
          target.target.tags({ signal: interrupt.signal, ...(last !== undefined ? { last } : {}) }),
          // Registry 2.8 ignores `last`; filter here so the flag works everywhere.
          (tag) =>
            (last !== undefined && tag <= last) || (opts.excludeDigestTags === true && isFallbackTag(tag))
              ? undefined
              : tag,
          (tags) => ({ repository: target.name, tags }),
        );
      } finally {
        await target.close();
      }
    },
  );
}

/** `oras repo ls|tags` (aliases: `repository list|show-tags`). */
export function registerRepo(program: Command): void {
  const repo = program.command('repo').alias('repository').description('repository operations: ls, tags');
  registerLs(repo);
  registerTags(repo);
}
