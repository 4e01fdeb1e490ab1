import type { Command } from 'commander';
import { copy } from '../../copy/copy.js';
import { extendedCopy } from '../../copy/extended-copy.js';
import type { CopyOptions } from '../../copy/options.js';
import type { ReadOnlyTarget, Target } from '../../content/store.js';
import type { Descriptor } from '../../oci/descriptor.js';
import { splitRefTags } from '../args.js';
import { cliConfig, effectiveConcurrency } from '../config.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import {
  addCommonOptions,
  addConcurrencyOption,
  addFormatOption,
  addRemoteOptions,
  remoteFlagsOf,
  ttyEnabled,
  type CommonFlags,
} from '../options.js';
import { COPY_VERBS, progressFor } from '../render/progress.js';
import { kindLabel, openSource, openTarget, type OpenedTarget } from '../targets.js';
import { addPlatformOption, resolveForPlatform } from '../platform.js';

/**
 * A `mount` hook for copies between two repositories of the same registry:
 * cross-repository mount instead of download+upload; any failure falls back
 * to a normal copy of that blob.
 */
export function mountHook(src: OpenedTarget, dst: OpenedTarget): CopyOptions['mount'] {
  const remote = dst.remote;
  if (
    src.kind !== 'registry' ||
    remote === undefined ||
    src.registry !== dst.registry ||
    src.repository === undefined ||
    src.repository === dst.repository
  )
    return undefined;
  const from = src.repository;
  return async (desc: Descriptor) => {
    try {
      await remote.mount(desc, from, { signal: interrupt.signal });
      return true;
    } catch {
      return false;
    }
  };
}

/**
 * Copies the artifact `srcRef` names from `src` to `dst` (tagged `dstRef`
 * when given): with `withReferrers`, also its referrers, recursively
 * ({@link extendedCopy}); otherwise just its graph ({@link copy}).
 */
export function copyArtifact(
  withReferrers: boolean,
  src: ReadOnlyTarget,
  srcRef: string,
  dst: Target,
  dstRef: string | undefined,
  options: CopyOptions,
): Promise<Descriptor> {
  return withReferrers ? extendedCopy(src, srcRef, dst, dstRef, options) : copy(src, srcRef, dst, dstRef, options);
}

interface CpFlags extends CommonFlags {
  platform?: string;
  recursive?: boolean;
  concurrency?: number;
}

/** `oras cp SRC DST[,TAG...]` (alias `copy`). */
export function registerCp(program: Command): void {
  const cmd = program
    .command('cp')
    .alias('copy')
    .description('copy an artifact (and with -r its referrers) between registries and OCI layouts')
    .argument('<source>', 'registry/repo:tag|@digest (or DIR[:tag|@digest] with --from-oci-layout)')
    .argument('<destination>', 'registry/repo[:tag][,tag...] (or DIR[:tag] with --to-oci-layout)')
    .option('-r, --recursive', 'also copy the referrers of the artifact, recursively');
  addPlatformOption(cmd);
  addConcurrencyOption(cmd);
  addRemoteOptions(cmd, { layout: false });
  addRemoteOptions(cmd, { prefix: 'from' });
  addRemoteOptions(cmd, { prefix: 'to' });
  addCommonOptions(cmd);
  addFormatOption(cmd);
  cmd.action(async (srcArg: string, dstArg: string, opts: CpFlags & Record<string, unknown>) => {
    const srcFlags = remoteFlagsOf(opts, 'from');
    const dstFlags = remoteFlagsOf(opts, 'to');
    const { ref: dstRefArg, extraTags } = splitRefTags(dstArg);
    const src = await openSource(srcArg, srcFlags);
    try {
      const dst = await openTarget(dstRefArg, dstFlags);
      try {
        const cfg = await cliConfig();
        const srcRef = src.reference ?? 'latest';
        // Resolve first (with --platform, the matching manifest of an index) and copy by digest:
        // like oras 1.3, a destination without a tag receives the graph untagged.
        const srcDesc = await resolveForPlatform(src.target, srcRef, opts.platform, src.display(srcRef));
        const progress = progressFor(cliState.format, ttyEnabled(opts), COPY_VERBS);
        const mount = mountHook(src, dst);
        const options = {
          concurrency: effectiveConcurrency(opts.concurrency, cfg),
          onEvent: progress.listener,
          signal: interrupt.signal,
          ...(mount !== undefined ? { mount } : {}),
          // As oras 1.3 (oras-go content.Successors lists `subject`): copying a referrer brings its subject chain.
          includeSubject: true,
          ...(cfg.limits.maxManifestBytes !== undefined ? { maxManifestBytes: cfg.limits.maxManifestBytes } : {}),
        };
        if (opts.recursive === true) cliState.errorContext.referrers = true;
        let root: Descriptor;
        try {
          root = await copyArtifact(
            opts.recursive === true,
            src.target,
            srcDesc.digest,
            dst.target,
            dst.reference,
            options,
          );
          for (const t of extraTags) await dst.target.tag(root, t, { signal: interrupt.signal });
        } finally {
          progress.close();
        }
        const mainTag = dst.tag;
        const tags = [...(mainTag !== undefined ? [mainTag] : []), ...extraTags];
        if (cliState.format === 'json') {
          printJson({
            source: src.display(srcRef),
            destination: dst.display(dst.reference),
            reference: dst.display(root.digest),
            mediaType: root.mediaType,
            digest: root.digest,
            size: root.size,
            tags,
            transfer: {
              copied: progress.stats.transferred,
              exists: progress.stats.exists,
              mounted: progress.stats.mounted,
              bytes: progress.stats.bytes,
            },
          });
          return;
        }
        // oras 1.3: `Copied [registry] SRC => [registry] DST` with DST as given (no tag: the bare name).
        outLine(
          `Copied [${kindLabel(src.kind)}] ${src.display(srcRef)} => [${kindLabel(dst.kind)}] ${dst.display(dst.reference)}`,
        );
        for (const t of extraTags) outLine(`Tagged ${t}`);
        outLine(`Digest: ${root.digest}`);
      } finally {
        await dst.close();
      }
    } finally {
      await src.close();
    }
  });
}
