/**
 * vitest globalSetup: starts four real `docker-registry` instances (plain, basic, tls, token) and
 * provides their {@link TestRegistries} as `inject('registries')`. Teardown stops them all and
 * removes their temp dirs (also on partial startup failure).
 *
 * Env: `ORAS_TEST_TOKEN_LIFETIME_SEC` (positive integer) overrides the shared token server's
 * token lifetime (default 300 s).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startRegistry, type RunningRegistry } from './registry.js';
import type { RegistryInfo, RegistryMode, TestRegistries } from './types.js';

const MODES: RegistryMode[] = ['plain', 'basic', 'tls', 'token'];

/** Strips process handles so the value survives vitest's provide() serialisation. */
function toInfo(r: RunningRegistry): RegistryInfo {
  const info: RegistryInfo = {
    mode: r.mode,
    host: r.host,
    url: r.url,
    users: r.users,
    storageDir: r.storageDir,
    logFile: r.logFile,
  };
  if (r.caFile !== undefined) info.caFile = r.caFile;
  if (r.certDir !== undefined) info.certDir = r.certDir;
  if (r.tokenRealm !== undefined) info.tokenRealm = r.tokenRealm;
  if (r.tokenService !== undefined) info.tokenService = r.tokenService;
  if (r.tokenStatsUrl !== undefined) info.tokenStatsUrl = r.tokenStatsUrl;
  return info;
}

/** Newest mtime (ms) of the files below `dir` (0 when it does not exist). */
function newestMtime(dir: string): number {
  let newest = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const s = statSync(join(dir, e), { throwIfNoEntry: false });
    if (s?.isFile() === true && s.mtimeMs > newest) newest = s.mtimeMs;
  }
  return newest;
}

/**
 * CLI tests run dist/cli/main.js, which runs the program bundle dist/cli/oras-cli.cjs: rebuild
 * once, before any test file starts, when either is missing or older than a source file (so a test
 * never runs a stale CLI; a `tsc`-only build refreshes main.js but not the bundle).
 */
function buildIfStale(): void {
  const root = join(import.meta.dirname, '..', '..');
  const mtime = (f: string): number => statSync(join(root, 'dist', 'cli', f), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const built = Math.min(mtime('main.js'), mtime('oras-cli.cjs'));
  if (built >= newestMtime(join(root, 'src'))) return;
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', timeout: 600_000 });
  if (r.status !== 0) throw new Error('dist/ is stale and `npm run build` failed: fix the build first');
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  buildIfStale();
  const baseDir = await mkdtemp(join(tmpdir(), 'oras-ts-harness-'));
  const running: RunningRegistry[] = [];
  const teardown = async (): Promise<void> => {
    await Promise.allSettled(running.map((r) => r.stop()));
    await rm(baseDir, { recursive: true, force: true });
  };
  try {
    const lifetime = Number(process.env.ORAS_TEST_TOKEN_LIFETIME_SEC ?? '');
    const tokenOpts = Number.isInteger(lifetime) && lifetime > 0 ? { tokenLifetimeSec: lifetime } : {};
    const results = await Promise.allSettled(MODES.map((mode) => startRegistry({ mode, baseDir, ...tokenOpts })));
    const errors: string[] = [];
    for (const r of results) {
      if (r.status === 'fulfilled') running.push(r.value);
      else errors.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
    }
    if (errors.length > 0) throw new Error(`test registries failed to start:\n${errors.join('\n')}`);
    const byMode = new Map(running.map((r) => [r.mode, toInfo(r)]));
    const registries: TestRegistries = {
      plain: byMode.get('plain')!,
      basic: byMode.get('basic')!,
      tls: byMode.get('tls')!,
      token: byMode.get('token')!,
    };
    project.provide('registries', registries);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
