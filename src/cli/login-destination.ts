import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { defaultDockerConfigPath } from '../registry/credentials/docker-config.js';
import type { OrasConfig } from '../project/spec/config.js';
import { usageError } from './errors.js';

/**
 * Where `oras login` / `oras logout` write credentials, and the rule that
 * keeps passwords out of repositories: the docker config file is
 * `--registry-config` (always honoured: the user named it), else the oras
 * config's `credentials.configPath`, else `$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`. Without `--registry-config`, the command refuses
 * (`ERR_ORAS_USAGE`, before any credential is sent or read) when the path
 * comes from a project config file (one that is not user-level), or when it
 * resolves inside the project / git checkout around the working directory
 * (the nearest ancestor holding `.git`, `artifacts.yaml` or `artifacts.yml`;
 * a checkout that is the home directory itself, e.g. a dotfiles repository,
 * does not count).
 */

/** The project or git checkout root around `cwd` (nearest ancestor with `.git` / `artifacts.y{a,}ml`), or undefined. */
export function checkoutRoot(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (['.git', 'artifacts.yaml', 'artifacts.yml'].some((n) => existsSync(join(dir, n)))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

function inside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * The docker config path login/logout may write, or a usage error naming the
 * file, where the path came from and the fix. `userLevel` says whether
 * `config.file` is a user-level config (see `config-trust.ts`).
 */
export function loginDestination(
  explicit: string | undefined,
  config: OrasConfig,
  userLevel: boolean,
  cwd: string = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (explicit !== undefined) return resolve(cwd, explicit);
  const configured = config.credentials.configPath;
  const path = configured ?? defaultDockerConfigPath(env);
  const fix = `pass --registry-config <file> to choose the file explicitly (e.g. --registry-config ${join(homedir(), '.docker', 'config.json')})`;
  if (configured !== undefined && config.file !== undefined && !userLevel) {
    throw usageError(
      `refusing to store credentials in ${path}: the path comes from the project config ${config.file} (credentials.configPath)`,
      fix,
    );
  }
  const root = checkoutRoot(cwd);
  const home = resolve(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir());
  if (root !== undefined && root !== home && inside(resolve(path), root)) {
    const from =
      configured !== undefined
        ? `credentials.configPath of ${config.file ?? 'the config'}`
        : env.DOCKER_CONFIG !== undefined
          ? 'DOCKER_CONFIG'
          : 'the default location';
    throw usageError(
      `refusing to store credentials in ${path}: it is inside the project/checkout ${root} (from ${from})`,
      fix,
    );
  }
  return path;
}
