import type { Command } from 'commander';
import { formatSpecChanges } from '../../project/plan/spec-diff.js';
import { verify, type VerifyReport } from '../../project/verify.js';
import { cliState, outLine, printJson } from '../context.js';
import { ciReporterKind, emitCiReport, type CiProblem } from '../render/ci-report.js';
import { CliExit, ExitCode, type ExitCodeValue } from '../errors.js';
import { addProjectOptions, withProjectContext, type ProjectFlags } from './project-shared.js';

/**
 * The exit code for a verify report: 0 clean, 5 manifest drift
 * (artifacts.yaml vs artifacts.lock, including lock entries not bound to
 * artifacts.yaml or to their locked manifests), 6 tree drift (files vs lock), 1 when
 * the check itself could not run. Manifest drift wins over tree drift.
 */
export function verifyExitCode(report: VerifyReport): ExitCodeValue {
  if (report.manifestDrift.length > 0 || report.lockMismatch.length > 0) return ExitCode.ManifestDrift;
  if (report.treeDrift.length > 0) return ExitCode.TreeDrift;
  if (report.errors.length > 0) return ExitCode.Failure;
  return ExitCode.Ok;
}

/** The CI report of a verify run: lock drift on artifacts.lock, tree drift on each file. */
export function verifyCiReport(report: VerifyReport): { heading: string; okLine: string; problems: CiProblem[] } {
  const problems: CiProblem[] = [];
  if (report.manifestDrift.length > 0) {
    problems.push({
      file: 'artifacts.lock',
      title: 'Lock drift',
      message: `artifacts.lock does not match artifacts.yaml (run \`oras install\` and commit the lock):\n${formatSpecChanges(report.manifestDrift)}`,
    });
  }
  for (const m of report.lockMismatch) {
    problems.push({
      file: 'artifacts.lock',
      title: 'Lock mismatch',
      message: `${m.message}\nfix: run \`oras install\` without --frozen-lockfile to re-resolve, or revert artifacts.lock`,
    });
  }
  for (const d of report.treeDrift) {
    problems.push({
      file: d.path,
      title: 'Tree drift',
      message: `${d.path}: ${d.actual}${d.dependency !== undefined ? ` (${d.dependency})` : ''}`,
    });
  }
  for (const e of report.errors) problems.push({ title: e.code, message: e.message });
  return { heading: 'oras verify', okLine: `${report.checked} file(s) match artifacts.lock`, problems };
}

/** `oras verify`: offline check that artifacts.lock matches artifacts.yaml and the files on disk. */
export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .description(
      'check that artifacts.lock matches artifacts.yaml, its locked manifests and the installed files (exit 5: manifest drift or lock mismatch, 6: tree drift)',
    );
  addProjectOptions(cmd);
  cmd.action(async (opts: ProjectFlags) => {
    await withProjectContext(opts, async (ctx) => {
      const report = await verify({
        projectDir: ctx.projectDir,
        concurrency: ctx.concurrency,
        config: ctx.config,
        registryAccess: ctx.access,
        ...(ctx.onEvent !== undefined ? { onEvent: ctx.onEvent } : {}),
      });
      const code = verifyExitCode(report);
      emitCiReport(
        ciReporterKind(),
        verifyCiReport(report),
        cliState.format === 'json' ? (l) => process.stderr.write(l + '\n') : outLine,
      );
      if (cliState.format === 'json') {
        printJson({ ...report, exitCode: code });
      } else {
        if (report.manifestDrift.length > 0)
          outLine(`Manifest drift (artifacts.yaml vs artifacts.lock):\n${formatSpecChanges(report.manifestDrift)}`);
        if (report.lockMismatch.length > 0) {
          outLine(
            `Lock mismatch (ERR_ORAS_LOCK_MISMATCH): artifacts.lock names what artifacts.yaml or the locked manifests do not:\n${report.lockMismatch.map((m) => m.message).join('\n')}`,
          );
          outLine('  fix: run `oras install` without --frozen-lockfile to re-resolve them, or revert artifacts.lock');
        }
        for (const d of report.treeDrift)
          outLine(`Tree drift: ${d.path}: ${d.actual}${d.dependency !== undefined ? ` (${d.dependency})` : ''}`);
        for (const e of report.errors) outLine(`Error: ${e.code}: ${e.message}`);
        outLine(
          report.ok
            ? `Verified ${report.checked} file(s): OK`
            : `Verification failed (${report.checked} file(s) checked)`,
        );
      }
      if (code !== ExitCode.Ok) throw new CliExit(code);
    });
  });
}
