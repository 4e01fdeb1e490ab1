import { createCredentialProvider } from '../registry/credentials/provider.js';
import type { Credential, CredentialProvider } from '../registry/credentials/types.js';
import { readStdin, warn } from './context.js';
import type { RemoteFlags } from './options.js';

/**
 * Credential plumbing of the CLI: explicit flags (`-u/-p`, `--password-stdin`,
 * `--identity-token`) for the target host, else the docker-style config file
 * (`--registry-config`, the config file's `credentials.configPath`,
 * `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`) through the library's
 * credential store.
 */

let stdinSecret: Promise<string> | undefined;
let warnedPassword = false;

/** Reads the `--password-stdin` secret once per process (trailing newline removed). */
export function passwordFromStdin(): Promise<string> {
  stdinSecret ??= readStdin().then((s) => s.replace(/\r?\n$/, ''));
  return stdinSecret;
}

/** Prints the "-p is insecure" warning once per process. */
export function warnInsecurePassword(): void {
  if (warnedPassword) return;
  warnedPassword = true;
  warn(
    'using --password on the command line is insecure (it shows up in shell history and process lists); use --password-stdin',
  );
}

/** The credential given explicitly by flags, or undefined when none was. */
export async function explicitCredential(flags: RemoteFlags): Promise<Credential | undefined> {
  if (flags.password !== undefined) warnInsecurePassword();
  if (flags.identityToken !== undefined) return { identityToken: flags.identityToken };
  let password = flags.password;
  if (flags.passwordStdin === true) {
    const secret = await passwordFromStdin();
    if (flags.username === undefined) return { identityToken: secret };
    password = secret;
  }
  if (flags.username === undefined && password === undefined) return undefined;
  return {
    ...(flags.username !== undefined ? { username: flags.username } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

/** The docker config file to use: the flag, else the oras config's `credentials.configPath`, else the default search. */
export function registryConfigPath(flags: RemoteFlags, configured: string | undefined): string | undefined {
  return flags.registryConfig ?? configured;
}

/**
 * The provider for one target: the explicit credential for `host` (when flags
 * gave one), otherwise whatever the docker config file (or its credential
 * helper) says, via the library's {@link createCredentialProvider}.
 */
export async function credentialProviderFor(
  host: string,
  flags: RemoteFlags,
  configured: string | undefined,
): Promise<CredentialProvider> {
  const explicit = await explicitCredential(flags);
  const configPath = registryConfigPath(flags, configured);
  return createCredentialProvider({
    ...(configPath !== undefined ? { configPath } : {}),
    ...(explicit !== undefined ? { ...explicit, registry: host } : {}),
  });
}
