import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { CosmiconfigResult, Loader } from 'cosmiconfig';
import { isOrasError, OrasError } from '../../errors.js';
import { validateConfig } from './validate.js';
import type { YamlSource } from './yaml-errors.js';
import { parseCanonicalYaml } from './canonical-yaml.js';
import type { Issue } from './issues.js';
import { parseByteSize } from './cache-units.js';

/** Settings for one registry host (`registries.<host>`). */
export interface RegistryConfig {
  /** Use plain HTTP (default: only for loopback hosts). */
  plainHttp?: boolean;
  /** Skip TLS certificate verification (test registries only). */
  insecure?: boolean;
  /** PEM CA bundle to trust (absolute after loading). */
  caFile?: string;
  /** PEM client certificate for mTLS (absolute after loading). */
  certFile?: string;
  /** PEM client key for mTLS (absolute after loading). */
  keyFile?: string;
  /**
   * Serve this host from local OCI image layouts instead of the network:
   * repository `R` is the layout directory `<ociLayout>/R` (absolute after loading).
   */
  ociLayout?: string;
  /** Mirror hosts tried first, in order, for pulls. */
  mirrors?: string[];
  /** Extra headers sent to this registry (never logged). */
  headers?: Record<string, string>;
}

/** How files are placed from the cache into the project. */
export type LinkMode = 'auto' | 'reflink' | 'hardlink' | 'copy';

/** The config file as written (every key optional), validated by `schemas/oras-config.schema.json`. */
export interface OrasConfigFile {
  registries?: Record<string, RegistryConfig>;
  concurrency?: number;
  cache?: { dir?: string; link?: LinkMode; maxSize?: number | string };
  credentials?: { configPath?: string };
  limits?: { maxManifestBytes?: number; maxUncompressedBytes?: number; maxEntries?: number; maxArtifactBytes?: number };
  /** Time bounds of registry requests, seconds (`speedLimit`: bytes/s); see `src/targets/transfer-timeouts.ts`. */
  timeouts?: { request?: number; speedLimit?: number; speedTime?: number };
}

/** The effective configuration: defaults applied, file paths absolute. */
export interface OrasConfig {
  registries: Record<string, RegistryConfig>;
  /** Parallel transfers (default {@link DEFAULT_CONCURRENCY}). */
  concurrency: number;
  /** `maxSize` in bytes (absent: no budget). */
  cache: { dir: string; link: LinkMode; maxSize?: number };
  credentials: { configPath?: string };
  limits: { maxManifestBytes?: number; maxUncompressedBytes?: number; maxEntries?: number; maxArtifactBytes?: number };
  /** Time bounds of registry requests as written (seconds; `speedLimit` bytes/s); absent when the file sets none. */
  timeouts?: { request?: number; speedLimit?: number; speedTime?: number };
  /** The file the settings came from (absent when none was found). */
  file?: string;
}

/** Default parallelism for install/publish. */
export const DEFAULT_CONCURRENCY = 8;

/**
 * Where the config is searched, in each directory from `cwd` up to `stopDir`
 * (default: the home directory), then in the global config directory
 * (`$XDG_CONFIG_HOME/oras/config{,.json,.yaml,.yml}`). Only data formats:
 * JavaScript/TypeScript configs (`oras.config.js`, `.orasrc.js`, …) are
 * refused, so reading a project's settings never runs its code.
 */
export const CONFIG_SEARCH_PLACES = [
  'oras.yaml',
  'oras.yml',
  'oras.json',
  '.orasrc',
  '.orasrc.yaml',
  '.orasrc.yml',
  '.orasrc.json',
  '.config/orasrc',
  '.config/orasrc.yaml',
  '.config/orasrc.yml',
  '.config/orasrc.json',
  'package.json',
] as const;

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Directory to start searching from. */
  cwd: string;
  /** Load exactly this file instead of searching (e.g. `--config`). Missing → `ERR_ORAS_CONFIG`. */
  explicitPath?: string;
  /** Stop searching parent directories here (default: the home directory). */
  stopDir?: string;
  /** Environment for defaults (`XDG_CACHE_HOME`, `HOME`) and the trust store (`XDG_CONFIG_HOME`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * Check that a searched-for file setting weakening options is trusted
   * (see `config-trust.ts`; `ERR_ORAS_UNTRUSTED_CONFIG` otherwise). Default
   * true; never applied to `explicitPath` (the user named that file).
   */
  checkTrust?: boolean;
}

const refuseCode: Loader = (filepath) => {
  throw new OrasError(
    'ERR_ORAS_CONFIG',
    `${basename(filepath)}: JavaScript/TypeScript config files are not supported`,
    {
      hint: 'write the settings as YAML or JSON (oras.yaml, .orasrc.yaml, .orasrc.json)',
    },
  );
};

/**
 * The cache directory, one rule for the whole package: `$ORAS_CACHE_DIR` (resolved), else
 * `configured` (e.g. the config's `cache.dir`), else `$XDG_CACHE_HOME/oras-ts` when that is an
 * absolute path (the XDG spec ignores relative ones), else `$HOME/.cache/oras-ts` (the OS home
 * directory when `HOME` is unset). The cache is an OCI image layout plus `unpacked/` trees.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, configured?: string): string {
  if (env.ORAS_CACHE_DIR !== undefined && env.ORAS_CACHE_DIR !== '') return resolve(env.ORAS_CACHE_DIR);
  if (configured !== undefined && configured !== '') return resolve(configured);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'oras-ts');
  return join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), '.cache', 'oras-ts');
}

function expandPath(p: string, baseDir: string, env: NodeJS.ProcessEnv): string {
  if (p === '~' || p.startsWith('~/'))
    return join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), p.slice(1));
  return resolve(baseDir, p);
}

/** `cache.maxSize` in bytes (the schema already checked its form). */
function cacheMaxSize(v: number | string | undefined): { maxSize?: number } {
  if (v === undefined) return {};
  const n = parseByteSize(v);
  if (typeof n !== 'number')
    throw new OrasError('ERR_ORAS_CONFIG', `cache.maxSize: ${n.message}`, { hint: 'e.g. `cache: { maxSize: 2GiB }`' });
  return { maxSize: n };
}

/** Applies defaults and resolves relative paths against `baseDir` (the config file's directory). */
export function resolveConfig(
  file: OrasConfigFile,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
  filePath?: string,
): OrasConfig {
  const registries: Record<string, RegistryConfig> = {};
  for (const [host, reg] of Object.entries(file.registries ?? {})) {
    const r: RegistryConfig = { ...reg };
    for (const key of ['caFile', 'certFile', 'keyFile', 'ociLayout'] as const) {
      const v = reg[key];
      if (v !== undefined) r[key] = expandPath(v, baseDir, env);
    }
    if (reg.mirrors !== undefined) r.mirrors = [...reg.mirrors];
    if (reg.headers !== undefined) r.headers = { ...reg.headers };
    registries[host] = r;
  }
  const configPath = file.credentials?.configPath;
  return {
    registries,
    concurrency: file.concurrency ?? DEFAULT_CONCURRENCY,
    cache: {
      dir:
        file.cache?.dir !== undefined
          ? expandPath(file.cache.dir, baseDir, env)
          : defaultCacheDir({ ...env, ORAS_CACHE_DIR: '' }),
      link: file.cache?.link ?? 'auto',
      ...cacheMaxSize(file.cache?.maxSize),
    },
    credentials: configPath !== undefined ? { configPath: expandPath(configPath, baseDir, env) } : {},
    limits: { ...(file.limits ?? {}) },
    ...(file.timeouts !== undefined ? { timeouts: { ...file.timeouts } } : {}),
    ...(filePath !== undefined ? { file: filePath } : {}),
  };
}

async function locate(
  filepath: string,
  shownName: string,
  issues: Issue[],
): Promise<YamlSource | { fileName: string }> {
  try {
    const text = await readFile(filepath, 'utf8');
    const { parseYamlSource } = await import('./yaml-errors.js');
    const { source } = parseYamlSource(text, shownName, 'ERR_ORAS_CONFIG');
    if (basename(filepath) !== 'package.json') return source;
    for (const issue of issues) {
      issue.segments = ['oras', ...(issue.segments ?? [])];
    }
    return source;
  } catch {
    return { fileName: shownName };
  }
}

/**
 * Finds, loads and validates the oras config (cosmiconfig 9, module `oras`,
 * search places {@link CONFIG_SEARCH_PLACES}), applying defaults: concurrency
 * 8, cache dir {@link defaultCacheDir}, link `auto`. Relative paths in the file
 * are resolved against its directory; `~/` is expanded. With no file found,
 * returns the defaults. Errors: `ERR_ORAS_CONFIG` listing every issue with
 * `file:line:col` (YAML/JSON files) or for unreadable/unparseable files;
 * `ERR_ORAS_UNTRUSTED_CONFIG` when a project file sets weakening settings
 * (plain HTTP/insecure for a remote host, CA/client certs,
 * `credentials.configPath`) without `oras trust` (see
 * `config-trust.ts`).
 */
export async function loadConfig(options: LoadConfigOptions): Promise<OrasConfig> {
  const env = options.env ?? process.env;
  const cwd = resolve(options.cwd);
  let result: CosmiconfigResult | undefined =
    options.explicitPath === undefined ? await firstPlaceFast(cwd) : undefined;
  if (result === undefined) result = await searchWithCosmiconfig(cwd, options);
  if (result === null) return resolveConfig({}, cwd, env);
  const filepath = result.filepath;
  const rel = relative(cwd, filepath);
  const shownName = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : filepath;
  const { value, issues } = validateConfig(result.isEmpty === true ? {} : result.config);
  if (value === undefined || issues.length > 0) {
    // Error path only: the position-keeping YAML parser is loaded here.
    const { issuesError } = await import('./yaml-errors.js');
    throw issuesError('ERR_ORAS_CONFIG', await locate(filepath, shownName, issues), issues);
  }
  if (options.explicitPath === undefined && options.checkTrust !== false) {
    const { assertConfigTrusted } = await import('./config-trust.js');
    await assertConfigTrusted(filepath, value, env, shownName);
  }
  return resolveConfig(value, dirname(filepath), env, filepath);
}

/**
 * Loads and validates exactly one config file as written (no defaults, paths
 * not resolved), e.g. to show what trusting it allows. Errors as {@link loadConfig}.
 */
export async function readConfigFile(path: string, cwd: string = process.cwd()): Promise<OrasConfigFile> {
  const result = await searchWithCosmiconfig(resolve(cwd), { cwd, explicitPath: path });
  const { value, issues } = validateConfig(result === null || result.isEmpty === true ? {} : result.config);
  if (value === undefined || issues.length > 0) {
    const { issuesError } = await import('./yaml-errors.js');
    throw issuesError('ERR_ORAS_CONFIG', await locate(resolve(cwd, path), path, issues), issues);
  }
  return value;
}

/**
 * The common case without loading cosmiconfig (~20 ms of start-up): the start
 * directory itself holds a non-empty `oras.yaml` (the first search place) in
 * the canonical YAML subset. cosmiconfig's search (global strategy, empty
 * files skipped) would return exactly that file first, so the result is the
 * same; anything else (no such file, empty, a directory, other YAML) returns
 * undefined and the full search runs.
 */
async function firstPlaceFast(cwd: string): Promise<CosmiconfigResult | undefined> {
  const filepath = join(cwd, CONFIG_SEARCH_PLACES[0]);
  let content: string;
  try {
    content = await readFile(filepath, 'utf8');
  } catch {
    return undefined;
  }
  if (content.trim() === '') return undefined;
  const config = parseCanonicalYaml(content);
  return config === undefined ? undefined : { filepath, config };
}

/** The full cosmiconfig search (or `explicitPath` load); cosmiconfig is imported on first use. */
async function searchWithCosmiconfig(cwd: string, options: LoadConfigOptions): Promise<CosmiconfigResult> {
  const { cosmiconfig, defaultLoaders } = await import('cosmiconfig');
  // The canonical block subset (what `yaml.stringify` and most hand-written configs produce) is
  // read by the fast reader of canonical-yaml.ts; anything else goes to cosmiconfig's YAML loader.
  const loadYaml: Loader = (filepath, content) =>
    parseCanonicalYaml(content) ?? defaultLoaders['.yaml'](filepath, content);
  const explorer = cosmiconfig('oras', {
    searchPlaces: [...CONFIG_SEARCH_PLACES],
    mergeSearchPlaces: false,
    searchStrategy: 'global',
    stopDir: options.stopDir ?? homedir(),
    cache: false,
    loaders: {
      '.json': defaultLoaders['.json'],
      '.yaml': loadYaml,
      '.yml': loadYaml,
      noExt: loadYaml,
      '.js': refuseCode,
      '.mjs': refuseCode,
      '.cjs': refuseCode,
      '.ts': refuseCode,
      '.mts': refuseCode,
      '.cts': refuseCode,
    },
  });
  try {
    if (options.explicitPath !== undefined) return await explorer.load(resolve(cwd, options.explicitPath));
    return await explorer.search(cwd);
  } catch (err) {
    if (isOrasError(err)) throw err;
    const e = err as NodeJS.ErrnoException & { filepath?: string };
    if (e.code === 'ENOENT' && options.explicitPath !== undefined) {
      throw new OrasError('ERR_ORAS_CONFIG', `config file ${options.explicitPath} does not exist`, {
        cause: err,
        hint: 'check the --config path',
      });
    }
    const where = e.filepath ?? options.explicitPath ?? cwd;
    throw new OrasError('ERR_ORAS_CONFIG', `cannot load config ${where}: ${e.message.split('\n')[0] ?? String(err)}`, {
      cause: err,
      hint: 'fix the YAML/JSON syntax of the config file',
    });
  }
}
