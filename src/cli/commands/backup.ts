import { mkdtemp, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { copy } from '../../copy/copy.js';
import { extendedCopy } from '../../copy/extended-copy.js';
import { OciLayoutStore } from '../../content/oci-layout.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { isDigest } from '../../oci/digest.js';
import { cliConfig, effectiveConcurrency } from '../config.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { usageError } from '../errors.js';
import { tarDirectory, untarToDirectory } from '../layout-tar.js';
import { addCommonOptions, addConcurrencyOption, addFormatOption, addRemoteOptions, remoteFlagsOf, ttyEnabled, type CommonFlags } from '../options.js';
import { COPY_VERBS, progressFor } from '../render/progress.js';
import { openSource, openTarget } from '../targets.js';

interface BackupFlags extends CommonFlags {
  output?: string;
  input?: string;
  includeReferrers?: boolean;
  concurrency?: number;
}

/** True for a referrers fallback tag (`sha256-<hex>`), which backups skip when listing all tags. */
function isFallbackTag(tag: string): boolean {
  return isDigest(tag.replace(/^(sha256|sha512)-/, '$1:'));
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

/** `oras backup` and `oras restore`. */
export function registerBackup(program: Command): void {
  const backup = program
    .command('backup')
    .description('copy artifacts (with their referrers) from a registry into an OCI layout directory or a .tar of one')
    .argument('<references...>', 'registry/repo[:tag[,tag...]|@digest]; without a tag, every tag of the repository')
    .requiredOption('-o, --output <path>', 'OCI layout directory, or FILE.tar')
    .option('--no-include-referrers', 'do not copy referrers (signatures, SBOMs, …)');
  addConcurrencyOption(backup);
  addRemoteOptions(backup, { layout: false });
  addCommonOptions(backup);
  addFormatOption(backup);
  backup.action(async (refs: string[], opts: BackupFlags & Record<string, unknown>) => {
    const output = resolve(opts.output ?? '');
    const toTar = isTarPath(output);
    const layoutDir = toTar ? await mkdtemp(join(dirname(output), `.${basename(output)}.oras-backup-`)) : output;
    const cfg = await cliConfig();
    const progress = progressFor(cliState.format, ttyEnabled(opts), COPY_VERBS);
    const written: CopiedEntry[] = [];
    const tagOwners = new Map<string, string>();
    try {
      const layout = await OciLayoutStore.open(layoutDir);
      for (const refArg of refs) {
        const [base, ...more] = refArg.split(',');
        const src = await openSource(base ?? '', remoteFlagsOf(opts));
        try {
          const tags: string[] = [...(src.tag !== undefined ? [src.tag] : []), ...more.map((t) => t.trim()).filter((t) => t !== '')];
          if (src.digest === undefined && tags.length === 0) {
            for await (const t of src.target.tags({ signal: interrupt.signal })) if (!isFallbackTag(t)) tags.push(t);
            if (tags.length === 0) throw usageError(`${src.name} has no tags to back up`);
          }
          const refsToCopy = src.digest !== undefined ? [src.digest] : tags;
          for (const ref of refsToCopy) {
            const owner = tagOwners.get(ref);
            if (owner !== undefined && owner !== src.name) throw usageError(`tag ${ref} exists in both ${owner} and ${src.name}`, 'back up one repository per output');
            tagOwners.set(ref, src.name);
            const options = { concurrency: effectiveConcurrency(opts.concurrency, cfg), onEvent: progress.listener, signal: interrupt.signal };
            const root: Descriptor = opts.includeReferrers === false ? await copy(src.target, ref, layout, ref === src.digest ? undefined : ref, options) : await extendedCopy(src.target, ref, layout, ref === src.digest ? undefined : ref, options);
            if (ref === src.digest) await layout.tag(root, root.digest, { signal: interrupt.signal });
            written.push({ reference: src.display(ref), ...(ref !== src.digest ? { tag: ref } : {}), digest: root.digest, mediaType: root.mediaType, size: root.size });
          }
        } finally {
          await src.close();
        }
      }
      progress.close();
      if (toTar) await tarDirectory(layoutDir, output);
    } finally {
      progress.close();
      if (toTar) await rm(layoutDir, { recursive: true, force: true });
    }
    if (cliState.format === 'json') {
      printJson({ output, format: toTar ? 'tar' : 'oci-layout', includeReferrers: opts.includeReferrers !== false, artifacts: written });
      return;
    }
    for (const w of written) outLine(`Backed up ${w.reference} (${w.digest})`);
    outLine(`Backed up ${written.length} artifact(s) to ${output}`);
  });

  const restore = program
    .command('restore')
    .description('push artifacts (with their referrers) from an OCI layout directory or .tar back to a registry')
    .argument('<reference>', 'registry/repo[:tag[,tag...]]; without a tag, every tag in the backup')
    .requiredOption('-i, --input <path>', 'OCI layout directory, or FILE.tar')
    .option('--no-include-referrers', 'do not restore referrers');
  addConcurrencyOption(restore);
  addRemoteOptions(restore, { layout: false });
  addCommonOptions(restore);
  addFormatOption(restore);
  restore.action(async (refArg: string, opts: BackupFlags & Record<string, unknown>) => {
    const input = resolve(opts.input ?? '');
    await stat(input);
    const fromTar = isTarPath(input);
    const layoutDir = fromTar ? await mkdtemp(join(dirname(input), `.${basename(input)}.oras-restore-`)) : input;
    const cfg = await cliConfig();
    const progress = progressFor(cliState.format, ttyEnabled(opts), COPY_VERBS);
    const written: CopiedEntry[] = [];
    const [base, ...more] = refArg.split(',');
    try {
      if (fromTar) await untarToDirectory(input, layoutDir);
      const layout = await OciLayoutStore.open(layoutDir, { readOnly: true, create: false });
      const dst = await openTarget(base ?? '', remoteFlagsOf(opts));
      try {
        if (dst.digest !== undefined) throw usageError('restore to a repository or tags, not a digest');
        let refs = [...(dst.tag !== undefined ? [dst.tag] : []), ...more.map((t) => t.trim()).filter((t) => t !== '')];
        if (refs.length === 0) for await (const t of layout.tags({ signal: interrupt.signal })) refs.push(t);
        refs = [...new Set(refs)];
        if (refs.length === 0) throw usageError(`${input} holds no tagged artifacts`);
        for (const ref of refs) {
          const options = { concurrency: effectiveConcurrency(opts.concurrency, cfg), onEvent: progress.listener, signal: interrupt.signal };
          // A digest ref name (from `backup REF@digest`) is restored untagged.
          const dstRef = isDigest(ref) ? undefined : ref;
          const root = opts.includeReferrers === false ? await copy(layout, ref, dst.target, dstRef, options) : await extendedCopy(layout, ref, dst.target, dstRef, options);
          written.push({ reference: dst.display(dstRef ?? root.digest), ...(dstRef !== undefined ? { tag: dstRef } : {}), digest: root.digest, mediaType: root.mediaType, size: root.size });
        }
      } finally {
        await dst.close();
      }
    } finally {
      progress.close();
      if (fromTar) await rm(layoutDir, { recursive: true, force: true });
    }
    if (cliState.format === 'json') {
      printJson({ input, includeReferrers: opts.includeReferrers !== false, artifacts: written });
      return;
    }
    for (const w of written) outLine(`Restored ${w.reference} (${w.digest})`);
    outLine(`Restored ${written.length} artifact(s) from ${input}`);
  });
}
