/**
 * Reports for CI systems. On GitHub Actions (`GITHUB_ACTIONS=true`, or `--ci-reporter github`),
 * lock and tree drift become workflow-command annotations (`::error file=…,title=…::message`,
 * shown on the pull request's files) and a markdown job summary is appended to
 * `$GITHUB_STEP_SUMMARY`. Elsewhere (`plain`) nothing extra is printed: the text output already
 * says everything. See https://docs.github.com/actions/reference/workflow-commands-for-github-actions.
 */
import { appendFileSync } from 'node:fs';

/** Which CI report to produce. */
export type CiReporterKind = 'github' | 'plain';

/** One problem to report, anchored to a file of the project when there is one. */
export interface CiProblem {
  /** Project-relative path (POSIX) the problem is about, e.g. `artifacts.lock` or `vendor/a.bin`. */
  file?: string;
  /** Short title, e.g. `Lock drift`. */
  title: string;
  /** The full message (may span lines). */
  message: string;
}

/** The reporter for this process: `ORAS_CI_REPORTER=github|plain` wins, then `GITHUB_ACTIONS=true` → github, else plain. */
export function ciReporterKind(env: NodeJS.ProcessEnv = process.env): CiReporterKind {
  const explicit = env.ORAS_CI_REPORTER;
  if (explicit === 'github' || explicit === 'plain') return explicit;
  return env.GITHUB_ACTIONS === 'true' ? 'github' : 'plain';
}

/**
 * Escapes a workflow-command message (`%`, CR, LF as GitHub's toolkit does), and makes every
 * other control character visible (`\x1b`), so a registry string cannot forge another command.
 */
function escapeData(s: string): string {
  return s
    .replace(/%/g, '%25')
    .replace(/\r/g, '%0D')
    .replace(/\n/g, '%0A')
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Escapes a workflow-command property value (also `:` and `,`). */
function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** The `::error` lines for `problems` (GitHub workflow commands), one per problem. */
export function githubAnnotations(problems: readonly CiProblem[]): string[] {
  return problems.map((p) => {
    const props = [
      ...(p.file !== undefined ? [`file=${escapeProperty(p.file)}`] : []),
      `title=${escapeProperty(p.title)}`,
    ];
    return `::error ${props.join(',')}::${escapeData(p.message)}`;
  });
}

/** A markdown job summary: a heading, then a table of problems (or a success line). */
export function markdownSummary(heading: string, problems: readonly CiProblem[], okLine: string): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
  if (problems.length === 0) return `### ${heading}\n\n✅ ${okLine}\n`;
  const rows = problems
    .slice(0, 200)
    .map((p) => `| ${cell(p.title)} | ${p.file !== undefined ? `\`${cell(p.file)}\`` : ''} | ${cell(p.message)} |`);
  const more = problems.length > 200 ? `\n…and ${problems.length - 200} more\n` : '';
  return `### ${heading}\n\n| problem | file | details |\n| --- | --- | --- |\n${rows.join('\n')}\n${more}`;
}

/**
 * Emits the CI report for one command: on GitHub, annotations on `write` (stdout lines are what
 * the runner parses) and the summary appended to `$GITHUB_STEP_SUMMARY` when set. Plain: nothing.
 */
export function emitCiReport(
  kind: CiReporterKind,
  report: { heading: string; okLine: string; problems: readonly CiProblem[] },
  write: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): void {
  if (kind !== 'github') return;
  for (const line of githubAnnotations(report.problems)) write(line);
  const summaryFile = env.GITHUB_STEP_SUMMARY;
  if (summaryFile !== undefined && summaryFile !== '') {
    appendFileSync(summaryFile, markdownSummary(report.heading, report.problems, report.okLine) + '\n');
  }
}
