/**
 * The `oras` executable is bundled (scripts/bundle-cli.mjs): dist/cli/main.js (the launcher) and
 * dist/cli/oras-cli.cjs (the program, with its code cache) must need nothing from the dist/ module
 * tree, and must find package.json (version) and schemas/ from the package root wherever they sit.
 * Proven by running copies in a package directory that holds only package.json, schemas/,
 * dist/build-info.json, the three files of dist/cli/ and node_modules.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { registry, uniqueRepo } from '../harness/context.js';
import { packageFile, packageRoot } from '../../src/package-files.js';
import { CLI, ROOT, runCli, show, useCliSandbox } from './helpers.js';

const sandbox = useCliSandbox('oras-bundle-');
/** The bundled program. */
const PROGRAM = join(ROOT, 'dist', 'cli', 'oras-cli.cjs');

/** `text` without its block comments and whole-line `//` comments (JSDoc types say `import('…')`). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** Whether the program at `bundle` compiles from its cache file, under the launcher's V8 flags (a child process). */
function cacheUsed(bundle: string): boolean {
  const dir = pathToFileURL(join(ROOT, 'dist', 'cli')).href;
  const script = `
    const { setCliStartFlags } = await import('${dir}/v8-flags.js');
    setCliStartFlags();
    const { compileProgram, readCodeCache } = await import('${dir}/code-cache.js');
    const bundle = ${JSON.stringify(bundle)};
    process.stdout.write(String(compileProgram(bundle, readCodeCache(bundle)).cacheUsed));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout === 'true';
}

/** A package directory with the bundle and nothing else of dist/. */
function lonePackage(dir: string): string {
  const pkg = join(dir, 'pkg');
  mkdirSync(join(pkg, 'dist', 'cli'), { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  copyFileSync(CLI, join(pkg, 'dist', 'cli', 'main.js'));
  for (const f of ['oras-cli.cjs', 'oras-cli.cjs.cache'])
    copyFileSync(join(PROGRAM, '..', f), join(pkg, 'dist', 'cli', f));
  writeFileSync(join(pkg, 'dist', 'build-info.json'), '{"gitCommit":"0123456789abc","gitTreeState":"clean"}\n');
  cpSync(join(ROOT, 'schemas'), join(pkg, 'schemas'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  return join(pkg, 'dist', 'cli', 'main.js');
}

describe('the bundled CLI', () => {
  it('imports no module of the dist/ tree', () => {
    for (const file of [CLI, PROGRAM]) {
      // The launcher's one exception: program.js, imported only without the bundle (tsc-only build).
      const text = withoutComments(readFileSync(file, 'utf8')).replace(`await import("./program.js")`, '');
      // tsc's modules import ./run.js, ./context.js, ...; the bundles inline them.
      expect(text).not.toMatch(/^\s*import\s[^;]*?from\s*["']\.\.?\//m);
      expect(text).not.toMatch(/\bimport\(\s*["']\.\.?\//);
      expect(text).not.toMatch(/\brequire\(\s*["']\.\.?\//);
    }
  });

  it('leaves no reachable import() in the program (a script with a code cache cannot run one)', () => {
    // esbuild marks each inlined module with a `// <path>` comment line: split the bundle by module.
    const modules = readFileSync(PROGRAM, 'utf8').split(/^\/\/ (?=(?:node_modules|dist)\/)/m);
    const withImport = modules
      .filter((m) => /(?<![\w.$])import\(/.test(withoutComments(m)))
      .map((m) => m.slice(0, m.indexOf('\n')));
    // Only cosmiconfig's loaders of code configs (.js, .mjs, .ts), which oras refuses (config.ts).
    expect(withImport.length).toBeGreaterThan(0);
    for (const name of withImport) expect(name).toMatch(/^node_modules\/cosmiconfig\//);
  });

  it('names every bundled package, with its license text, in THIRD-PARTY-NOTICES.txt', () => {
    const text = readFileSync(PROGRAM, 'utf8');
    // esbuild marks each inlined module with a `// node_modules/<package>/<file>` comment.
    const bundled = new Set(
      [...text.matchAll(/^\/\/ node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1] as string),
    );
    expect(bundled.has('commander')).toBe(true);
    expect(bundled.has('undici')).toBe(true); // undici-lite's modules (bundle-cli.mjs)
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

  it('compiles the program from the code cache the build made, for those exact bytes only', () => {
    const main = lonePackage(join(sandbox.root, 'cached'));
    const bundle = join(main, '..', 'oras-cli.cjs');
    expect(cacheUsed(bundle)).toBe(true);
    // Same length, other bytes (V8's own check compares lengths): the cache must not be used, and
    // the program must run what the file now says, not what the cache was compiled from.
    const text = readFileSync(bundle, 'latin1');
    expect(text.split('`OS/Arch:').length).toBe(2);
    writeFileSync(bundle, text.replace('`OS/Arch:', '`OS/ARCH:'), 'latin1');
    expect(cacheUsed(bundle)).toBe(false);
    const r = spawnSync(process.execPath, [main, 'version'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^OS\/ARCH: /m);
    // Without a cache file, it runs too.
    rmSync(`${bundle}.cache`);
    expect(cacheUsed(bundle)).toBe(false);
    expect(spawnSync(process.execPath, [main, 'version'], { encoding: 'utf8', timeout: 60_000 }).status).toBe(0);
  });

  it('finds the package root and its schemas from the module tree too', () => {
    expect(packageRoot()?.href).toBe(pathToFileURL(`${ROOT}/`).href);
    const schema = packageFile('schemas/artifacts.schema.json');
    expect(schema && JSON.parse(readFileSync(schema, 'utf8'))).toHaveProperty('$schema');
  });
});
