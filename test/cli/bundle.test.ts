/**
 * The `oras` executable is one bundled file (scripts/bundle-cli.mjs): dist/cli/main.js must need
 * nothing from the dist/ module tree, and must find package.json (version) and schemas/ from the
 * package root wherever it sits. Proven by running a copy of it in a package directory that holds
 * only package.json, schemas/, dist/build-info.json, dist/cli/main.js and node_modules.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { registry, uniqueRepo } from '../harness/context.js';
import { packageFile, packageRoot } from '../../src/package-files.js';
import { CLI, ROOT, runCli, show, useCliSandbox } from './helpers.js';

const sandbox = useCliSandbox('oras-bundle-');

/** A package directory with the bundle and nothing else of dist/. */
function lonePackage(dir: string): string {
  const pkg = join(dir, 'pkg');
  mkdirSync(join(pkg, 'dist', 'cli'), { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  copyFileSync(CLI, join(pkg, 'dist', 'cli', 'main.js'));
  writeFileSync(join(pkg, 'dist', 'build-info.json'), '{"gitCommit":"0123456789abc","gitTreeState":"clean"}\n');
  cpSync(join(ROOT, 'schemas'), join(pkg, 'schemas'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  return join(pkg, 'dist', 'cli', 'main.js');
}

describe('the bundled CLI', () => {
  it('imports no module of the dist/ tree', () => {
    const text = readFileSync(CLI, 'utf8');
    // tsc's entry imports ./run.js, ./context.js, ...; the bundle inlines them.
    expect(text).not.toMatch(/^\s*import\s[^;]*?from\s*["']\.\.?\//m);
    expect(text).not.toMatch(/\bimport\(\s*["']\.\.?\//);
  });

  it('names every bundled package, with its license text, in THIRD-PARTY-NOTICES.txt', () => {
    const text = readFileSync(CLI, 'utf8');
    // esbuild marks each inlined module with a `// node_modules/<package>/<file>` comment.
    const bundled = new Set(
      [...text.matchAll(/^\/\/ node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1] as string),
    );
    expect(bundled.has('commander')).toBe(true);
    const notices = readFileSync(join(ROOT, 'dist', 'cli', 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    for (const name of bundled)
      expect(notices, name).toMatch(new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}@\\d`, 'm'));
    expect(notices).toMatch(/Permission is hereby granted/);
  });

  it('runs from a package holding only the bundle: version from package.json, a real pull', async () => {
    const main = lonePackage(sandbox.root);
    const env = { ...sandbox.env };
    const run = (args: string[]): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [main, ...args], { env, encoding: 'utf8', timeout: 60_000, cwd: sandbox.root });
    const version = JSON.parse(String(run(['version', '--format', 'json']).stdout)) as Record<string, string>;
    const ours = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version.version).toBe(ours.version);
    expect(version.gitCommit).toBe('0123456789abc');

    // Push with the CLI under test, pull with the lone bundle: registry, auth, blob reader, files.
    const reg = registry('plain').host;
    const ref = `${reg}/${uniqueRepo('cli/bundle')}:v1`;
    const body = 'bundled\n';
    writeFileSync(join(sandbox.root, 'b.txt'), body);
    const push = await runCli(['push', ref, 'b.txt'], sandbox.env, { cwd: sandbox.root });
    expect(push.code, show(push)).toBe(0);
    const pull = run(['pull', ref, '-o', join(sandbox.root, 'out')]);
    expect(pull.status, String(pull.stderr)).toBe(0);
    const got = readFileSync(join(sandbox.root, 'out', 'b.txt'));
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('finds the package root and its schemas from the module tree too', () => {
    expect(packageRoot()?.href).toBe(pathToFileURL(`${ROOT}/`).href);
    const schema = packageFile('schemas/artifacts.schema.json');
    expect(schema && JSON.parse(readFileSync(schema, 'utf8'))).toHaveProperty('$schema');
  });
});
