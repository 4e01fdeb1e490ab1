/**
 * Package-manager semantics of the lock (issue 11 items 1, 3 (install/outdated), 5, 6, 10),
 * end to end: the built CLI against the harness plain registry, and real `git` merges.
 * - no silent upgrades: editing a dependency, renaming it or narrowing its range keeps the
 *   locked version; only `update` moves it;
 * - a refused install/update leaves artifacts.lock byte-identical;
 * - two branches adding a dependency each merge (git merge driver, and conflict markers
 *   fixed by `oras install`) without re-resolving the others;
 * - `outdated` exits 1 when outdated, `plan` exits 6 on conflicts, an include that matches
 *   nothing is an error, `1.1.0` beside `v1.1.0` with other content is an error;
 * - a republished tag is reported by `outdated` and `update`, and `install` keeps the lock.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { registry, uniqueRepo } from '../harness/context.js';
import { CLI, type CliResult, runCli, show, useCliSandbox } from './helpers.js';

const sandbox = useCliSandbox('oras-cli-locksem-');
const T = 180_000;

async function oras(args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, sandbox.env, { cwd });
}

async function ok(args: string[], cwd: string): Promise<CliResult> {
  const r = await oras(args, cwd);
  expect(r.code, show(r)).toBe(0);
  return r;
}

let pushes = 0;
/** Pushes `files` (name → content) as `ref`; returns the manifest digest. */
async function push(ref: string, files: Record<string, string>): Promise<string> {
  const dir = join(sandbox.root, `push-${++pushes}`);
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  const r = await ok(['push', ref, ...Object.keys(files), '--format', 'json'], dir);
  return (JSON.parse(r.stdout) as { digest: string }).digest;
}

async function project(name: string, yaml: string): Promise<string> {
  const dir = join(sandbox.root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'artifacts.yaml'), yaml);
  return dir;
}

interface LockJson {
  dependencies: Record<string, { resolved: string; digest: string; files: number }>;
}
async function installJson(dir: string, args: string[] = []): Promise<LockJson & { lockfileChanged: boolean }> {
  return JSON.parse((await ok(['install', '--json', ...args], dir)).stdout) as LockJson & { lockfileChanged: boolean };
}

describe('no silent upgrades (item 1)', () => {
  it(
    '^1.0.0 locked at 1.3.0 stays at 1.3.0 after adding an exclude, a rename and a narrower range; only update moves it',
    async () => {
      const repo = `${registry('plain').host}/${uniqueRepo('cli/nosilent')}`;
      const d13 = await push(`${repo}:1.3.0`, { 'a.txt': 'a 1.3\n', 'b.txt': 'b 1.3\n' });
      const dir = await project('nosilent', `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n`);
      expect((await installJson(dir)).dependencies.data).toMatchObject({ digest: d13, files: 2 });
      const d15 = await push(`${repo}:1.5.0`, { 'a.txt': 'a 1.5\n', 'b.txt': 'b 1.5\n' });

      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n    exclude: [b.txt]\n`,
      );
      expect((await installJson(dir)).dependencies.data).toMatchObject({ resolved: `${repo}:1.3.0@${d13}`, files: 1 });
      expect(await readFile(join(dir, 'vendor/data/a.txt'), 'utf8')).toBe('a 1.3\n');

      // rename: same ref, new name → same resolution
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  renamed:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n    exclude: [b.txt]\n`,
      );
      const renamed = await installJson(dir);
      expect(Object.keys(renamed.dependencies)).toEqual(['renamed']);
      expect(renamed.dependencies.renamed).toMatchObject({ digest: d13 });

      // a range the locked version still satisfies keeps it (pnpm behaviour)
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  renamed:\n    ref: ${repo}:>=1.2.0 <2\n    path: vendor/data\n    exclude: [b.txt]\n`,
      );
      expect((await installJson(dir)).dependencies.renamed).toMatchObject({ digest: d13 });
      expect(await readFile(join(dir, 'artifacts.lock'), 'utf8')).toContain('>=1.2.0 <2');

      // only update (or an unsatisfied ref) moves it
      const upd = JSON.parse((await ok(['update', '--json'], dir)).stdout) as LockJson;
      expect(upd.dependencies.renamed).toMatchObject({ resolved: `${repo}:1.5.0@${d15}` });
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  renamed:\n    ref: ${repo}:~1.3.0\n    path: vendor/data\n`,
      );
      expect((await installJson(dir)).dependencies.renamed).toMatchObject({ digest: d13, files: 2 });
    },
    T,
  );
});

describe('the lock changes only when the tree follows (item 5)', () => {
  it(
    'an update refused because of a user edit leaves artifacts.lock byte-identical; --force then applies it',
    async () => {
      const repo = `${registry('plain').host}/${uniqueRepo('cli/refused')}`;
      await push(`${repo}:1.0.0`, { 'a.txt': 'a 1.0\n' });
      const dir = await project('refused', `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n`);
      await installJson(dir);
      const before = await readFile(join(dir, 'artifacts.lock'));
      const d11 = await push(`${repo}:1.1.0`, { 'a.txt': 'a 1.1\n' });
      await writeFile(join(dir, 'vendor/data/a.txt'), 'my edit\n');

      const refused = await oras(['update'], dir);
      expect(refused.code, show(refused)).toBe(1);
      expect(refused.stderr).toMatch(/refusing to overwrite/);
      expect(await readFile(join(dir, 'artifacts.lock'))).toEqual(before);
      // an install that would move files (a new path) and is refused the same way keeps the lock too
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/moved\n`,
      );
      const refusedInstall = await oras(['install'], dir);
      expect(refusedInstall.code, show(refusedInstall)).toBe(1);
      expect(await readFile(join(dir, 'artifacts.lock'))).toEqual(before);
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n`,
      );

      const forced = JSON.parse((await ok(['update', '--force', '--json'], dir)).stdout) as LockJson;
      expect(forced.dependencies.data).toMatchObject({ digest: d11 });
      expect(await readFile(join(dir, 'vendor/data/a.txt'), 'utf8')).toBe('a 1.1\n');
      await ok(['verify'], dir);
    },
    T,
  );
});

const git = promisify(execFile);
async function g(cwd: string, ...args: string[]): Promise<string> {
  const r = await git(
    'git',
    [
      '-c',
      'user.name=t',
      '-c',
      'user.email=t@example.com',
      '-c',
      'init.defaultBranch=main',
      '-c',
      'commit.gpgsign=false',
      ...args,
    ],
    { cwd, timeout: 30_000 },
  );
  return r.stdout;
}

describe('mergeable locks (item 6)', () => {
  /** A repo on `main` with `alpha` installed, and branches `b` (adds beta) and `z` (adds zeta); alpha's range has a newer match since. */
  async function branches(name: string): Promise<{ dir: string; repo: string; alpha: string }> {
    const repo = `${registry('plain').host}/${uniqueRepo(`cli/merge-${name}`)}`;
    const alpha = await push(`${repo}:1.3.0`, { 'a.txt': 'a 1.3\n' });
    const dir = await project(
      `merge-${name}`,
      `dependencies:\n  alpha:\n    ref: ${repo}:^1.0.0\n    path: vendor/alpha\n`,
    );
    await writeFile(join(dir, '.gitignore'), '.oras/\nvendor/\n');
    await g(dir, 'init', '-q');
    await installJson(dir);
    await g(dir, 'add', '-A');
    await g(dir, 'commit', '-q', '-m', 'alpha');
    for (const [branch, dep] of [
      ['b', 'beta'],
      ['z', 'zeta'],
    ] as const) {
      await g(dir, 'checkout', '-q', '-b', branch, 'main');
      const yaml = await readFile(join(dir, 'artifacts.yaml'), 'utf8');
      // beta goes before alpha, zeta after: artifacts.yaml merges cleanly; artifacts.lock (sorted) does not.
      await writeFile(
        join(dir, 'artifacts.yaml'),
        dep === 'beta'
          ? yaml.replace('dependencies:\n', `dependencies:\n  beta:\n    ref: ${repo}:1.3.0\n    path: vendor/beta\n`)
          : `${yaml}  zeta:\n    ref: ${repo}:1.3.0\n    path: vendor/zeta\n`,
      );
      await installJson(dir);
      await g(dir, 'commit', '-q', '-am', dep);
    }
    await g(dir, 'checkout', '-q', 'b');
    await push(`${repo}:1.5.0`, { 'a.txt': 'a 1.5\n' }); // alpha must NOT move to this
    return { dir, repo, alpha };
  }

  it(
    'git merge with the `oras lock merge` driver: both entries, nothing re-resolved',
    async () => {
      const { dir, alpha } = await branches('driver');
      await writeFile(join(dir, '.gitattributes'), 'artifacts.lock merge=oras-lock\n');
      await g(dir, 'config', 'merge.oras-lock.driver', `"${process.execPath}" "${CLI}" lock merge %O %A %B`);
      await g(dir, 'merge', '-q', '--no-edit', 'z');
      const text = await readFile(join(dir, 'artifacts.lock'), 'utf8');
      expect(text).not.toMatch(/^<<<<<<<|^>>>>>>>/m);
      // the merged lock is complete: a frozen install accepts it and resolves nothing
      const frozen = await ok(['install', '--frozen-lockfile', '--json'], dir);
      const deps = (JSON.parse(frozen.stdout) as LockJson).dependencies;
      expect(Object.keys(deps).sort()).toEqual(['alpha', 'beta', 'zeta']);
      expect(deps.alpha).toMatchObject({ digest: alpha });
    },
    T,
  );

  it(
    'conflict markers: --frozen-lockfile fails naming the file; install merges by entry without re-resolving others',
    async () => {
      const { dir, alpha } = await branches('markers');
      const merge = await git(
        'git',
        ['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'merge', '--no-edit', 'z'],
        { cwd: dir },
      ).then(
        () => 0,
        () => 1,
      );
      expect(merge).toBe(1); // a textual conflict in artifacts.lock
      expect(await readFile(join(dir, 'artifacts.lock'), 'utf8')).toMatch(/^<<<<<<< /m);
      const frozen = await oras(['install', '--frozen-lockfile'], dir);
      expect(frozen.code, show(frozen)).not.toBe(0);
      expect(frozen.stderr).toMatch(/artifacts\.lock has unresolved git merge conflicts/);
      expect(frozen.stderr).toMatch(/Hint: .*without --frozen-lockfile/);

      const r = await ok(['install'], dir);
      expect(r.stderr).toMatch(/Merged .*artifacts\.lock/);
      expect(r.stderr).not.toMatch(/Resolved +alpha/);
      const after = await ok(['install', '--frozen-lockfile', '--json'], dir);
      const deps = (JSON.parse(after.stdout) as LockJson).dependencies;
      expect(Object.keys(deps).sort()).toEqual(['alpha', 'beta', 'zeta']);
      expect(deps.alpha).toMatchObject({ digest: alpha });
      expect(await readFile(join(dir, 'artifacts.lock'), 'utf8')).not.toMatch(/^<<<<<<<|^=======|^>>>>>>>/m);
    },
    T,
  );
});

describe('each says what happened (item 10)', () => {
  it(
    'outdated exits 0 when current and 1 when outdated; plan exits 6 when it shows conflicts',
    async () => {
      const repo = `${registry('plain').host}/${uniqueRepo('cli/outdated-exit')}`;
      await push(`${repo}:1.0.0`, { 'a.txt': 'a 1.0\n' });
      const dir = await project(
        'outdated-exit',
        `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n`,
      );
      await installJson(dir);
      await ok(['outdated'], dir);
      await push(`${repo}:1.1.0`, { 'a.txt': 'a 1.1\n' });
      const out = await oras(['outdated'], dir);
      expect(out.code, show(out)).toBe(1);
      expect(out.stdout).toMatch(/data\s+1\.0\.0\s+1\.1\.0\s+1\.1\.0\s+outdated/);
      const outJson = await oras(['outdated', '--json'], dir);
      expect(outJson.code, show(outJson)).toBe(1);
      expect(JSON.parse(outJson.stdout)).toMatchObject({
        dependencies: [expect.objectContaining({ name: 'data', outdated: true })],
      });

      // plan: an untracked file where the dependency goes is a conflict → exit 6
      const dir2 = await project(
        'plan-conflict',
        `dependencies:\n  data:\n    ref: ${repo}:1.0.0\n    path: vendor/data\n`,
      );
      await mkdir(join(dir2, 'vendor/data'), { recursive: true });
      await writeFile(join(dir2, 'vendor/data/a.txt'), 'mine\n');
      const plan = await oras(['plan'], dir2);
      expect(plan.code, show(plan)).toBe(6);
      expect(plan.stdout).toMatch(/conflict\s+vendor\/data\/a\.txt \(untracked-file\)/);
      await rm(join(dir2, 'vendor/data/a.txt'));
      await ok(['plan'], dir2);
    },
    T,
  );

  it(
    'an include glob that matches nothing is an error naming the dependency, the glob and the fix',
    async () => {
      const repo = `${registry('plain').host}/${uniqueRepo('cli/include-typo')}`;
      await push(`${repo}:1.0.0`, { 'schema.json': '{}\n', 'notes.txt': 'n\n' });
      const dir = await project(
        'include-typo',
        `dependencies:\n  data:\n    ref: ${repo}:1.0.0\n    path: vendor/data\n    include: ["*.jsn"]\n`,
      );
      const r = await oras(['install'], dir);
      expect(r.code, show(r)).toBe(2);
      expect(r.stderr).toMatch(/dependency 'data': include glob "\*\.jsn" matches no file/);
      expect(r.stderr).toMatch(/Hint: .*dependencies\.data\.include/);
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  data:\n    ref: ${repo}:1.0.0\n    path: vendor/data\n    include: ["*.json"]\n`,
      );
      expect((await installJson(dir)).dependencies.data).toMatchObject({ files: 1 });
    },
    T,
  );

  it(
    '1.1.0 beside v1.1.0 with different digests is an ambiguity error; the same digest is fine',
    async () => {
      const repo = `${registry('plain').host}/${uniqueRepo('cli/vtags')}`;
      const plain = await push(`${repo}:1.1.0`, { 'a.txt': 'plain\n' });
      const vee = await push(`${repo}:v1.1.0`, { 'a.txt': 'vee\n' });
      const dir = await project('vtags', `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n`);
      const r = await oras(['install'], dir);
      expect(r.code, show(r)).not.toBe(0);
      expect(r.stderr).toContain(`1.1.0 → ${plain}`);
      expect(r.stderr).toContain(`v1.1.0 → ${vee}`);
      await ok(['tag', `${repo}:1.1.0`, 'v1.1.0'], dir);
      expect((await installJson(dir)).dependencies.data).toMatchObject({ resolved: `${repo}:1.1.0@${plain}` });
    },
    T,
  );
});

describe('republished tags (item 3, install/outdated side)', () => {
  it(
    'outdated, update and a cold install say "1.0.0 was republished: old → new"; install keeps the locked digest',
    async () => {
      const repo = `${registry('plain').host}/${uniqueRepo('cli/republished')}`;
      const first = await push(`${repo}:1.0.0`, { 'a.txt': 'first\n' });
      const dir = await project(
        'republished',
        `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n`,
      );
      await installJson(dir);
      const second = await push(`${repo}:1.0.0`, { 'a.txt': 'second\n' });
      const hex = (d: string): string => d.slice(7, 19);
      const text = await oras(['outdated'], dir);
      expect(text.code, show(text)).toBe(1);
      expect(text.stdout).toContain(`data: 1.0.0 was republished: ${hex(first)}… → ${hex(second)}…`);
      const json = await oras(['outdated', '--json'], dir);
      expect(JSON.parse(json.stdout)).toMatchObject({
        dependencies: [expect.objectContaining({ republished: { tag: '1.0.0', from: first, to: second } })],
      });

      // install (an edited spec, the resolution is kept) keeps the locked content
      await writeFile(
        join(dir, 'artifacts.yaml'),
        `dependencies:\n  data:\n    ref: ${repo}:^1.0.0\n    path: vendor/data\n    exclude: [nothing.txt]\n`,
      );
      expect((await installJson(dir)).dependencies.data).toMatchObject({ digest: first });
      expect(await readFile(join(dir, 'vendor/data/a.txt'), 'utf8')).toBe('first\n');
      // a teammate's clone (same artifacts.yaml + artifacts.lock, empty cache): install fetches the
      // locked digest from the registry, checks the tag while it is there, warns and keeps the lock
      for (const frozen of [false, true]) {
        const clone = await project(`republished-clone-${frozen}`, await readFile(join(dir, 'artifacts.yaml'), 'utf8'));
        await writeFile(join(clone, 'artifacts.lock'), await readFile(join(dir, 'artifacts.lock')));
        const env = { ...sandbox.env, XDG_CACHE_HOME: join(sandbox.root, `cache-clone-${frozen}`) };
        const args = ['install', ...(frozen ? ['--frozen-lockfile'] : [])];
        const cold = await runCli(args, env, { cwd: clone });
        expect(cold.code, show(cold)).toBe(0);
        expect(cold.stderr).toContain(
          `Warning:  data: 1.0.0 was republished: ${hex(first)}… → ${hex(second)}…; kept ${hex(first)}…`,
        );
        expect(await readFile(join(clone, 'vendor/data/a.txt'), 'utf8')).toBe('first\n');
        // a warm cache makes no request for it: nothing to say
        await rm(join(clone, 'vendor'), { recursive: true });
        const warm = await runCli([...args, '--json'], env, { cwd: clone });
        expect(warm.code, show(warm)).toBe(0);
        expect(warm.stderr).not.toContain('republished');
        expect(JSON.parse(warm.stdout)).not.toHaveProperty('republished');
      }
      const cloneJson = await project('republished-clone-json', await readFile(join(dir, 'artifacts.yaml'), 'utf8'));
      await writeFile(join(cloneJson, 'artifacts.lock'), await readFile(join(dir, 'artifacts.lock')));
      const j = await runCli(
        ['install', '--json'],
        { ...sandbox.env, XDG_CACHE_HOME: join(sandbox.root, 'cache-j') },
        {
          cwd: cloneJson,
        },
      );
      expect(JSON.parse(j.stdout)).toMatchObject({
        republished: [{ dependency: 'data', tag: '1.0.0', from: first, to: second }],
      });

      const upd = await ok(['update'], dir);
      expect(upd.stderr).toContain(`data: 1.0.0 was republished: ${hex(first)}… → ${hex(second)}…`);
      expect(await readFile(join(dir, 'vendor/data/a.txt'), 'utf8')).toBe('second\n');
    },
    T,
  );
});
