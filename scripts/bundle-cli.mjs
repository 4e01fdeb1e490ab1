// Bundles the CLI into one file after `tsc`: dist/cli/main.js (the `oras` bin) is written from
// tsc's dist/cli/program.js plus every module it imports, ours and our dependencies', so `oras <command>` resolves, reads and
// links one module instead of ~150 (a tiny `oras pull` 0.27 -> 0.19 s, median of 8; numbers in
// bench/analysis.md). The library (dist/index.js and the rest of dist/) stays a module tree.
//
// Decisions:
// - esbuild (a devDependency, used only here): the bundler the Node ecosystem builds CLIs with;
//   writing one by hand is out of the question.
// - Unminified, with names kept: minifying did not start faster (0.20 vs 0.19 s), and a stack trace
//   from the bundle stays readable (each module is marked with its dist/ path).
// - Modules we load lazily with `createRequire(import.meta.url)` (undici's parts, ajv, yaml,
//   semver, picomatch: see undici-lite.ts, validate.ts) are not bundled: they stay lazy and are
//   resolved from the bundle's directory like before. `typescript` (cosmiconfig's loader for .ts
//   config files, not a dependency of ours) stays external.
// - ES modules from CommonJS dependencies call `require` for Node built-ins, so the bundle defines
//   `require` with createRequire first.
// - Non-code files (package.json, schemas/, dist/build-info.json) are found from the package root
//   (src/package-files.ts), so they resolve the same from the bundle and from the module tree.
// - The bundle carries third-party code, so dist/cli/THIRD-PARTY-NOTICES.txt lists every bundled
//   package with its version, license and license text (from esbuild's metafile).
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'dist', 'cli', 'main.js');

const result = await build({
  entryPoints: [join(root, 'dist', 'cli', 'program.js')],
  metafile: true,
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.18',
  external: ['typescript'],
  banner: {
    js: "import { createRequire as __orasCreateRequire } from 'node:module';\nconst require = __orasCreateRequire(import.meta.url);",
  },
  legalComments: 'eof',
  logLevel: 'warning',
});
// tsc's map describes the module the bundle stands for.
rmSync(`${entry}.map`, { force: true });
// One byte per character: esbuild escapes non-ASCII characters in code (its default charset), but
// comments keep them (arrows and quotes in ours, curly quotes in js-yaml's), and a single one makes
// V8 hold the whole 1.5 MB source as a two-byte string: decoding it took 16-19 ms of every
// command's start instead of ~10 (profile of `oras version`). Escaped here as `\uXXXX` per UTF-16
// unit, which would also mean the same character in a string, template or regular expression.
const text = readFileSync(entry, 'utf8');
const escaped = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
writeFileSync(entry, escaped);
writeFileSync(join(root, 'dist', 'cli', 'THIRD-PARTY-NOTICES.txt'), notices(Object.keys(result.metafile.inputs)));

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
  return `dist/cli/main.js bundles the following packages (scripts/bundle-cli.mjs).\n\n${sections.join('\n' + '-'.repeat(72) + '\n\n')}`;
}
