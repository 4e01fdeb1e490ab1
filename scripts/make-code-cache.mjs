// Makes dist/cli/oras-cli.cjs.cache, V8's code cache for the bundled CLI program (see
// src/cli/code-cache.ts). Run by scripts/bundle-cli.mjs in a child process, after the bundle:
// 1. sets the V8 flags the `oras` executable sets before it compiles the program (V8 accepts a
//    cache only under the flags it was made with; the young generation's later change of its
//    growth factor is left out, so the flags are still those when the cache is taken);
// 2. compiles the program and runs it as `oras version`, which runs the top level of every
//    bundled module: their functions are then compiled, and go into the cache;
// 3. writes the cache (the bundle's SHA-256, then V8's data) when the process exits.
// The cache is made from dist/ at build time only; nothing writes one at run time.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cacheFileOf, codeCacheOf, compileProgram } from '../dist/cli/code-cache.js';
import { setCliStartFlags } from '../dist/cli/v8-flags.js';

setCliStartFlags();
const bundle = fileURLToPath(new URL('../dist/cli/oras-cli.cjs', import.meta.url));
const program = compileProgram(bundle, undefined);
process.on('exit', () => writeFileSync(cacheFileOf(bundle), codeCacheOf(program)));
process.argv = [
  process.argv[0] ?? process.execPath,
  fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)),
  'version',
];
program.run();
