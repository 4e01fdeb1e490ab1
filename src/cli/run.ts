import { Command, CommanderError } from 'commander';
import { cliState } from './context.js';
export { interrupt } from './context.js';
import { errorJson, exitCodeFor, ExitCode, formatError } from './errors.js';
import { registerCommands } from './commands/index.js';
import { packageVersion } from './commands/version.js';
import { applyCommonFlags, type CommonFlags } from './options.js';
import { applyFormatFlags } from './output-format.js';

/**
 * Builds the `oras` commander program. With `invoked` (the first command-line
 * word) naming a known command, only that command's module is loaded and
 * registered (fast start-up); otherwise every command is (help, suggestions).
 */
export async function buildProgram(invoked?: string): Promise<Command> {
  const program = new Command('oras')
    .description('OCI Registry As Storage: push, pull and manage artifacts in OCI registries')
    .usage('[command] [flags]')
    .version(packageVersion(), '--version', 'print the version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Usage errors are printed by run() as `Error: …` + `Hint: …`.
      outputError: () => undefined,
    });
  program.hook('preAction', (_root, actionCommand) => {
    const path: string[] = [];
    for (let c: Command | null = actionCommand; c !== null && c !== program; c = c.parent) path.unshift(c.name());
    applyCommonFlags(actionCommand.opts<CommonFlags>(), path.join(' '));
    applyFormatFlags(actionCommand, actionCommand.opts<{ format?: string; template?: string }>());
  });
  await registerCommands(program, invoked);
  return program;
}

/** Runs the CLI with `argv` (as `process.argv`) and returns the exit code. Never throws. */
export async function run(argv: string[]): Promise<number> {
  const rawArgs = argv.slice(2);
  // Commands print results themselves; errors land here.
  try {
    const program = await buildProgram(rawArgs[0]);
    if (rawArgs.length === 0) {
      program.outputHelp();
      return ExitCode.Ok;
    }
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    if (
      err instanceof CommanderError &&
      (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
    ) {
      return ExitCode.Ok;
    }
    if (err instanceof CommanderError && err.code === 'commander.executeSubCommandAsync') return ExitCode.Failure;
    const debug = cliState.debug || rawArgs.includes('--debug') || rawArgs.includes('-d');
    const code = exitCodeFor(err);
    if (err instanceof Error && err.name === 'CliExit' && err.message === '') return code;
    if (cliState.format === 'json') {
      process.stderr.write(`${JSON.stringify({ error: errorJson(err, cliState.errorContext) })}\n`);
      if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    } else {
      process.stderr.write(formatError(err, { debug, context: cliState.errorContext }));
    }
    return code;
  }
}
