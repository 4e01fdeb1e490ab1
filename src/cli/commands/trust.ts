import type { Command } from 'commander';
import { cliState, outLine, printJson } from '../context.js';
import { usageError } from '../errors.js';
import { addCommonOptions, addFormatOption, type CommonFlags } from '../options.js';

/**
 * `oras trust [file]`, `oras trust --list`, `oras trust --revoke [file]`:
 * manages the user's trust store for project config files (see
 * `project/spec/config-trust.ts`). Without a file, the config the search from
 * the working directory finds (`oras.yaml`, `.orasrc*`, `package.json#oras`,
 * …) is meant. Trusting records the file's real path and content hash
 * outside the project; a later change to the file needs trusting again.
 */

interface TrustFlags extends CommonFlags {
  list?: boolean;
  revoke?: boolean;
}

/** The config file the search from the working directory finds (without the trust check), or a usage error. */
async function searchedConfigFile(): Promise<string> {
  const { loadConfig } = await import('../../project/spec/config.js');
  const cfg = await loadConfig({ cwd: process.cwd(), checkTrust: false });
  if (cfg.file === undefined)
    throw usageError('no oras config file found from this directory', 'name the file: oras trust <file>');
  return cfg.file;
}

/** Registers `oras trust`. */
export function registerTrust(program: Command): void {
  const cmd = program
    .command('trust')
    .description(
      'trust a project config file (oras.yaml, .orasrc*, package.json) to set plain HTTP, CA/client certificates, or credentials.configPath',
    )
    .argument('[file]', 'the config file (default: the one found from the current directory)')
    .option('--list', 'list the trusted config files')
    .option('--revoke', 'stop trusting the file');
  addCommonOptions(cmd);
  addFormatOption(cmd);
  cmd.action(async (file: string | undefined, opts: TrustFlags) => {
    const trust = await import('../../project/spec/config-trust.js');
    if (opts.list === true) {
      if (file !== undefined || opts.revoke === true) throw usageError('--list takes no file and no --revoke');
      const all = await trust.listTrustedConfigs();
      if (cliState.format === 'json') return printJson({ store: trust.trustStorePath(), trusted: all });
      if (all.length === 0) outLine(`No trusted config files (${trust.trustStorePath()})`);
      for (const t of all) outLine(`${t.path}  sha256:${t.sha256.slice(0, 12)}  ${t.trustedAt}`);
      return;
    }
    const target = file ?? (await searchedConfigFile());
    if (opts.revoke === true) {
      const removed = await trust.revokeConfigTrust(target);
      if (cliState.format === 'json') return printJson({ file: target, revoked: removed });
      outLine(removed ? `No longer trusted: ${target}` : `Not trusted: ${target}`);
      return;
    }
    const { readConfigFile } = await import('../../project/spec/config.js');
    const settings = trust.weakeningSettings(await readConfigFile(target));
    const record = await trust.trustConfigFile(target);
    if (cliState.format === 'json') return printJson({ ...record, settings });
    outLine(`Trusted ${record.path} (sha256:${record.sha256.slice(0, 12)})`);
    if (settings.length > 0) outLine(`It may now set: ${settings.join(', ')}`);
  });
}
