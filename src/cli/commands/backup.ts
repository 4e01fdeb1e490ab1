import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { OciLayoutStore } from '../../content/oci-layout.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { isDigest } from '../../oci/digest.js';
import { cliConfig, effectiveConcurrency } from '../config.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { usageError } from '../errors.js';
import {
  addConcurrencyOption,
  addTargetCommandOptions,
  remoteFlagsOf,
  ttyEnabled,
  type CommonFlags,
} from '../options.js';
import { orasBytes, orasDuration, tagsFoundLines } from '../render/backup-text.js';
import { COPY_VERBS, progressFor } from '../render/progress.js';
import { openSource, openTarget } from '../targets.js';
import { copyArtifact } from './cp.js';
import { isFallbackTag } from './repo.js';

interface BackupFlags extends CommonFlags {
  output?: string;
  input?: string;
  includeReferrers?: boolean;
  excludeReferrers?: boolean;
  dryRun?: boolean;
  concurrency?: number;
}

/** Referrers of `root` in `store`, counted recursively (cycles cut, bounded like discover). */
async function countReferrers(store: OciLayoutStore, root: Descriptor): Promise<number> {
  const seen = new Set<string>([root.digest]);
  let frontier = [root];
  while (frontier.length > 0 && seen.size <= 10_000) {
    const next: Descriptor[] = [];
    for (const d of frontier) {
      for (const r of await store.referrers(d, { signal: interrupt.signal })) {
        if (seen.has(r.digest)) continue;
        seen.add(r.digest);
        next.push(r);
      }
    }
    frontier = next;
  }
  return seen.size - 1;
}

function isTarPath(p: string): boolean {
  return p.toLowerCase().endsWith('.tar');
}

/** One artifact written by backup or restore. */
interface CopiedEntry {
  reference: string;
  tag?: string;
  digest: string;
  mediaType: string;
  size: number;
}

function copiedEntry(reference: string, tag: string | undefined, root: Descriptor): CopiedEntry {
  return {
    reference,
    ...(tag !== undefined ? { tag } : {}),
    digest: root.digest,
    mediaType: root.mediaType,
    size: root.size,
  };
}

/** The tag of a `REF[,TAG...]` argument plus its extra `,TAG` items (trimmed, empty items dropped). */
function tagsOf(tag: string | undefined, more: string[]): string[] {
  return [...(tag !== undefined ? [tag] : []), ...more.map((t) => t.trim()).filter((t) => t !== '')];
}

/**
 * Extracts a backup `.tar` into `dir` with the artifact extractor's safety rules (no escaping
 * paths, links checked, special files refused, placed only when complete); caps: 1,000,000
 * entries, and the file's own size (a plain tar holds no more than its bytes).
 */
async function extractLayoutTar(tarFile: string, dir: string): Promise<void> {
  const [{ size }, { extractTarGz }] = await Promise.all([stat(tarFile), import('../../artifact/tar-extract.js')]);
  await extractTarGz(createReadStream(tarFile), dir, {
    compression: 'none',
    maxEntries: 1_000_000,
    maxUncompressedBytes: size,
    signal: interrupt.signal,
  });
}

/**
 * The OCI layout directory behind `path`: the directory itself, or for a
 * `FILE.tar` a staging directory next to the file that `cleanup` removes.
 */
async function layoutDirFor(
  path: string,
  purpose: 'backup' | 'restore',
): Promise<{ dir: string; tar: boolean; cleanup(): Promise<void> }> {
  if (!isTarPath(path)) return { dir: path, tar: false, cleanup: async () => undefined };
  const dir = await mkdtemp(join(dirname(path), `.${basename(path)}.oras-${purpose}-`));
  return { dir, tar: true, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Prints text lines (oras 1.3's backup/restore metadata lines, stdout) unless the format is JSON. */
function say(...lines: string[]): void {
  if (cliState.format === 'text') for (const l of lines) outLine(l);
}

/** `oras backup` and `oras restore`. */
export function registerBackup(program: Command): void {
  const backup = program
    .command('backup')
    .description('copy artifacts (with their referrers) from a registry into an OCI layout directory or a .tar of one')
    .argument('<references...>', 'registry/repo[:tag[,tag...]|@digest]; without a tag, every tag of the repository')
    .requiredOption('-o, --output <path>', 'OCI layout directory, or FILE.tar')
    .option(
      '--include-referrers',
      'back up the artifact with its referrers (signatures, SBOMs, …); off by default, as in oras 1.3',
    )
    .option('--no-include-referrers', 'do not copy referrers (the default)');
  addConcurrencyOption(backup);
  addTargetCommandOptions(backup, { layout: false });
  backup.action(async (refs: string[], opts: BackupFlags & Record<string, unknown>) => {
    const output = resolve(opts.output ?? '');
    const staging = await layoutDirFor(output, 'backup');
    const cfg = await cliConfig();
    const progress = progressFor(cliState.format, ttyEnabled(opts), COPY_VERBS);
    const copyOptions = {
      concurrency: effectiveConcurrency(opts.concurrency, cfg),
      onEvent: progress.listener,
      signal: interrupt.signal,
      // As oras 1.3 (CopyGraph/Copy follow `subject`): a referrer comes with its subject chain.
      includeSubject: true,
    };
    const written: CopiedEntry[] = [];
    const tagOwners = new Map<string, string>();
    const started = performance.now();
    const names: string[] = [];
    try {
      const layout = await OciLayoutStore.open(staging.dir);
      for (const refArg of refs) {
        const [base, ...more] = refArg.split(',');
        const src = await openSource(base ?? '', remoteFlagsOf(opts));
        try {
          const tags = tagsOf(src.tag, more);
          if (src.digest === undefined && tags.length === 0) {
            for await (const t of src.target.tags({ signal: interrupt.signal })) if (!isFallbackTag(t)) tags.push(t);
            if (tags.length === 0) throw usageError(`${src.name} has no tags to back up`);
          }
          const refsToCopy = src.digest !== undefined ? [src.digest] : tags;
          names.push(src.name);
          say(...tagsFoundLines(refsToCopy, src.name, `No tags found in ${src.name}`));
          for (const ref of refsToCopy) {
            const owner = tagOwners.get(ref);
            if (owner !== undefined && owner !== src.name)
              throw usageError(
                `tag ${ref} exists in both ${owner} and ${src.name}`,
                'back up one repository per output',
              );
            tagOwners.set(ref, src.name);
            const tag = ref === src.digest ? undefined : ref;
            const root = await copyArtifact(opts.includeReferrers === true, src.target, ref, layout, tag, copyOptions);
            if (tag === undefined) await layout.tag(root, root.digest, { signal: interrupt.signal });
            written.push(copiedEntry(src.display(ref), tag, root));
            const count = opts.includeReferrers === true ? await countReferrers(layout, root) : 0;
            say(`Pulled tag ${ref} with ${count} referrer(s)`);
          }
        } finally {
          await src.close();
        }
      }
      progress.close();
      if (staging.tar) {
        say(`Exporting to ${opts.output ?? output}`);
        const { writeDirectoryTar } = await import('../../artifact/tar.js');
        await writeDirectoryTar(staging.dir, output, { signal: interrupt.signal });
        say(`Exported to ${opts.output ?? output} (${orasBytes((await stat(output)).size)})`);
      }
    } finally {
      progress.close();
      await staging.cleanup();
    }
    if (cliState.format === 'json') {
      printJson({
        output,
        format: staging.tar ? 'tar' : 'oci-layout',
        includeReferrers: opts.includeReferrers === true,
        artifacts: written,
      });
      return;
    }
    say(
      `Successfully backed up ${written.length} tag(s) from ${JSON.stringify(names.join(', '))} to ${JSON.stringify(opts.output ?? output)} in ${orasDuration(performance.now() - started)}.`,
    );
  });

  const restore = program
    .command('restore')
    .description('push artifacts (with their referrers) from an OCI layout directory or .tar back to a registry')
    .argument('<reference>', 'registry/repo[:tag[,tag...]]; without a tag, every tag in the backup')
    .requiredOption('-i, --input <path>', 'OCI layout directory, or FILE.tar')
    .option('--exclude-referrers', 'restore the artifacts without their referrers (oras 1.3)')
    .option('--no-include-referrers', 'alias of --exclude-referrers')
    .option('--dry-run', 'print what would be restored; push nothing');
  addConcurrencyOption(restore);
  addTargetCommandOptions(restore, { layout: false });
  restore.action(async (refArg: string, opts: BackupFlags & Record<string, unknown>) => {
    const input = resolve(opts.input ?? '');
    await stat(input);
    const staging = await layoutDirFor(input, 'restore');
    const cfg = await cliConfig();
    const progress = progressFor(cliState.format, ttyEnabled(opts), COPY_VERBS);
    const copyOptions = {
      concurrency: effectiveConcurrency(opts.concurrency, cfg),
      onEvent: progress.listener,
      signal: interrupt.signal,
      // As oras 1.3 (CopyGraph/Copy follow `subject`): a referrer comes with its subject chain.
      includeSubject: true,
    };
    const written: CopiedEntry[] = [];
    const [base, ...more] = refArg.split(',');
    const started = performance.now();
    let repoName = base ?? '';
    try {
      if (staging.tar) {
        await extractLayoutTar(input, staging.dir);
        say(`Loaded backup archive: ${opts.input ?? input} (${orasBytes((await stat(input)).size)})`);
      }
      const layout = await OciLayoutStore.open(staging.dir, { readOnly: true, create: false });
      const dst = await openTarget(base ?? '', remoteFlagsOf(opts));
      try {
        if (dst.digest !== undefined) throw usageError('restore to a repository or tags, not a digest');
        let refs = tagsOf(dst.tag, more);
        if (refs.length === 0) for await (const t of layout.tags({ signal: interrupt.signal })) refs.push(t);
        refs = [...new Set(refs)];
        if (refs.length === 0) throw usageError(`${input} holds no tagged artifacts`);
        const withReferrers = opts.includeReferrers !== false && opts.excludeReferrers !== true;
        repoName = dst.name;
        // oras 1.3's lines (cmd/oras/internal/display/metadata/text/restore.go), referrers counted in the backup.
        say(...tagsFoundLines(refs, 'the backup', 'No tags found in the backup'));
        const dry = opts.dryRun === true;
        for (const ref of refs) {
          const count = withReferrers ? await countReferrers(layout, await layout.resolve(ref)) : 0;
          if (!dry) {
            // A digest ref name (from `backup REF@digest`) is restored untagged.
            const dstRef = isDigest(ref) ? undefined : ref;
            const root = await copyArtifact(withReferrers, layout, ref, dst.target, dstRef, copyOptions);
            written.push(copiedEntry(dst.display(dstRef ?? root.digest), dstRef, root));
          }
          say(`${dry ? 'Dry run: would push' : 'Pushed'} tag ${ref} with ${count} referrer(s)`);
        }
        if (dry) {
          if (cliState.format === 'json') printJson({ input, dryRun: true, repository: dst.name, tags: refs });
          say(
            `Dry run complete: ${refs.length} tag(s) would be restored to ${JSON.stringify(dst.name)} (no data pushed)`,
          );
          return;
        }
      } finally {
        await dst.close();
      }
    } finally {
      progress.close();
      await staging.cleanup();
    }
    if (cliState.format === 'json') {
      printJson({
        input,
        includeReferrers: opts.includeReferrers !== false && opts.excludeReferrers !== true,
        artifacts: written,
      });
      return;
    }
    say(
      `Successfully restored ${written.length} tag(s) to ${JSON.stringify(repoName)} in ${orasDuration(performance.now() - started)}`,
    );
  });
}
