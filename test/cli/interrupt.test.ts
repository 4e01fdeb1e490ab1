/**
 * Interrupts of the built CLI (issue 11 item 2): a real child process of
 * `dist/cli/main.js` installs a 2,000-file directory artifact from the
 * harness registry and gets SIGINT / SIGTERM once its first file was placed.
 * Then: the exit code is 130 / 143, every file is its old or its new version,
 * no temp file is left, `.oras/state.json` records exactly what is on disk,
 * and a rerun converges to the lock. The same install without `-v` prints a
 * few summary lines, not one per file (item 9).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry, uniqueRepo } from '../harness/context.js';
import { CLI, type CliResult, runCli, show, useCliSandbox } from './helpers.js';

const sandbox = useCliSandbox('oras-cli-interrupt-');
const T = 600_000;
const FILES = 2000;

async function ok(args: string[], cwd: string): Promise<CliResult> {
  const r = await runCli(args, sandbox.env, { cwd, timeoutMs: 240_000 });
  expect(r.code, show(r)).toBe(0);
  return r;
}

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const content = (version: string, i: number): string => `file ${i} of version ${version}\n`;

/** Every file under `dir` (project-relative POSIX paths), skipping `.oras/`. */
async function walk(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== '.oras') out.push(...(await walk(p, base)));
    } else out.push(relative(base, p).split(sep).join('/'));
  }
  return out;
}

/** Runs `oras install -v` and sends `signal` once the first placed-file line (`Added`/`Changed`) appears. */
function installAndSignal(
  cwd: string,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; stderr: string; signalledAfterMs: number; exitedAfterMs: number }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, 'install', '-v', '--concurrency', '1'], {
      cwd,
      env: sandbox.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let sentAt: number | undefined;
    const start = Date.now();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`install did not stop; stderr:\n${stderr.slice(-2000)}`));
    }, 120_000);
    child.stdout.resume();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (sentAt === undefined && /^(Added|Changed)\s/m.test(stderr)) {
        sentAt = Date.now();
        child.kill(signal);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const now = Date.now();
      resolveRun({ code, stderr, signalledAfterMs: (sentAt ?? now) - start, exitedAfterMs: now - (sentAt ?? now) });
    });
  });
}

/** Checks the tree after an interrupted switch from version `from` to `to`; returns how many files are new. */
async function checkInterruptedTree(consumer: string, from: string, to: string, completed = false): Promise<number> {
  const files = await walk(consumer);
  expect(
    files.filter((f) => f.includes('.oras-tmp-')),
    'temp files left',
  ).toEqual([]);
  const tree = files.filter((f) => f.startsWith('vendor/'));
  expect(tree).toHaveLength(FILES);
  const state = JSON.parse(await readFile(join(consumer, '.oras', 'state.json'), 'utf8')) as {
    files: Record<string, { digest: string }>;
    inputs?: unknown;
  };
  // A state written by an interrupted run carries no inputs: the next install takes the full path.
  if (!completed) expect(state.inputs).toBeUndefined();
  let fresh = 0;
  for (const f of tree) {
    const i = Number(/(\d+)\.txt$/.exec(f)?.[1]);
    const bytes = await readFile(join(consumer, ...f.split('/')));
    const text = bytes.toString('utf8');
    expect([content(from, i), content(to, i)], f).toContain(text);
    if (text === content(to, i)) fresh += 1;
    // The state records exactly what is on disk.
    expect(state.files[f]?.digest, f).toBe(sha(bytes));
  }
  return fresh;
}

describe('interrupts (SIGINT/SIGTERM mid-reify)', () => {
  it(
    'stops, leaves every file old or new and no temps, records state, exits 130/143; the rerun converges',
    async () => {
      const REG = registry('plain').host;
      const repo = `${REG}/${uniqueRepo('cli/interrupt')}`;
      const producer = join(sandbox.root, 'producer');
      const publishVersion = async (version: string): Promise<void> => {
        for (let d = 0; d < 20; d++) {
          const dir = join(producer, 'tree', `d${String(d).padStart(2, '0')}`);
          await mkdir(dir, { recursive: true });
          for (let k = 0; k < FILES / 20; k++) {
            const i = d * (FILES / 20) + k;
            await writeFile(join(dir, `f${String(i).padStart(4, '0')}.txt`), content(version, i));
          }
        }
        await writeFile(
          join(producer, 'artifacts.yaml'),
          `dependencies: {}\npublish:\n  tree:\n    ref: ${repo}\n    tags: ["${version}"]\n    files: [tree]\n`,
        );
        await ok(['publish'], producer);
      };
      await mkdir(producer);
      await publishVersion('1.0.0');
      await publishVersion('2.0.0');

      const consumer = join(sandbox.root, 'consumer');
      await mkdir(consumer);
      const want = async (version: string): Promise<void> => {
        await writeFile(
          join(consumer, 'artifacts.yaml'),
          `dependencies:\n  tree:\n    ref: ${repo}:${version}\n    path: vendor\n`,
        );
      };
      await want('1.0.0');
      // Item 9: a 2,000-file install prints a few lines without -v (no line per file), one per file with -v.
      const quiet = await ok(['install'], consumer);
      const quietLines = `${quiet.stdout}${quiet.stderr}`.split('\n').filter((l) => l.trim() !== '');
      expect(quietLines.length, quietLines.join('\n')).toBeLessThanOrEqual(6);
      expect(quiet.stdout).toMatch(/^ {2}tree: 2000 added \(\d[\d.]* kB, [\d.]+m?s\)$/m);
      expect(quiet.stdout).toMatch(/^Installed: 2000 added, 0 changed, 0 removed, 0 unchanged in [\d.]+m?s$/m);

      for (const [signal, code, from, to] of [
        ['SIGINT', 130, '1.0.0', '2.0.0'],
        ['SIGTERM', 143, '2.0.0', '1.0.0'],
      ] as const) {
        await want(to);
        const run = await installAndSignal(consumer, signal);
        expect(run.code, `${signal}\n${run.stderr.slice(-3000)}`).toBe(code);
        // -v: one line per placed file.
        expect(run.stderr.split('\n').filter((l) => /^Changed\s+vendor\//.test(l)).length).toBeGreaterThan(0);
        expect(run.stderr).toMatch(/interrupted/i);
        const fresh = await checkInterruptedTree(consumer, from, to);
        // It stopped part-way: some files placed, not all.
        expect(fresh, `${signal}: ${fresh} of ${FILES} new`).toBeGreaterThan(0);
        expect(fresh, `${signal}: ${fresh} of ${FILES} new`).toBeLessThan(FILES);
        console.log(`${signal}: stopped ${run.exitedAfterMs} ms after the signal with ${fresh}/${FILES} files new`);

        // The next install finishes the job and converges to the lock exactly.
        // (checkInterruptedTree then compares every file and state record with the new version, i.e. the lock.)
        await ok(['install'], consumer);
        const after = await checkInterruptedTree(consumer, from, to, true);
        expect(after).toBe(FILES);
      }
    },
    T,
  );
});
