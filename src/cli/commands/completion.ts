import type { Command } from 'commander';
import { usageError } from '../errors.js';

/**
 * `oras completion bash|zsh|fish|powershell`: prints a shell completion
 * script generated from the command tree (commander has no generator). It
 * completes command and subcommand names and the flags of each command;
 * arguments (references, files) fall back to the shell's file completion.
 */

/** One command path (`['manifest', 'fetch']`) with its subcommand names and flags. */
interface Node {
  path: string[];
  subcommands: string[];
  flags: string[];
}

/** Walks `program` depth-first: every command path with its subcommands (names and aliases) and long/short flags. */
export function commandTree(program: Command): Node[] {
  const out: Node[] = [];
  const walk = (cmd: Command, path: string[]): void => {
    const subs = cmd.commands.filter((c) => c.name() !== 'help');
    out.push({
      path,
      subcommands: subs.flatMap((c) => [c.name(), ...c.aliases()]),
      flags: cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined)),
    });
    for (const c of subs) for (const name of [c.name(), ...c.aliases()]) walk(c, [...path, name]);
  };
  walk(program, []);
  return out;
}

/** bash (and zsh through bashcompinit): a `case` over the command path typed so far. */
export function bashScript(nodes: Node[]): string {
  const known = `|${nodes.map((n) => n.path.join('/')).join('|')}|`;
  const cases = nodes
    .map((n) => `    '${n.path.join('/')}') words='${[...n.subcommands, ...n.flags].join(' ')}' ;;`)
    .join('\n');
  return `# oras bash completion: source <(oras completion bash)
_oras() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w words
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$w" in -*) continue ;; esac
    local cand="\${path:+$path/}$w"
    if [[ "${known}" == *"|$cand|"* ]]; then path="$cand"; fi
  done
  case "$path" in
${cases}
    *) words='' ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _oras oras
`;
}

/** zsh: the bash script through bashcompinit. */
export function zshScript(nodes: Node[]): string {
  return `#compdef oras
# oras zsh completion: source <(oras completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashScript(nodes)}`;
}

/** fish: `complete -c oras` lines conditioned on the subcommands seen. */
export function fishScript(nodes: Node[]): string {
  const lines = ['# oras fish completion: oras completion fish | source', 'complete -c oras -f'];
  for (const n of nodes) {
    const cond =
      n.path.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${n.path[n.path.length - 1] ?? ''}`;
    if (n.subcommands.length > 0) lines.push(`complete -c oras -n '${cond}' -a '${n.subcommands.join(' ')}'`);
    for (const f of n.flags)
      lines.push(`complete -c oras -n '${cond}' ${f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`}`);
  }
  return `${lines.join('\n')}\n`;
}

/** PowerShell: Register-ArgumentCompleter over a table of command paths. */
export function powershellScript(nodes: Node[]): string {
  const table = nodes
    .map((n) => `  '${n.path.join('/')}' = @(${[...n.subcommands, ...n.flags].map((w) => `'${w}'`).join(', ')})`)
    .join('\n');
  return `# oras PowerShell completion: oras completion powershell | Out-String | Invoke-Expression
$orasWords = @{
${table}
}
Register-ArgumentCompleter -Native -CommandName oras -ScriptBlock {
  param($wordToComplete, $commandAst, $cursorPosition)
  $path = ''
  foreach ($e in $commandAst.CommandElements | Select-Object -Skip 1) {
    $w = $e.ToString()
    if ($w -eq $wordToComplete -or $w.StartsWith('-')) { continue }
    $cand = if ($path) { "$path/$w" } else { $w }
    if ($orasWords.ContainsKey($cand)) { $path = $cand }
  }
  $orasWords[$path] | Where-Object { $_ -like "$wordToComplete*" } | ForEach-Object {
    [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
  }
}
`;
}

const SHELLS: Record<string, (nodes: Node[]) => string> = {
  bash: bashScript,
  zsh: zshScript,
  fish: fishScript,
  powershell: powershellScript,
};

/** `oras completion SHELL`. */
export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: bash, zsh, fish or powershell')
    .argument('<shell>', 'bash | zsh | fish | powershell')
    .action(async (shell: string) => {
      const generate = SHELLS[shell];
      if (generate === undefined)
        throw usageError(`unsupported shell ${JSON.stringify(shell)}`, 'use bash, zsh, fish or powershell');
      // The full tree: this run registered only the completion module.
      const { buildProgram } = await import('../run.js');
      const full = await buildProgram();
      process.stdout.write(generate(commandTree(full)));
    });
}
