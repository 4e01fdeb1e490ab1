/**
 * Saving and removing credentials for `oras login` / `oras logout`: in the
 * configured credential helper when there is one, else in config.json `auths`.
 */
import { OrasError } from '../../errors.js';
import { writeFileAtomic } from './atomic-write.js';
import {
  defaultDockerConfigPath,
  helperFor,
  readDockerConfig,
  type DockerAuthEntry,
  type DockerConfigFile,
} from './docker-config.js';
import { helperErase, helperStore, type HelperOptions } from './helper.js';
import { normalizeRegistryKey, storeKey } from './keys.js';
import type { Credential } from './types.js';

/** Options of {@link saveCredential} / {@link removeCredential}. */
export interface CredentialStoreOptions extends HelperOptions {
  /** config.json path (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`). */
  configPath?: string;
}

/** Where a credential went. */
export type CredentialLocation = { kind: 'helper'; helper: string } | { kind: 'file'; path: string };

async function load(path: string): Promise<DockerConfigFile> {
  return (await readDockerConfig(path)) ?? {};
}

async function save(path: string, config: DockerConfigFile): Promise<void> {
  try {
    await writeFileAtomic(path, `${JSON.stringify(config, null, '\t')}\n`, 0o600);
  } catch (err) {
    if (err instanceof OrasError) throw err;
    throw new OrasError('ERR_ORAS_IO', `cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: err,
      hint: 'check the permissions of the docker config directory',
    });
  }
}

/** Removes every `auths` key denoting `registry`; returns whether any was removed. */
function dropAuths(config: DockerConfigFile, registry: string): boolean {
  if (config.auths === undefined) return false;
  const want = normalizeRegistryKey(registry);
  let changed = false;
  for (const key of Object.keys(config.auths)) {
    if (normalizeRegistryKey(key) === want) {
      delete config.auths[key];
      changed = true;
    }
  }
  return changed;
}

/**
 * Saves `cred` for `registry`. With a credential helper configured for it
 * (`credHelpers` entry or `credsStore`) the helper stores it and config.json is
 * left alone; otherwise `auths[<key>]` gets `auth` (base64 `user:password`) and/or
 * `identitytoken`, replacing entries under alias keys. The file is written
 * atomically with mode 0600, unknown keys preserved; a symlinked config.json is
 * written through to the link's target (the link is kept).
 */
export async function saveCredential(
  registry: string,
  cred: Credential,
  opts: CredentialStoreOptions = {},
): Promise<CredentialLocation> {
  const hasUser = cred.username !== undefined && cred.username !== '' && cred.password !== undefined;
  const hasToken = cred.identityToken !== undefined && cred.identityToken !== '';
  if (!hasUser && !hasToken) {
    throw new OrasError('ERR_ORAS_CREDENTIALS', 'nothing to save: need a username and password, or an identity token', {
      hint: 'pass --username and --password (or --password-stdin)',
    });
  }
  if (cred.username !== undefined && cred.username.includes(':')) {
    throw new OrasError('ERR_ORAS_CREDENTIALS', 'a username must not contain ":"', { hint: 'check the username' });
  }
  const path = opts.configPath ?? defaultDockerConfigPath();
  const config = await load(path);
  const helper = helperFor(config, registry);
  if (helper !== undefined) {
    await helperStore(helper, storeKey(registry), cred, opts);
    return { kind: 'helper', helper };
  }
  dropAuths(config, registry);
  const entry: DockerAuthEntry = {};
  if (hasUser) entry.auth = Buffer.from(`${cred.username ?? ''}:${cred.password ?? ''}`, 'utf8').toString('base64');
  if (hasToken) entry.identitytoken = cred.identityToken as string;
  config.auths = { ...(config.auths ?? {}), [storeKey(registry)]: entry };
  await save(path, config);
  return { kind: 'file', path };
}

/**
 * Removes the credential of `registry`: erases it from the configured helper
 * (if any) and drops matching `auths` entries (rewriting the file only when
 * something changed). Returns false when nothing was stored in the file and no
 * helper is configured.
 */
export async function removeCredential(registry: string, opts: CredentialStoreOptions = {}): Promise<boolean> {
  const path = opts.configPath ?? defaultDockerConfigPath();
  const config = await load(path);
  const helper = helperFor(config, registry);
  if (helper !== undefined) await helperErase(helper, storeKey(registry), opts);
  const changed = dropAuths(config, registry);
  if (changed) await save(path, config);
  return changed || helper !== undefined;
}
