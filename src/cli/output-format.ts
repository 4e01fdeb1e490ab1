import { Option, type Command } from 'commander';
import { cliState, out, printJson } from './context.js';
import { usageError } from './errors.js';
import { parseGoTemplate, renderGoTemplate } from './go-template.js';

/**
 * oras 1.3's `--format` / `--template` flags (cmd/oras/internal/option/format.go):
 * `--format TYPE` where TYPE is one of the command's types; `go-template`
 * takes its template as `--format go-template=TEMPLATE` or
 * `--format go-template --template TEMPLATE`. The result document is the
 * command's `--format json` document; the template runs over it (see
 * `go-template.ts`). Commands with templates: push, pull, attach, discover,
 * manifest fetch, repo ls, repo tags (as in oras 1.3).
 */

/** The parsed `--format`: its type and, for `go-template`, the template. */
export interface ResolvedFormat {
  type: string;
  template?: string;
}

/**
 * Parses `--format`/`--template` like oras: `--template` requires
 * `--format go-template`; `go-template` requires a template; the type must be
 * one of `allowed` (the error lists them). The template is parsed here so a
 * bad one fails before any work is done (oras parses it only when printing).
 */
export function resolveFormat(
  format: string,
  template: string | undefined,
  allowed: readonly string[],
): ResolvedFormat {
  let type = format;
  let tpl = template;
  if (tpl !== undefined && tpl !== '') {
    if (type !== 'go-template') throw usageError('--template must be used with --format go-template');
  } else if (format.startsWith('go-template=') && allowed.includes('go-template')) {
    type = 'go-template';
    tpl = format.slice('go-template='.length);
  }
  if (type === 'go-template' && (tpl === undefined || tpl === '')) {
    throw usageError(
      '"go-template" format specified but no template given',
      'use `--format go-template=TEMPLATE` to specify the template',
    );
  }
  if (!allowed.includes(type))
    throw usageError(`invalid format type: ${JSON.stringify(type)}`, `supported types: ${allowed.join(', ')}`);
  if (type === 'go-template') {
    parseGoTemplate(tpl ?? '');
    return { type, template: tpl ?? '' };
  }
  return { type };
}

/** Allowed format types per command (and whether `-o/--output` is a deprecated alias), recorded by {@link addTemplateFormatOptions}. */
const TYPES = new WeakMap<Command, { types: readonly string[]; outputAlias: boolean }>();

/**
 * Adds oras's `--format TYPE` (no fixed choices: `go-template=…` carries a
 * value) and `--template`. `types` lists the accepted types, the first is the
 * default. Parsed by {@link applyFormatFlags} before the action runs.
 */
export function addTemplateFormatOptions(
  cmd: Command,
  types: readonly string[] = ['text', 'json', 'go-template'],
  options: { outputAlias?: boolean } = {},
): Command {
  TYPES.set(cmd, { types, outputAlias: options.outputAlias === true });
  if (options.outputAlias === true)
    cmd.option(
      '-o, --output <format>',
      `deprecated alias of --format (${types.filter((t) => t !== 'go-template').join(', ')})`,
    );
  const usage = types
    .map((t) => (t === 'go-template' ? "'go-template=TEMPLATE': print with the Go template" : `'${t}'`))
    .join(', ');
  return cmd
    .addOption(new Option('--format <format>', `output format: ${usage}`).default(types[0]))
    .option('--template <template>', 'Go template used with --format go-template');
}

/** Applies `--format`/`--template` of a command added with {@link addTemplateFormatOptions} to {@link cliState}. */
export function applyFormatFlags(cmd: Command, opts: { format?: string; template?: string; output?: string }): void {
  const entry = TYPES.get(cmd);
  if (entry === undefined) return;
  const { types } = entry;
  let format = opts.format ?? types[0] ?? 'text';
  if (entry.outputAlias && opts.output !== undefined) {
    // oras 1.3 discover: `-o/--output` is deprecated; it and --format exclude each other.
    if (cmd.getOptionValueSource('format') === 'cli')
      throw usageError('--format and --output cannot be used at the same time');
    if (!['tree', 'table', 'json'].includes(opts.output))
      throw usageError('output type can only be tree, table or json');
    process.stderr.write(`[DEPRECATED] --output is deprecated, try \`--format ${opts.output}\` instead\n`);
    format = opts.output;
  }
  if (format === 'table' && types.includes('table'))
    process.stderr.write('Format "table" is deprecated and will be removed in a future release.\n');
  const resolved = resolveFormat(format, opts.template, types);
  cliState.format = resolved.type;
  cliState.template = resolved.template;
}

/**
 * Prints a command's result: the JSON document with `--format json`, the
 * rendered template with `--format go-template` (no newline added, as oras),
 * else calls `text()`.
 */
export function printResult(document: unknown, text: () => void): void {
  if (cliState.format === 'json') printJson(document);
  else if (cliState.format === 'go-template') out(renderGoTemplate(cliState.template ?? '', document));
  else text();
}

/** The format to give the progress renderer: silent for json and go-template (oras discards status then). */
export function progressFormat(): string {
  return cliState.format === 'go-template' ? 'json' : cliState.format;
}
