/**
 * The `oras` CLI program: parses argv with commander (see run.ts), maps errors to exit codes (see
 * EXIT_CODES.md) and exits explicitly so keep-alive sockets never hold the process open. The
 * executable, main.ts, sets the V8 flags first and runs this program's bundle
 * (dist/cli/oras-cli.cjs) with its code cache.
 */
import { OrasError } from '../errors.js';
import { cliState } from './context.js';
import { exitCodeFor, formatError } from './errors.js';
import { interrupt, run } from './run.js';

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

// No top-level await: the program is bundled as a CommonJS script (see code-cache.ts).
void run(process.argv).then((code) => {
  finished = true;
  process.exit(interrupted > 0 ? exitOnSignal : code);
}, fatal);
