import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { removeCredential, saveCredential } from '../../registry/credentials/store.js';
import { cliConfig } from '../config.js';
import { cliState, interrupt, outLine, printJson, readStdin } from '../context.js';
import { explicitCredential } from '../credentials.js';
import { loginDestination } from '../login-destination.js';
import { usageError } from '../errors.js';
import {
  addCommonOptions,
  addFormatOption,
  addRemoteOptions,
  remoteFlagsOf,
  type CommonFlags,
  type RemoteFlags,
} from '../options.js';
import { openRegistry } from '../targets.js';

/** Asks a question on the terminal; `secret` hides the typed characters. */
async function prompt(question: string, secret: boolean): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (secret) {
    const write = rl as unknown as { _writeToOutput?: (s: string) => void };
    write._writeToOutput = (s: string) => {
      if (s.startsWith(question)) process.stderr.write(question);
    };
  }
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    if (secret) process.stderr.write('\n');
  }
}

/** Fills in a missing username/password interactively when stdin is a terminal. */
async function interactiveFlags(flags: RemoteFlags): Promise<RemoteFlags> {
  if (
    flags.identityToken !== undefined ||
    flags.passwordStdin === true ||
    (flags.username !== undefined && flags.password !== undefined)
  )
    return flags;
  if (process.stdin.isTTY !== true) {
    throw usageError(
      'no credentials given and stdin is not a terminal',
      'pass -u USER --password-stdin (password on stdin) or --identity-token',
    );
  }
  const username = flags.username ?? (await prompt('Username: ', false));
  const password = flags.password ?? (await prompt('Password: ', true));
  return { ...flags, username, password };
}

/** The docker config file login/logout write (see {@link loginDestination}: never inside a project unless named explicitly). */
async function destination(explicit: string | undefined): Promise<string> {
  const cfg = await cliConfig();
  const userLevel =
    cfg.file !== undefined &&
    (await import('../../project/spec/config-trust.js').then((t) => t.isUserLevelConfig(cfg.file!)));
  return loginDestination(explicit, cfg, userLevel);
}

/** `oras login REGISTRY` and `oras logout REGISTRY`. */
export function registerLogin(program: Command): void {
  const login = program
    .command('login')
    .description(
      'log in to a registry: verify the credentials, then store them in the docker config (or its credential helper)',
    )
    .argument('<registry>', 'registry host[:port]');
  addRemoteOptions(login, { layout: false });
  login.option('--config <file>', 'alias of --registry-config (oras 0.x)');
  login.option('--identity-token-stdin', 'read the identity (refresh) token from stdin (oras 1.3)');
  addCommonOptions(login);
  addFormatOption(login);
  login.action(async (registryArg: string, opts: CommonFlags & Record<string, unknown>) => {
    let flags = remoteFlagsOf(opts);
    if (typeof opts.config === 'string' && flags.registryConfig === undefined)
      flags = { ...flags, registryConfig: opts.config };
    // Where the password would be written is checked first: nothing is read or sent when it is refused.
    const configPath = await destination(flags.registryConfig);
    if (opts.identityTokenStdin === true) {
      if (flags.passwordStdin === true || flags.identityToken !== undefined)
        throw usageError('--identity-token-stdin cannot be combined with --password-stdin or --identity-token');
      // Like docker/oras: the whole of stdin, trailing newlines dropped.
      flags = { ...flags, identityToken: (await readStdin()).replace(/[\r\n]+$/, '') };
    }
    flags = await interactiveFlags(flags);
    const cred = await explicitCredential(flags);
    if (cred === undefined) throw usageError('no credentials given', 'pass -u USER --password-stdin');
    // Verify against the registry with exactly these credentials before saving anything.
    const { registry, host, close } = await openRegistry(registryArg, flags);
    try {
      await registry.ping({ signal: interrupt.signal });
    } finally {
      await close();
    }
    const location = await saveCredential(host, cred, { configPath });
    if (cliState.format === 'json') {
      printJson({ registry: host, stored: location });
      return;
    }
    outLine('Login Succeeded');
  });

  const logout = program
    .command('logout')
    .description('remove the stored credentials of a registry')
    .argument('<registry>', 'registry host[:port]')
    .option('-c, --registry-config <file>', 'docker-style config.json holding credentials')
    .option('--config <file>', 'alias of --registry-config (oras 0.x)');
  addCommonOptions(logout);
  addFormatOption(logout);
  logout.action(async (registryArg: string, opts: CommonFlags & { registryConfig?: string; config?: string }) => {
    const host = registryArg.trim().replace(/\/+$/, '');
    if (host === '' || host.includes('/'))
      throw usageError(`invalid registry ${JSON.stringify(registryArg)}`, 'use host[:port]');
    const wire = host === 'docker.io' ? 'registry-1.docker.io' : host;
    const configPath = await destination(opts.registryConfig ?? opts.config);
    const removed = await removeCredential(wire, { configPath });
    if (cliState.format === 'json') {
      printJson({ registry: wire, removed });
      return;
    }
    outLine(removed ? `Removed login credentials for ${host}` : `Not logged in to ${host}`);
  });
}
