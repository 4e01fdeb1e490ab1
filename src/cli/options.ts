import { Option, type Command } from 'commander';
import { collect, positiveInt } from './args.js';
import { cliState, stderrIsTty } from './context.js';
import { usageError } from './errors.js';
import { addTemplateFormatOptions } from './output-format.js';

/**
 * Flag definitions shared by the commands, and their parsed shapes.
 * Every command gets {@link addCommonOptions}; commands that talk to a
 * registry (or an OCI layout) get {@link addRemoteOptions}, once per side for
 * `cp` (`--from-*` / `--to-*`).
 */

/** Flags every command has. */
export interface CommonFlags {
  debug?: boolean;
  verbose?: boolean;
  /** false when `--no-tty` was given. */
  tty?: boolean;
  format?: string;
  json?: boolean;
}

/** Flags that say how to reach one registry or OCI layout. */
export interface RemoteFlags {
  /** The ref is `DIR[:tag|@digest]` of an OCI image layout directory. */
  ociLayout?: boolean;
  plainHttp?: boolean;
  insecure?: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  identityToken?: string;
  header?: string[];
  /** `--resolve host:port:address[:address_port]`, repeatable (oras 1.3). */
  resolve?: string[];
  registryConfig?: string;
  /** `--timeout <s>`, `--speed-limit <bytes/s>`, `--speed-time <s>` (see transfer-limits.ts). */
  timeout?: string;
  speedLimit?: string;
  speedTime?: string;
}

/** The remote flag names (camelCase keys in commander's options object). */
const REMOTE_KEYS: (keyof RemoteFlags)[] = [
  'ociLayout',
  'plainHttp',
  'insecure',
  'caFile',
  'certFile',
  'keyFile',
  'username',
  'password',
  'passwordStdin',
  'identityToken',
  'header',
  'resolve',
  'registryConfig',
  'timeout',
  'speedLimit',
  'speedTime',
];

/** Adds `-d/--debug`, `-v/--verbose`, `--no-tty`. */
export function addCommonOptions(cmd: Command): Command {
  return cmd
    .option('-d, --debug', 'print redacted HTTP debug lines and error stacks on stderr')
    .option('-v, --verbose', 'print more details')
    .option('--no-tty', 'never draw progress bars, even on a terminal');
}

/** Adds `--format <format>` with the given choices (default `text`). */
export function addFormatOption(cmd: Command, choices: string[] = ['text', 'json'], defaultValue = 'text'): Command {
  return cmd.addOption(new Option('--format <format>', 'output format').choices(choices).default(defaultValue));
}

/**
 * Adds `--concurrency <n>` (no commander default: the config file's value,
 * else 3, applies when absent). `0` means the default, as in oras 1.3
 * (oras-go treats a concurrency <= 0 as its default).
 */
export function addConcurrencyOption(cmd: Command): Command {
  const parse = positiveInt('--concurrency');
  // commander turns a parser's `undefined` into '': parse 0 as 0, then drop it before the action.
  cmd.hook('preAction', (_self, action) => {
    if (action.getOptionValue('concurrency') === 0) action.setOptionValue('concurrency', undefined);
  });
  return cmd.option(
    '--concurrency <n>',
    'concurrent transfers (default: oras config value, else 3; 0 = default)',
    (v: string) => (v.trim() === '0' ? 0 : parse(v)),
  );
}

/** Options for {@link addRemoteOptions}. */
export interface AddRemoteOptions {
  /** `from` / `to` for the two sides of `cp`; none for single-target commands. */
  prefix?: 'from' | 'to';
  /** Add `--oci-layout` (default true). */
  layout?: boolean;
  /** Add `-u`/`-p` short flags (default true; false for prefixed sides). */
  shortAuth?: boolean;
  /** Add `-c` as short for `--registry-config` (default true; push/attach use `--config` for the manifest config). */
  shortRegistryConfig?: boolean;
  /** Add the credential flags (default true). */
  auth?: boolean;
}

/** Adds the registry-access flags (optionally prefixed for one side of `cp`). */
export function addRemoteOptions(cmd: Command, options: AddRemoteOptions = {}): Command {
  const p = options.prefix === undefined ? '' : `${options.prefix}-`;
  const side = options.prefix === undefined ? '' : ` (${options.prefix === 'from' ? 'source' : 'destination'})`;
  const shortAuth = options.shortAuth ?? options.prefix === undefined;
  if (options.layout ?? true)
    cmd.option(`--${p}oci-layout`, `the reference is DIR[:tag|@digest] of an OCI image layout directory${side}`);
  cmd
    .option(`--${p}plain-http`, `use plain HTTP instead of HTTPS (default: only for localhost/127.0.0.1/::1)${side}`)
    .option(`--no-${p}plain-http`, `force HTTPS, also for loopback hosts${side}`)
    .option(`--${p}insecure`, `skip TLS certificate verification${side}`)
    .option(`--${p}ca-file <file>`, `PEM file of extra CA certificates to trust${side}`)
    .option(`--${p}cert-file <file>`, `client certificate (PEM) for mutual TLS${side}`)
    .option(`--${p}key-file <file>`, `client private key (PEM) for mutual TLS${side}`)
    .option(
      `${p === '' ? '-H, ' : ''}--${p}header <header>`,
      `extra HTTP header 'Name: value', repeatable${side}`,
      collect,
    )
    .option(
      `--${p}resolve <host:port:address[:address_port]>`,
      `customized DNS${side}: connect to address[:address_port] for host:port, repeatable`,
      collect,
    );
  if (options.auth ?? true) {
    cmd
      .option(`${shortAuth ? '-u, ' : ''}--${p}username <username>`, `registry username${side}`)
      .option(
        `${shortAuth ? '-p, ' : ''}--${p}password <password>`,
        `registry password or token (insecure: prefer --password-stdin)${side}`,
      )
      .option(`--${p}identity-token <token>`, `registry identity (refresh) token${side}`);
    if (options.prefix === undefined)
      cmd.option('--password-stdin', 'read the password (or identity token) from stdin');
  }
  if (options.prefix === undefined) {
    cmd
      .option(
        '--timeout <seconds>',
        'total time allowed for each metadata request (manifest, tags, token), 0 = none (default: ORAS_TIMEOUT, oras config timeouts.request, else 300)',
      )
      .option(
        '--speed-limit <bytes/s>',
        'abort a blob download slower than this over --speed-time, 0 = none (default: ORAS_SPEED_LIMIT, timeouts.speedLimit, else 100)',
      )
      .option(
        '--speed-time <seconds>',
        'window for --speed-limit (default: ORAS_SPEED_TIME, timeouts.speedTime, else 60)',
      );
    cmd.option(
      `${(options.shortRegistryConfig ?? true) ? '-c, ' : ''}--registry-config <file>`,
      'docker-style config.json holding credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)',
    );
  } else if (options.auth ?? true) {
    cmd.option(`--${p}registry-config <file>`, `docker-style config.json holding credentials${side}`);
  }
  return cmd;
}

/**
 * The standard flag set of a command that talks to one registry or OCI
 * layout: {@link addRemoteOptions} (with `remote`), then the common flags and
 * `--format text|json`, in that order (the order `--help` lists them).
 */
export function addTargetCommandOptions(
  cmd: Command,
  remote: AddRemoteOptions = {},
  formats?: readonly string[],
): Command {
  addRemoteOptions(cmd, remote);
  addCommonOptions(cmd);
  // oras 1.3 commands with templates take `--format go-template=…` and `--template`.
  return formats !== undefined ? addTemplateFormatOptions(cmd, formats) : addFormatOption(cmd);
}

/** The `--format` types of the oras 1.3 commands that print a result document (push, pull, attach, manifest fetch, repo ls/tags). */
export const TEMPLATE_FORMATS = ['text', 'json', 'go-template'] as const;

/**
 * Extracts one side's {@link RemoteFlags} from commander's options object.
 * With a prefix, a prefixed flag wins and the unprefixed one (if the command
 * has it) is the fallback for both sides.
 */
export function remoteFlagsOf(opts: Record<string, unknown>, prefix?: 'from' | 'to'): RemoteFlags {
  // A layout side of `cp` ignores the shared (unprefixed) registry flags meant for the other side.
  if (prefix !== undefined && opts[`${prefix}OciLayout`] === true) return { ociLayout: true };
  const out: Record<string, unknown> = {};
  for (const key of REMOTE_KEYS) {
    const prefixed = prefix === undefined ? undefined : opts[`${prefix}${key[0]?.toUpperCase() ?? ''}${key.slice(1)}`];
    const value = prefixed ?? opts[key];
    if (value !== undefined) out[key] = value;
  }
  return out as RemoteFlags;
}

/**
 * Applies the common flags to {@link cliState} (called before a command runs).
 * `--json` is shorthand for `--format json`.
 */
export function applyCommonFlags(opts: CommonFlags, command: string): void {
  cliState.debug = opts.debug === true;
  cliState.verbose = opts.verbose === true;
  cliState.format = opts.json === true ? 'json' : (opts.format ?? 'text');
  cliState.errorContext = { command };
}

/** True when progress bars may be drawn for these flags (never with `-d/--debug`, as in oras 1.3). */
export function ttyEnabled(opts: CommonFlags): boolean {
  if (opts.debug === true) return false;
  return stderrIsTty(opts.tty);
}

/** Validates flag combinations that are errors regardless of the command. */
export function validateRemoteFlags(flags: RemoteFlags): void {
  if ((flags.certFile === undefined) !== (flags.keyFile === undefined)) {
    throw usageError('--cert-file and --key-file must be given together');
  }
  if (flags.password !== undefined && flags.passwordStdin === true) {
    throw usageError('--password and --password-stdin are mutually exclusive');
  }
  if (flags.identityToken !== undefined && (flags.password !== undefined || flags.username !== undefined)) {
    throw usageError('--identity-token cannot be combined with --username/--password');
  }
  if (flags.ociLayout === true && (flags.plainHttp === true || flags.username !== undefined)) {
    throw usageError('--oci-layout cannot be combined with registry flags (--plain-http, --username)');
  }
}
