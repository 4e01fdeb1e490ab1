/**
 * Helpers for CLI tests: they spawn the BUILT CLI (`node dist/cli/main.js`)
 * with an isolated environment (DOCKER_CONFIG in a temp dir, so the user's
 * real docker config is never read or written).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI entry point. */
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/**
 * Makes sure dist/cli/main.js exists: builds once with `npm run build` (tsc,
 * then the single-file bundle) when it is missing, then fails clearly if it is
 * still missing.
 */
export function ensureBuilt(): void {
  if (!existsSync(CLI)) {
    spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
  }
  if (!existsSync(CLI)) {
    throw new Error(
      `${CLI} is missing: run \`npm run build\` (or \`npm test\`, which builds first) before the CLI tests`,
    );
  }
}

/** The result of one CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout as raw bytes. */
  stdoutBytes: Buffer;
}

/** Options of {@link runCli}. */
export interface RunOptions {
  cwd?: string;
  /** Extra env vars (merged over the isolated base env). */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed (stdin is always closed). */
  input?: string | Buffer;
  /** Kill after this many ms (default 60 000). */
  timeoutMs?: number;
}

/** The isolated environment every CLI run gets (DOCKER_CONFIG must be set per test). */
export function baseEnv(dockerConfigDir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'SYSTEMROOT']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  env.DOCKER_CONFIG = dockerConfigDir;
  env.NO_COLOR = '1';
  return env;
}

/** Spawns `node dist/cli/main.js ...args` and collects its output (bounded by a timeout). */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  options: RunOptions = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...env, ...(options.env ?? {}) })) if (v !== undefined) merged[k] = v;
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? ROOT,
      env: merged,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolvePromise({
        code,
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes,
      });
    });
    child.stdin.on('error', () => undefined);
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** A temp dir removed by the returned cleanup. */
export async function tempDir(prefix = 'oras-cli-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Formats a failed result for assertion messages. */
export function show(r: CliResult): string {
  return `exit ${String(r.code)}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** What {@link useCliSandbox} provides once its `beforeAll` has run. */
export interface CliSandbox {
  /** The temp root (removed after the file's tests). */
  root: string;
  /** The isolated environment: docker config under `root/docker`, `HOME=root`, cache under `root/cache`, `CI` unset. */
  env: Record<string, string>;
}

/**
 * One sandbox per test file for the built CLI: registers a `beforeAll` that builds the CLI if
 * needed and makes the temp root and environment, and an `afterAll` that removes the root.
 */
export function useCliSandbox(prefix: string): CliSandbox {
  const sandbox: CliSandbox = { root: '', env: {} };
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ensureBuilt();
    const t = await tempDir(prefix);
    cleanup = t.cleanup;
    await mkdir(join(t.dir, 'docker'));
    sandbox.root = t.dir;
    sandbox.env = { ...baseEnv(join(t.dir, 'docker')), HOME: t.dir, XDG_CACHE_HOME: join(t.dir, 'cache'), CI: '' };
  });
  afterAll(async () => {
    await cleanup?.();
  });
  return sandbox;
}
