// Bundles the CLI after `tsc`, so `oras <command>` resolves, reads and links two files instead of
// ~150 modules (a tiny `oras pull` 0.27 -> 0.19 s, median of 8; numbers in bench/analysis.md):
// - dist/cli/oras-cli.cjs: the program, tsc's dist/cli/program.js plus every module it imports,
//   ours and our dependencies', as one CommonJS script;
// - dist/cli/main.js (the `oras` bin): the executable, tsc's dist/cli/main.js with the few modules
//   it imports (flags, code cache), which compiles and runs oras-cli.cjs (src/cli/code-cache.ts);
// - dist/cli/oras-cli.cjs.cache: V8's code cache for the program, made by running it once
//   (scripts/make-code-cache.mjs).
// The library (dist/index.js and the rest of dist/) stays a module tree.
//
// Decisions:
// - esbuild (a devDependency, used only here): the bundler the Node ecosystem builds CLIs with;
//   writing one by hand is out of the question.
// - Unminified, with names kept: minifying did not start faster (0.20 vs 0.19 s), and a stack trace
//   from the bundle stays readable (each module is marked with its dist/ path).
// - The program is CommonJS because Node 20 has a code cache for scripts only (code-cache.ts). Its
//   `import.meta.url` becomes the bundle's file URL, so package files and lazily required modules
//   resolve from the bundle's directory as before.
// - Modules we load lazily with `createRequire(import.meta.url)` (undici's parts, ajv, yaml,
//   semver, picomatch: see undici-lite.ts, validate.ts) are not bundled: they stay lazy and are
//   resolved from the bundle's directory like before. `typescript` (cosmiconfig's loader for .ts
//   config files, not a dependency of ours) stays external.
// - Non-code files (package.json, schemas/, dist/build-info.json) are found from the package root
//   (src/package-files.ts), so they resolve the same from the bundle and from the module tree.
// - The bundle carries third-party code, so dist/cli/THIRD-PARTY-NOTICES.txt lists every bundled
//   package with its version, license and license text (from esbuild's metafile).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli');
const programBundle = join(cli, 'oras-cli.cjs');
const launcher = join(cli, 'main.js');

const common = { bundle: true, platform: 'node', target: 'node20.18', legalComments: 'eof', logLevel: 'warning' };
const result = await build({
  ...common,
  entryPoints: [join(cli, 'program.js')],
  metafile: true,
  outfile: programBundle,
  format: 'cjs',
  external: ['typescript'],
  define: { 'import.meta.url': '__orasBundleUrl' },
  plugins: [undiciLitePlugin()],
  banner: { js: "const __orasBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// The launcher's fallback for a `tsc`-only build (no oras-cli.cjs) stays an import of program.js.
await build({
  ...common,
  entryPoints: [launcher],
  outfile: launcher,
  allowOverwrite: true,
  format: 'esm',
  external: ['./program.js'],
});
// tsc's map describes the module the launcher bundle replaced.
rmSync(`${launcher}.map`, { force: true });
for (const file of [programBundle, launcher]) writeFileSync(file, asciiOnly(readFileSync(file, 'utf8')));
writeFileSync(join(cli, 'THIRD-PARTY-NOTICES.txt'), notices(Object.keys(result.metafile.inputs)));
// In a child process: the cache must be made under the flags the launcher sets, not this process's.
execFileSync(process.execPath, [join(root, 'scripts', 'make-code-cache.mjs')], {
  stdio: ['ignore', 'ignore', 'inherit'],
});

/**
 * Bundles the undici modules undici-lite.ts requires (Agent, the request API, the connector: they
 * are then compiled from the code cache, not resolved, read and compiled file by file at the first
 * request), by letting its `require(...)` calls be the bundle's own: its `createRequire` line is
 * dropped from the bundled copy. undici's public index, undici-lite's fallback for another undici
 * layout, stays a run-time require (external).
 */
function undiciLitePlugin() {
  const line = 'const require = createRequire(import.meta.url);';
  return {
    name: 'undici-lite',
    setup(b) {
      b.onResolve({ filter: /^undici$/ }, (args) => ({ path: args.path, external: true }));
      b.onLoad({ filter: /[\\/]dist[\\/]registry[\\/]undici-lite\.js$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes(line)) throw new Error(`${args.path}: expected "${line}" (see bundle-cli.mjs)`);
        return { contents: text.replace(line, ''), loader: 'js' };
      });
    },
  };
}

/**
 * One byte per character: esbuild escapes non-ASCII characters in code (its default charset), but
 * comments keep them (arrows and quotes in ours, curly quotes in js-yaml's), and a single one makes
 * V8 hold the whole 1.5 MB source as a two-byte string: decoding it took 16-19 ms of every
 * command's start instead of ~10 (profile of `oras version`). Escaped here as `\uXXXX` per UTF-16
 * unit, which would also mean the same character in a string, template or regular expression.
 */
function asciiOnly(text) {
  return text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The notice text: one section per bundled package (directories under node_modules), sorted by name. */
function notices(inputs) {
  const dirs = new Set();
  for (const f of inputs) {
    const m = /^(.*?node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(f.replaceAll('\\', '/'));
    if (m) dirs.add(m[1]);
  }
  const sections = [...dirs].sort().map((dir) => {
    const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    const file = readdirSync(join(root, dir)).find((n) => /^(licen[cs]e|copying)(\.|$)/i.test(n));
    const text = file === undefined ? '' : readFileSync(join(root, dir, file), 'utf8').trim();
    return `${pkg.name}@${pkg.version} (${pkg.license ?? 'license not declared'})\n\n${text || '(no license file in the package)'}\n`;
  });
  return `dist/cli/oras-cli.cjs bundles the following packages (scripts/bundle-cli.mjs).\n\n${sections.join('\n' + '-'.repeat(72) + '\n\n')}`;
}
