import type { Command } from 'commander';
import { readLockfile } from '../../project/spec/lockfile.js';
import { loadManifest } from '../../project/spec/manifest.js';
import { findOutdated } from '../../project/outdated.js';
import { publish } from '../../project/publish.js';
import type { Reference } from '../../oci/reference.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { padRight } from '../render/format.js';
import { republishedText } from '../render/project-progress.js';
import { CliExit, ExitCode } from '../errors.js';
import { addProjectOptions, withProjectContext, type ProjectFlags } from './project-shared.js';

/** `oras publish [NAME...]` and `oras outdated`. */
export function registerPublish(program: Command): void {
  const pub = program
    .command('publish')
    .description('pack and push the publishables of artifacts.yaml (all, or the named ones)')
    .argument('[names...]', 'publishables to publish (default: all)')
    .option('--dry-run', 'pack and print the digests; push nothing (still refuses to move a release tag)')
    .option('-f, --force', 'move release tags (e.g. 1.0.0) that already point at other content');
  addProjectOptions(pub);
  pub.action(async (names: string[], opts: ProjectFlags & { dryRun?: boolean; force?: boolean }) => {
    await withProjectContext(opts, async (ctx) => {
      const result = await publish({
        projectDir: ctx.projectDir,
        ...(names.length > 0 ? { names } : {}),
        ...(opts.dryRun === true ? { dryRun: true } : {}),
        ...(opts.force === true ? { force: true } : {}),
        config: ctx.config,
        registryAccess: ctx.access,
        concurrency: opts.concurrency ?? 3,
        signal: interrupt.signal,
        ...(ctx.onEvent !== undefined ? { onEvent: ctx.onEvent } : {}),
      });
      if (cliState.format === 'json') {
        printJson({
          dryRun: result.dryRun,
          lockfileChanged: result.lockfileChanged,
          published: result.published.map((p) => ({
            name: p.name,
            ref: p.ref,
            reference: `${p.ref}@${p.digest}`,
            mediaType: p.descriptor.mediaType,
            digest: p.digest,
            size: p.descriptor.size,
            tags: p.tags,
            ...(p.manifest.artifactType !== undefined ? { artifactType: p.manifest.artifactType } : {}),
            uploaded: p.uploaded,
            unchanged: p.unchanged,
            ...(p.moved.length > 0 ? { moved: p.moved } : {}),
          })),
        });
        return;
      }
      for (const p of result.published) {
        const verb = p.unchanged ? 'Unchanged' : result.dryRun ? 'Would publish' : 'Published';
        outLine(`${verb} ${p.name}: ${p.ref}@${p.digest}${p.tags.length > 0 ? ` (tags: ${p.tags.join(', ')})` : ''}`);
        for (const m of p.moved)
          outLine(`  ${result.dryRun ? 'would move' : 'moved'} tag ${m.tag}: ${m.from} → ${p.digest}`);
      }
      if (result.published.length === 0) outLine('Nothing to publish');
    });
  });

  const out = program
    .command('outdated')
    .description('show dependencies whose tag or version range now resolves to something newer');
  addProjectOptions(out);
  out.action(async (opts: ProjectFlags) => {
    await withProjectContext(opts, async (ctx) => {
      const { manifest } = await loadManifest(ctx.projectDir);
      const lock = await readLockfile(ctx.projectDir);
      const factory = ctx.pool.readFactory();
      const entries = await findOutdated(
        manifest,
        lock,
        {
          repositoryFor: (ref: Reference) => factory(`${ref.registry}/${ref.repository}`),
          signal: interrupt.signal,
          ...(ctx.onEvent !== undefined ? { onEvent: ctx.onEvent } : {}),
        },
        { concurrency: ctx.concurrency },
      );
      // Exit 1 when something is outdated (as `pnpm outdated`), 0 when all is current: scripts can gate on it.
      const exit = (): void => {
        if (entries.some((e) => e.outdated)) throw new CliExit(ExitCode.Failure);
      };
      if (cliState.format === 'json') {
        printJson({ dependencies: entries });
        exit();
        return;
      }
      if (entries.length === 0) {
        outLine('No dependencies');
        return;
      }
      const rows = entries.map((e) => [
        e.name,
        e.current ?? '-',
        e.wanted,
        e.latest ?? '-',
        e.republished !== undefined ? 'republished' : e.outdated ? 'outdated' : 'up to date',
      ]);
      const header = ['Name', 'Current', 'Wanted', 'Latest', 'Status'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
      for (const r of [header, ...rows])
        outLine(r.map((c, i) => (i === r.length - 1 ? c : padRight(c, widths[i] ?? 0))).join('  '));
      for (const e of entries)
        if (e.republished !== undefined)
          outLine(republishedText(e.name, e.republished.tag, e.republished.from, e.republished.to));
      exit();
    });
  });
}
