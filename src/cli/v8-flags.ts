import { setFlagsFromString } from 'node:v8';
import { YOUNG_GENERATION_START_FLAG } from './young-generation.js';

/**
 * The V8 flags the `oras` executable sets before it compiles the CLI program (main.ts), in order.
 * V8 accepts a code cache only under the flags it was made with, so the build makes the program's
 * code cache under exactly these (scripts/make-code-cache.mjs). Empty on V8 versions where the
 * flags are not known to exist (above 13, past Node 24), since V8 prints an error for an unknown
 * flag.
 *
 * - `--liftoff-only`. Decision: WebAssembly is compiled by Liftoff only in the CLI process. undici
 *   parses HTTP with llhttp compiled to WebAssembly (lazily, at the first request); V8 then
 *   recompiles its hot parser with TurboFan on a background thread: ~175 ms of CPU (perf), and the
 *   process exit waits for that job. A CLI run parses a few small response heads (large blobs go
 *   through our own reader), so the baseline code is all it needs: a tiny `oras pull` took
 *   0.37-0.50 s (median 0.43) with the default and 0.29-0.39 s (median 0.33) with Liftoff only,
 *   8 interleaved rounds (bench/analysis.md, round 8). Only the CLI sets it: the library never
 *   changes V8 flags.
 * - The young generation's starting growth factor (see young-generation.ts).
 */
export function cliStartFlags(): string[] {
  if (Number(process.versions.v8.split('.')[0]) > 13) return [];
  return ['--liftoff-only', YOUNG_GENERATION_START_FLAG];
}

/**
 * Sets {@link cliStartFlags}, in order: the one way the executable, the build's cache maker and the
 * tests set them, so the code cache is always made and checked under the same flags.
 */
export function setCliStartFlags(): void {
  for (const flag of cliStartFlags()) setFlagsFromString(flag);
}
