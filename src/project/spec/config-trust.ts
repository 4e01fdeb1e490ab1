import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { OrasError } from '../../errors.js';
import { isLoopbackHost } from '../../oci/reference.js';
import type { OrasConfigFile } from './config.js';

/**
 * Trust for configuration files, as mise, direnv and git (`safe.directory`)
 * do it: a config file inside a project is data anyone who can open a pull
 * request controls, so the settings that weaken transport security or hand
 * out credentials are honoured from it only after the user trusted that exact
 * file content with `oras trust`.
 *
 * Weakening settings ({@link weakeningSettings}):
 * - `registries.<host>.plainHttp: true` or `insecure: true` for a host that is
 *   not loopback (localhost, 127.0.0.0/8, ::1 stay allowed: tests and local
 *   registries use them; credentials never leave the machine there);
 * - `registries.<host>.caFile`, `certFile`, `keyFile` (a CA override makes a
 *   man in the middle look legitimate; a client key is a credential);
 * - `credentials.configPath` (a docker config names credential helpers,
 *   `credsStore`/`credHelpers`, that are executed, and decides where
 *   passwords are read from and written to).
 *
 * Not weakening, honoured from any file: `ociLayout` and `mirrors` (places
 * bytes are fetched from; every byte is verified against the digest the lock
 * records), `cache.dir` (only digest-named, verified content is read from
 * the cache; benchmarks and fixtures keep their cache next to the project),
 * `headers` (sent to the registry they are configured for, never
 * credentials of the user), `concurrency`, `cache.link`, `limits`, and
 * `plainHttp: false` / `insecure: false`.
 *
 * Trusted without a trust step: user-level files (the global config directory
 * `$XDG_CONFIG_HOME/oras/` or `~/.config/oras/`, and files directly in the
 * home directory: `~/oras.yaml`, `~/.orasrc*`, `~/.config/orasrc*`), a file
 * named explicitly (`--config`, `ORAS_CONFIG`), the environment and flags.
 * Everything else needs an entry in the trust store
 * ({@link trustStorePath}): the file's real path and the SHA-256 of its
 * content (for `package.json`, of its `oras` key), so a changed file must be
 * trusted again. The store lives outside every project.
 */

/** One trusted config file. */
export interface TrustedConfig {
  /** Real absolute path of the file. */
  path: string;
  /** Lowercase hex SHA-256 of the trusted content (for `package.json`: of `JSON.stringify(pkg.oras)`). */
  sha256: string;
  /** ISO time the trust was recorded. */
  trustedAt: string;
}

interface TrustStore {
  version: 1;
  files: TrustedConfig[];
}

function homeOf(env: NodeJS.ProcessEnv): string {
  return env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
}

function xdgConfigHome(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  return xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(homeOf(env), '.config');
}

/** `$XDG_CONFIG_HOME/oras-ts/trusted.json`, else `~/.config/oras-ts/trusted.json`. */
export function trustStorePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(xdgConfigHome(env), 'oras-ts', 'trusted.json');
}

/** The directories whose config files are user-level (trusted without a trust step). */
export function userConfigDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = homeOf(env);
  return [join(xdgConfigHome(env), 'oras'), home, join(home, '.config')].map((d) => resolve(d));
}

/**
 * The weakening settings of a config file as dot paths (see the module
 * docs), e.g. `registries["reg.example"].plainHttp`. PURE.
 */
export function weakeningSettings(file: OrasConfigFile): string[] {
  const out: string[] = [];
  for (const [host, reg] of Object.entries(file.registries ?? {})) {
    const at = `registries[${JSON.stringify(host)}]`;
    const remote = !isLoopbackHost(host);
    if (reg.plainHttp === true && remote) out.push(`${at}.plainHttp`);
    if (reg.insecure === true && remote) out.push(`${at}.insecure`);
    for (const key of ['caFile', 'certFile', 'keyFile'] as const) if (reg[key] !== undefined) out.push(`${at}.${key}`);
  }
  if (file.credentials?.configPath !== undefined) out.push('credentials.configPath');
  return out;
}

/** SHA-256 (hex) of what trusting `path` covers: the bytes, or for `package.json` its `oras` key. */
export async function configContentHash(path: string): Promise<string> {
  const bytes = await readFile(path);
  let covered: Buffer | string = bytes;
  if (basename(path) === 'package.json') {
    try {
      covered = JSON.stringify((JSON.parse(bytes.toString('utf8')) as { oras?: unknown }).oras ?? null);
    } catch {
      // Unparsable: hash the bytes (the loader reports the syntax error).
    }
  }
  return createHash('sha256').update(covered).digest('hex');
}

async function readStore(env: NodeJS.ProcessEnv): Promise<TrustStore> {
  const path = trustStorePath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, files: [] };
    throw new OrasError('ERR_ORAS_IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const doc = JSON.parse(text) as Partial<TrustStore>;
    if (doc.version !== 1 || !Array.isArray(doc.files)) throw new Error('unknown version');
    const files = doc.files.filter(
      (f): f is TrustedConfig =>
        typeof f?.path === 'string' && typeof f.sha256 === 'string' && typeof f.trustedAt === 'string',
    );
    return { version: 1, files };
  } catch (cause) {
    throw new OrasError('ERR_ORAS_CONFIG', `${path} is not a valid trust store`, {
      cause,
      hint: `fix or delete ${path} (then trust your config files again with \`oras trust <file>\`)`,
    });
  }
}

async function writeStore(env: NodeJS.ProcessEnv, store: TrustStore): Promise<void> {
  const path = trustStorePath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await rename(tmp, path);
}

async function realPathOf(file: string): Promise<string> {
  try {
    return await realpath(resolve(file));
  } catch (err) {
    throw new OrasError('ERR_ORAS_CONFIG', `config file ${file} does not exist`, {
      cause: err,
      hint: 'name an existing oras.yaml, .orasrc* or package.json',
    });
  }
}

/** Every trusted config file, sorted by path. */
export async function listTrustedConfigs(env: NodeJS.ProcessEnv = process.env): Promise<TrustedConfig[]> {
  return (await readStore(env)).files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Records `file`'s current content as trusted (replacing an earlier record of the same file). Returns the record. */
export async function trustConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<TrustedConfig> {
  const path = await realPathOf(file);
  const record: TrustedConfig = { path, sha256: await configContentHash(path), trustedAt: new Date().toISOString() };
  const store = await readStore(env);
  store.files = [...store.files.filter((f) => f.path !== path), record];
  await writeStore(env, store);
  return record;
}

/** Removes `file` from the trust store. Returns false when it was not trusted. */
export async function revokeConfigTrust(file: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  let path: string;
  try {
    path = await realpath(resolve(file));
  } catch {
    path = resolve(file);
  }
  const store = await readStore(env);
  const kept = store.files.filter((f) => f.path !== path);
  if (kept.length === store.files.length) return false;
  await writeStore(env, { version: 1, files: kept });
  return true;
}

/** Whether `file` lies in a user-level config directory ({@link userConfigDirs}). */
export async function isUserLevelConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const dir = dirname(await realPathOf(file));
  const dirs = await Promise.all(userConfigDirs(env).map((d) => realpath(d).catch(() => d)));
  return dirs.includes(dir);
}

/**
 * Fails with `ERR_ORAS_UNTRUSTED_CONFIG` when `file` (a config file found by
 * the search, not named explicitly) sets weakening settings, is not
 * user-level, and its current content is not in the trust store. The error
 * names the file (as `shown`, e.g. relative to the working directory),
 * every weakening setting and the fix (`oras trust <file>`).
 * Costs nothing for a file without weakening settings.
 */
export async function assertConfigTrusted(
  file: string,
  config: OrasConfigFile,
  env: NodeJS.ProcessEnv = process.env,
  shown: string = file,
): Promise<void> {
  const weak = weakeningSettings(config);
  if (weak.length === 0 || (await isUserLevelConfig(file, env))) return;
  const path = await realPathOf(file);
  const record = (await readStore(env)).files.find((f) => f.path === path);
  if (record !== undefined && record.sha256 === (await configContentHash(path))) return;
  const what = record !== undefined ? 'changed since it was trusted and sets' : 'is not trusted and sets';
  throw new OrasError(
    'ERR_ORAS_UNTRUSTED_CONFIG',
    `config file ${shown} ${what} ${weak.join(', ')}: settings that weaken TLS or hand out credentials are only honoured from a trusted file`,
    {
      hint: `review the file, then run \`oras trust ${shown}\` (recorded outside the project in ${trustStorePath(env)}), or set these in your user config (${join(xdgConfigHome(env), 'oras', 'config.yaml')}) or with flags`,
    },
  );
}
