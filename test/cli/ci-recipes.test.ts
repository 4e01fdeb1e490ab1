/**
 * The README's CI recipes, executed: the `run:` lines of the GitHub Actions job and the `script:`
 * lines of the GitLab job run in a shell, in a fresh checkout of a consumer project whose
 * dependency lives on the htpasswd registry, with credentials only from ORAS_REGISTRY_<HOST>_*.
 * `npm install -g oras-ts` is replaced by an `oras` on PATH that runs this repository's built CLI.
 * Then drift: an edited installed file makes `oras verify` exit 6 with a GitHub annotation on that
 * file and a job-summary table; an edited artifacts.yaml makes the frozen install fail.
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envKeyOf } from '../../src/registry/credentials/env.js';
import { githubAnnotations, markdownSummary } from '../../src/cli/render/ci-report.js';
import { registry, uniqueRepo, userOf } from '../harness/context.js';
import { baseEnv, CLI, ensureBuilt, ROOT, runCli, show, tempDir } from './helpers.js';

/** The shell lines of the README recipe marked `<!-- ci-recipe:NAME -->`. */
async function recipeCommands(name: 'github' | 'gitlab'): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`<!-- ci-recipe:${name} -->`);
  expect(start, `README has no ci-recipe:${name}`).toBeGreaterThan(0);
  const block = readme.slice(start).split('```')[1] ?? '';
  const lines = block.split('\n');
  if (name === 'github')
    return lines.map((l) => /^\s*- run: (.+)$/.exec(l)?.[1]).filter((c): c is string => c !== undefined);
  const scriptAt = lines.findIndex((l) => /^\s*script:\s*$/.test(l));
  return lines
    .slice(scriptAt + 1)
    .map((l) => /^\s*- (.+)$/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined);
}

interface Shell {
  code: number | null;
  out: string;
}
function sh(command: string, cwd: string, env: Record<string, string>): Promise<Shell> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

let root: string;
let cleanup: () => Promise<void>;
let devEnv: Record<string, string>;
let credEnv: Record<string, string>;
let bin: string;
const T = 240_000;

beforeAll(async () => {
  ensureBuilt();
  const t = await tempDir('oras-ci-recipes-');
  root = t.dir;
  cleanup = t.cleanup;
  await mkdir(join(root, 'docker'));
  bin = join(root, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'oras'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  await chmod(join(bin, 'oras'), 0o755);
  const reg = registry('basic');
  const user = userOf(reg, 'push');
  const key = envKeyOf(reg.host);
  credEnv = { [`ORAS_REGISTRY_${key}_USERNAME`]: user.username, [`ORAS_REGISTRY_${key}_PASSWORD`]: user.password };
  devEnv = {
    ...baseEnv(join(root, 'docker')),
    HOME: root,
    CI: '',
    ORAS_CACHE_DIR: join(root, 'dev-cache'),
    ...credEnv,
  };

  // A producer publishes version 1.0.0; a developer installs it and commits artifacts.yaml + artifacts.lock.
  const repo = `${reg.host}/${uniqueRepo('ci/recipe')}`;
  const producer = join(root, 'producer');
  await mkdir(join(producer, 'models'), { recursive: true });
  await writeFile(join(producer, 'models', 'a.bin'), 'weights-a\n');
  await writeFile(join(producer, 'models', 'b.bin'), 'weights-b\n');
  await writeFile(
    join(producer, 'artifacts.yaml'),
    `publish:\n  model:\n    ref: ${repo}\n    tags: ["1.0.0"]\n    files: [models/]\n`,
  );
  const pub = await runCli(['publish'], devEnv, { cwd: producer });
  expect(pub.code, show(pub)).toBe(0);
  const dev = join(root, 'dev');
  await mkdir(dev);
  await writeFile(
    join(dev, 'artifacts.yaml'),
    `dependencies:\n  model:\n    ref: ${repo}:^1.0.0\n    path: vendor/model\n`,
  );
  const inst = await runCli(['install'], devEnv, { cwd: dev });
  expect(inst.code, show(inst)).toBe(0);
}, T);

afterAll(async () => {
  await cleanup?.();
});

/** A fresh checkout: only the committed files (artifacts.yaml, artifacts.lock). */
async function checkout(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  for (const f of ['artifacts.yaml', 'artifacts.lock']) await cp(join(root, 'dev', f), join(dir, f));
  return dir;
}

async function runRecipe(name: 'github' | 'gitlab', dir: string, env: Record<string, string>): Promise<Shell[]> {
  const results: Shell[] = [];
  for (const command of await recipeCommands(name)) {
    if (/^npm install -g oras-ts$/.test(command)) continue; // replaced by the `oras` on PATH
    const r = await sh(command, dir, env);
    expect(r.code, `${command}\n${r.out}`).toBe(0);
    results.push(r);
  }
  return results;
}

describe('README CI recipes against the htpasswd registry', () => {
  it(
    'GitHub Actions: install --frozen-lockfile + verify pass; drift is annotated and summarised',
    async () => {
      const commands = await recipeCommands('github');
      expect(commands).toEqual(['npm install -g oras-ts', 'oras install --frozen-lockfile', 'oras verify']);
      const dir = await checkout('gh');
      const summary = join(root, 'gh-summary.md');
      const env = {
        ...baseEnv(join(root, 'docker')),
        HOME: root,
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        CI: 'true',
        GITHUB_ACTIONS: 'true',
        GITHUB_STEP_SUMMARY: summary,
        ORAS_CACHE_DIR: join(dir, '.oras-cache'),
        ...credEnv,
      };
      await runRecipe('github', dir, env);
      expect(await readFile(join(dir, 'vendor', 'model', 'models', 'a.bin'), 'utf8')).toBe('weights-a\n');
      expect(await readFile(summary, 'utf8')).toContain('match artifacts.lock');

      await writeFile(join(dir, 'vendor', 'model', 'models', 'a.bin'), 'tampered\n');
      const drift = await sh('oras verify', dir, env);
      expect(drift.code, drift.out).toBe(6);
      expect(drift.out).toContain('::error file=vendor/model/models/a.bin,title=Tree drift::');
      expect(await readFile(summary, 'utf8')).toMatch(/\| Tree drift \| `vendor\/model\/models\/a\.bin` \|/);

      await writeFile(
        join(dir, 'artifacts.yaml'),
        (await readFile(join(dir, 'artifacts.yaml'), 'utf8')).replace('^1.0.0', '^2.0.0'),
      );
      const frozen = await sh('oras install --frozen-lockfile', dir, env);
      expect(frozen.code, frozen.out).not.toBe(0);
      const lockDrift = await sh('oras verify', dir, env);
      expect(lockDrift.code, lockDrift.out).toBe(5);
      expect(lockDrift.out).toContain('::error file=artifacts.lock,title=Lock drift::');
      for (const r of [drift, frozen, lockDrift]) expect(r.out).not.toContain(credEnv[Object.keys(credEnv)[1]!]!);
    },
    T,
  );

  it(
    'GitLab CI: the script lines pass with plain output (no workflow commands)',
    async () => {
      const dir = await checkout('gl');
      const env = {
        ...baseEnv(join(root, 'docker')),
        HOME: root,
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        CI: 'true',
        GITLAB_CI: 'true',
        ORAS_CACHE_DIR: join(dir, '.oras-cache'),
        ...credEnv,
      };
      const results = await runRecipe('gitlab', dir, env);
      for (const r of results) expect(r.out).not.toContain('::error');
      expect(await readFile(join(dir, 'vendor', 'model', 'models', 'b.bin'), 'utf8')).toBe('weights-b\n');
    },
    T,
  );
});

describe('CI report rendering', () => {
  it('escapes workflow-command data and properties, and control characters', () => {
    const [line] = githubAnnotations([
      { file: 'a,b:c.txt', title: 'Tree drift', message: '100% bad\nnext\x1b]52;c;x\x07' },
    ]);
    expect(line).toBe('::error file=a%2Cb%3Ac.txt,title=Tree drift::100%25 bad%0Anext\\x1b]52;c;x\\x07');
  });

  it('summarises problems as a markdown table, or a success line', () => {
    expect(markdownSummary('oras verify', [], '3 file(s) match')).toBe('### oras verify\n\n✅ 3 file(s) match\n');
    expect(markdownSummary('oras verify', [{ file: 'x|y', title: 'Lock drift', message: 'a\nb' }], '')).toContain(
      '| Lock drift | `x\\|y` | a<br>b |',
    );
  });
});
