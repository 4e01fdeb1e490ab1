import type { Command } from 'commander';
import { install, type InstallOptions, type InstallResult } from '../../project/install.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { CliExit, ExitCode } from '../errors.js';
import { installSummaryLines } from '../render/install-summary.js';
import { maxArtifactBytes } from '../transfer-limits.js';
import { addProjectOptions, withProjectContext, type ProjectFlags } from './project-shared.js';

interface InstallFlags extends ProjectFlags {
  frozenLockfile?: boolean;
  offline?: boolean;
  force?: boolean;
  verify?: boolean;
  dryRun?: boolean;
  maxArtifactSize?: string;
}

/** The JSON result of install/update/plan. */
export interface InstallResultJson {
  dryRun: boolean;
  lockfileChanged: boolean;
  counts: InstallResult['counts'];
  actions: { kind: string; path: string; dependency?: string; digest?: string; reason?: string }[];
  dependencies: Record<string, { resolved: string; digest: string; files: number }>;
  durations: InstallResult['durations'];
  /** Locked release tags found to name other content now (the lock kept the old digest). */
  republished?: { dependency: string; tag: string; from: string; to: string }[];
}

function toJson(r: InstallResult): InstallResultJson {
  return {
    dryRun: r.dryRun,
    lockfileChanged: r.lockfileChanged,
    counts: r.counts,
    actions: r.actions.map((a) => ({
      kind: a.kind,
      path: a.path,
      ...('dependency' in a && a.dependency !== undefined ? { dependency: a.dependency } : {}),
      ...('file' in a && a.file !== undefined ? { digest: a.file.digest } : {}),
      ...(a.kind === 'conflict' ? { reason: a.reason } : {}),
    })),
    dependencies: Object.fromEntries(
      Object.entries(r.lockfile.dependencies).map(([n, d]) => [
        n,
        { resolved: d.resolved, digest: d.digest, files: d.files.length },
      ]),
    ),
    durations: r.durations,
    ...(r.republished !== undefined ? { republished: r.republished } : {}),
  };
}

/** Runs install with the given extra options and renders the result. */
async function runInstall(opts: InstallFlags, extra: Partial<InstallOptions>): Promise<void> {
  await withProjectContext(opts, async (ctx) => {
    const env = { ...process.env };
    const maxBytes = maxArtifactBytes(opts.maxArtifactSize, ctx.config, env);
    const result = await install({
      projectDir: ctx.projectDir,
      config: ctx.config,
      registryAccess: ctx.access,
      concurrency: ctx.concurrency,
      ...(maxBytes !== undefined ? { maxArtifactBytes: maxBytes } : {}),
      env,
      signal: interrupt.signal,
      ...(opts.frozenLockfile !== undefined ? { frozenLockfile: opts.frozenLockfile } : {}),
      ...(opts.offline === true ? { offline: true } : {}),
      ...(opts.force === true ? { force: true } : {}),
      ...(opts.verify === true ? { verify: true } : {}),
      ...(opts.dryRun === true ? { dryRun: true } : {}),
      ...(ctx.onEvent !== undefined ? { onEvent: ctx.onEvent } : {}),
      ...extra,
    });
    if (cliState.format === 'json') printJson(toJson(result));
    else {
      ctx.progress?.close();
      for (const line of installSummaryLines(result, ctx.progress?.timings ?? new Map(), cliState.verbose))
        outLine(line);
    }
    // A dry run (`oras plan`) that shows conflicts exits 6, the code of tree drift: files were
    // modified or are not ours, and `oras install` would refuse them (without --force).
    if (result.dryRun && result.counts.conflict > 0) throw new CliExit(ExitCode.TreeDrift);
  });
}

/** `oras install`, `oras update [NAME...]`, `oras plan`. */
export function registerInstall(program: Command): void {
  const cmd = program
    .command('install')
    .alias('i')
    .description('install the dependencies of artifacts.yaml (resolving into artifacts.lock)')
    .option('--frozen-lockfile', 'fail instead of changing artifacts.lock (default when CI=true)')
    .option('--no-frozen-lockfile', 'allow changing artifacts.lock even when CI=true')
    .option('--offline', 'use only the lockfile and the cache: no network')
    .option('-f, --force', 'overwrite files that were modified or are not ours')
    .option('--verify', 'rehash every installed file instead of trusting stat records')
    .option('--dry-run', 'print the plan; change nothing')
    .option(
      '--max-artifact-size <bytes>',
      'refuse dependencies declaring more than this (k/M/G/T suffixes; default: ORAS_MAX_ARTIFACT_SIZE, limits.maxArtifactBytes, else 64G)',
    );
  addProjectOptions(cmd);
  cmd.action(async (opts: InstallFlags) => runInstall(opts, {}));

  const upd = program
    .command('update')
    .description('re-resolve tags and version ranges (all dependencies, or the named ones) and install')
    .argument('[names...]', 'dependencies to update (default: all)')
    .option('--offline', 'use only the cache: no network')
    .option('-f, --force', 'overwrite files that were modified or are not ours')
    .option('--dry-run', 'print the plan; change nothing')
    .option(
      '--max-artifact-size <bytes>',
      'refuse dependencies declaring more than this (k/M/G/T suffixes; default: ORAS_MAX_ARTIFACT_SIZE, limits.maxArtifactBytes, else 64G)',
    );
  addProjectOptions(upd);
  upd.action(async (names: string[], opts: InstallFlags) =>
    runInstall({ ...opts, frozenLockfile: false }, { update: names.length > 0 ? names : true }),
  );

  const plan = program
    .command('plan')
    .description('show what install would do (install --dry-run)')
    .option('--frozen-lockfile', 'fail when artifacts.lock would change')
    .option('--no-frozen-lockfile', 'allow a changed lock even when CI=true')
    .option('--offline', 'no network');
  addProjectOptions(plan);
  plan.action(async (opts: InstallFlags) => runInstall({ ...opts, dryRun: true }, { dryRun: true }));
}
