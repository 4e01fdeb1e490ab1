#!/usr/bin/env node
/**
 * The `oras` executable. Parses argv with commander (see run.ts), maps errors
 * to exit codes (see EXIT_CODES.md) and exits explicitly so keep-alive sockets
 * never hold the process open.
 */
import { setFlagsFromString } from 'node:v8';
import { OrasError } from '../errors.js';
import { cliState } from './context.js';
import { exitCodeFor, formatError } from './errors.js';
import { interrupt, run } from './run.js';
import { capYoungGeneration } from './young-generation.js';

// Decision: WebAssembly is compiled by Liftoff only in the CLI process. undici parses HTTP with
// llhttp compiled to WebAssembly (lazily, at the first request); V8 then recompiles its hot parser
// with TurboFan on a background thread: ~175 ms of CPU (perf), and the process exit waits for that
// job. A CLI run parses a few small response heads (large blobs go through our own reader), so the
// baseline code is all it needs: a tiny `oras pull` took 0.37-0.50 s (median 0.43) with the default
// and 0.29-0.39 s (median 0.33) with Liftoff only, 8 interleaved rounds (bench/analysis.md, round 8).
// Only the CLI sets it (the library never changes V8 flags), and only on the V8 versions where the
// flag is known to exist (Node 20-24), since V8 prints an error for an unknown flag.
if (Number(process.versions.v8.split('.')[0]) <= 13) setFlagsFromString('--liftoff-only');
// Decision: a young generation of at most 4 MiB per semi-space (see young-generation.ts).
capYoungGeneration();

// SIGINT/SIGTERM abort `interrupt.signal`: the running command stops starting new work, lets
// in-flight atomic renames land or roll back, removes its temps, records its state, and the process
// exits 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as shells report a killed job —
// even when the work happened to finish. A second signal exits at once (temps are cleaned next run).
let interrupted = 0;
let exitOnSignal = 130;
const onSignal = (signal: NodeJS.Signals): void => {
  interrupted++;
  if (interrupted === 1) exitOnSignal = signal === 'SIGTERM' ? 143 : 130;
  if (interrupted > 1) process.exit(exitOnSignal);
  process.stderr.write(`\nInterrupted (${signal}); cleaning up… (press Ctrl-C again to force)\n`);
  interrupt.abort(new OrasError('ERR_ORAS_ABORTED', `interrupted by ${signal}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // `oras … | head`: the reader went away; that is not our failure.
  if (err.code === 'EPIPE') process.exit(0);
});

// A stray rejection or exception (a library bug) must still end as one `Error:` line, not a stack dump.
const fatal = (err: unknown): void => {
  process.stderr.write(formatError(err, { debug: cliState.debug, context: cliState.errorContext }));
  process.exit(exitCodeFor(err));
};
process.on('unhandledRejection', fatal);
process.on('uncaughtException', fatal);

let finished = false;
process.on('beforeExit', () => {
  // The event loop drained while the command was still pending: a promise that can never settle.
  // Say so clearly instead of Node's silent exit code 13.
  if (finished) return;
  process.stderr.write(
    'Error: internal error: the operation stopped before completing (a pending step can never finish)\n',
  );
  process.stderr.write('Hint: this is a bug in oras-ts; rerun with --debug and report the output\n');
  process.exit(1);
});

const code = await run(process.argv);
finished = true;
process.exit(interrupted > 0 ? exitOnSignal : code);
