/**
 * `oras publish` semantics (issue 11 items 3, 4) and multi-line / structured
 * errors (item 8), through the built CLI against the harness plain registry:
 * release tags are immutable (refused with old → new digests, also in a dry
 * run; `--force` moves them; `latest` and `mutableTags` move), publishables
 * attached to each other are published in subject order (also dry-run), a
 * subject cycle names both publishables, and errors keep their lines in text
 * and carry `details` in JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry, uniqueRepo } from '../harness/context.js';
import { type CliResult, runCli, show, useCliSandbox } from './helpers.js';

const sandbox = useCliSandbox('oras-cli-publish-');
const T = 180_000;

async function oras(args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, sandbox.env, { cwd, timeoutMs: 120_000 });
}

async function ok(args: string[], cwd: string): Promise<CliResult> {
  const r = await oras(args, cwd);
  expect(r.code, show(r)).toBe(0);
  return r;
}

async function project(name: string, yaml: string, files: Record<string, string> = {}): Promise<string> {
  const dir = join(sandbox.root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'artifacts.yaml'), yaml);
  for (const [f, c] of Object.entries(files)) await writeFile(join(dir, f), c);
  return dir;
}

interface PublishJson {
  published: {
    name: string;
    digest: string;
    tags: string[];
    unchanged: boolean;
    moved?: { tag: string; from: string }[];
  }[];
}
const pubJson = (r: CliResult): PublishJson => JSON.parse(r.stdout) as PublishJson;
const errJson = (
  r: CliResult,
): { error: { code: string; message: string; hint?: string; details?: Record<string, unknown> } } =>
  JSON.parse(r.stderr) as never;

describe('immutable release tags', () => {
  it(
    'refuses to move 1.0.0 (old → new digests, also --dry-run), --force moves it, latest and mutableTags move, same content is a no-op',
    async () => {
      const repo = `${registry('plain').host}/${uniqueRepo('cli/immutable')}`;
      const dir = await project(
        'immutable',
        `dependencies: {}\npublish:\n  app:\n    ref: ${repo}\n    tags: ["1.0.0", "latest"]\n    files: [app.txt]\n`,
        { 'app.txt': 'one\n' },
      );
      const first = pubJson(await ok(['publish', '--json'], dir)).published[0]!;
      expect(first.unchanged).toBe(false);

      // Same content again: a no-op (nothing moved, reported as unchanged).
      const again = await ok(['publish'], dir);
      expect(again.stdout).toMatch(/^Unchanged app: /m);

      await writeFile(join(dir, 'app.txt'), 'two\n');
      const dry = await oras(['publish', '--dry-run'], dir);
      expect(dry.code, show(dry)).not.toBe(0);
      const refused = await oras(['publish'], dir);
      expect(refused.code, show(refused)).not.toBe(0);
      expect(refused.stderr).toContain(first.digest);
      expect(refused.stderr).toContain('publish.app');
      expect(refused.stderr).toMatch(/:1\.0\.0 is sha256:[0-9a-f]{64} → would become sha256:[0-9a-f]{64}/);
      expect(refused.stderr).toMatch(/^Hint: .*--force.*stay on that digest/m);
      expect(dry.stderr.split('\n').slice(0, 2)).toEqual(refused.stderr.split('\n').slice(0, 2));
      expect((await ok(['resolve', `${repo}:1.0.0`], dir)).stdout.trim()).toBe(first.digest);
      const refusedJson = errJson(await oras(['publish', '--json'], dir)).error;
      expect(refusedJson.code).toBe('ERR_ORAS_IMMUTABLE_TAG');
      const newDigest = (refusedJson.details as { refusals: { tag: string; old: string; new: string }[] }).refusals[0]!;
      expect(newDigest).toMatchObject({ tag: '1.0.0', old: first.digest });
      expect(refused.stderr).toContain(newDigest.new);

      // --force moves it; the old digest is reported.
      const forced = pubJson(await ok(['publish', '--force', '--json'], dir)).published[0]!;
      expect(forced.digest).toBe(newDigest.new);
      expect(forced.moved).toEqual(expect.arrayContaining([{ tag: '1.0.0', from: first.digest }]));
      expect((await ok(['resolve', `${repo}:1.0.0`], dir)).stdout.trim()).toBe(newDigest.new);

      // latest (a moving tag) moves without --force.
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies: {}\npublish:\n  app:\n    ref: ${repo}\n    tags: ["latest", "1.1"]\n    files: [app.txt]\n`,
      );
      await writeFile(join(dir, 'app.txt'), 'three\n');
      const moved = pubJson(await ok(['publish', '--json'], dir)).published[0]!;
      expect((await ok(['resolve', `${repo}:latest`], dir)).stdout.trim()).toBe(moved.digest);

      // A release tag listed under mutableTags moves too.
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies: {}\npublish:\n  app:\n    ref: ${repo}\n    tags: ["2.0.0-SNAPSHOT"]\n    mutableTags: ["*-SNAPSHOT"]\n    files: [app.txt]\n`,
      );
      await ok(['publish'], dir);
      await writeFile(join(dir, 'app.txt'), 'four\n');
      const snap = pubJson(await ok(['publish', '--json'], dir)).published[0]!;
      expect((await ok(['resolve', `${repo}:2.0.0-SNAPSHOT`], dir)).stdout.trim()).toBe(snap.digest);
    },
    T,
  );
});

describe('publish order by subject', () => {
  for (const order of ['subject first alphabetically', 'subject last alphabetically'] as const) {
    it(
      `publishes a publishable attached to another one after it (${order}), also with --dry-run`,
      async () => {
        const reg = registry('plain').host;
        const appRepo = `${reg}/${uniqueRepo('cli/subject-app')}`;
        const sbomRepo = `${reg}/${uniqueRepo('cli/subject-sbom')}`;
        const [appName, sbomName] =
          order === 'subject first alphabetically' ? ['a-app', 'z-sbom'] : ['z-app', 'a-sbom'];
        const dir = await project(
          `order-${appName}`,
          [
            'dependencies: {}',
            'publish:',
            `  ${sbomName}:`,
            `    ref: ${sbomRepo}`,
            '    tags: ["1.0.0"]',
            '    artifactType: application/spdx+json',
            '    files: [sbom.json]',
            `    subject: ${appRepo}:1.0.0`,
            `  ${appName}:`,
            `    ref: ${appRepo}`,
            '    tags: ["1.0.0"]',
            '    files: [app.txt]',
            '',
          ].join('\n'),
          { 'app.txt': 'app\n', 'sbom.json': '{"spdxVersion":"SPDX-2.3"}\n' },
        );
        // Dry run: nothing is in the registry, the subject digest comes from the plan.
        const dry = pubJson(await ok(['publish', '--dry-run', '--json'], dir)).published;
        expect(dry.map((p) => p.name)).toEqual([appName, sbomName]);
        const real = pubJson(await ok(['publish', '--json'], dir)).published;
        expect(real.map((p) => p.name)).toEqual([appName, sbomName]);
        expect(real.map((p) => p.digest)).toEqual(dry.map((p) => p.digest));
        const sbom = JSON.parse((await ok(['manifest', 'fetch', `${sbomRepo}:1.0.0`], dir)).stdout) as {
          subject?: { digest: string };
        };
        expect(sbom.subject?.digest).toBe(real[0]!.digest);
      },
      T,
    );
  }

  it(
    'a subject cycle is an error naming both publishables and their subject fields; an unknown subject names the field',
    async () => {
      const reg = registry('plain').host;
      const a = `${reg}/${uniqueRepo('cli/cycle-a')}`;
      const b = `${reg}/${uniqueRepo('cli/cycle-b')}`;
      const dir = await project(
        'cycle',
        `dependencies: {}\npublish:\n  one:\n    ref: ${a}:1.0.0\n    files: [f.txt]\n    subject: ${b}:1.0.0\n  two:\n    ref: ${b}:1.0.0\n    files: [f.txt]\n    subject: ${a}:1.0.0\n`,
        { 'f.txt': 'f\n' },
      );
      for (const args of [['publish'], ['publish', '--dry-run']]) {
        const r = await oras(args, dir);
        expect(r.code, show(r)).not.toBe(0);
        expect(r.stderr).toContain('publish.one.subject');
        expect(r.stderr).toContain('publish.two.subject');
      }
      expect(errJson(await oras(['publish', '--json'], dir)).error).toMatchObject({
        code: 'ERR_ORAS_CYCLE',
        details: { cycle: ['one', 'two'] },
      });

      const missing = await project(
        'missing-subject',
        `dependencies: {}\npublish:\n  one:\n    ref: ${a}:2.0.0\n    files: [f.txt]\n    subject: ${b}:9.9.9\n`,
        { 'f.txt': 'f\n' },
      );
      const r = await oras(['publish', '--dry-run'], missing);
      expect(r.code, show(r)).toBe(3);
      expect(r.stderr).toMatch(/^Error: publish\.one\.subject: .*9\.9\.9 does not exist/m);
    },
    T,
  );
});

describe('errors keep their lines and carry details', () => {
  it(
    'a 3-problem artifacts.yaml prints one problem per line; --json has details.issues',
    async () => {
      const dir = await project(
        'three-problems',
        'dependencies:\n  a:\n    ref: localhost:5000/x:1.0.0\n    pth: vendor\n  b:\n    path: vendor/b\n  c:\n    ref: 12\n    path: /abs\n',
      );
      const r = await oras(['install'], dir);
      expect(r.code, show(r)).not.toBe(0);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^Error: artifacts\.yaml has \d+ problems:$/);
      const problems = lines.filter((l) => /^ {2}artifacts\.yaml:\d+:\d+: /.test(l));
      expect(problems.length).toBeGreaterThanOrEqual(3);
      expect(lines[lines.length - 1]).toMatch(/^Hint: /);
      const j = errJson(await oras(['install', '--json'], dir)).error;
      expect(j.code).toBe('ERR_ORAS_CONFIG');
      const issues = (j.details as { issues: { path: string; message: string; line?: number }[] }).issues;
      expect(issues.length).toBe(problems.length);
      expect(issues.map((i) => i.path)).toEqual(
        expect.arrayContaining(['dependencies.a.pth', 'dependencies.b', 'dependencies.c.ref']),
      );
      for (const i of issues)
        expect(i).toMatchObject({ path: expect.any(String), message: expect.any(String), line: expect.any(Number) });
    },
    T,
  );

  it(
    'a frozen-lockfile refusal prints the diff one change per line; --json has details.changes',
    async () => {
      const repo = `${registry('plain').host}/${uniqueRepo('cli/frozen')}`;
      const producer = await project(
        'frozen-producer',
        `dependencies: {}\npublish:\n  d:\n    ref: ${repo}\n    tags: ["1.0.0"]\n    files: [d.txt]\n`,
        { 'd.txt': 'd\n' },
      );
      await ok(['publish'], producer);
      const dir = await project('frozen', `dependencies:\n  one:\n    ref: ${repo}:1.0.0\n    path: one\n`);
      await ok(['install'], dir);
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  one:\n    ref: ${repo}:1.0.0\n    path: moved\n  two:\n    ref: ${repo}:1.0.0\n    path: two\n`,
      );
      const r = await oras(['install', '--frozen-lockfile'], dir);
      expect(r.code, show(r)).not.toBe(0);
      expect(r.stderr).toMatch(
        /^Error: artifacts\.lock is out of date with artifacts\.yaml:\n {2}~ dependencies\.one\.path: .*\n {2}\+ dependencies\.two: /m,
      );
      const j = errJson(await oras(['install', '--frozen-lockfile', '--json'], dir)).error;
      expect(j.code).toBe('ERR_ORAS_FROZEN_LOCKFILE');
      expect((j.details as { changes: unknown[] }).changes).toEqual([
        expect.objectContaining({ kind: 'changed', name: 'one', field: 'path', wanted: 'moved', locked: 'one' }),
        expect.objectContaining({ kind: 'added', name: 'two' }),
      ]);
    },
    T,
  );
});

describe('install output on a terminal', () => {
  it(
    'draws a progress bar for a large blob on a real pseudo-terminal (script(1)) and prints one summary line per dependency',
    async () => {
      const { spawnSync } = await import('node:child_process');
      if (spawnSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).status !== 0) return; // util-linux script(1) allocates the PTY
      const repo = `${registry('plain').host}/${uniqueRepo('cli/tty-install')}`;
      const big = Buffer.alloc(3 * 1024 * 1024, 7);
      const producer = await project(
        'tty-producer',
        `dependencies: {}\npublish:\n  big:\n    ref: ${repo}\n    tags: ["1.0.0"]\n    files: [big.bin, small.txt]\n`,
        { 'small.txt': 'small\n' },
      );
      await writeFile(join(producer, 'big.bin'), big);
      await ok(['publish'], producer);
      const dir = await project('tty-consumer', `dependencies:\n  big:\n    ref: ${repo}:1.0.0\n    path: vendor\n`);
      const { CLI } = await import('./helpers.js');
      const cmd = `stty cols 120 2>/dev/null; "${process.execPath}" "${CLI}" install`;
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
        cwd: dir,
        env: { ...sandbox.env, XDG_CACHE_HOME: join(sandbox.root, 'tty-cache') },
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('\u2713 Fetched');
      expect(r.stdout).toMatch(/ {2}big: 2 added \(3\.\d+ MB, [\d.]+m?s\)/);
      expect(r.stdout).not.toMatch(/Added\s+vendor/);
    },
    T,
  );
});
