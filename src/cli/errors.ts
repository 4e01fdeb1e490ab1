import { CommanderError } from 'commander';
import { isOrasError, OrasError } from '../errors.js';
import { isLoopbackHost } from '../oci/reference.js';
import { scrubServerText } from '../registry/redact.js';
import { escapeTerminalText } from './render/escape.js';

/**
 * Exit codes of the `oras` CLI (documented in EXIT_CODES.md).
 * Stable: scripts match on them.
 */
export const ExitCode = {
  /** Success. */
  Ok: 0,
  /** Any failure not listed below. */
  Failure: 1,
  /** Usage error: unknown flag, missing argument, invalid reference or option value. */
  Usage: 2,
  /** The manifest, blob, tag or repository does not exist (`ERR_ORAS_NOT_FOUND`). */
  NotFound: 3,
  /** Authentication or authorization failed (`ERR_ORAS_UNAUTHORIZED` / `ERR_ORAS_DENIED`). */
  Auth: 4,
  /** `verify`: the lockfile no longer matches artifacts.yaml or the registry (manifest drift). */
  ManifestDrift: 5,
  /** `verify`: installed files differ from the lockfile (tree drift). */
  TreeDrift: 6,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Thrown by a command to end the process with a specific exit code. When
 * `message` is empty nothing is printed (the command already reported).
 */
export class CliExit extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  constructor(exitCode: ExitCodeValue, message = '', hint?: string) {
    super(message);
    this.name = 'CliExit';
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** Creates a usage error (exit code 2) with an optional hint. */
export function usageError(message: string, hint?: string): OrasError {
  return new OrasError('ERR_ORAS_USAGE', message, hint === undefined ? {} : { hint });
}

/** What was being done when an error happened; used to pick registry-specific hints. */
export interface ErrorContext {
  /** The command name, e.g. `push`. */
  command?: string;
  /** The registry host the command talked to (wire form, e.g. `registry-1.docker.io`). */
  registry?: string;
  /** `push`/`attach` with a custom `--config` (image-spec v1.0 style). */
  customConfig?: boolean;
  /** The operation used the referrers API (discover, attach, cp -r). */
  referrers?: boolean;
}

/** Maps any thrown value to the process exit code. */
export function exitCodeFor(err: unknown): ExitCodeValue {
  if (err instanceof CliExit) return err.exitCode;
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  if (isOrasError(err)) {
    switch (err.code) {
      case 'ERR_ORAS_USAGE':
      case 'ERR_ORAS_INVALID_REFERENCE':
        return ExitCode.Usage;
      case 'ERR_ORAS_NOT_FOUND':
        return ExitCode.NotFound;
      case 'ERR_ORAS_UNAUTHORIZED':
      case 'ERR_ORAS_DENIED':
        return ExitCode.Auth;
      default:
        return ExitCode.Failure;
    }
  }
  return ExitCode.Failure;
}

function isDockerHub(registry: string | undefined): boolean {
  return registry === 'registry-1.docker.io' || registry === 'docker.io' || registry === 'index.docker.io';
}

function isQuay(registry: string | undefined): boolean {
  return registry !== undefined && /(^|\.)quay\.io(:\d+)?$/.test(registry);
}

function isEcr(registry: string | undefined): boolean {
  return registry !== undefined && /\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(:\d+)?$/.test(registry);
}

/**
 * A hint for known registry quirks, or undefined. These override the
 * library's generic hint because they are more specific.
 */
export function quirkHint(err: unknown, ctx: ErrorContext = {}): string | undefined {
  if (!isOrasError(err)) return undefined;
  const codes = err.registryErrors.map((e) => e.code);
  if (
    codes.includes('MANIFEST_INVALID') &&
    (ctx.command === 'push' || ctx.command === 'attach') &&
    (ctx.customConfig === true || isQuay(ctx.registry))
  ) {
    return 'the registry rejected the manifest; some registries (e.g. Quay) reject unknown config media types: push with --image-spec v1.1 and --artifact-type instead of a custom --config';
  }
  if (
    isDockerHub(ctx.registry) &&
    (err.code === 'ERR_ORAS_UNAUTHORIZED' || err.code === 'ERR_ORAS_DENIED' || err.code === 'ERR_ORAS_NOT_FOUND')
  ) {
    return 'Docker Hub answers 401 for repositories that do not exist: check the name (official images live under library/, e.g. docker.io/library/alpine) and run `oras login docker.io`';
  }
  if (isEcr(ctx.registry) && err.status === 405) {
    return 'Amazon ECR answered 405 Method Not Allowed: ECR does not support this API (e.g. referrers or repository listing) for this repository; oras falls back to the referrers tag schema where it can';
  }
  if (
    err.status === 400 &&
    err.registryErrors.length === 0 &&
    ctx.registry !== undefined &&
    isLoopbackHost(ctx.registry)
  ) {
    return 'loopback registries are contacted over plain HTTP by default; if this one speaks HTTPS, pass --no-plain-http (with --ca-file for a private CA)';
  }
  if (err.code === 'ERR_ORAS_UNAUTHORIZED' && err.hint === undefined) {
    return 'run `oras login <registry>` or pass -u/--username with --password-stdin';
  }
  if (err.code === 'ERR_ORAS_INSECURE' && err.hint === undefined) {
    return 'pass --plain-http for an HTTP registry, --insecure to skip TLS verification, or --ca-file for a private CA';
  }
  return undefined;
}

/** The message and hint to print for an error (never a stack). */
export function describeError(err: unknown, ctx: ErrorContext = {}): { message: string; hint: string | undefined } {
  if (err instanceof CommanderError) {
    const message = err.message.replace(/^error:\s*/i, '');
    return { message, hint: 'run `oras <command> --help` for usage' };
  }
  if (err instanceof CliExit) return { message: err.message, hint: err.hint };
  if (isOrasError(err)) {
    // Library messages keep their lines (a manifest's problems, a frozen-lockfile diff, conflicting
    // paths: one per line, as `verify` prints them); only trailing space is trimmed.
    return { message: keepLines(err.message), hint: quirkHint(err, ctx) ?? err.hint };
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST') {
      return { message: oneLine(err.message), hint: 'check the file path and permissions' };
    }
    if (code === 'EPIPE') return { message: 'output closed (broken pipe)', hint: undefined };
    return { message: oneLine(err.message), hint: undefined };
  }
  return { message: oneLine(String(err)), hint: undefined };
}

/**
 * Trims trailing blanks and blank lines at either end; line breaks stay, and
 * every continuation line is indented (two spaces unless it already is), so
 * no text inside a message (e.g. from a registry) can pose as a top-level
 * `Error:` or `Hint:` line.
 */
function keepLines(s: string): string {
  const lines = s
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''));
  while (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  while (lines.length > 1 && lines[0] === '') lines.shift();
  return lines.map((l, i) => (i === 0 || l === '' || /^\s/.test(l) ? l : `  ${l}`)).join('\n');
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * Formats an error as the lines printed on stderr: `Error: …` (a multi-line
 * library message keeps its lines, e.g. one per problem) then `Hint: …`; the
 * stack only with `debug`.
 */
export function formatError(err: unknown, options: { debug?: boolean; context?: ErrorContext } = {}): string {
  const { message, hint } = describeError(err, options.context);
  let out = `Error: ${message}\n`;
  if (hint !== undefined && hint.length > 0) out += `Hint: ${hint}\n`;
  if (options.debug === true && err instanceof Error && err.stack !== undefined && !(err instanceof CommanderError)) {
    out += `${err.stack}\n`;
    let cause: unknown = (err as { cause?: unknown }).cause;
    for (let i = 0; i < 5 && cause instanceof Error; i++) {
      out += `Caused by: ${cause.stack ?? cause.message}\n`;
      cause = (cause as { cause?: unknown }).cause;
    }
  }
  // Messages (and stacks) quote registry text (errors[].message) and artifact names: no raw
  // terminal controls, and no remembered secret in any encoding.
  return escapeTerminalText(scrubServerText(out));
}

/**
 * A JSON error object for `--format json` failures (printed on stderr):
 * `{ code, message, hint?, status?, registryErrors?, details?, exitCode }`.
 * `details` carries the structured facts behind a multi-line message (e.g.
 * `{ issues: [{ path, message, line, col }] }`, `{ changes: [...] }`).
 */
export function errorJson(err: unknown, ctx: ErrorContext = {}): Record<string, unknown> {
  const { message, hint } = describeError(err, ctx);
  const base: Record<string, unknown> =
    err instanceof OrasError
      ? err.toJSON()
      : { code: err instanceof CommanderError ? 'ERR_ORAS_USAGE' : 'ERR_ORAS_FAILURE' };
  const json = { ...base, message, ...(hint !== undefined ? { hint } : {}), exitCode: exitCodeFor(err) };
  // No remembered secret (any encoding) in any field; replacing inside string values keeps the JSON valid.
  try {
    return JSON.parse(scrubServerText(JSON.stringify(json))) as Record<string, unknown>;
  } catch {
    return {
      ...json,
      message: scrubServerText(message),
      ...(hint !== undefined ? { hint: scrubServerText(hint) } : {}),
    };
  }
}
