#!/usr/bin/env node
/**
 * The `oras` executable. Sets the CLI's V8 flags (v8-flags.ts), then compiles and runs the bundled
 * program, `oras-cli.cjs` beside this file, with the code cache the build made for it
 * (code-cache.ts); in a `tsc`-only build, without the bundle, it imports program.js instead.
 * Everything else (commands, signals, exit codes) is the program's (program.ts).
 */
import { fileURLToPath } from 'node:url';
import { compileProgram, readCodeCache, type CompiledProgram } from './code-cache.js';
import { setCliStartFlags } from './v8-flags.js';
import { capYoungGeneration } from './young-generation.js';

setCliStartFlags();
// Decision: a young generation of at most 4 MiB per semi-space (see young-generation.ts).
capYoungGeneration();

const bundle = fileURLToPath(new URL('./oras-cli.cjs', import.meta.url));
let program: CompiledProgram | undefined;
try {
  program = compileProgram(bundle, readCodeCache(bundle));
} catch (err) {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
    process.stderr.write(`Error: cannot load the oras program ${bundle}: ${(err as Error).message}\n`);
    process.stderr.write('Hint: reinstall oras-ts (from a clone: npm run build)\n');
    process.exit(1);
  }
}
// No bundle beside this file: a `tsc`-only build (the module tree), whose program.js is here.
if (program === undefined) await import('./program.js');
else program.run();
