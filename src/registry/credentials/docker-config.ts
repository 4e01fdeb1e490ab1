/**
 * Reading Docker's `config.json`: `auths` (base64 `auth`, `identitytoken`,
 * `registrytoken`), `credsStore` and `credHelpers`.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OrasError } from '../../errors.js';
import { helperGet, type HelperOptions } from './helper.js';
import { normalizeRegistryKey, storeKey } from './keys.js';
import type { Credential } from './types.js';

/** One `auths` entry. */
export interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  [key: string]: unknown;
}

/** The parts of `config.json` this library reads; unknown keys are kept. */
export interface DockerConfigFile {
  auths?: Record<string, DockerAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** Cap on config.json size (4 MiB). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['DOCKER_CONFIG'];
  if (dir !== undefined && dir !== '') return join(dir, 'config.json');
  return join(env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir(), '.docker', 'config.json');
}

/**
 * Parses config.json text. Throws `ERR_ORAS_CONFIG` (naming `path`, never
 * quoting content) when it is not a JSON object or has ill-typed known keys.
 */
export function parseDockerConfig(text: string, path = 'config.json'): DockerConfigFile {
  let json: unknown;
  try {
    json = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new OrasError('ERR_ORAS_CONFIG', `${path} is not valid JSON`, {
      hint: 'fix or remove the docker config file',
    });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new OrasError('ERR_ORAS_CONFIG', `${path} is not a JSON object`, {
      hint: 'fix or remove the docker config file',
    });
  }
  const c = json as DockerConfigFile;
  const isObj = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (c.auths !== undefined && !isObj(c.auths))
    throw new OrasError('ERR_ORAS_CONFIG', `${path}: "auths" is not an object`, { hint: 'fix the docker config file' });
  if (c.credHelpers !== undefined && !isObj(c.credHelpers))
    throw new OrasError('ERR_ORAS_CONFIG', `${path}: "credHelpers" is not an object`, {
      hint: 'fix the docker config file',
    });
  if (c.credsStore !== undefined && typeof c.credsStore !== 'string')
    throw new OrasError('ERR_ORAS_CONFIG', `${path}: "credsStore" is not a string`, {
      hint: 'fix the docker config file',
    });
  return c;
}

/** Reads and parses config.json; undefined when the file does not exist. */
export async function readDockerConfig(path: string): Promise<DockerConfigFile | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new OrasError('ERR_ORAS_CONFIG', `cannot read ${path} (${code ?? 'error'})`, {
      cause: err,
      hint: 'check the permissions of the docker config file',
    });
  }
  if (buf.length > MAX_CONFIG_BYTES)
    throw new OrasError('ERR_ORAS_CONFIG', `${path} is larger than 4 MiB`, { hint: 'fix the docker config file' });
  return parseDockerConfig(buf.toString('utf8'), path);
}

/**
 * The credential of an `auths` entry: `auth` = base64 `user:pass` (split at the
 * first colon) or explicit username/password, plus `identitytoken` and
 * `registrytoken`. Undefined for an empty entry. Throws `ERR_ORAS_CONFIG` for
 * an undecodable `auth`.
 */
export function credentialFromAuthEntry(entry: DockerAuthEntry, key = 'auths entry'): Credential | undefined {
  const cred: Credential = {};
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0 || !/^[A-Za-z0-9+/=\s]+$/.test(entry.auth)) {
      throw new OrasError('ERR_ORAS_CONFIG', `the "auth" value for ${key} is not base64 of user:password`, {
        hint: `run \`oras login ${key}\` again`,
      });
    }
    cred.username = decoded.slice(0, colon);
    cred.password = decoded.slice(colon + 1);
  } else {
    if (typeof entry.username === 'string' && entry.username !== '') cred.username = entry.username;
    if (typeof entry.password === 'string' && entry.password !== '') cred.password = entry.password;
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') cred.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '') cred.registryToken = entry.registrytoken;
  return Object.keys(cred).length > 0 ? cred : undefined;
}

/** The `auths` entry for `registry` (exact key first, then any key normalizing to the same host). */
export function findAuthEntry(
  config: DockerConfigFile,
  registry: string,
): { key: string; entry: DockerAuthEntry } | undefined {
  const auths = config.auths ?? {};
  const exact = storeKey(registry);
  const e = auths[exact];
  if (e !== undefined && e !== null && typeof e === 'object') return { key: exact, entry: e };
  const want = normalizeRegistryKey(registry);
  for (const [key, entry] of Object.entries(auths)) {
    if (entry !== null && typeof entry === 'object' && normalizeRegistryKey(key) === want) return { key, entry };
  }
  return undefined;
}

/** The credential helper name for `registry`: a matching `credHelpers` entry, else `credsStore`. */
export function helperFor(config: DockerConfigFile, registry: string): string | undefined {
  const want = normalizeRegistryKey(registry);
  for (const [key, name] of Object.entries(config.credHelpers ?? {})) {
    if (typeof name === 'string' && name !== '' && normalizeRegistryKey(key) === want) return name;
  }
  return typeof config.credsStore === 'string' && config.credsStore !== '' ? config.credsStore : undefined;
}

/**
 * Looks `registry` up in a parsed config: the configured helper first (server
 * URL = {@link storeKey}); when it has nothing (or no helper is configured),
 * the `auths` entry. Undefined when neither has credentials.
 */
export async function credentialFromConfig(
  config: DockerConfigFile,
  registry: string,
  opts: HelperOptions = {},
): Promise<Credential | undefined> {
  const helper = helperFor(config, registry);
  if (helper !== undefined) {
    const fromHelper = await helperGet(helper, storeKey(registry), opts);
    if (fromHelper !== undefined) return fromHelper;
  }
  const found = findAuthEntry(config, registry);
  return found === undefined ? undefined : credentialFromAuthEntry(found.entry, normalizeRegistryKey(registry));
}
