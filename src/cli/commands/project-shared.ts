import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { OrasConfig } from '../../project/spec/config.js';
import type { ProjectListener } from '../../project/events.js';
import { cliConfig, effectiveConcurrency } from '../config.js';
import { cliState, stderrIsTty } from '../context.js';
import { positiveInt } from '../args.js';
import { addCommonOptions, type CommonFlags, type RemoteFlags } from '../options.js';
import { ProjectTargets } from '../../targets/project-targets.js';
import type { RegistryAccess } from '../../targets/registry-access.js';
import { accessFromFlags } from '../targets.js';
import { createProjectProgress, type ProjectProgress } from '../render/project-progress.js';

/** Flags shared by the declarative commands. */
export interface ProjectFlags extends CommonFlags {
  project?: string;
  concurrency?: number;
  registryConfig?: string;
  plainHttp?: boolean;
  insecure?: boolean;
  caFile?: string;
}

/** Adds `--project`, `--concurrency`, `--format text|json`, `--json`, registry access flags and the common flags. */
export function addProjectOptions(cmd: Command): Command {
  cmd
    .option('-C, --project <dir>', 'project directory holding artifacts.yaml (default: current directory)')
    .option(
      '--concurrency <n>',
      'parallel operations (default: oras config value, else 8)',
      positiveInt('--concurrency'),
    )
    .option('--format <format>', 'output format: text or json', 'text')
    .option('--json', 'shorthand for --format json')
    .option('-c, --registry-config <file>', 'docker-style config.json holding credentials')
    .option('--plain-http', 'use plain HTTP for every registry')
    .option('--no-plain-http', 'force HTTPS, also for loopback hosts')
    .option('--insecure', 'skip TLS certificate verification')
    .option('--ca-file <file>', 'PEM file of extra CA certificates to trust');
  return addCommonOptions(cmd);
}

/**
 * Everything a declarative command needs: project dir, config, the flags as the library's
 * `RegistryAccess`, stores (for the commands that take a factory), listener. Library commands
 * that accept a config (install, publish, verify, fetch) get `config` + `access` and open their
 * stores themselves, exactly as a library caller would.
 */
export interface ProjectContext {
  projectDir: string;
  config: OrasConfig;
  access: RegistryAccess;
  pool: ProjectTargets;
  concurrency: number;
  onEvent: ProjectListener | undefined;
  /** The renderer behind `onEvent` (undefined for `--format json`): per-dependency timings; close before printing results. */
  progress: ProjectProgress | undefined;
}

/** Loads the config (searched from the project directory) and builds the stores (no client is opened yet). */
export async function projectContext(opts: ProjectFlags): Promise<ProjectContext> {
  if (cliState.format !== 'text' && cliState.format !== 'json') {
    const { usageError } = await import('../errors.js');
    throw usageError(`unknown --format ${JSON.stringify(cliState.format)}`, 'use --format text or --format json');
  }
  const projectDir = resolve(opts.project ?? process.cwd());
  const config = await cliConfig(projectDir);
  const flags: RemoteFlags = {
    ...(opts.registryConfig !== undefined ? { registryConfig: opts.registryConfig } : {}),
    ...(opts.plainHttp !== undefined ? { plainHttp: opts.plainHttp } : {}),
    ...(opts.insecure === true ? { insecure: true } : {}),
    ...(opts.caFile !== undefined ? { caFile: opts.caFile } : {}),
  };
  const access = await accessFromFlags(flags, false);
  const progress =
    cliState.format === 'json'
      ? undefined
      : createProjectProgress({ verbose: cliState.verbose, tty: stderrIsTty(opts.tty) });
  return {
    projectDir,
    config,
    access,
    pool: new ProjectTargets({ config, access }),
    concurrency: effectiveConcurrency(opts.concurrency, config, config.concurrency),
    onEvent: progress?.listener,
    progress,
  };
}

/** Runs `fn` with the {@link projectContext} of `opts` and always closes its registry clients. */
export async function withProjectContext<T>(opts: ProjectFlags, fn: (ctx: ProjectContext) => Promise<T>): Promise<T> {
  const ctx = await projectContext(opts);
  try {
    return await fn(ctx);
  } finally {
    ctx.progress?.close();
    await ctx.pool.close();
  }
}
