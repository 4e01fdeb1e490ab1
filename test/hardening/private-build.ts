/**
 * Compiles src/ into a private output directory for tests that must run the code in child
 * processes (the CLI, crash tests): node_modules/.cache/oras-hardening/<name>/dist. A private
 * build never races with (or depends on the freshness of) the shared dist/. `schemas/` and
 * package.json are linked next to it, as in the published package.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Builds (tsc emits even when unrelated files have type errors) and returns the package dir holding dist/. */
export async function privateBuild(name: string): Promise<string> {
  const pkg = join(ROOT, 'node_modules', '.cache', 'oras-hardening', name);
  await rm(pkg, { recursive: true, force: true });
  await mkdir(pkg, { recursive: true });
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(ROOT, 'tsconfig.json'),
      '--outDir',
      join(pkg, 'dist'),
      '--sourceMap',
      'false',
      '--declaration',
      'false',
    ],
    { cwd: ROOT, encoding: 'utf8', timeout: 240_000 },
  );
  if (!existsSync(join(pkg, 'dist', 'cli', 'main.js'))) throw new Error(`private build failed: ${r.stdout}${r.stderr}`);
  await symlink(join(ROOT, 'schemas'), join(pkg, 'schemas'));
  await symlink(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  return pkg;
}

/** Removes a private build made by {@link privateBuild}. */
export async function removePrivateBuild(pkg: string | undefined): Promise<void> {
  if (pkg !== undefined && pkg.includes(join('node_modules', '.cache', 'oras-hardening')))
    await rm(pkg, { recursive: true, force: true });
}
