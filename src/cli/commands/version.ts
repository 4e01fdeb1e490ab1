import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { packageFile, packageManifest } from '../../package-files.js';
import { cliState, outLine, printJson } from '../context.js';
import { addCommonOptions, addFormatOption } from '../options.js';

/** Version facts printed by `oras version`. */
export interface VersionInfo {
  version: string;
  nodeVersion: string;
  platform: string;
  gitCommit: string;
  gitTreeState: string;
}

/** Reads the package version (from the package root's package.json) and runtime facts. */
export function versionInfo(): VersionInfo {
  const build = readBuildInfo();
  return {
    version: packageVersion(),
    nodeVersion: process.version,
    platform: `${process.platform}/${process.arch}`,
    gitCommit: process.env.ORAS_TS_GIT_COMMIT ?? build.gitCommit ?? 'unknown',
    gitTreeState: process.env.ORAS_TS_GIT_TREE_STATE ?? build.gitTreeState ?? 'unknown',
  };
}

/** The package version from our package.json ('unknown' outside a package); what `--version` prints. */
export function packageVersion(): string {
  const version = packageManifest()?.version;
  return typeof version === 'string' ? version : 'unknown';
}

/** `dist/build-info.json`, written by `scripts/build-info.mjs` at build time (absent: empty). */
function readBuildInfo(): { gitCommit?: string; gitTreeState?: string } {
  const file = packageFile('dist/build-info.json');
  if (file === undefined) return {};
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const out: { gitCommit?: string; gitTreeState?: string } = {};
    if (typeof raw.gitCommit === 'string' && /^[0-9a-f]{7,64}$|^unknown$/.test(raw.gitCommit))
      out.gitCommit = raw.gitCommit;
    if (typeof raw.gitTreeState === 'string' && /^(clean|dirty|unknown)$/.test(raw.gitTreeState))
      out.gitTreeState = raw.gitTreeState;
    return out;
  } catch {
    return {};
  }
}

/** `oras version`: prints `Version: …` and runtime fields, or JSON. */
export function registerVersion(program: Command): void {
  const cmd = program.command('version').description('show version information');
  addCommonOptions(cmd);
  addFormatOption(cmd);
  cmd.action(() => {
    const info = versionInfo();
    if (cliState.format === 'json') {
      printJson(info);
      return;
    }
    outLine(`Version:        ${info.version}`);
    outLine(`Node.js:        ${info.nodeVersion}`);
    outLine(`OS/Arch:        ${info.platform}`);
    outLine(`Git commit:     ${info.gitCommit}`);
    outLine(`Git tree state: ${info.gitTreeState}`);
  });
}
