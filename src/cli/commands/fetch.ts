import type { Command } from 'commander';
import { fetchLocked } from '../../project/fetch.js';
import { cliState, interrupt, outLine, printJson } from '../context.js';
import { addProjectOptions, withProjectContext, type ProjectFlags } from './project-shared.js';

interface FetchFlags extends ProjectFlags {
  lockfile?: string;
  offline?: boolean;
}

/** `oras fetch`: fill the cache from artifacts.lock alone (like `pnpm fetch`). */
export function registerFetch(program: Command): void {
  const cmd = program
    .command('fetch')
    .description(
      'fill the cache from artifacts.lock alone (no artifacts.yaml or project tree needed); then `oras install --offline` works',
    )
    .option('--lockfile <file>', 'the lockfile to read (default: artifacts.lock in the project directory)')
    .option('--offline', 'no network: only check that everything is cached');
  addProjectOptions(cmd);
  cmd.action(async (opts: FetchFlags) => {
    await withProjectContext(opts, async (ctx) => {
      const r = await fetchLocked({
        lockfile: opts.lockfile ?? ctx.projectDir,
        config: ctx.config,
        registryAccess: ctx.access,
        concurrency: ctx.concurrency,
        signal: interrupt.signal,
        ...(opts.offline === true ? { offline: true } : {}),
        ...(ctx.onEvent !== undefined ? { onEvent: ctx.onEvent } : {}),
      });
      if (cliState.format === 'json') printJson(r);
      else
        outLine(
          `Fetched ${r.dependencies} dependenc${r.dependencies === 1 ? 'y' : 'ies'} from ${r.lockfile}: ${r.blobs} blob(s), ${r.unpacked} directory layer(s) unpacked, into ${r.cacheDir}`,
        );
    });
  });
}
