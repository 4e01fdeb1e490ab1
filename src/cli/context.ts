import { createRequire } from 'node:module';
import { setMaxListeners } from 'node:events';
import type { ErrorContext } from './errors.js';
import { scrubServerText } from '../registry/redact.js';
import { escapeTerminalText } from './render/escape.js';

/** Text as it may be shown: every remembered secret (any encoding) redacted, terminal controls made visible. */
function shown(text: string): string {
  return escapeTerminalText(scrubServerText(text));
}

/**
 * Process-wide CLI state shared by the command handlers and `main`:
 * which output format was asked for, whether `--debug` is on, and what the
 * running command was doing (so an error can get a registry-specific hint).
 * Set by the command's pre-action hook; read by the error handler.
 */
export interface CliState {
  /** `--debug` given: print redacted HTTP debug lines and stacks. */
  debug: boolean;
  /** `--verbose` given. */
  verbose: boolean;
  /** Output format of the running command (`text` unless `--format` says otherwise). */
  format: string;
  /** The template of `--format go-template` (see `output-format.ts`). */
  template?: string | undefined;
  /** Context for error hints. */
  errorContext: ErrorContext;
}

/** The single CLI state object (mutated by commands; defaults below). */
export const cliState: CliState = {
  debug: false,
  verbose: false,
  format: 'text',
  errorContext: {},
};

/** Aborted on SIGINT/SIGTERM; commands pass `interrupt.signal` to the library. */
export const interrupt = new AbortController();
// Every in-flight request listens on it (dozens at --concurrency 8 across dependencies); the
// listeners are removed when each request settles, so Node's leak warning (at 11) is noise here.
setMaxListeners(0, interrupt.signal);

/**
 * Writes text to stdout (no newline added). Text output: terminal controls
 * (ESC, CR, BEL, C1, bidi overrides; not LF/TAB) are made visible by
 * {@link escapeTerminalText}, because the text may hold registry or artifact
 * strings, and remembered secrets are redacted in every encoding
 * (`scrubServerText`). JSON goes through {@link printJson} and stays exact.
 */
export function out(text: string): void {
  process.stdout.write(shown(text));
}

/** Writes one line to stdout (escaped like {@link out}). */
export function outLine(text = ''): void {
  process.stdout.write(`${shown(text)}\n`);
}

/** Writes one line to stderr (escaped like {@link out}). */
export function errLine(text: string): void {
  process.stderr.write(`${shown(text)}\n`);
}

/** Prints `Warning: <message>` on stderr (escaped like {@link out}). */
export function warn(message: string): void {
  process.stderr.write(`Warning: ${shown(message)}\n`);
}

/** Prints a value as pretty JSON (2-space indent) on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** True when stderr is an interactive terminal and `--no-tty` was not given. */
export function stderrIsTty(tty: boolean | undefined): boolean {
  return tty !== false && process.stderr.isTTY === true && process.env.TERM !== 'dumb';
}

/** Reads all of stdin as UTF-8 (bounded to `limit` bytes). */
export async function readStdin(limit = 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    total += buf.length;
    if (total > limit) throw new Error(`stdin exceeds ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Asks a yes/no question on the terminal (stdin must be a TTY; callers check
 * first and require `--force` otherwise). Resolves true for `y`/`yes`.
 */
export async function confirm(question: string): Promise<boolean> {
  const { createInterface } = loadReadline();
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/**
 * `node:readline`, loaded when first asked for (most commands never prompt). Through `require`, not
 * `import()`: the bundled program runs as a script with a code cache, where `import()` is not
 * available (see code-cache.ts).
 */
export function loadReadline(): typeof import('node:readline') {
  return createRequire(import.meta.url)('node:readline') as typeof import('node:readline');
}
